//! `unassign`: take a Windows 365 Cloud PC away from a user (the "Unassign Windows365" runbook,
//! without its defect).
//!
//! Dedicated: remove the user from the license group; the Cloud PC is the user's one whose
//! `servicePlanId` is one of the license's service plans. Frontline, when `--license-group` names a
//! shared provisioning policy: remove the user from the policy's assignment group; the Cloud PC is
//! the user's one from that policy. With `skip_grace_period` (the default, as in the runbook) wait,
//! bounded, until the Cloud PC is in its grace period and end it.
//!
//! Unless `keep_groups`, the user's provisioning and user-settings prefix groups are removed too —
//! but only when nothing else needs them: no other Windows 365 license group (by prefix), no other
//! Frontline assignment group, and no other Cloud PC that is not on its way out. The runbook resets
//! its "has another dedicated Cloud PC" result before the Frontline check and so can strip the
//! groups of a user who still has a Cloud PC; here every reason to keep them is collected first
//! and reported.
//!
//! Re-running converges: a user no longer in the group, with a Cloud PC still in its grace period,
//! gets only the grace period ended; with nothing left, the plan is empty.

use serde::Serialize;
use w365_graph::Client;
use w365_graph::models::{CloudPc, Group, ProvisioningPolicy, SubscribedSku};
use w365_graph::odata::Query;

use crate::assign::{
    DEFAULT_LICENSE_GROUP, DEFAULT_PROVISIONING_GROUP_PREFIX, DEFAULT_USER_SETTINGS_GROUP_PREFIX,
    PolicyRef, find_groups, group_ref, is_shared, one_group, policy_ref, starts_with_ignore_case,
};
use crate::cloud_pc::{Failure, cloud_pcs_of_user, exists, find_user, is_leaving, validate_upn};
use crate::error::{Error, GraphContext, Result};
use crate::execute::{
    CloudPcReport, Event, ExecState, Executor, Observer, StepReport, Waits, cloud_pc_report,
    permissions,
};
use crate::licensing::{Windows365Catalog, frontline_assignments, license_group_plans};
use crate::plan::{Approval, CloudPcTarget, GroupRef, GroupRole, Plan, SkuRef, Step, UserRef};

/// Runbook default: the prefix of the Windows 365 license groups.
pub const DEFAULT_LICENSE_GROUP_PREFIX: &str = "lic - Windows 365 Enterprise - ";

/// Everything `unassign` needs to know.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnassignOptions {
    pub user: String,
    /// The license group, or the name of a Frontline (shared) provisioning policy.
    pub license_group: String,
    /// Other groups with this prefix count as "another Windows 365 license".
    pub license_group_prefix: String,
    pub provisioning_group_prefix: String,
    pub user_settings_group_prefix: String,
    /// End the grace period at once (default), instead of keeping the Cloud PC for its grace period.
    pub skip_grace_period: bool,
    /// Never remove the provisioning and user-settings groups.
    pub keep_groups: bool,
    pub dry_run: bool,
    /// `cloud_pc_appears` bounds the wait for the grace period.
    pub waits: Waits,
}

impl UnassignOptions {
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            license_group: DEFAULT_LICENSE_GROUP.into(),
            license_group_prefix: DEFAULT_LICENSE_GROUP_PREFIX.into(),
            provisioning_group_prefix: DEFAULT_PROVISIONING_GROUP_PREFIX.into(),
            user_settings_group_prefix: DEFAULT_USER_SETTINGS_GROUP_PREFIX.into(),
            skip_grace_period: true,
            keep_groups: false,
            dry_run: false,
            waits: Waits::realistic(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        validate_upn(&self.user)?;
        for (what, value) in [
            ("--license-group", &self.license_group),
            ("--license-group-prefix", &self.license_group_prefix),
            (
                "--provisioning-group-prefix",
                &self.provisioning_group_prefix,
            ),
            (
                "--user-settings-group-prefix",
                &self.user_settings_group_prefix,
            ),
        ] {
            if value.trim().is_empty() {
                return Err(Error::InvalidInput {
                    reason: format!("{what} is empty"),
                });
            }
        }
        Ok(())
    }
}

/// Which kind of license is taken away.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum UnassignPath {
    #[serde(rename_all = "camelCase")]
    Dedicated {
        license_group: GroupRef,
        sku: Option<SkuRef>,
        service_plan_ids: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    Frontline {
        policy: PolicyRef,
        assignment_group: GroupRef,
    },
}

/// What happens to the provisioning and user-settings prefix groups, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupsDecision {
    /// The user's groups with either prefix.
    pub prefix_groups: Vec<GroupRef>,
    /// `true` when they are removed.
    pub remove: bool,
    /// Why they are kept (empty when removed).
    pub kept_because: Vec<String>,
}

/// What `unassign` did (or would do).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnassignReport {
    pub requested_user: String,
    pub user: Option<UserRef>,
    pub path: Option<UnassignPath>,
    pub dry_run: bool,
    pub skip_grace_period: bool,
    /// The Cloud PC of this license, as planning saw it (or as the grace-period step left it).
    pub cloud_pc: Option<CloudPcReport>,
    pub groups: GroupsDecision,
    pub plan: Plan,
    pub steps: Vec<StepReport>,
    pub graph_requests: u64,
}

/// The result of planning.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnassignPlan {
    pub user: UserRef,
    pub path: UnassignPath,
    pub cloud_pc: Option<CloudPcReport>,
    pub groups: GroupsDecision,
    pub plan: Plan,
}

/// Plans and (unless `dry_run`) executes an unassignment.
pub async fn unassign(
    client: &Client,
    opts: &UnassignOptions,
    observer: &dyn Observer,
) -> std::result::Result<UnassignReport, Failure<UnassignReport>> {
    unassign_approved(client, opts, observer, &mut |_| true).await
}

/// As [`unassign`], executing the plan only if `approve` agrees (nothing changes otherwise).
pub async fn unassign_approved(
    client: &Client,
    opts: &UnassignOptions,
    observer: &dyn Observer,
    approve: Approval<'_>,
) -> std::result::Result<UnassignReport, Failure<UnassignReport>> {
    let before = client.stats().requests;
    let mut report = UnassignReport {
        requested_user: opts.user.clone(),
        dry_run: opts.dry_run,
        skip_grace_period: opts.skip_grace_period,
        ..UnassignReport::default()
    };
    let result = async {
        let planned = plan(client, opts, observer).await?;
        report.user = Some(planned.user.clone());
        report.path = Some(planned.path.clone());
        report.cloud_pc = planned.cloud_pc.clone();
        report.groups = planned.groups.clone();
        report.plan = planned.plan.clone();
        if opts.dry_run || (!planned.plan.is_empty() && !approve(&planned.plan)) {
            return Ok(());
        }
        let executor = Executor::new(client, opts.waits, observer);
        let mut state = ExecState::default();
        let run = executor.run(&planned.plan, &mut state).await;
        report.steps = state.steps;
        if state.cloud_pc.is_some() {
            report.cloud_pc = state.cloud_pc;
        }
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

/// Reads what the unassignment needs and returns the plan. Never writes.
pub async fn plan(
    client: &Client,
    opts: &UnassignOptions,
    observer: &dyn Observer,
) -> Result<UnassignPlan> {
    opts.validate()?;
    observer.on_event(&Event::Planning {
        what: "reading the user, the groups, the policies, the licenses and the Cloud PCs",
    });
    let upn = opts.user.trim();
    let (user, groups, policies, skus, pcs) = futures::try_join!(
        find_user(client, upn),
        async {
            find_groups(client, std::slice::from_ref(&opts.license_group))
                .await
                .graph_ctx(
                    || format!("look up the group '{}'", opts.license_group),
                    permissions::READ_GROUPS,
                )
        },
        async {
            client
                .provisioning_policies()
                .list(Query::new().expand("assignments"))
                .await
                .graph_ctx(
                    || "read the provisioning policies".into(),
                    permissions::READ_CLOUD_PCS,
                )
        },
        async {
            client.subscribed_skus().list().await.graph_ctx(
                || "read the tenant's subscribed SKUs".into(),
                permissions::READ_ORGANIZATION,
            )
        },
        cloud_pcs_of_user(client, upn),
    )?;
    let member_of = client.users().member_of_groups(&user.id).await.graph_ctx(
        || format!("read the group memberships of {user}"),
        permissions::READ_GROUPS,
    )?;
    let frontline_group = match named_frontline_policy(opts, &policies)? {
        Some(policy) => Some(read_frontline_group(client, policy).await?),
        None => None,
    };
    decide(
        opts,
        &Reads {
            user,
            groups: &groups,
            policies: &policies,
            skus: &skus,
            pcs: &pcs,
            member_of: &member_of,
            frontline_group,
        },
        observer,
    )
}

/// What planning an unassignment reads (once per user, or once per file in bulk).
pub(crate) struct Reads<'a> {
    pub user: UserRef,
    /// The groups named by `license_group` (by name or id).
    pub groups: &'a [Group],
    /// Every provisioning policy, with its assignments.
    pub policies: &'a [ProvisioningPolicy],
    pub skus: &'a [SubscribedSku],
    /// The user's Cloud PCs.
    pub pcs: &'a [CloudPc],
    /// The user's groups.
    pub member_of: &'a [Group],
    /// The assignment group of the Frontline policy `license_group` names, if it names one.
    pub frontline_group: Option<GroupRef>,
}

/// The shared provisioning policy `license_group` names (by name or id), if it names one.
pub(crate) fn named_frontline_policy<'a>(
    opts: &UnassignOptions,
    policies: &'a [ProvisioningPolicy],
) -> Result<Option<&'a ProvisioningPolicy>> {
    let named: Vec<&ProvisioningPolicy> = policies
        .iter()
        .filter(|p| {
            p.display_name
                .eq_ignore_ascii_case(opts.license_group.trim())
                || p.id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(opts.license_group.trim()))
        })
        .filter(|p| is_shared(p))
        .collect();
    match named.as_slice() {
        [] => Ok(None),
        [policy] => Ok(Some(policy)),
        many => Err(Error::AmbiguousName {
            kind: "provisioning policy",
            name: opts.license_group.clone(),
            count: many.len(),
            ids: many
                .iter()
                .map(|p| p.id.clone().unwrap_or_default())
                .collect(),
        }),
    }
}

/// Reads the Frontline assignment group of a shared policy.
pub(crate) async fn read_frontline_group(
    client: &Client,
    policy: &ProvisioningPolicy,
) -> Result<GroupRef> {
    let (group_id, _plan) =
        frontline_assignment(policy).ok_or_else(|| Error::FrontlinePolicyWithoutAssignment {
            policy: policy.display_name.clone(),
        })?;
    let group = client.groups().get_opt(&group_id).await.graph_ctx(
        || format!("read the Frontline assignment group {group_id}"),
        permissions::READ_GROUPS,
    )?;
    group
        .map(|g| group_ref(&g))
        .ok_or_else(|| Error::ObjectNotFound {
            kind: "group",
            id: group_id.clone(),
        })
}

/// Decides the unassignment from what was read (the rules of `unassign`, with no request).
pub(crate) fn decide(
    opts: &UnassignOptions,
    reads: &Reads<'_>,
    observer: &dyn Observer,
) -> Result<UnassignPlan> {
    let user = reads.user.clone();
    let (groups, policies, skus, pcs, member_of) = (
        reads.groups,
        reads.policies,
        reads.skus,
        reads.pcs,
        reads.member_of,
    );
    let (path, target, assignment_group) = match named_frontline_policy(opts, policies)? {
        Some(policy) => {
            let group = reads.frontline_group.clone().ok_or_else(|| {
                Error::FrontlinePolicyWithoutAssignment {
                    policy: policy.display_name.clone(),
                }
            })?;
            let info = policy_ref(policy);
            let target = CloudPcTarget::ProvisioningPolicy {
                policy_id: info.id.clone(),
                policy_name: info.display_name.clone(),
            };
            (
                UnassignPath::Frontline {
                    policy: info,
                    assignment_group: group.clone(),
                },
                target,
                (group, GroupRole::FrontlineAssignment),
            )
        }
        None => {
            let group = one_group(groups, &opts.license_group)?;
            let full = groups.iter().find(|g| g.id == group.id);
            let (sku, service_plan_ids) =
                license_group_plans(full, skus, &Windows365Catalog::default());
            let target = CloudPcTarget::ServicePlans {
                sku: sku.clone().unwrap_or(SkuRef {
                    sku_id: uuid::Uuid::nil(),
                    sku_part_number: "unknown".into(),
                }),
                service_plan_ids: service_plan_ids.clone(),
            };
            (
                UnassignPath::Dedicated {
                    license_group: group.clone(),
                    sku,
                    service_plan_ids,
                },
                target,
                (group, GroupRole::License),
            )
        }
    };

    let is_member = |id: &str| member_of.iter().any(|g| g.id.eq_ignore_ascii_case(id));
    let this_pc = pcs
        .iter()
        .filter(|pc| target.matches(pc) && exists(pc))
        .find(|pc| pc.status != Some(w365_graph::models::CloudPcStatus::Deprovisioning));
    let mut plan = Plan::new();
    let (group, role) = assignment_group;
    if is_member(&group.id) {
        plan.push(Step::RemoveUserFromGroup {
            user: user.clone(),
            group: group.clone(),
            role,
            reason: "unassign".into(),
        });
    }
    if opts.skip_grace_period && this_pc.is_some() {
        plan.push(Step::EndGracePeriod {
            user: user.clone(),
            target: target.clone(),
        });
    }

    // The prefix groups: collect every reason to keep them before deciding.
    let prefix_groups: Vec<GroupRef> = member_of
        .iter()
        .filter(|g| {
            starts_with_ignore_case(&g.display_name, &opts.provisioning_group_prefix)
                || starts_with_ignore_case(&g.display_name, &opts.user_settings_group_prefix)
        })
        .map(group_ref)
        .collect();
    let mut kept_because = Vec::new();
    if opts.keep_groups {
        kept_because.push("--keep-groups".to_owned());
    }
    for g in member_of {
        if g.id.eq_ignore_ascii_case(&group.id) {
            continue;
        }
        if starts_with_ignore_case(&g.display_name, &opts.license_group_prefix) {
            kept_because.push(format!(
                "{user} still has the Windows 365 license group '{}'",
                g.display_name
            ));
        }
    }
    for p in policies.iter().filter(|p| is_shared(p)) {
        if let Some((gid, _)) = frontline_assignment(p)
            && !gid.eq_ignore_ascii_case(&group.id)
            && is_member(&gid)
        {
            kept_because.push(format!(
                "{user} still has a Frontline assignment through the policy '{}'",
                p.display_name
            ));
        }
    }
    for pc in pcs
        .iter()
        .filter(|pc| !target.matches(pc) && !is_leaving(pc))
    {
        kept_because.push(format!(
            "{user} still has the Cloud PC {} ({})",
            pc.display_name.as_deref().unwrap_or(&pc.id),
            pc.status.as_ref().map_or("unknown", |s| s.as_str())
        ));
    }
    let remove = kept_because.is_empty();
    if remove {
        for g in &prefix_groups {
            let role = if starts_with_ignore_case(&g.display_name, &opts.provisioning_group_prefix)
            {
                GroupRole::Provisioning
            } else {
                GroupRole::UserSettings
            };
            plan.push(Step::RemoveUserFromGroup {
                user: user.clone(),
                group: g.clone(),
                role,
                reason: "no other Windows 365 license, Frontline assignment or Cloud PC left"
                    .into(),
            });
        }
    } else if !prefix_groups.is_empty() {
        observer.on_event(&Event::Note(&format!(
            "keeping the provisioning and user-settings groups: {}",
            kept_because.join("; ")
        )));
    }
    Ok(UnassignPlan {
        user,
        path,
        cloud_pc: this_pc.map(cloud_pc_report),
        groups: GroupsDecision {
            prefix_groups,
            remove,
            kept_because,
        },
        plan,
    })
}

/// The first Frontline assignment of a shared policy: `(group id, plan id)`.
pub(crate) fn frontline_assignment(policy: &ProvisioningPolicy) -> Option<(String, String)> {
    frontline_assignments(policy)
        .into_iter()
        .next()
        .map(|a| (a.group_id, a.service_plan_id))
}
