//! Cloud PC restore points (`cloudPcSnapshot`, beta only) on the virtual clock.
//!
//! Graph (all beta; there is no v1.0 form):
//! - resource: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcsnapshot?view=graph-rest-beta>
//!   `{id, cloudPcId, status (ready), createdDateTime, expirationDateTime, lastRestoredDateTime,
//!   snapshotType (automatic|manual|retention), healthCheckStatus}`; ids look like
//!   `CPC_{cloudPcId}_{guid}` (the `retrieveSnapshots` example);
//! - `GET cloudPCs/{id}/retrieveSnapshots` lists them
//!   (<https://learn.microsoft.com/en-us/graph/api/cloudpc-retrievesnapshots?view=graph-rest-beta>,
//!   least privileged application permission `CloudPC.ReadWrite.All`, even for this read);
//! - `POST cloudPCs/{id}/createSnapshot` `{storageAccountId?, accessTier?}` -> 204, asynchronous
//!   (<https://learn.microsoft.com/en-us/graph/api/cloudpc-createsnapshot?view=graph-rest-beta>);
//! - `POST cloudPCs/{id}/restore` `{cloudPcSnapshotId}` (v1.0 and beta,
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpc-restore?view=graph-rest-1.0>).
//!
//! Schedule (Windows 365 "point-in-time restore",
//! <https://learn.microsoft.com/en-us/windows-365/enterprise/restore-overview>): short-term restore
//! points every 4, 6, 12, 16 or 24 hours as the user's user settings policy says
//! (`restorePointSetting.frequencyType`, `default` = 12 hours,
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcrestorepointsetting?view=graph-rest-1.0>),
//! ten kept per Cloud PC (the oldest is dropped when an eleventh is taken); manual restore points
//! on demand.
//!
//! LIMITATIONS (not emulated):
//! - the four weekly long-term restore points;
//! - `createSnapshot` with `storageAccountId` keeps the restore point in the service as without it
//!   (the copy to the customer's storage account is not emulated);
//! - how long a manual restore point takes is not documented: [`MANUAL_SNAPSHOT_DELAY`] is the
//!   simulator's choice; manual restore points do not expire;
//! - Graph's answer to `restore` with an id that is not a restore point of the Cloud PC is not
//!   documented: the simulator answers 400 `BadRequest` naming the snapshot and the Cloud PC.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::Windows365State;
use super::cloud_pc::CloudPcStatus;
use super::error::{Result, Windows365Error};
use super::input::parse_body;
use super::user_settings::FrequencyType;
use crate::lifecycle::transitions::OPERABLE;
use crate::state::view::DirectoryView;

/// How many short-term (automatic) restore points a Cloud PC keeps.
pub const SHORT_TERM_KEPT: usize = 10;

/// From `createSnapshot` until the manual restore point is `ready` (the simulator's choice).
pub const MANUAL_SNAPSHOT_DELAY: Duration = Duration::minutes(5);

/// `cloudPcSnapshotType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SnapshotType {
    Automatic,
    Manual,
}

/// One restore point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub id: String,
    pub cloud_pc_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiration_date_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_restored_date_time: Option<OffsetDateTime>,
    pub snapshot_type: SnapshotType,
}

/// A `createSnapshot` request being carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingSnapshot {
    pub cloud_pc_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub due: OffsetDateTime,
}

/// The restore points of a tenant and their schedule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Snapshots {
    pub(crate) items: Vec<Snapshot>,
    pub(crate) pending: Vec<PendingSnapshot>,
    /// Next automatic restore point per Cloud PC (lower-case id).
    pub(crate) next_automatic: BTreeMap<String, OffsetDateTime>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateSnapshotInput {
    #[serde(default)]
    storage_account_id: Option<String>,
    #[serde(default)]
    access_tier: Option<String>,
}

/// The short-term interval of a frequency (`default` is 12 hours).
pub fn interval_of(frequency: Option<FrequencyType>, hours: Option<i32>) -> Duration {
    match frequency {
        Some(FrequencyType::FourHours) => Duration::hours(4),
        Some(FrequencyType::SixHours) => Duration::hours(6),
        Some(FrequencyType::SixteenHours) => Duration::hours(16),
        Some(FrequencyType::TwentyFourHours) => Duration::hours(24),
        Some(FrequencyType::TwelveHours) => Duration::hours(12),
        // The deprecated `frequencyInHours` still counts when `frequencyType` is absent or default.
        Some(FrequencyType::Default) | None => match hours {
            Some(h @ (4 | 6 | 12 | 16 | 24)) => Duration::hours(i64::from(h)),
            _ => Duration::hours(12),
        },
    }
}

impl Windows365State {
    /// The restore points of one Cloud PC, oldest first (404 for an unknown Cloud PC).
    pub fn snapshots_of(&self, cloud_pc_id: &str) -> Result<Vec<&Snapshot>> {
        let pc = self.cloud_pc(cloud_pc_id)?;
        let mut list: Vec<&Snapshot> = self
            .snapshots
            .items
            .iter()
            .filter(|s| s.cloud_pc_id.eq_ignore_ascii_case(&pc.id))
            .collect();
        list.sort_by_key(|s| s.created_date_time);
        Ok(list)
    }

    /// Manual restore points asked for and not ready yet.
    pub fn pending_snapshots(&self) -> &[PendingSnapshot] {
        &self.snapshots.pending
    }

    /// `createSnapshot`: a manual restore point, ready after [`MANUAL_SNAPSHOT_DELAY`]. The Cloud
    /// PC must be running.
    pub fn create_snapshot(
        &mut self,
        id: &str,
        body: Option<Value>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let body = match body {
            None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
            Some(v) => v,
        };
        let input: CreateSnapshotInput = parse_body(body, "createSnapshot")?;
        if let Some(tier) = &input.access_tier
            && !["hot", "cool", "cold", "archive"].contains(&tier.as_str())
        {
            return Err(Windows365Error::invalid(format!(
                "accessTier must be hot, cool, cold or archive; got '{tier}'"
            )));
        }
        if input
            .storage_account_id
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(Windows365Error::invalid(
                "storageAccountId must not be empty when given",
            ));
        }
        let pc = self.cloud_pc(id)?;
        if !OPERABLE.contains(&pc.status) {
            return Err(Windows365Error::invalid_state(format!(
                "a restore point of Cloud PC '{}' can only be taken while it runs (status provisioned); it is {}",
                pc.id,
                pc.status.as_str()
            )));
        }
        let cloud_pc_id = pc.id.clone();
        self.snapshots.pending.push(PendingSnapshot {
            cloud_pc_id,
            due: now + MANUAL_SNAPSHOT_DELAY,
        });
        Ok(())
    }

    /// Checks that `snapshot_id` is a restore point of the Cloud PC at `index` and marks it
    /// restored at `now`.
    pub(crate) fn use_snapshot(
        &mut self,
        index: usize,
        snapshot_id: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let pc_id = self.cloud_pcs[index].id.clone();
        let snapshot = self
            .snapshots
            .items
            .iter_mut()
            .find(|s| {
                s.id.eq_ignore_ascii_case(snapshot_id) && s.cloud_pc_id.eq_ignore_ascii_case(&pc_id)
            })
            .ok_or_else(|| {
                Windows365Error::invalid(format!(
                    "'{snapshot_id}' is not a restore point of Cloud PC '{pc_id}'; list them with retrieveSnapshots"
                ))
            })?;
        snapshot.last_restored_date_time = Some(now);
        Ok(())
    }

    fn new_snapshot(
        &mut self,
        cloud_pc_id: &str,
        at: OffsetDateTime,
        kind: SnapshotType,
        expires: Option<OffsetDateTime>,
    ) {
        let id = format!("CPC_{cloud_pc_id}_{}", self.ids.guid());
        self.snapshots.items.push(Snapshot {
            id,
            cloud_pc_id: cloud_pc_id.to_owned(),
            created_date_time: at,
            expiration_date_time: expires,
            last_restored_date_time: None,
            snapshot_type: kind,
        });
    }

    /// The restore point schedule, played up to `now`: manual restore points that became ready,
    /// automatic ones at each interval of the user's user settings policy (taken at their own
    /// time, even when several fell due since the last call), retention, and restore points of
    /// Cloud PCs that no longer exist dropped.
    pub fn run_snapshot_schedule(&mut self, dir: &dyn DirectoryView, now: OffsetDateTime) {
        let earliest = self
            .snapshots
            .next_automatic
            .values()
            .chain(self.snapshots.pending.iter().map(|p| &p.due))
            .min()
            .copied();
        let in_sync = self.snapshots.next_automatic.len() == self.cloud_pcs.len();
        if in_sync && earliest.is_none_or(|e| e > now) {
            return;
        }

        // Manual restore points that are ready.
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.snapshots.pending)
            .into_iter()
            .partition(|p| p.due <= now);
        self.snapshots.pending = waiting;
        for p in ready {
            if self.cloud_pc(&p.cloud_pc_id).is_ok() {
                self.new_snapshot(&p.cloud_pc_id, p.due, SnapshotType::Manual, None);
            }
        }

        // Automatic restore points.
        let pcs: Vec<(String, String, CloudPcStatus, Option<OffsetDateTime>)> = self
            .cloud_pcs
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    c.engine.user_id.clone(),
                    c.status,
                    c.provisioned_date_time,
                )
            })
            .collect();
        let mut next_map = BTreeMap::new();
        for (pc_id, user_id, status, provisioned) in pcs {
            let key = pc_id.to_lowercase();
            let known = self.snapshots.next_automatic.get(&key).copied();
            if let Some(n) = known.filter(|n| *n > now) {
                next_map.insert(key, n);
                continue;
            }
            // The user's policy is read only when a restore point falls due (or at first sight).
            let interval = self
                .user_setting_for(dir, &user_id)
                .and_then(|s| s.restore_point_setting.as_ref())
                .map_or(Duration::hours(12), |r| {
                    interval_of(r.frequency_type, r.frequency_in_hours)
                });
            let mut next = match known {
                Some(n) => n,
                None => {
                    // First sight: the schedule starts when the Cloud PC was provisioned; only the
                    // restore points still kept are taken.
                    let start = provisioned.unwrap_or(now);
                    let mut n = start + interval;
                    let window_start = now - interval * (SHORT_TERM_KEPT as i32);
                    if n < window_start {
                        let skipped = ((window_start - n).whole_seconds()
                            / interval.whole_seconds().max(1))
                            + 1;
                        n += interval * (skipped as i32);
                    }
                    n
                }
            };
            let running = OPERABLE.contains(&status);
            while next <= now {
                if running {
                    let expires = next + interval * (SHORT_TERM_KEPT as i32);
                    self.new_snapshot(&pc_id, next, SnapshotType::Automatic, Some(expires));
                }
                next += interval;
            }
            next_map.insert(key, next);
        }
        self.snapshots.next_automatic = next_map;

        // Retention: Cloud PCs that are gone lose their restore points; ten short-term ones kept.
        let existing: std::collections::BTreeSet<String> =
            self.cloud_pcs.iter().map(|c| c.id.to_lowercase()).collect();
        self.snapshots
            .items
            .retain(|s| existing.contains(&s.cloud_pc_id.to_lowercase()));
        self.snapshots
            .pending
            .retain(|p| existing.contains(&p.cloud_pc_id.to_lowercase()));
        let mut automatic: BTreeMap<String, Vec<OffsetDateTime>> = BTreeMap::new();
        for s in &self.snapshots.items {
            if s.snapshot_type == SnapshotType::Automatic {
                automatic
                    .entry(s.cloud_pc_id.to_lowercase())
                    .or_default()
                    .push(s.created_date_time);
            }
        }
        let mut cutoff: BTreeMap<String, OffsetDateTime> = BTreeMap::new();
        for (pc, mut times) in automatic {
            if times.len() > SHORT_TERM_KEPT {
                times.sort();
                cutoff.insert(pc, times[times.len() - SHORT_TERM_KEPT]);
            }
        }
        self.snapshots.items.retain(|s| {
            s.snapshot_type != SnapshotType::Automatic
                || cutoff
                    .get(&s.cloud_pc_id.to_lowercase())
                    .is_none_or(|c| s.created_date_time >= *c)
        });
    }
}

/// A `cloudPcSnapshot` as Graph renders it (beta).
pub fn render(s: &Snapshot) -> Value {
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .map_or(Value::Null, Value::String)
    };
    serde_json::json!({
        "id": s.id,
        "cloudPcId": s.cloud_pc_id,
        "status": "ready",
        "createdDateTime": fmt(s.created_date_time),
        "lastRestoredDateTime": s.last_restored_date_time.map_or(Value::Null, fmt),
        "snapshotType": match s.snapshot_type {
            SnapshotType::Automatic => "automatic",
            SnapshotType::Manual => "manual",
        },
        "expirationDateTime": s.expiration_date_time.map_or(Value::Null, fmt),
        // The simulator runs no health check on restore points (Graph's default is `unknown`).
        "healthCheckStatus": "unknown",
    })
}
