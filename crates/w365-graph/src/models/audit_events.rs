//! `cloudPcAuditEvent` (v1.0): one change made to Windows 365, with who made it and on what.
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcauditevent?view=graph-rest-1.0>,
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcauditactor?view=graph-rest-1.0>,
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcauditresource?view=graph-rest-1.0>

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

evolvable_enum! {
    /// `cloudPcAuditActivityOperationType`: the HTTP operation of the change.
    pub enum AuditOperationType {
        Create = "create",
        Delete = "delete",
        Patch = "patch",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcAuditActivityResult`.
    pub enum AuditActivityResult {
        Success = "success",
        ClientError = "clientError",
        Failure = "failure",
        Timeout = "timeout",
        UnknownFutureValue = "unknownFutureValue",
    }
}

/// `cloudPcAuditActor`: the Entra user and/or application behind the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuditActor {
    #[serde(default)]
    pub application_id: Option<String>,
    #[serde(default)]
    pub application_display_name: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub service_principal_name: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_permissions: Vec<String>,
}

impl AuditActor {
    /// Who, for people: the user's principal name, else the application's name, else its id.
    pub fn label(&self) -> String {
        [
            &self.user_principal_name,
            &self.application_display_name,
            &self.application_id,
        ]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_default()
    }

    /// Whether `who` names this actor: its user principal name, or (app-only changes) the
    /// application's name or id (ASCII case-insensitive).
    pub fn is(&self, who: &str) -> bool {
        [
            &self.user_principal_name,
            &self.application_display_name,
            &self.application_id,
        ]
        .into_iter()
        .flatten()
        .any(|s| s.eq_ignore_ascii_case(who.trim()))
    }
}

/// `cloudPcAuditProperty`: one changed property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuditProperty {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub old_value: Option<String>,
    #[serde(default)]
    pub new_value: Option<String>,
}

/// `cloudPcAuditResource`: one changed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AuditResource {
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub modified_properties: Vec<AuditProperty>,
}

/// `cloudPcAuditEvent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcAuditEvent {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub activity: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub activity_date_time: Option<OffsetDateTime>,
    #[serde(default)]
    pub activity_type: Option<String>,
    #[serde(default)]
    pub activity_operation_type: Option<AuditOperationType>,
    #[serde(default)]
    pub activity_result: Option<AuditActivityResult>,
    #[serde(default)]
    pub actor: Option<AuditActor>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub component_name: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub resources: Vec<AuditResource>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_in_the_documented_shape_decodes_and_names_its_actor() {
        // Shape of the v1.0 JSON representation (cloudpcauditevent); values made up.
        let e: CloudPcAuditEvent = serde_json::from_value(serde_json::json!({
            "@odata.type": "#microsoft.graph.cloudPcAuditEvent",
            "id": "a1",
            "displayName": "Restart Cloud PC",
            "componentName": "CloudPC",
            "activity": "Restart Cloud PC",
            "activityDateTime": "2026-11-30T10:00:00Z",
            "activityType": "Restart",
            "activityOperationType": "create",
            "activityResult": "success",
            "correlationId": "c1",
            "category": "cloudPC",
            "actor": {
                "@odata.type": "microsoft.graph.cloudPcAuditActor",
                "applicationId": "app-1",
                "applicationDisplayName": "w365",
                "userPrincipalName": null,
                "userPermissions": ["CloudPC.ReadWrite.All"],
                "userRoleScopeTags": [{"displayName": "Default", "roleScopeTagId": "0"}]
            },
            "resources": [{
                "@odata.type": "microsoft.graph.cloudPcAuditResource",
                "displayName": "PC 1", "resourceId": "pc-1",
                "modifiedProperties": [{"displayName": "x", "oldValue": "1", "newValue": "2"}]
            }]
        }))
        .unwrap();
        assert_eq!(e.activity_operation_type, Some(AuditOperationType::Create));
        assert_eq!(e.activity_result, Some(AuditActivityResult::Success));
        let actor = e.actor.unwrap();
        assert_eq!(actor.label(), "w365");
        assert!(actor.is("W365") && actor.is("app-1") && !actor.is("someone@contoso.com"));
        assert_eq!(
            e.resources[0].modified_properties[0].new_value.as_deref(),
            Some("2")
        );
    }

    #[test]
    fn a_signed_in_admins_event_is_matched_by_the_user_principal_name() {
        // A list page in the v1.0 shape (virtualendpoint-list-auditevents): a change an admin made
        // in the Intune portal (a user and the portal's application in `actor`, as documented for
        // cloudPcAuditActor) and one an app made with application permissions; values made up.
        #[derive(Deserialize)]
        struct Page {
            value: Vec<CloudPcAuditEvent>,
        }
        let page: Page = serde_json::from_value(serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#deviceManagement/virtualEndpoint/auditEvents",
            "value": [
                {
                    "@odata.type": "#microsoft.graph.cloudPcAuditEvent",
                    "id": "e-user",
                    "displayName": "Update provisioning policy",
                    "componentName": "CloudPC",
                    "activity": "Update provisioning policy",
                    "activityDateTime": "2026-11-30T09:00:00Z",
                    "activityType": "Update ProvisioningPolicy",
                    "activityOperationType": "patch",
                    "activityResult": "success",
                    "correlationId": "c-user",
                    "category": "cloudPC",
                    "actor": {
                        "@odata.type": "microsoft.graph.cloudPcAuditActor",
                        "applicationDisplayName": "Microsoft Intune portal extension",
                        "applicationId": "portal-app",
                        "ipAddress": "203.0.113.7",
                        "remoteTenantId": null,
                        "remoteUserId": null,
                        "servicePrincipalName": null,
                        "userId": "u-megan",
                        "userPermissions": ["*"],
                        "userPrincipalName": "megan.bowen@contoso.com",
                        "userRoleScopeTags": [{"displayName": "Default", "roleScopeTagId": "0"}]
                    },
                    "resources": [{"displayName": "Win11", "resourceId": "p-1", "modifiedProperties": []}]
                },
                {
                    "@odata.type": "#microsoft.graph.cloudPcAuditEvent",
                    "id": "e-app",
                    "activityType": "Reboot CloudPC",
                    "activityOperationType": "create",
                    "activityResult": "success",
                    "actor": {
                        "applicationDisplayName": "w365",
                        "applicationId": "app-1",
                        "userPrincipalName": null,
                        "userPermissions": ["CloudPC.ReadWrite.All"]
                    },
                    "resources": []
                }
            ]
        }))
        .unwrap();
        // The filter `w365 audit-events --actor` applies (w365_ops::audit_events::list).
        let by = |who: &str| -> Vec<&str> {
            page.value
                .iter()
                .filter(|e| e.actor.as_ref().is_some_and(|a| a.is(who)))
                .map(|e| e.id.as_str())
                .collect()
        };
        assert_eq!(by("megan.bowen@contoso.com"), ["e-user"]);
        assert_eq!(
            by(" Megan.Bowen@Contoso.com "),
            ["e-user"],
            "trimmed, any case"
        );
        assert_eq!(by("w365"), ["e-app"]);
        assert!(
            by("megan.bowen@contoso").is_empty(),
            "the whole name, not a prefix"
        );
        assert!(by("alex.wilber@contoso.com").is_empty());
        let actor = page.value[0].actor.as_ref().unwrap();
        assert_eq!(
            actor.label(),
            "megan.bowen@contoso.com",
            "the person, not the portal"
        );
        assert_eq!(actor.user_id.as_deref(), Some("u-megan"));
        assert_eq!(actor.ip_address.as_deref(), Some("203.0.113.7"));
        assert_eq!(
            page.value[0].activity_operation_type,
            Some(AuditOperationType::Patch)
        );
    }
}
