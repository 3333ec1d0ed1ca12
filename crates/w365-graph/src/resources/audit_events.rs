//! Windows 365 audit events (v1.0, generally available):
//! - `GET /v1.0/deviceManagement/virtualEndpoint/auditEvents` (`$filter`, `$top`, paged with
//!   `@odata.nextLink`), application permission `CloudPC.Read.All`:
//!   <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-auditevents?view=graph-rest-1.0>;
//! - `GET .../auditEvents/getAuditActivityTypes` (a string collection, `CloudPC.Read.All`):
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpcauditevent-getauditactivitytypes?view=graph-rest-1.0>.

use time::OffsetDateTime;

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::CloudPcAuditEvent;
use crate::odata::{Filter, Query};

/// Audit events of Windows 365.
#[derive(Debug, Clone)]
pub struct AuditEventsHandler {
    client: Client,
}

impl Client {
    /// Windows 365 audit events (v1.0).
    pub fn audit_events(&self) -> AuditEventsHandler {
        AuditEventsHandler {
            client: self.clone(),
        }
    }
}

impl AuditEventsHandler {
    /// Every event (all pages) at or after `since` and of `activity_type`, when given.
    pub async fn list(
        &self,
        since: Option<OffsetDateTime>,
        activity_type: Option<&str>,
    ) -> Result<Vec<CloudPcAuditEvent>> {
        let filter = match (
            since.map(|t| Filter::ge_datetime("activityDateTime", t)),
            activity_type.map(|a| Filter::eq("activityType", a)),
        ) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        };
        let query = match filter {
            Some(f) => Query::new().filter(f),
            None => Query::new(),
        };
        self.client
            .list_with(
                ApiVersion::V1,
                &virtual_endpoint("auditEvents", None::<&str>),
                &query,
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// The activity types the tenant's events use.
    pub async fn activity_types(&self) -> Result<Vec<String>> {
        self.client
            .list_with(
                ApiVersion::V1,
                &virtual_endpoint("auditEvents", ["getAuditActivityTypes"]),
                &Query::new(),
                Vec::new(),
            )
            .collect_all()
            .await
    }
}
