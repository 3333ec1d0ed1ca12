//! `cloudPcBulkAction` (beta only): one action run over many Cloud PCs, and the per-device rows of
//! the action status report.
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcbulkaction?view=graph-rest-beta>,
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcbulkactionsummary?view=graph-rest-beta>,
//! <https://learn.microsoft.com/en-us/graph/api/cloudpcreports-getactionstatusreports?view=graph-rest-beta>

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

evolvable_enum! {
    /// `cloudPcBulkActionStatus`.
    pub enum BulkActionStatus {
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
        UnknownFutureValue = "unknownFutureValue",
    }
}

/// `cloudPcBulkActionSummary`: devices per state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BulkActionSummary {
    #[serde(default)]
    pub failed_count: u32,
    #[serde(default)]
    pub in_progress_count: u32,
    #[serde(default)]
    pub not_supported_count: u32,
    #[serde(default)]
    pub pending_count: u32,
    #[serde(default)]
    pub successful_count: u32,
}

/// A bulk action as Graph returns it (the action is its `@odata.type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcBulkAction {
    pub id: String,
    /// e.g. `#microsoft.graph.cloudPcBulkRestart`.
    #[serde(rename = "@odata.type", default)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, alias = "cloudPcIDs")]
    pub cloud_pc_ids: Vec<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_date_time: Option<OffsetDateTime>,
    #[serde(default)]
    pub initiated_by_user_principal_name: Option<String>,
    #[serde(default)]
    pub scheduled_during_maintenance_window: Option<bool>,
    #[serde(default)]
    pub status: Option<BulkActionStatus>,
    #[serde(default)]
    pub action_summary: Option<BulkActionSummary>,
}

impl CloudPcBulkAction {
    /// The action's type name without the namespace (`cloudPcBulkRestart`).
    pub fn type_name(&self) -> &str {
        self.odata_type
            .as_deref()
            .map(|t| {
                t.trim_start_matches('#')
                    .trim_start_matches("microsoft.graph.")
            })
            .unwrap_or("cloudPcBulkAction")
    }
}

/// One device of a bulk action (a row of `getActionStatusReports`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BulkActionDevice {
    pub cloud_pc_id: String,
    pub device_display_name: Option<String>,
    pub owner_user_principal_name: Option<String>,
    /// `Action`, e.g. `Restart`.
    pub action: Option<String>,
    /// `ActionState`: `pending`, `active`, `done`, `failed`, `notSupported`, ...
    pub action_state: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_updated_date_time: Option<OffsetDateTime>,
    /// Why it failed, when the service says.
    pub error_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_create_answer_decodes() {
        // The 201 answer of virtualendpoint-post-bulkactions (beta), as documented.
        let a: CloudPcBulkAction = serde_json::from_value(serde_json::json!({
            "@odata.type": "#microsoft.graph.cloudPcBulkAction",
            "id": "231ad98f-41b3-872b-dd37-c70bf22cbdac",
            "displayName": "String",
            "cloudPcIds": ["guid"],
            "actionSummary": {"@odata.type": "microsoft.graph.cloudPcBulkActionSummary"},
            "createdDateTime": "2024-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(a.type_name(), "cloudPcBulkAction");
        assert_eq!(a.cloud_pc_ids, ["guid"]);
        assert_eq!(a.action_summary, Some(BulkActionSummary::default()));
    }
}
