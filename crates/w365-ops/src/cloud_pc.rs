//! `cloudpc list|show|<action>`, and the Cloud PC lookups the lifecycle operations (unassign,
//! reprovision, resize, capacity) share.
//!
//! Actions are one-step plans run by the [`Executor`], so `--dry-run` and `--output json` look like
//! every other operation. Preconditions Graph would refuse with an undocumented 400 are checked
//! first and reported as [`Error::CloudPcNotReady`] / [`Error::InvalidInput`] (nothing changed).

use serde::Serialize;
use w365_graph::Client;
use w365_graph::models::{CloudPc, CloudPcProductType, CloudPcStatus};

use crate::assign::user_ref;
use crate::error::{Error, GraphContext, Result};
use crate::execute::{
    CloudPcReport, ExecState, Executor, Observer, StepReport, Waits, cloud_pc_report, permissions,
};
use crate::plan::{Approval, CloudPcAction, CloudPcRef, Plan, Step, UserRef};

/// An operation failed; the report says how far it got.
#[derive(Debug)]
pub struct Failure<R> {
    pub report: Box<R>,
    pub error: Error,
}

/// The plan form of a Cloud PC.
pub fn cloud_pc_ref(pc: &CloudPc) -> CloudPcRef {
    CloudPcRef {
        id: pc.id.clone(),
        display_name: pc.display_name.clone(),
        user_principal_name: pc.user_principal_name.clone(),
    }
}

/// The status of a Cloud PC as text (`unknown` when Graph gave none).
pub fn status_name(pc: &CloudPc) -> String {
    pc.status
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned())
}

/// Refuses an empty or malformed user principal name (the one UPN check of every operation).
pub(crate) fn validate_upn(upn: &str) -> Result<()> {
    let upn = upn.trim();
    if upn.is_empty() {
        return Err(Error::InvalidInput {
            reason: "the user principal name is empty".into(),
        });
    }
    if !upn.contains('@') || upn.starts_with('@') || upn.ends_with('@') {
        return Err(Error::InvalidInput {
            reason: format!(
                "'{}' is not a user principal name (expected name@domain)",
                crate::policy::validate::clip(upn)
            ),
        });
    }
    Ok(())
}

/// Resolves a user by UPN (not found is an error).
pub(crate) async fn find_user(client: &Client, upn: &str) -> Result<UserRef> {
    let upn = upn.trim();
    let user = client.users().find_by_upn(upn).await.graph_ctx(
        || format!("look up the user '{upn}'"),
        permissions::READ_USERS,
    )?;
    user.map(|u| user_ref(&u))
        .ok_or_else(|| Error::UserNotFound { upn: upn.into() })
}

/// Every Cloud PC of a user (beta, with status): the one lookup of a user's Cloud PCs that
/// every operation uses.
pub(crate) async fn cloud_pcs_of_user(client: &Client, upn: &str) -> Result<Vec<CloudPc>> {
    client.cloud_pcs().list_of_user(upn).await.graph_ctx(
        || format!("list the Cloud PCs of {upn}"),
        permissions::READ_CLOUD_PCS,
    )
}

/// Whether the Cloud PC is on its way out (grace period or deprovisioning).
pub(crate) fn is_leaving(pc: &CloudPc) -> bool {
    matches!(
        pc.status,
        Some(CloudPcStatus::InGracePeriod | CloudPcStatus::Deprovisioning)
    )
}

/// A real Cloud PC, not the `notProvisioned` record Windows 365 keeps for a licensed user
/// without one.
pub(crate) fn exists(pc: &CloudPc) -> bool {
    pc.status != Some(CloudPcStatus::NotProvisioned)
}

/// Filters of `cloudpc list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListFilter {
    /// Only this user's Cloud PCs (UPN).
    pub user: Option<String>,
    /// Only this status (e.g. `provisioned`, `inGracePeriod`; case-insensitive).
    pub status: Option<String>,
    /// Only Cloud PCs of this provisioning policy (display name or id).
    pub policy: Option<String>,
}

/// Parses a status name; unknown names are refused so a typo does not read as "none".
fn parse_status(text: &str) -> Result<CloudPcStatus> {
    let wanted = text.trim();
    let known = [
        CloudPcStatus::NotProvisioned,
        CloudPcStatus::Provisioning,
        CloudPcStatus::Provisioned,
        CloudPcStatus::InGracePeriod,
        CloudPcStatus::Deprovisioning,
        CloudPcStatus::Failed,
        CloudPcStatus::ProvisionedWithWarnings,
        CloudPcStatus::Resizing,
        CloudPcStatus::Restoring,
        CloudPcStatus::PendingProvision,
        CloudPcStatus::MovingRegion,
        CloudPcStatus::ResizePendingLicense,
        CloudPcStatus::UpdatingSingleSignOn,
        CloudPcStatus::ModifyingSingleSignOn,
        CloudPcStatus::Preparing,
    ];
    known
        .iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(wanted))
        .cloned()
        .ok_or_else(|| Error::InvalidInput {
            reason: format!(
                "unknown Cloud PC status '{wanted}' (one of: {})",
                known
                    .iter()
                    .map(CloudPcStatus::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// `cloudpc list`: every Cloud PC (all pages), filtered. The user filter runs in Graph, status
/// and policy here (exact, case-insensitive).
pub async fn list(client: &Client, filter: &ListFilter) -> Result<Vec<CloudPc>> {
    let status = filter.status.as_deref().map(parse_status).transpose()?;
    if let Some(user) = &filter.user {
        validate_upn(user)?;
    }
    let pcs = match &filter.user {
        Some(user) => cloud_pcs_of_user(client, user.trim()).await?,
        None => client
            .cloud_pcs()
            .list(None)
            .await
            .graph_ctx(|| "list the Cloud PCs".into(), permissions::READ_CLOUD_PCS)?,
    };
    Ok(pcs
        .into_iter()
        .filter(|pc| {
            status
                .as_ref()
                .is_none_or(|s| pc.status.as_ref() == Some(s))
        })
        .filter(|pc| {
            filter.policy.as_deref().is_none_or(|p| {
                let p = p.trim();
                pc.provisioning_policy_name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(p))
                    || pc
                        .provisioning_policy_id
                        .as_deref()
                        .is_some_and(|id| id.eq_ignore_ascii_case(p))
            })
        })
        .collect())
}

/// `cloudpc show ID|UPN`: one Cloud PC by id, or every Cloud PC of a user.
pub async fn show(client: &Client, id_or_upn: &str) -> Result<Vec<CloudPc>> {
    let key = id_or_upn.trim();
    if key.is_empty() {
        return Err(Error::InvalidInput {
            reason: "name a Cloud PC id or a user principal name".into(),
        });
    }
    if key.contains('@') {
        validate_upn(key)?;
        let pcs = cloud_pcs_of_user(client, key).await?;
        if pcs.is_empty() {
            return Err(Error::NoCloudPc {
                user: key.into(),
                what: "at all".into(),
            });
        }
        return Ok(pcs);
    }
    let pc = client.cloud_pcs().get_opt(key).await.graph_ctx(
        || format!("read the Cloud PC {key}"),
        permissions::READ_CLOUD_PCS,
    )?;
    pc.map(|pc| vec![pc]).ok_or_else(|| Error::ObjectNotFound {
        kind: "Cloud PC",
        id: key.into(),
    })
}

/// One Cloud PC by id, or the only one of a user (several → [`Error::AmbiguousName`] with the ids).
pub async fn resolve_one(client: &Client, id_or_upn: &str) -> Result<CloudPc> {
    let mut pcs = show(client, id_or_upn).await?;
    if pcs.len() > 1 {
        return Err(Error::AmbiguousName {
            kind: "Cloud PC owner",
            name: id_or_upn.trim().into(),
            count: pcs.len(),
            ids: pcs.iter().map(|pc| pc.id.clone()).collect(),
        });
    }
    Ok(pcs.remove(0))
}

/// Refuses an action the Cloud PC's state or product does not allow (Graph would answer 400).
pub fn check_action(pc: &CloudPc, action: &CloudPcAction) -> Result<()> {
    let not_ready = |status: String| Error::CloudPcNotReady {
        cloud_pc: cloud_pc_ref(pc).to_string(),
        status,
        action: action.to_string(),
    };
    let is_frontline = pc
        .product_type
        .as_ref()
        .is_none_or(|p| *p == CloudPcProductType::Frontline);
    let reprovisionable = matches!(
        pc.status,
        Some(
            CloudPcStatus::Provisioned
                | CloudPcStatus::ProvisionedWithWarnings
                | CloudPcStatus::Failed
        )
    );
    match action {
        CloudPcAction::EndGracePeriod if pc.status != Some(CloudPcStatus::InGracePeriod) => {
            Err(not_ready(format!(
                "{} (only a Cloud PC in its grace period can end it)",
                status_name(pc)
            )))
        }
        CloudPcAction::PowerOn | CloudPcAction::PowerOff if !is_frontline => {
            Err(Error::InvalidInput {
                reason: format!(
                    "power-on and power-off apply only to Windows 365 Frontline Cloud PCs; {} is {}",
                    cloud_pc_ref(pc),
                    pc.product_type.as_ref().map_or("unknown", |p| p.as_str())
                ),
            })
        }
        CloudPcAction::Rename { display_name }
            if display_name.trim().is_empty() || display_name.trim().chars().count() > 64 =>
        {
            Err(Error::InvalidInput {
                reason: "a Cloud PC's display name has 1 to 64 characters".into(),
            })
        }
        CloudPcAction::Restore { snapshot_id } if snapshot_id.trim().is_empty() => {
            Err(Error::InvalidInput {
                reason: "the snapshot id is empty".into(),
            })
        }
        CloudPcAction::Reprovision if !reprovisionable => Err(not_ready(status_name(pc))),
        _ => Ok(()),
    }
}

/// What `cloudpc <action>` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionOptions {
    /// Cloud PC id, or the UPN of a user with exactly one Cloud PC.
    pub target: String,
    pub action: CloudPcAction,
    pub dry_run: bool,
}

/// What `cloudpc <action>` did (or would do).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionReport {
    pub requested: String,
    pub dry_run: bool,
    /// The Cloud PC as it was before the action.
    pub cloud_pc: Option<CloudPcReport>,
    pub plan: Plan,
    pub steps: Vec<StepReport>,
    pub graph_requests: u64,
}

/// Resolves the Cloud PC and plans the action (reads only).
pub async fn plan_action(client: &Client, opts: &ActionOptions) -> Result<(CloudPc, Plan)> {
    let pc = resolve_one(client, &opts.target).await?;
    check_action(&pc, &opts.action)?;
    let plan = Plan::from(vec![Step::RunCloudPcAction {
        cloud_pc: cloud_pc_ref(&pc),
        action: opts.action.clone(),
    }]);
    Ok((pc, plan))
}

/// `cloudpc <action>`: plans, then (unless `dry_run`) runs the action.
pub async fn run_action(
    client: &Client,
    opts: &ActionOptions,
    observer: &dyn Observer,
) -> std::result::Result<ActionReport, Failure<ActionReport>> {
    run_action_approved(client, opts, observer, &mut |_| true).await
}

/// As [`run_action`], running the action only if `approve` agrees (nothing changes otherwise).
pub async fn run_action_approved(
    client: &Client,
    opts: &ActionOptions,
    observer: &dyn Observer,
    approve: Approval<'_>,
) -> std::result::Result<ActionReport, Failure<ActionReport>> {
    let before = client.stats().requests;
    let mut report = ActionReport {
        requested: opts.target.clone(),
        dry_run: opts.dry_run,
        ..ActionReport::default()
    };
    let result = async {
        let (pc, plan) = plan_action(client, opts).await?;
        report.cloud_pc = Some(cloud_pc_report(&pc));
        report.plan = plan.clone();
        if opts.dry_run || !approve(&plan) {
            return Ok(());
        }
        let executor = Executor::new(client, Waits::realistic(), observer);
        let mut state = ExecState::default();
        let run = executor.run(&plan, &mut state).await;
        report.steps = state.steps;
        run
    }
    .await;
    report.graph_requests = client.stats().requests.saturating_sub(before);
    match result {
        Ok(()) => Ok(report),
        Err(error) => Err(Failure {
            report: Box::new(report),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_case_insensitively_and_typos_are_refused() {
        assert_eq!(
            parse_status("ingraceperiod").unwrap(),
            CloudPcStatus::InGracePeriod
        );
        assert!(matches!(
            parse_status("provisioned-ish"),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn end_grace_period_needs_the_grace_period() {
        let pc = CloudPc {
            id: "pc1".into(),
            status: Some(CloudPcStatus::Provisioned),
            ..CloudPc::default()
        };
        let err = check_action(&pc, &CloudPcAction::EndGracePeriod).unwrap_err();
        assert!(matches!(err, Error::CloudPcNotReady { .. }), "{err}");
        let grace = CloudPc {
            status: Some(CloudPcStatus::InGracePeriod),
            ..pc.clone()
        };
        check_action(&grace, &CloudPcAction::EndGracePeriod).unwrap();
        let enterprise = CloudPc {
            product_type: Some(CloudPcProductType::Enterprise),
            ..pc
        };
        assert!(check_action(&enterprise, &CloudPcAction::PowerOff).is_err());
        assert!(CloudPcAction::EndGracePeriod.is_destructive());
        assert!(!CloudPcAction::Troubleshoot.is_destructive());
    }
}
