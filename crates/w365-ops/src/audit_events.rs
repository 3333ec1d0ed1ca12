//! `w365 audit-events`: the Windows 365 audit log (Graph v1.0 `auditEvents`, `CloudPC.Read.All`),
//! every page, oldest first. `since` and `activity` go to Graph as `$filter`
//! (`activityDateTime ge …`, `activityType eq '…'`, escaped by the OData builder); `actor` is
//! matched here, against the user's principal name or, for app-only changes, the application's
//! name or id (Graph documents no filter on the actor).
//! <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-auditevents?view=graph-rest-1.0>

use time::OffsetDateTime;
use w365_graph::Client;
use w365_graph::models::CloudPcAuditEvent;

use crate::error::{Error, GraphContext, Result};
use crate::execute::permissions;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only events of this activity type (e.g. `Create ProvisioningPolicy`).
    pub activity: Option<String>,
    /// Only events by this user principal name or application (name or id).
    pub actor: Option<String>,
}

/// The matching events, oldest first.
pub async fn list(client: &Client, query: &AuditQuery) -> Result<Vec<CloudPcAuditEvent>> {
    let blank = |v: &Option<String>| v.as_deref().is_some_and(|s| s.trim().is_empty());
    if blank(&query.activity) || blank(&query.actor) {
        return Err(Error::InvalidInput {
            reason: "--activity and --actor need a value; `w365 audit-events` without them lists every event".into(),
        });
    }
    let mut events = client
        .audit_events()
        .list(query.since, query.activity.as_deref().map(str::trim))
        .await
        .graph_ctx(
            || "list the Windows 365 audit events".into(),
            permissions::READ_CLOUD_PCS,
        )?;
    if let Some(actor) = &query.actor {
        events.retain(|e| e.actor.as_ref().is_some_and(|a| a.is(actor)));
    }
    events.sort_by_key(|e| e.activity_date_time);
    Ok(events)
}

/// The activity types the tenant's events use (`getAuditActivityTypes`).
pub async fn activity_types(client: &Client) -> Result<Vec<String>> {
    client.audit_events().activity_types().await.graph_ctx(
        || "list the audit activity types".into(),
        permissions::READ_CLOUD_PCS,
    )
}
