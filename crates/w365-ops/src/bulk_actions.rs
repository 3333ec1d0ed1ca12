//! Bulk actions (`w365 bulk-action create|list|show`): one Graph `cloudPcBulkAction` (beta) over
//! the Cloud PCs named by id / user, by provisioning policy, or by the direct members of a group.
//! Planning only reads (the Cloud PCs it will act on); creating starts the action, which the
//! service then runs device by device. Per-device outcomes come from the action status report.
//! Graph facts and citations: [`w365_graph::resources::BulkActionsHandler`].

use serde::Serialize;
use time::OffsetDateTime;
use w365_graph::Client;
use w365_graph::models::{BulkActionDevice, CloudPc, CloudPcBulkAction};
use w365_graph::resources::BulkActionRequest;

use crate::cloud_pc::{self, ListFilter, cloud_pc_ref};
use crate::error::{Error, GraphContext, Result};
use crate::execute::permissions;
use crate::plan::CloudPcRef;
use crate::policy::spec::ObjectKind;

/// Which restore point a bulk restore takes, relative to its time (`restoreTimeRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TimeRange {
    Before,
    After,
    BeforeOrAfter,
}

impl TimeRange {
    fn wire(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
            Self::BeforeOrAfter => "beforeOrAfter",
        }
    }
}

/// The action (the `@odata.type` of the bulk action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum BulkKind {
    Reboot,
    Reprovision,
    Troubleshoot,
    PowerOn,
    PowerOff,
    #[serde(rename_all = "camelCase")]
    Resize {
        target_service_plan_id: String,
    },
    #[serde(rename_all = "camelCase")]
    Restore {
        #[serde(with = "time::serde::rfc3339")]
        restore_point: OffsetDateTime,
        time_range: TimeRange,
    },
}

impl BulkKind {
    /// `cloudPcBulkRestart`, ... (without the namespace).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Reboot => "cloudPcBulkRestart",
            Self::Reprovision => "cloudPcBulkReprovision",
            Self::Troubleshoot => "cloudPcBulkTroubleshoot",
            Self::PowerOn => "cloudPcBulkPowerOn",
            Self::PowerOff => "cloudPcBulkPowerOff",
            Self::Resize { .. } => "cloudPcBulkResize",
            Self::Restore { .. } => "cloudPcBulkRestore",
        }
    }

    /// The command-line name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reboot => "reboot",
            Self::Reprovision => "reprovision",
            Self::Troubleshoot => "troubleshoot",
            Self::PowerOn => "power-on",
            Self::PowerOff => "power-off",
            Self::Resize { .. } => "resize",
            Self::Restore { .. } => "restore",
        }
    }

    /// Loses work or data, or cuts the users off (the same set as the single Cloud PC actions):
    /// asks for consent.
    pub fn is_destructive(&self) -> bool {
        !matches!(self, Self::Troubleshoot | Self::PowerOn)
    }

    /// What happens to each Cloud PC, for the consent question.
    pub fn consequence(&self) -> &'static str {
        match self {
            Self::Reboot => "each user's session ends and unsaved work is lost",
            Self::Reprovision => "each Cloud PC is recreated: everything on it is lost",
            Self::Troubleshoot => "each Cloud PC is checked and repaired",
            Self::PowerOn => "each Cloud PC is started",
            Self::PowerOff => "each user's session ends and unsaved work is lost",
            Self::Resize { .. } => "each Cloud PC restarts on the new size (sessions end)",
            Self::Restore { .. } => {
                "each Cloud PC goes back to a restore point: files changed since are lost"
            }
        }
    }
}

/// Which Cloud PCs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkTarget {
    /// Cloud PC ids, or principal names of users with exactly one Cloud PC.
    CloudPcs(Vec<String>),
    /// Every Cloud PC of this provisioning policy (name or id).
    Policy(String),
    /// Every Cloud PC of the direct members of this group (name or id).
    Group(String),
}

/// What `create` will do (planning only reads).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkPlan {
    pub action: BulkKind,
    pub display_name: String,
    /// How the Cloud PCs were chosen, for people.
    pub selection: String,
    pub cloud_pcs: Vec<CloudPcRef>,
    pub destructive: bool,
}

/// Whether a Cloud PC can take an action at all (it exists as a Cloud PC).
fn is_actionable(pc: &CloudPc) -> bool {
    !matches!(
        cloud_pc::status_name(pc).as_str(),
        "notProvisioned" | "deprovisioning"
    )
}

async fn all_cloud_pcs(client: &Client) -> Result<Vec<CloudPc>> {
    cloud_pc::list(client, &ListFilter::default()).await
}

/// Resolves the Cloud PCs (reads only) and returns the plan; an empty selection is refused.
pub async fn plan(
    client: &Client,
    action: BulkKind,
    target: &BulkTarget,
    display_name: Option<String>,
) -> Result<BulkPlan> {
    let (selection, pcs) = match target {
        BulkTarget::CloudPcs(keys) => {
            let mut pcs: Vec<CloudPc> = Vec::new();
            for key in keys {
                let pc = cloud_pc::resolve_one(client, key).await?;
                if !pcs.iter().any(|p| p.id.eq_ignore_ascii_case(&pc.id)) {
                    pcs.push(pc);
                }
            }
            (format!("{} Cloud PC(s) named", keys.len()), pcs)
        }
        BulkTarget::Policy(name) => {
            let policy =
                crate::policy::tenant::find(client, ObjectKind::ProvisioningPolicy, name).await?;
            let pcs = all_cloud_pcs(client)
                .await?
                .into_iter()
                .filter(|pc| {
                    pc.provisioning_policy_id
                        .as_deref()
                        .is_some_and(|id| id.eq_ignore_ascii_case(policy.id()))
                })
                .filter(is_actionable)
                .collect();
            (
                format!("the Cloud PCs of the policy '{}'", policy.name()),
                pcs,
            )
        }
        BulkTarget::Group(name) => {
            let groups = crate::assign::find_groups(client, std::slice::from_ref(name))
                .await
                .graph_ctx(
                    || format!("find the group '{name}'"),
                    permissions::READ_GROUPS,
                )?;
            let group = crate::assign::one_group(&groups, name)?;
            let members = client
                .groups()
                .members(&group.id)
                .collect_all()
                .await
                .graph_ctx(
                    || format!("list the members of '{}'", group.display_name),
                    permissions::READ_GROUPS,
                )?;
            let upns: Vec<String> = members
                .iter()
                .filter_map(|m| m.user_principal_name.clone())
                .collect();
            let pcs = all_cloud_pcs(client)
                .await?
                .into_iter()
                .filter(|pc| {
                    pc.user_principal_name
                        .as_deref()
                        .is_some_and(|u| upns.iter().any(|m| m.eq_ignore_ascii_case(u)))
                })
                .filter(is_actionable)
                .collect();
            (
                format!("the Cloud PCs of the members of '{}'", group.display_name),
                pcs,
            )
        }
    };
    if pcs.is_empty() {
        return Err(Error::InvalidInput {
            reason: format!(
                "{selection}: no Cloud PC to {}; nothing to do",
                action.name()
            ),
        });
    }
    let display_name = display_name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("w365 {} of {} Cloud PC(s)", action.name(), pcs.len()));
    Ok(BulkPlan {
        destructive: action.is_destructive(),
        action,
        display_name,
        selection,
        cloud_pcs: pcs.iter().map(cloud_pc_ref).collect(),
    })
}

/// The Graph request of a plan.
pub fn request(plan: &BulkPlan) -> BulkActionRequest {
    let (target_service_plan_id, restore_point_date_time, time_range) = match &plan.action {
        BulkKind::Resize {
            target_service_plan_id,
        } => (Some(target_service_plan_id.clone()), None, None),
        BulkKind::Restore {
            restore_point,
            time_range,
        } => (
            None,
            Some(*restore_point),
            Some(time_range.wire().to_owned()),
        ),
        _ => (None, None, None),
    };
    BulkActionRequest {
        odata_type: format!("#microsoft.graph.{}", plan.action.type_name()),
        display_name: plan.display_name.clone(),
        cloud_pc_ids: plan.cloud_pcs.iter().map(|p| p.id.clone()).collect(),
        target_service_plan_id,
        restore_point_date_time,
        time_range,
    }
}

/// Creates the bulk action of a plan (the service starts it).
pub async fn create(client: &Client, plan: &BulkPlan) -> Result<CloudPcBulkAction> {
    client
        .bulk_actions()
        .create(&request(plan))
        .await
        .graph_ctx(
            || format!("create the bulk action '{}'", plan.display_name),
            permissions::WRITE_CLOUD_PCS,
        )
}

/// Every bulk action, newest first.
pub async fn list(client: &Client) -> Result<Vec<CloudPcBulkAction>> {
    let mut all = client.bulk_actions().list().await.graph_ctx(
        || "list the bulk actions".into(),
        permissions::READ_CLOUD_PCS,
    )?;
    all.sort_by_key(|a| std::cmp::Reverse(a.created_date_time));
    Ok(all)
}

/// One bulk action and the state of each of its Cloud PCs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkActionDetails {
    pub bulk_action: CloudPcBulkAction,
    pub devices: Vec<BulkActionDevice>,
}

/// `show ID`.
pub async fn show(client: &Client, id: &str) -> Result<BulkActionDetails> {
    let id = id.trim();
    let bulk_action = client
        .bulk_actions()
        .get(id)
        .await
        .graph_ctx(
            || format!("read the bulk action {id}"),
            permissions::READ_CLOUD_PCS,
        )?
        .ok_or_else(|| Error::ObjectNotFound {
            kind: "bulk action",
            id: id.into(),
        })?;
    let devices = client
        .bulk_actions()
        .devices(&bulk_action.id)
        .await
        .graph_ctx(
            || format!("read the action status report of {id}"),
            permissions::READ_CLOUD_PCS,
        )?;
    Ok(BulkActionDetails {
        bulk_action,
        devices,
    })
}
