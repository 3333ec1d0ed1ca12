//! Cloud PC bulk actions (beta only; Graph has no v1.0 form):
//! - `POST /beta/deviceManagement/virtualEndpoint/bulkActions` -> 201 with the action,
//!   `CloudPC.ReadWrite.All`; the body's `@odata.type` names the action (`cloudPcBulkRestart`,
//!   `cloudPcBulkReprovision`, `cloudPcBulkRestore {restorePointDateTime, timeRange}`,
//!   `cloudPcBulkResize {targetServicePlanId}`, `cloudPcBulkTroubleshoot`, `cloudPcBulkPowerOn`,
//!   `cloudPcBulkPowerOff`):
//!   <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-post-bulkactions?view=graph-rest-beta>,
//!   <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcbulkrestore?view=graph-rest-beta>;
//! - `GET .../bulkActions[/{id}]`, `CloudPC.Read.All`:
//!   <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-bulkactions?view=graph-rest-beta>;
//! - per device: `POST .../reports/getActionStatusReports` with `BulkActionId eq '…'`
//!   (`CloudPC.Read.All`; at most 100 rows a page, paged with `top`/`skip`):
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpcreports-getactionstatusreports?view=graph-rest-beta>.

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client, decode};
use crate::error::Result;
use crate::models::{BulkActionDevice, CloudPcBulkAction};
use crate::odata::{Filter, Query};
use crate::retry::Idempotency;

/// Rows asked for per page of the action status report (Graph's maximum).
const REPORT_PAGE: u64 = 100;

/// What to create: the action's type and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkActionRequest {
    /// e.g. `#microsoft.graph.cloudPcBulkRestart`.
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    pub display_name: String,
    pub cloud_pc_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_service_plan_id: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub restore_point_date_time: Option<OffsetDateTime>,
    /// `before`, `after` or `beforeOrAfter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_range: Option<String>,
}

/// Bulk actions.
#[derive(Debug, Clone)]
pub struct BulkActionsHandler {
    client: Client,
}

impl Client {
    /// Cloud PC bulk actions (beta).
    pub fn bulk_actions(&self) -> BulkActionsHandler {
        BulkActionsHandler {
            client: self.clone(),
        }
    }
}

impl BulkActionsHandler {
    /// Every bulk action (all pages).
    pub async fn list(&self) -> Result<Vec<CloudPcBulkAction>> {
        self.client
            .list_with(
                ApiVersion::Beta,
                &virtual_endpoint("bulkActions", None::<&str>),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// One bulk action; `None` when there is none with this id.
    pub async fn get(&self, id: &str) -> Result<Option<CloudPcBulkAction>> {
        self.client
            .get_opt(
                ApiVersion::Beta,
                &virtual_endpoint("bulkActions", [id]),
                &Query::new(),
            )
            .await
    }

    /// Creates (and so starts) a bulk action. Not repeated after an unknown outcome: a repeat
    /// would run the action twice.
    pub async fn create(&self, request: &BulkActionRequest) -> Result<CloudPcBulkAction> {
        let path = virtual_endpoint("bulkActions", None::<&str>);
        let body = Client::encode_body(request)?;
        let resp = self
            .client
            .send_declared(
                http::Method::POST,
                ApiVersion::Beta,
                &path,
                None,
                prefer_unknown_enums(),
                Some(body),
                Idempotency::NotIdempotent,
            )
            .await?;
        decode(&format!("POST {path}"), &resp.body)
    }

    /// Every device of one bulk action with its state (all pages of the action status report).
    pub async fn devices(&self, bulk_action_id: &str) -> Result<Vec<BulkActionDevice>> {
        let reports = self.client.cloud_pc_reports();
        let filter = Filter::eq("BulkActionId", bulk_action_id).to_string();
        let mut out = Vec::new();
        let mut skip: u64 = 0;
        loop {
            let body = json!({
                "filter": filter,
                "select": [
                    "CloudPcId", "CloudPcDeviceDisplayName", "DeviceOwnerUserPrincipalName",
                    "Action", "ActionState", "LastUpdatedDateTime", "ErrorMessage"
                ],
                "top": REPORT_PAGE,
                "skip": skip,
            });
            let (table, _) = reports.page("getActionStatusReports", &body).await?;
            let count = table.values.len() as u64;
            for row in &table.values {
                let Some(id) = table.text(row, "CloudPcId") else {
                    continue;
                };
                out.push(BulkActionDevice {
                    cloud_pc_id: id,
                    device_display_name: table.text(row, "CloudPcDeviceDisplayName"),
                    owner_user_principal_name: table.text(row, "DeviceOwnerUserPrincipalName"),
                    action: table.text(row, "Action"),
                    action_state: table.text(row, "ActionState"),
                    last_updated_date_time: table.time(row, "LastUpdatedDateTime"),
                    error_message: table.text(row, "ErrorMessage"),
                });
            }
            skip += count;
            if count == 0 || table.total_row_count.is_some_and(|t| skip >= t) {
                break;
            }
        }
        Ok(out)
    }
}
