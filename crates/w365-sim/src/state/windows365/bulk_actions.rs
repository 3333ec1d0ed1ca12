//! Cloud PC bulk actions (`cloudPcBulkAction`, beta only) on the virtual clock.
//!
//! Graph (beta; there is no v1.0 form):
//! - resource: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcbulkaction?view=graph-rest-beta>
//!   `{id, displayName, cloudPcIds, createdDateTime, initiatedByUserPrincipalName,
//!   scheduledDuringMaintenanceWindow, status (pending|succeeded|failed), actionSummary}`, an abstract
//!   type: the body's `@odata.type` names the action (`cloudPcBulkRestart`, `cloudPcBulkReprovision`,
//!   `cloudPcBulkRestore {restorePointDateTime, timeRange}`, `cloudPcBulkResize {targetServicePlanId}`,
//!   `cloudPcBulkTroubleshoot`, `cloudPcBulkPowerOn`, `cloudPcBulkPowerOff`);
//! - summary: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcbulkactionsummary?view=graph-rest-beta>
//!   `{failedCount, inProgressCount, notSupportedCount, pendingCount, successfulCount}`;
//! - `POST bulkActions` -> 201 with the object, `CloudPC.ReadWrite.All`
//!   (<https://learn.microsoft.com/en-us/graph/api/virtualendpoint-post-bulkactions?view=graph-rest-beta>);
//!   `GET bulkActions[/{id}]`, `CloudPC.Read.All`
//!   (<https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-bulkactions?view=graph-rest-beta>);
//! - per device: the action status report `POST reports/getActionStatusReports` (`BulkActionId`,
//!   `CloudPcId`, `Action`, `ActionState`, ...), `CloudPC.Read.All`
//!   (<https://learn.microsoft.com/en-us/graph/api/cloudpcreports-getactionstatusreports?view=graph-rest-beta>);
//! - restore: "If some of the devices don't have any snapshots to restore, they will be set as
//!   restore failed, while the others with snapshots will still be triggered restore"
//!   (<https://learn.microsoft.com/en-us/graph/api/resources/cloudpcbulkrestore?view=graph-rest-beta>).
//!
//! Lifecycle: every device starts `pending`; [`BULK_START_DELAY`] later the service runs the same
//! single Cloud PC action code as `POST cloudPCs/{id}/<action>` (so a device in a state where the
//! action is invalid fails with that action's Graph error); restart, troubleshoot and power
//! actions are `active` for [`QUICK_ACTION_DURATION`], reprovision / restore / resize until the
//! Cloud PC leaves the status the action put it in (`done`, or `failed` if it ends `failed`).
//!
//! LIMITATIONS (not emulated):
//! - the delays are the simulator's choice (Graph does not document them); the maintenance window
//!   is ignored (`scheduledDuringMaintenanceWindow` is kept and returned);
//! - Graph's `status` for a mix of succeeded and failed devices is not documented: the simulator
//!   says `failed` when any device failed or was not supported;
//! - `retry`, disaster recovery, move, disk encryption and agent reinstall bulk actions;
//! - unknown Cloud PC ids fail per device (`ActionState` `failed`, "not found"), not the create.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::Windows365State;
use super::cloud_pc::{CloudPcStatus, ProductType};
use super::error::{Result, Windows365Error};
use super::ids::IdGenerator;
use crate::lifecycle::transitions::OPERABLE;
use crate::state::view::DirectoryView;

/// From the create until the service runs a device's action (the simulator's choice).
pub const BULK_START_DELAY: Duration = Duration::minutes(1);
/// How long a restart, troubleshoot or power action is `active` (the simulator's choice).
pub const QUICK_ACTION_DURATION: Duration = Duration::minutes(3);
/// Most Cloud PCs one bulk action takes (Graph documents no limit; the simulator's choice).
pub const MAX_CLOUD_PCS: usize = 5000;

const BULK_ID_SEED: u64 = 0x0b01_c0ac_7105;

/// `restoreTimeRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TimeRange {
    Before,
    After,
    BeforeOrAfter,
}

impl TimeRange {
    fn as_str(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
            Self::BeforeOrAfter => "beforeOrAfter",
        }
    }
}

/// The action of a bulk action (its `@odata.type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum BulkKind {
    Restart,
    Reprovision,
    Troubleshoot,
    PowerOn,
    PowerOff,
    Resize {
        target_service_plan_id: String,
    },
    Restore {
        #[serde(with = "time::serde::rfc3339")]
        restore_point_date_time: OffsetDateTime,
        time_range: TimeRange,
    },
}

impl BulkKind {
    /// The `@odata.type` (without `#microsoft.graph.`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Restart => "cloudPcBulkRestart",
            Self::Reprovision => "cloudPcBulkReprovision",
            Self::Troubleshoot => "cloudPcBulkTroubleshoot",
            Self::PowerOn => "cloudPcBulkPowerOn",
            Self::PowerOff => "cloudPcBulkPowerOff",
            Self::Resize { .. } => "cloudPcBulkResize",
            Self::Restore { .. } => "cloudPcBulkRestore",
        }
    }

    /// The report's `Action` column.
    pub fn action_name(&self) -> &'static str {
        match self {
            Self::Restart => "Restart",
            Self::Reprovision => "Reprovision",
            Self::Troubleshoot => "Troubleshoot",
            Self::PowerOn => "PowerOn",
            Self::PowerOff => "PowerOff",
            Self::Resize { .. } => "Resize",
            Self::Restore { .. } => "Restore",
        }
    }

    /// Whether the device stays `active` until its Cloud PC status settles.
    fn long_running(&self) -> bool {
        matches!(
            self,
            Self::Reprovision | Self::Resize { .. } | Self::Restore { .. }
        )
    }

    fn parameters(&self) -> Value {
        match self {
            Self::Resize {
                target_service_plan_id,
            } => json!({ "targetServicePlanId": target_service_plan_id }),
            Self::Restore {
                restore_point_date_time,
                time_range,
            } => json!({
                "restorePointDateTime": restore_point_date_time.format(&Rfc3339).unwrap_or_default(),
                "timeRange": time_range.as_str(),
            }),
            _ => json!({}),
        }
    }
}

/// Where one device is (the report's `ActionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceState {
    Pending,
    Active,
    Done,
    Failed,
    NotSupported,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::NotSupported => "notSupported",
        }
    }
}

/// One device's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceResult {
    pub cloud_pc_id: String,
    pub device_display_name: Option<String>,
    pub owner_user_principal_name: Option<String>,
    pub state: DeviceState,
    /// Why it failed (the single action's Graph error message).
    pub message: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_updated: OffsetDateTime,
}

/// A bulk action and its devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkAction {
    pub id: String,
    pub display_name: String,
    pub kind: BulkKind,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    /// Who asked (the app's name for app-only callers).
    pub initiated_by: Option<String>,
    pub scheduled_during_maintenance_window: bool,
    pub devices: Vec<DeviceResult>,
}

/// The counters of `actionSummary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub pending: usize,
    pub in_progress: usize,
    pub successful: usize,
    pub failed: usize,
    pub not_supported: usize,
}

impl BulkAction {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for d in &self.devices {
            match d.state {
                DeviceState::Pending => s.pending += 1,
                DeviceState::Active => s.in_progress += 1,
                DeviceState::Done => s.successful += 1,
                DeviceState::Failed => s.failed += 1,
                DeviceState::NotSupported => s.not_supported += 1,
            }
        }
        s
    }

    /// `cloudPcBulkActionStatus`.
    pub fn status(&self) -> &'static str {
        let s = self.summary();
        if s.pending + s.in_progress > 0 {
            "pending"
        } else if s.failed + s.not_supported == 0 {
            "succeeded"
        } else {
            "failed"
        }
    }
}

/// Every bulk action of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BulkActions {
    items: Vec<BulkAction>,
    ids: IdGenerator,
}

impl Default for BulkActions {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            ids: IdGenerator::new(BULK_ID_SEED),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    #[serde(rename = "@odata.type")]
    odata_type: Option<String>,
    display_name: Option<String>,
    #[serde(default, alias = "cloudPcIDs")]
    cloud_pc_ids: Vec<String>,
    #[serde(default)]
    scheduled_during_maintenance_window: Option<bool>,
    #[serde(default)]
    target_service_plan_id: Option<String>,
    #[serde(default)]
    restore_point_date_time: Option<String>,
    #[serde(default)]
    time_range: Option<TimeRange>,
}

fn parse_kind(input: &CreateInput) -> Result<BulkKind> {
    let name = input
        .odata_type
        .as_deref()
        .map(|t| t.trim_start_matches('#').trim_start_matches("microsoft.graph."))
        .ok_or_else(|| {
            Windows365Error::invalid(
                "@odata.type is required: cloudPcBulkAction is abstract; name the action, e.g. #microsoft.graph.cloudPcBulkRestart",
            )
        })?;
    let kind = match name.to_ascii_lowercase().as_str() {
        "cloudpcbulkrestart" => BulkKind::Restart,
        "cloudpcbulkreprovision" => BulkKind::Reprovision,
        "cloudpcbulktroubleshoot" => BulkKind::Troubleshoot,
        "cloudpcbulkpoweron" => BulkKind::PowerOn,
        "cloudpcbulkpoweroff" => BulkKind::PowerOff,
        "cloudpcbulkresize" => BulkKind::Resize {
            target_service_plan_id: input
                .target_service_plan_id
                .clone()
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    Windows365Error::invalid("the property 'targetServicePlanId' is required")
                })?,
        },
        "cloudpcbulkrestore" => {
            let text = input.restore_point_date_time.as_deref().ok_or_else(|| {
                Windows365Error::invalid("the property 'restorePointDateTime' is required")
            })?;
            BulkKind::Restore {
                restore_point_date_time: OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                    Windows365Error::invalid(format!(
                        "restorePointDateTime '{text}' is not a DateTimeOffset"
                    ))
                })?,
                time_range: input.time_range.unwrap_or(TimeRange::Before),
            }
        }
        "cloudpcbulkaction" => {
            return Err(Windows365Error::invalid(
                "cloudPcBulkAction is abstract; name the action in @odata.type, e.g. #microsoft.graph.cloudPcBulkRestart",
            ));
        }
        _ => {
            return Err(Windows365Error::invalid(format!(
                "@odata.type '{name}' is not a bulk action this service runs"
            )));
        }
    };
    Ok(kind)
}

impl Windows365State {
    /// `POST bulkActions`: records the action with every device `pending`.
    pub fn create_bulk_action(
        &mut self,
        body: Value,
        initiated_by: Option<String>,
        now: OffsetDateTime,
    ) -> Result<&BulkAction> {
        if !body.is_object() {
            return Err(Windows365Error::invalid(
                "the bulk action body must be a JSON object",
            ));
        }
        let input: CreateInput = serde_json::from_value(body)
            .map_err(|e| Windows365Error::invalid(format!("invalid bulk action body: {e}")))?;
        let kind = parse_kind(&input)?;
        let display_name = input
            .display_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| Windows365Error::invalid("the property 'displayName' is required"))?;
        let mut ids: Vec<String> = Vec::new();
        for id in &input.cloud_pc_ids {
            if !ids.iter().any(|i| i.eq_ignore_ascii_case(id)) {
                ids.push(id.clone());
            }
        }
        if ids.is_empty() {
            return Err(Windows365Error::invalid(
                "the property 'cloudPcIds' must list at least one Cloud PC",
            ));
        }
        if ids.len() > MAX_CLOUD_PCS {
            return Err(Windows365Error::invalid(format!(
                "a bulk action takes at most {MAX_CLOUD_PCS} Cloud PCs"
            )));
        }
        let devices = ids
            .into_iter()
            .map(|id| {
                let pc = self.cloud_pc(&id).ok();
                DeviceResult {
                    device_display_name: pc.map(|p| p.display_name.clone()),
                    owner_user_principal_name: pc
                        .map(|p| p.user_principal_name.clone())
                        .filter(|u| !u.is_empty()),
                    cloud_pc_id: pc.map_or(id, |p| p.id.clone()),
                    state: DeviceState::Pending,
                    message: None,
                    started: None,
                    last_updated: now,
                }
            })
            .collect();
        let action = BulkAction {
            id: self.bulk_actions.ids.guid(),
            display_name,
            kind,
            created_date_time: now,
            initiated_by,
            scheduled_during_maintenance_window: input
                .scheduled_during_maintenance_window
                .unwrap_or(false),
            devices,
        };
        self.bulk_actions.items.push(action);
        Ok(self.bulk_actions.items.last().expect("just pushed"))
    }

    /// Every bulk action, oldest first.
    pub fn bulk_actions(&self) -> &[BulkAction] {
        &self.bulk_actions.items
    }

    /// One bulk action.
    pub fn bulk_action(&self, id: &str) -> Result<&BulkAction> {
        self.bulk_actions
            .items
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcBulkAction", id))
    }

    /// When a device of some bulk action next changes on its own (start or end of a quick action).
    pub fn bulk_actions_next_due(&self) -> Option<OffsetDateTime> {
        self.bulk_actions
            .items
            .iter()
            .flat_map(|a| {
                a.devices.iter().filter_map(move |d| match d.state {
                    DeviceState::Pending => Some(a.created_date_time + BULK_START_DELAY),
                    DeviceState::Active if !a.kind.long_running() => {
                        d.started.map(|s| s + QUICK_ACTION_DURATION)
                    }
                    _ => None,
                })
            })
            .min()
    }

    /// Plays the bulk actions up to `now` (called on every tick, after the Cloud PC lifecycle).
    pub fn run_bulk_actions(&mut self, dir: &dyn DirectoryView, now: OffsetDateTime) {
        for a in 0..self.bulk_actions.items.len() {
            let (kind, start_at) = {
                let action = &self.bulk_actions.items[a];
                (
                    action.kind.clone(),
                    action.created_date_time + BULK_START_DELAY,
                )
            };
            for d in 0..self.bulk_actions.items[a].devices.len() {
                let device = self.bulk_actions.items[a].devices[d].clone();
                let next = match device.state {
                    DeviceState::Pending if now >= start_at => {
                        Some(self.start_device(&kind, &device.cloud_pc_id, dir, start_at))
                    }
                    DeviceState::Active => self.settle_device(&kind, &device, now),
                    _ => None,
                };
                if let Some((state, message, at)) = next {
                    let slot = &mut self.bulk_actions.items[a].devices[d];
                    if device.state == DeviceState::Pending {
                        slot.started = Some(at);
                    }
                    slot.state = state;
                    slot.message = message;
                    slot.last_updated = at;
                }
            }
        }
    }

    /// Runs one device's action with the single Cloud PC action code.
    fn start_device(
        &mut self,
        kind: &BulkKind,
        id: &str,
        dir: &dyn DirectoryView,
        at: OffsetDateTime,
    ) -> (DeviceState, Option<String>, OffsetDateTime) {
        let product = match self.cloud_pc(id) {
            Ok(pc) => pc.product_type,
            Err(e) => return (DeviceState::Failed, Some(e.to_string()), at),
        };
        if matches!(kind, BulkKind::PowerOn | BulkKind::PowerOff)
            && product != ProductType::Frontline
        {
            return (
                DeviceState::NotSupported,
                Some("power actions apply only to Windows 365 Frontline Cloud PCs".to_owned()),
                at,
            );
        }
        let result = match kind {
            BulkKind::Restart => self.reboot_cloud_pc(id, at),
            BulkKind::Reprovision => self.reprovision_cloud_pc(id, None, at),
            BulkKind::Troubleshoot => self.troubleshoot_cloud_pc(id, at),
            BulkKind::PowerOn => self.power_on_cloud_pc(id, at),
            BulkKind::PowerOff => self.power_off_cloud_pc(id, at),
            BulkKind::Resize {
                target_service_plan_id,
            } => self.resize_cloud_pc(
                id,
                json!({ "targetServicePlanId": target_service_plan_id }),
                dir,
                at,
            ),
            BulkKind::Restore {
                restore_point_date_time,
                time_range,
            } => match self.restore_point_for(id, *restore_point_date_time, *time_range) {
                Some(snapshot) => {
                    self.restore_cloud_pc(id, json!({ "cloudPcSnapshotId": snapshot }), at)
                }
                None => Err(Windows365Error::invalid_state(format!(
                    "the Cloud PC '{id}' has no restore point {} {}",
                    time_range.as_str(),
                    restore_point_date_time.format(&Rfc3339).unwrap_or_default()
                ))),
            },
        };
        match result {
            Ok(()) => (DeviceState::Active, None, at),
            Err(e) => (DeviceState::Failed, Some(e.to_string()), at),
        }
    }

    /// The restore point a bulk restore uses for one Cloud PC.
    fn restore_point_for(
        &self,
        id: &str,
        point: OffsetDateTime,
        range: TimeRange,
    ) -> Option<String> {
        let snapshots = self.snapshots_of(id).ok()?;
        let before = snapshots
            .iter()
            .filter(|s| s.created_date_time <= point)
            .max_by_key(|s| s.created_date_time);
        let after = snapshots
            .iter()
            .filter(|s| s.created_date_time >= point)
            .min_by_key(|s| s.created_date_time);
        let chosen = match range {
            TimeRange::Before => before,
            TimeRange::After => after,
            TimeRange::BeforeOrAfter => match (before, after) {
                (Some(b), Some(a)) => {
                    if point - b.created_date_time <= a.created_date_time - point {
                        Some(b)
                    } else {
                        Some(a)
                    }
                }
                (b, a) => b.or(a),
            },
        };
        chosen.map(|s| s.id.clone())
    }

    /// An active device: done when its quick action has run its time, or when its Cloud PC is
    /// running again after a long one (failed when it ended `failed`).
    fn settle_device(
        &self,
        kind: &BulkKind,
        device: &DeviceResult,
        now: OffsetDateTime,
    ) -> Option<(DeviceState, Option<String>, OffsetDateTime)> {
        if !kind.long_running() {
            let end = device.started? + QUICK_ACTION_DURATION;
            return (now >= end).then_some((DeviceState::Done, None, end));
        }
        let pc = match self.cloud_pc(&device.cloud_pc_id) {
            Ok(pc) => pc,
            Err(e) => return Some((DeviceState::Failed, Some(e.to_string()), now)),
        };
        if pc.status == CloudPcStatus::Failed {
            let reason = pc.status_detail.as_ref().map_or_else(
                || "the Cloud PC ended in status failed".to_owned(),
                |d| d.message.clone(),
            );
            return Some((DeviceState::Failed, Some(reason), now));
        }
        OPERABLE
            .contains(&pc.status)
            .then_some((DeviceState::Done, None, now))
    }
}

fn time_text(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Graph JSON of a bulk action.
pub fn render(a: &BulkAction) -> Value {
    let s = a.summary();
    let mut v = json!({
        "@odata.type": format!("#microsoft.graph.{}", a.kind.type_name()),
        "id": a.id,
        "displayName": a.display_name,
        "cloudPcIds": a.devices.iter().map(|d| d.cloud_pc_id.clone()).collect::<Vec<_>>(),
        "createdDateTime": time_text(a.created_date_time),
        "initiatedByUserPrincipalName": a.initiated_by,
        "scheduledDuringMaintenanceWindow": a.scheduled_during_maintenance_window,
        "status": a.status(),
        "actionSummary": {
            "@odata.type": "microsoft.graph.cloudPcBulkActionSummary",
            "failedCount": s.failed,
            "inProgressCount": s.in_progress,
            "notSupportedCount": s.not_supported,
            "pendingCount": s.pending,
            "successfulCount": s.successful,
        },
    });
    if let (Value::Object(map), Value::Object(extra)) = (&mut v, a.kind.parameters()) {
        map.extend(extra);
    }
    v
}

/// The columns of the action status report, in Graph's order.
pub const REPORT_COLUMNS: &[(&str, &str)] = &[
    ("Id", "String"),
    ("CloudPcDeviceDisplayName", "String"),
    ("BulkActionId", "String"),
    ("BulkActionDisplayName", "String"),
    ("CloudPcId", "String"),
    ("InitiatedByUserPrincipalName", "String"),
    ("DeviceOwnerUserPrincipalName", "String"),
    ("Action", "String"),
    ("ActionState", "String"),
    ("RequestDateTime", "DateTime"),
    ("LastUpdatedDateTime", "DateTime"),
    ("ActionParameters", "Json"),
    // Not in Graph's documented example: the failed action's error message.
    ("ErrorMessage", "String"),
];

/// One report row per device of every bulk action, as a JSON object keyed by column (the route
/// filters and projects them).
pub fn report_rows(actions: &[BulkAction]) -> Vec<serde_json::Map<String, Value>> {
    let mut rows = Vec::new();
    for a in actions {
        for d in &a.devices {
            let values = [
                json!(format!("{}_{}", a.id, d.cloud_pc_id)),
                json!(d.device_display_name),
                json!(a.id),
                json!(a.display_name),
                json!(d.cloud_pc_id),
                json!(a.initiated_by),
                json!(d.owner_user_principal_name),
                json!(a.kind.action_name()),
                json!(d.state.as_str()),
                json!(time_text(a.created_date_time)),
                json!(time_text(d.last_updated)),
                a.kind.parameters(),
                json!(d.message),
            ];
            rows.push(
                REPORT_COLUMNS
                    .iter()
                    .map(|(c, _)| (*c).to_owned())
                    .zip(values)
                    .collect(),
            );
        }
    }
    rows
}
