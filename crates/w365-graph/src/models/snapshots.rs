//! `cloudPcSnapshot`: a Cloud PC restore point (beta only).
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcsnapshot?view=graph-rest-beta>

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

evolvable_enum! {
    /// `cloudPcSnapshotType`: how the restore point was taken.
    pub enum SnapshotType {
        Automatic = "automatic",
        Manual = "manual",
        UnknownFutureValue = "unknownFutureValue",
        Retention = "retention",
    }
}

evolvable_enum! {
    /// `cloudPcSnapshotStatus`.
    pub enum SnapshotStatus {
        Ready = "ready",
        UnknownFutureValue = "unknownFutureValue",
    }
}

/// A restore point of a Cloud PC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcSnapshot {
    /// The id `restore` takes (`cloudPcSnapshotId`).
    pub id: String,
    /// The Cloud PC it belongs to.
    #[serde(default)]
    pub cloud_pc_id: Option<String>,
    /// `ready` when it can be restored.
    #[serde(default)]
    pub status: Option<SnapshotStatus>,
    /// When it was taken.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_date_time: Option<OffsetDateTime>,
    /// When it expires (none for manual restore points).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expiration_date_time: Option<OffsetDateTime>,
    /// When it was last used to restore the Cloud PC.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_restored_date_time: Option<OffsetDateTime>,
    /// `automatic` (on the user settings schedule) or `manual` (on demand).
    #[serde(default)]
    pub snapshot_type: Option<SnapshotType>,
    /// `unknown`, `healthy` or `unhealthy`.
    #[serde(default)]
    pub health_check_status: Option<String>,
}
