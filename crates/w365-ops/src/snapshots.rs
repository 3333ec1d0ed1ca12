//! `snapshot list|create` and the choice of a restore point for `cloudpc restore`.
//!
//! Restore points are beta only in Graph (`retrieveSnapshots`, `createSnapshot`; see
//! `w365_graph::resources::CloudPcSnapshotsHandler`), and both need `CloudPC.ReadWrite.All`: the
//! documentation names no read-only permission for `retrieveSnapshots`
//! (<https://learn.microsoft.com/en-us/graph/api/cloudpc-retrievesnapshots?view=graph-rest-beta>).

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use w365_graph::Client;
use w365_graph::models::{CloudPc, CloudPcSnapshot, CloudPcStatus};

use crate::cloud_pc::{cloud_pc_ref, resolve_one, status_name};
use crate::error::{Error, GraphContext, Result};
use crate::execute::{CloudPcReport, cloud_pc_report, permissions};

/// Which restore point `cloudpc restore` uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "value")]
pub enum RestorePointChoice {
    /// This id (must be one of the Cloud PC's restore points).
    Id(String),
    /// The newest restore point.
    Latest,
    /// The newest restore point taken strictly before this time.
    #[serde(with = "time::serde::rfc3339")]
    Before(OffsetDateTime),
}

impl std::fmt::Display for RestorePointChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "restore point {id}"),
            Self::Latest => f.write_str("the newest restore point"),
            Self::Before(t) => write!(
                f,
                "the newest restore point before {}",
                t.format(&Rfc3339).unwrap_or_default()
            ),
        }
    }
}

/// The restore points of one Cloud PC.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotListing {
    pub cloud_pc: CloudPcReport,
    pub user_principal_name: Option<String>,
    /// Newest first.
    pub snapshots: Vec<CloudPcSnapshot>,
}

/// Newest first; restore points without a time last.
fn newest_first(mut list: Vec<CloudPcSnapshot>) -> Vec<CloudPcSnapshot> {
    list.sort_by_key(|s| std::cmp::Reverse(s.created_date_time));
    list
}

/// Every restore point of a Cloud PC (all pages), newest first.
pub async fn snapshots_of(client: &Client, pc: &CloudPc) -> Result<Vec<CloudPcSnapshot>> {
    let list = client.cloud_pc_snapshots().list(&pc.id).await.graph_ctx(
        || {
            format!(
                "list the restore points of the Cloud PC {}",
                cloud_pc_ref(pc)
            )
        },
        permissions::WRITE_CLOUD_PCS,
    )?;
    Ok(newest_first(list))
}

/// `snapshot list ID|UPN`: the restore points of one Cloud PC (a user's only one).
pub async fn list(client: &Client, target: &str) -> Result<SnapshotListing> {
    let pc = resolve_one(client, target).await?;
    let snapshots = snapshots_of(client, &pc).await?;
    Ok(SnapshotListing {
        cloud_pc: cloud_pc_report(&pc),
        user_principal_name: pc.user_principal_name.clone(),
        snapshots,
    })
}

/// Picks the restore point `choice` names among `snapshots` (newest first or in any order).
pub fn choose(
    pc: &CloudPc,
    snapshots: &[CloudPcSnapshot],
    choice: &RestorePointChoice,
) -> Result<CloudPcSnapshot> {
    if snapshots.is_empty() {
        return Err(Error::InvalidInput {
            reason: format!(
                "the Cloud PC {} has no restore point yet; take one with `w365 snapshot create`",
                cloud_pc_ref(pc)
            ),
        });
    }
    let sorted = newest_first(snapshots.to_vec());
    match choice {
        RestorePointChoice::Id(id) => {
            let id = id.trim();
            sorted
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(id))
                .cloned()
                .ok_or_else(|| Error::InvalidInput {
                    reason: format!(
                        "'{id}' is not a restore point of the Cloud PC {}; `w365 snapshot list` shows its {} restore point(s)",
                        cloud_pc_ref(pc),
                        sorted.len()
                    ),
                })
        }
        RestorePointChoice::Latest => Ok(sorted[0].clone()),
        RestorePointChoice::Before(limit) => sorted
            .iter()
            .find(|s| s.created_date_time.is_some_and(|t| t < *limit))
            .cloned()
            .ok_or_else(|| {
                let oldest = sorted
                    .iter()
                    .filter_map(|s| s.created_date_time)
                    .min()
                    .and_then(|t| t.format(&Rfc3339).ok())
                    .unwrap_or_else(|| "unknown".into());
                Error::InvalidInput {
                    reason: format!(
                        "the Cloud PC {} has no restore point before {}; its oldest is from {oldest}",
                        cloud_pc_ref(pc),
                        limit.format(&Rfc3339).unwrap_or_default()
                    ),
                }
            }),
    }
}

/// Whether the Cloud PC runs (restore, and taking a restore point, need it).
fn require_running(pc: &CloudPc, action: &str) -> Result<()> {
    if matches!(
        pc.status,
        Some(CloudPcStatus::Provisioned | CloudPcStatus::ProvisionedWithWarnings)
    ) {
        return Ok(());
    }
    Err(Error::CloudPcNotReady {
        cloud_pc: cloud_pc_ref(pc).to_string(),
        status: status_name(pc),
        action: action.into(),
    })
}

/// Resolves the restore point for `cloudpc restore` (reads only). The Cloud PC must be running
/// (provisioned): Windows 365 refuses a restore in any other status.
pub async fn restore_point(
    client: &Client,
    pc: &CloudPc,
    choice: &RestorePointChoice,
) -> Result<CloudPcSnapshot> {
    require_running(pc, "restore")?;
    let list = snapshots_of(client, pc).await?;
    choose(pc, &list, choice)
}

/// What `snapshot create` did (or would do).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateReport {
    pub cloud_pc: CloudPcReport,
    pub user_principal_name: Option<String>,
    pub dry_run: bool,
    /// Whether the request was sent (the restore point appears a few minutes later).
    pub requested: bool,
}

/// `snapshot create ID|UPN`: asks for a manual restore point of a running Cloud PC.
pub async fn create(client: &Client, target: &str, dry_run: bool) -> Result<CreateReport> {
    let pc = resolve_one(client, target).await?;
    require_running(&pc, "take a restore point")?;
    if !dry_run {
        client.cloud_pc_snapshots().create(&pc.id).await.graph_ctx(
            || format!("take a restore point of the Cloud PC {}", cloud_pc_ref(&pc)),
            permissions::WRITE_CLOUD_PCS,
        )?;
    }
    Ok(CreateReport {
        cloud_pc: cloud_pc_report(&pc),
        user_principal_name: pc.user_principal_name.clone(),
        dry_run,
        requested: !dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn snap(id: &str, at: OffsetDateTime) -> CloudPcSnapshot {
        CloudPcSnapshot {
            id: id.into(),
            created_date_time: Some(at),
            ..CloudPcSnapshot::default()
        }
    }

    #[test]
    fn latest_before_and_id_pick_the_right_restore_point() {
        let pc = CloudPc {
            id: "pc1".into(),
            ..CloudPc::default()
        };
        let list = vec![
            snap("a", datetime!(2026-11-28 00:00 UTC)),
            snap("c", datetime!(2026-11-30 00:00 UTC)),
            snap("b", datetime!(2026-11-29 00:00 UTC)),
        ];
        assert_eq!(
            choose(&pc, &list, &RestorePointChoice::Latest).unwrap().id,
            "c"
        );
        let before = RestorePointChoice::Before(datetime!(2026-11-29 12:00 UTC));
        assert_eq!(choose(&pc, &list, &before).unwrap().id, "b");
        // Strictly before: a restore point taken at the limit does not count.
        let at = RestorePointChoice::Before(datetime!(2026-11-29 00:00 UTC));
        assert_eq!(choose(&pc, &list, &at).unwrap().id, "a");
        let too_early = RestorePointChoice::Before(datetime!(2026-01-01 00:00 UTC));
        let err = choose(&pc, &list, &too_early).unwrap_err().to_string();
        assert!(err.contains("oldest is from 2026-11-28"), "{err}");
        assert_eq!(
            choose(&pc, &list, &RestorePointChoice::Id("B".into()))
                .unwrap()
                .id,
            "b"
        );
        let err = choose(&pc, &list, &RestorePointChoice::Id("zz".into()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'zz' is not a restore point"), "{err}");
        assert!(choose(&pc, &[], &RestorePointChoice::Latest).is_err());
    }
}
