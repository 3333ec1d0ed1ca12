//! `resize`: move a user's Cloud PC from the size of one license group to another's.
//!
//! Uses Graph's `resize` action the way Microsoft documents it for group-based licensing, not the
//! runbook's "unassign G1, assign G2" (see /work/helpers/README-lifecycle.md for the reasoning):
//! 1. refuse the same size, a user without `from`, a user already in `to`, and a `to` SKU with no
//!    free unit — all before any change;
//! 2. `resize` the Cloud PC of `from` to the Windows 365 service plan of `to` (it waits in
//!    `resizePendingLicense` until the target license arrives);
//! 3. add the user to `to` and confirm the license (CountViolation → removed from `to` again);
//! 4. remove the user from `from` — the Cloud PC keeps its disk, its provisioning and user-settings
//!    groups are never touched;
//! 5. with `notify`, wait for the Cloud PC on the new plan and mail the user.

use serde::Serialize;
use w365_graph::Client;
use w365_graph::models::CloudPcStatus;

use crate::assign::{
    DEFAULT_PROVISIONING_GROUP_PREFIX, DEFAULT_USER_SETTINGS_GROUP_PREFIX, find_groups, group_ref,
    one_group, starts_with_ignore_case,
};
use crate::cloud_pc::{
    Failure, cloud_pc_ref, cloud_pcs_of_user, exists, find_user, is_leaving, status_name,
    validate_upn,
};
use crate::error::{Error, GraphContext, Result};
use crate::execute::{
    CloudPcReport, Event, ExecState, Executor, MailReport, Observer, StepReport, Waits,
    cloud_pc_report, permissions,
};
use crate::licensing::{LicenseGroupLicense, Windows365Catalog};
use crate::mail::{validate_custom_message, verify_sender};
use crate::plan::{
    Approval, CloudPcAction, CloudPcTarget, GroupRef, GroupRole, Plan, SkuRef, Step, UserRef,
};

/// Everything `resize` needs to know.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResizeOptions {
    pub user: String,
    /// The license group the user has now.
    pub from: String,
    /// The license group of the new size.
    pub to: String,
    pub provisioning_group_prefix: String,
    pub user_settings_group_prefix: String,
    /// Wait for the resized Cloud PC and mail the user.
    pub notify: bool,
    pub custom_message: Option<String>,
    /// The sender of the mail; required with `notify` (no default outside the sandbox).
    pub from_mailbox: Option<String>,
    pub dry_run: bool,
    pub waits: Waits,
}

impl ResizeOptions {
    pub fn new(user: impl Into<String>, from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            from: from.into(),
            to: to.into(),
            provisioning_group_prefix: DEFAULT_PROVISIONING_GROUP_PREFIX.into(),
            user_settings_group_prefix: DEFAULT_USER_SETTINGS_GROUP_PREFIX.into(),
            notify: false,
            custom_message: None,
            from_mailbox: None,
            dry_run: false,
            waits: Waits::realistic(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        validate_upn(&self.user)?;
        if self.from.trim().is_empty() || self.to.trim().is_empty() {
            return Err(Error::InvalidInput {
                reason: "--from and --to name license groups; one is empty".into(),
            });
        }
        if self.from.trim().eq_ignore_ascii_case(self.to.trim()) {
            return Err(Error::SameSize {
                from: self.from.clone(),
                to: self.to.clone(),
                sku: "the same license group".into(),
            });
        }
        if self.notify && self.from_mailbox.is_none() {
            return Err(Error::SenderNotSet {
                what: "--notify".into(),
            });
        }
        if let Some(message) = &self.custom_message {
            validate_custom_message(message)?;
        }
        Ok(())
    }
}

/// What `resize` did (or would do).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResizeReport {
    pub requested_user: String,
    pub user: Option<UserRef>,
    pub from: Option<GroupRef>,
    pub to: Option<GroupRef>,
    pub from_sku: Option<SkuRef>,
    pub to_sku: Option<SkuRef>,
    /// The Windows 365 service plan the Cloud PC is resized to.
    pub target_service_plan: Option<String>,
    /// Free units of the `to` SKU when planning.
    pub to_available: Option<i64>,
    /// The provisioning and user-settings groups the user keeps.
    pub kept_groups: Vec<GroupRef>,
    pub dry_run: bool,
    /// The Cloud PC (before, or as the notify wait last saw it).
    pub cloud_pc: Option<CloudPcReport>,
    pub plan: Plan,
    pub steps: Vec<StepReport>,
    pub mails: Vec<MailReport>,
    pub graph_requests: u64,
}

/// Plans and (unless `dry_run`) resizes.
pub async fn resize(
    client: &Client,
    opts: &ResizeOptions,
    observer: &dyn Observer,
) -> std::result::Result<ResizeReport, Failure<ResizeReport>> {
    resize_approved(client, opts, observer, &mut |_| true).await
}

/// Plans only (reads, no change): the report with its plan, as job mode starts from.
pub async fn plan(
    client: &Client,
    opts: &ResizeOptions,
    observer: &dyn Observer,
) -> std::result::Result<ResizeReport, Failure<ResizeReport>> {
    resize_approved(client, opts, observer, &mut |_| false).await
}

/// As [`resize`], executing the plan only if `approve` agrees (nothing changes otherwise).
pub async fn resize_approved(
    client: &Client,
    opts: &ResizeOptions,
    observer: &dyn Observer,
    approve: Approval<'_>,
) -> std::result::Result<ResizeReport, Failure<ResizeReport>> {
    let before = client.stats().requests;
    let mut report = ResizeReport {
        requested_user: opts.user.clone(),
        dry_run: opts.dry_run,
        ..ResizeReport::default()
    };
    let result = run(client, opts, observer, &mut report, approve).await;
    report.graph_requests = client.stats().requests.saturating_sub(before);
    match result {
        Ok(()) => Ok(report),
        Err(error) => Err(Failure {
            report: Box::new(report),
            error,
        }),
    }
}

async fn run(
    client: &Client,
    opts: &ResizeOptions,
    observer: &dyn Observer,
    report: &mut ResizeReport,
    approve: Approval<'_>,
) -> Result<()> {
    opts.validate()?;
    observer.on_event(&Event::Planning {
        what: "reading the user, both license groups, the licenses and the Cloud PCs",
    });
    let upn = opts.user.trim();
    let names = [opts.from.trim().to_owned(), opts.to.trim().to_owned()];
    let (user, groups, skus, pcs, catalog) = futures::try_join!(
        find_user(client, upn),
        async {
            find_groups(client, &names).await.graph_ctx(
                || "look up the license groups".into(),
                permissions::READ_GROUPS,
            )
        },
        async {
            client.subscribed_skus().list().await.graph_ctx(
                || "read the tenant's subscribed SKUs".into(),
                permissions::READ_ORGANIZATION,
            )
        },
        cloud_pcs_of_user(client, upn),
        async {
            client.service_plans().list().await.graph_ctx(
                || "read the Windows 365 service plans".into(),
                permissions::READ_CLOUD_PCS,
            )
        },
    )?;
    report.user = Some(user.clone());
    let from = one_group(&groups, &names[0])?;
    let to = one_group(&groups, &names[1])?;
    report.from = Some(from.clone());
    report.to = Some(to.clone());
    // Each group's one Windows 365 SKU, picked by its service plans; a group without one (e.g.
    // `Engineering`) is "not a Windows 365 license group".
    let catalog = Windows365Catalog::new(catalog);
    let license_of = |g: &GroupRef| -> Result<LicenseGroupLicense> {
        let group = groups
            .iter()
            .find(|x| x.id == g.id)
            .ok_or_else(|| Error::GroupNotFound {
                name: g.display_name.clone(),
            })?;
        LicenseGroupLicense::of(group, &skus, &catalog)
    };
    let (from_license, to_license) = (license_of(&from)?, license_of(&to)?);
    let (from_sku, from_plans) = (from_license.sku, from_license.service_plan_ids);
    let (to_sku, to_plans) = (to_license.sku, to_license.service_plan_ids);
    report.from_sku = Some(from_sku.clone());
    report.to_sku = Some(to_sku.clone());
    if from_sku.sku_id == to_sku.sku_id {
        return Err(Error::SameSize {
            from: from.display_name.clone(),
            to: to.display_name.clone(),
            sku: from_sku.sku_part_number.clone(),
        });
    }

    let member_of = client.users().member_of_groups(&user.id).await.graph_ctx(
        || format!("read the group memberships of {user}"),
        permissions::READ_GROUPS,
    )?;
    let is_member = |g: &GroupRef| member_of.iter().any(|m| m.id.eq_ignore_ascii_case(&g.id));
    if !is_member(&from) {
        return Err(Error::NotInLicenseGroup {
            user: user.user_principal_name.clone(),
            group: from.display_name.clone(),
        });
    }
    if is_member(&to) {
        return Err(Error::AlreadyAssigned {
            user: user.user_principal_name.clone(),
            held_by: format!("member of the target license group {to}"),
        });
    }
    report.kept_groups = member_of
        .iter()
        .filter(|g| {
            starts_with_ignore_case(&g.display_name, &opts.provisioning_group_prefix)
                || starts_with_ignore_case(&g.display_name, &opts.user_settings_group_prefix)
        })
        .map(group_ref)
        .collect();

    if let Some(sku) = skus.iter().find(|s| s.sku_id == to_sku.sku_id) {
        report.to_available = Some(sku.available_units());
        if sku.available_units() <= 0 {
            return Err(Error::OutOfLicenses {
                what: "licenses",
                detail: format!(
                    "no free {} license for the license group '{}' ({} of {} in use); nothing was changed",
                    sku.sku_part_number,
                    to.display_name,
                    sku.consumed_units,
                    sku.prepaid_units.enabled
                ),
                ticket_sent_to: None,
            });
        }
    }

    let from_target = CloudPcTarget::ServicePlans {
        sku: from_sku.clone(),
        service_plan_ids: from_plans,
    };
    let pc = pcs
        .iter()
        .filter(|pc| from_target.matches(pc))
        .find(|pc| !is_leaving(pc) && exists(pc))
        .ok_or_else(|| Error::NoCloudPc {
            user: user.user_principal_name.clone(),
            what: format!("licensed by {from_sku} to resize"),
        })?;
    report.cloud_pc = Some(cloud_pc_report(pc));
    if !matches!(
        pc.status,
        Some(CloudPcStatus::Provisioned | CloudPcStatus::ProvisionedWithWarnings)
    ) {
        return Err(Error::CloudPcNotReady {
            cloud_pc: cloud_pc_ref(pc).to_string(),
            status: status_name(pc),
            action: "resize".into(),
        });
    }
    let target_plan = to_plans
        .iter()
        .find_map(|t| catalog.plan(t))
        .ok_or_else(|| Error::InvalidInput {
            reason: format!(
                "the license group '{}' carries no Windows 365 service plan ({})",
                to.display_name, to_sku
            ),
        })?;
    report.target_service_plan = Some(target_plan.display_name.clone());

    let mut plan = Plan::from(vec![
        Step::RunCloudPcAction {
            cloud_pc: cloud_pc_ref(pc),
            action: CloudPcAction::Resize {
                target_service_plan_id: target_plan.id.clone(),
                target_service_plan_name: target_plan.display_name.clone(),
            },
        },
        Step::AddUserToGroup {
            user: user.clone(),
            group: to.clone(),
            role: GroupRole::License,
        },
        Step::ConfirmLicenseAssigned {
            user: user.clone(),
            license_group: to.clone(),
            sku: to_sku.clone(),
        },
        Step::RemoveUserFromGroup {
            user: user.clone(),
            group: from.clone(),
            role: GroupRole::License,
            reason: format!("resized to {to_sku}"),
        },
    ]);
    if opts.notify {
        plan.push(Step::WaitForCloudPc {
            user: user.clone(),
            target: CloudPcTarget::ServicePlans {
                sku: to_sku.clone(),
                service_plan_ids: vec![target_plan.id.clone()],
            },
        });
        // The sender must exist and have a mailbox before anything is changed.
        let from = verify_sender(client, opts.from_mailbox.as_deref(), "--notify").await?;
        plan.push(Step::SendReadyMail {
            from,
            user: user.clone(),
            custom_message: opts.custom_message.clone(),
        });
    }
    report.plan = plan.clone();
    if opts.dry_run || !approve(&plan) {
        return Ok(());
    }
    let executor = Executor::new(client, opts.waits, observer);
    let mut state = ExecState::default();
    let result = executor.run(&plan, &mut state).await;
    let result = match result {
        Err(Error::LicenseCountViolation { sku }) => {
            // Lost the race for the last unit: leave no user in a license group without a license.
            let undo = Plan::from(vec![Step::RemoveUserFromGroup {
                user: user.clone(),
                group: to.clone(),
                role: GroupRole::License,
                reason: "the license engine reported CountViolation".into(),
            }]);
            report.plan.steps.extend(undo.steps.iter().cloned());
            executor.run(&undo, &mut state).await?;
            Err(Error::OutOfLicenses {
                what: "licenses",
                detail: format!(
                    "another assignment took the last {sku} license; {user} was removed from '{}' again and keeps '{}' (the resize waits for the license)",
                    to.display_name, from.display_name
                ),
                ticket_sent_to: None,
            })
        }
        other => other,
    };
    report.steps = state.steps;
    report.mails = state.mails;
    if state.cloud_pc.is_some() {
        report.cloud_pc = state.cloud_pc;
    }
    result
}
