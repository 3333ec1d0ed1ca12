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
