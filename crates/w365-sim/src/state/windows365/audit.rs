//! Windows 365 audit events (`cloudPcAuditEvent`, v1.0 and beta): one event for every change made
//! through the simulator under `/deviceManagement/virtualEndpoint/`. The HTTP layer classifies the
//! request ([`classify`]) in one place (a middleware around every Graph route), so routes added
//! later are recorded without code of their own.
//!
//! Graph:
//! - resource: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcauditevent?view=graph-rest-1.0>
//!   `{id, displayName, activity, activityDateTime, activityOperationType (create|delete|patch),
//!   activityResult (success|clientError|failure|timeout), activityType, actor, category (cloudPC),
//!   componentName, correlationId (the client request id), resources[]}`;
//! - actor: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcauditactor?view=graph-rest-1.0>
//!   `{applicationId, applicationDisplayName, userPrincipalName, userId, servicePrincipalName,
//!   ipAddress, userPermissions[], userRoleScopeTags[], remoteTenantId, remoteUserId}`;
//! - resource: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcauditresource?view=graph-rest-1.0>
//!   `{resourceId, displayName, modifiedProperties[{displayName, oldValue, newValue}]}`;
//! - `GET auditEvents` (`$filter`, `$top`, `$skiptoken`), `GET auditEvents/{id}` and
//!   `GET auditEvents/getAuditActivityTypes`, application permission `CloudPC.Read.All`
//!   (<https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-auditevents?view=graph-rest-1.0>,
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpcauditevent-getauditactivitytypes?view=graph-rest-1.0>).
//!
//! LIMITATIONS (not emulated):
//! - Graph's `activityType` strings are not documented; the simulator names them
//!   "`<Verb>` `<Entity>`" (`Create ProvisioningPolicy`, `Reboot CloudPC`, `Assign UserSetting`);
//! - at most [`MAX_EVENTS`] events are kept per tenant (the oldest are dropped);
//! - only successful changes are recorded (Graph also records failed ones with `clientError` /
//!   `failure`); `modifiedProperties` carry the new values of a PATCH only (no old values);
//! - the app-only caller is the actor (application id and name, its permissions); there are no
//!   delegated (user) tokens in the simulator, so `userPrincipalName` is empty.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ids::IdGenerator;

/// Most events kept per tenant: the oldest are dropped beyond this, so a long-running simulator
/// (`sim serve`, load runs) does not grow without bound (Graph keeps a tenant's Windows 365 audit
/// events for a limited time; the simulator's limit is a count, its own choice).
pub const MAX_EVENTS: usize = 10_000;

/// Seed of the audit log's own id generator (kept apart from the tenant's, so recording an event
/// never changes the ids and names of other objects).
const AUDIT_ID_SEED: u64 = 0x0a0d_17e0_e7e5;

/// `cloudPcAuditActivityOperationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OperationType {
    Create,
    Delete,
    Patch,
}

impl OperationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Delete => "delete",
            Self::Patch => "patch",
        }
    }
}

/// Who made the change (`cloudPcAuditActor`; app-only callers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditActor {
    pub application_id: String,
    pub application_display_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub user_permissions: Vec<String>,
}

/// One changed object (`cloudPcAuditResource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditResource {
    pub resource_id: String,
    pub display_name: Option<String>,
    /// `(property, new value)` of a PATCH body.
    pub modified_properties: Vec<(String, String)>,
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub activity_date_time: OffsetDateTime,
    pub activity_type: String,
    pub activity: String,
    pub operation: OperationType,
    pub component_name: String,
    pub correlation_id: String,
    pub actor: AuditActor,
    pub resources: Vec<AuditResource>,
}

/// The tenant's audit log, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuditLog {
    events: Vec<AuditEvent>,
    ids: IdGenerator,
}

impl Default for AuditLog {
    fn default() -> Self {
        Self {
            events: Vec::new(),
            ids: IdGenerator::new(AUDIT_ID_SEED),
        }
    }
}

/// What a change request is, from its method and its path below `virtualEndpoint/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub operation: OperationType,
    /// e.g. `Create ProvisioningPolicy`.
    pub activity_type: String,
    /// e.g. `ProvisioningPolicy`.
    pub component: String,
    /// The addressed object's id (none for a create until the answer names it).
    pub resource_id: Option<String>,
}

/// The entity name of a collection segment (`provisioningPolicies` -> `ProvisioningPolicy`).
fn entity_name(collection: &str) -> String {
    let singular = if let Some(stem) = collection.strip_suffix("ies") {
        format!("{stem}y")
    } else if collection.eq_ignore_ascii_case("cloudPCs") {
        "cloudPC".to_owned()
    } else if let Some(stem) = collection.strip_suffix("Settings") {
        // `userSettings` is a collection of `cloudPcUserSetting`; `organizationSettings` a
        // singleton: both read well as "<x>Setting(s)".
        if stem == "user" {
            format!("{stem}Setting")
        } else {
            collection.to_owned()
        }
    } else {
        collection
            .strip_suffix('s')
            .unwrap_or(collection)
            .to_owned()
    };
    capitalize(&singular)
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Classifies a successful change request: `method` and the path segments after
/// `/deviceManagement/virtualEndpoint/` (percent-decoded). `None` for requests that change
/// nothing in Windows 365 (reports are POSTs that only read).
pub fn classify(method: &str, segments: &[String]) -> Option<Classified> {
    let collection = segments.first()?;
    if collection.eq_ignore_ascii_case("reports") || collection.eq_ignore_ascii_case("auditEvents")
    {
        return None;
    }
    let component = entity_name(collection);
    let (operation, verb, resource_id) = match (method, segments.len()) {
        ("POST", 1) => (OperationType::Create, "Create".to_owned(), None),
        // A collection-level action (`provisioningPolicies/applyConfig`).
        ("POST", 2) if !looks_like_key(&segments[1]) => {
            (OperationType::Create, capitalize(&segments[1]), None)
        }
        ("POST", _) => (
            OperationType::Create,
            capitalize(segments.last()?),
            segments.get(1).cloned(),
        ),
        ("PATCH" | "PUT", 1) => (OperationType::Patch, "Update".to_owned(), None),
        ("PATCH" | "PUT", _) => (
            OperationType::Patch,
            "Update".to_owned(),
            segments.get(1).cloned(),
        ),
        ("DELETE", _) => (
            OperationType::Delete,
            "Delete".to_owned(),
            segments.get(1).cloned(),
        ),
        _ => return None,
    };
    Some(Classified {
        operation,
        activity_type: format!("{verb} {component}"),
        component,
        resource_id,
    })
}

/// Graph keys here are GUIDs or `CPC_...` style ids; action names are lowerCamelCase words.
fn looks_like_key(segment: &str) -> bool {
    segment.contains('-') || segment.contains('_') || segment.chars().any(|c| c.is_ascii_digit())
}

/// What [`AuditLog::record`] needs besides the classification.
#[derive(Debug, Clone)]
pub struct Recording {
    pub classified: Classified,
    pub actor: AuditActor,
    pub correlation_id: String,
    pub resource_display_name: Option<String>,
    /// The id the answer named (a create's new object).
    pub created_id: Option<String>,
    pub modified_properties: Vec<(String, String)>,
}

impl AuditLog {
    /// Appends one event for a successful change.
    pub fn record(&mut self, r: Recording, now: OffsetDateTime) -> &AuditEvent {
        let resource_id = r.classified.resource_id.clone().or(r.created_id);
        let resources = resource_id
            .map(|id| AuditResource {
                resource_id: id,
                display_name: r.resource_display_name.clone(),
                modified_properties: r.modified_properties,
            })
            .into_iter()
            .collect();
        let activity = match &r.resource_display_name {
            Some(name) => format!("{} '{name}'", r.classified.activity_type),
            None => r.classified.activity_type.clone(),
        };
        let event = AuditEvent {
            id: self.ids.guid(),
            activity_date_time: now,
            activity_type: r.classified.activity_type,
            activity,
            operation: r.classified.operation,
            component_name: r.classified.component,
            correlation_id: r.correlation_id,
            actor: r.actor,
            resources,
        };
        if self.events.len() >= MAX_EVENTS {
            let excess = self.events.len() + 1 - MAX_EVENTS;
            self.events.drain(..excess);
        }
        self.events.push(event);
        self.events.last().expect("just pushed")
    }

    /// Every event, oldest first.
    pub fn events(&self) -> &[AuditEvent] {
        &self.events
    }

    /// One event.
    pub fn event(&self, id: &str) -> Option<&AuditEvent> {
        self.events.iter().find(|e| e.id.eq_ignore_ascii_case(id))
    }

    /// The distinct activity types recorded so far, sorted (`getAuditActivityTypes`).
    pub fn activity_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .events
            .iter()
            .map(|e| e.activity_type.clone())
            .collect();
        types.sort();
        types.dedup();
        types
    }
}

/// Graph JSON of an event.
pub fn render(e: &AuditEvent) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.cloudPcAuditEvent",
        "id": e.id,
        "displayName": e.activity,
        "componentName": e.component_name,
        "activity": e.activity,
        "activityDateTime": e.activity_date_time.format(&Rfc3339).unwrap_or_default(),
        "activityType": e.activity_type,
        "activityOperationType": e.operation.as_str(),
        "activityResult": "success",
        "correlationId": e.correlation_id,
        "category": "cloudPC",
        "actor": {
            "@odata.type": "microsoft.graph.cloudPcAuditActor",
            "applicationId": e.actor.application_id,
            "applicationDisplayName": e.actor.application_display_name,
            "userPrincipalName": e.actor.user_principal_name,
            "servicePrincipalName": e.actor.application_id,
            "ipAddress": Value::Null,
            "userId": Value::Null,
            "userPermissions": e.actor.user_permissions,
            "userRoleScopeTags": [],
            "remoteTenantId": Value::Null,
            "remoteUserId": Value::Null,
        },
        "resources": e.resources.iter().map(|r| json!({
            "@odata.type": "microsoft.graph.cloudPcAuditResource",
            "resourceId": r.resource_id,
            "displayName": r.display_name,
            "modifiedProperties": r.modified_properties.iter().map(|(name, new)| json!({
                "@odata.type": "microsoft.graph.cloudPcAuditProperty",
                "displayName": name,
                "oldValue": Value::Null,
                "newValue": new,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

impl super::Windows365State {
    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The audit log, to record in.
    pub fn audit_mut(&mut self) -> &mut AuditLog {
        &mut self.audit
    }
}

impl super::Windows365State {
    /// The display name of an object of this model, by the audit component name and id (`None`
    /// for objects the model does not keep here).
    pub fn display_name_of(&self, component: &str, id: &str) -> Option<String> {
        match component {
            "ProvisioningPolicy" => self
                .provisioning_policy(id)
                .ok()
                .map(|p| p.display_name.clone()),
            "UserSetting" => self.user_setting(id).ok().map(|s| s.display_name.clone()),
            "CloudPC" => self.cloud_pc(id).ok().map(|c| c.display_name.clone()),
            "BulkAction" => self.bulk_action(id).ok().map(|a| a.display_name.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn classification_names_verb_entity_and_resource() {
        let c = classify("POST", &segs("provisioningPolicies")).unwrap();
        assert_eq!(c.activity_type, "Create ProvisioningPolicy");
        assert_eq!(c.operation, OperationType::Create);
        assert_eq!(c.resource_id, None);
        let c = classify("POST", &segs("cloudPCs/abc-1/reboot")).unwrap();
        assert_eq!(c.activity_type, "Reboot CloudPC");
        assert_eq!(c.resource_id.as_deref(), Some("abc-1"));
        let c = classify("PATCH", &segs("userSettings/5-5")).unwrap();
        assert_eq!(c.activity_type, "Update UserSetting");
        assert_eq!(c.operation, OperationType::Patch);
        let c = classify("DELETE", &segs("deviceImages/img-1")).unwrap();
        assert_eq!(c.activity_type, "Delete DeviceImage");
        let c = classify("PATCH", &segs("organizationSettings")).unwrap();
        assert_eq!(c.activity_type, "Update OrganizationSettings");
        let c = classify("POST", &segs("provisioningPolicies/applyConfig")).unwrap();
        assert_eq!(c.activity_type, "ApplyConfig ProvisioningPolicy");
        let c = classify("POST", &segs("bulkActions")).unwrap();
        assert_eq!(c.activity_type, "Create BulkAction");
        assert!(classify("POST", &segs("reports/getActionStatusReports")).is_none());
        assert!(classify("GET", &segs("cloudPCs")).is_none());
    }

    #[test]
    fn the_log_keeps_the_newest_events_up_to_its_limit() {
        let mut log = AuditLog::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        for i in 0..MAX_EVENTS + 5 {
            let classified = classify("POST", &segs(&format!("cloudPCs/pc-{i}/reboot"))).unwrap();
            log.record(
                Recording {
                    classified,
                    actor: AuditActor {
                        application_id: "app".into(),
                        application_display_name: None,
                        user_principal_name: None,
                        user_permissions: Vec::new(),
                    },
                    correlation_id: String::new(),
                    resource_display_name: None,
                    created_id: None,
                    modified_properties: Vec::new(),
                },
                now,
            );
        }
        assert_eq!(log.events().len(), MAX_EVENTS);
        assert_eq!(log.events()[0].resources[0].resource_id, "pc-5");
    }
}
