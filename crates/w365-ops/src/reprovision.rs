//! `reprovision`: recreate the user's Cloud PC of one license from its policy (the "Reprovision
//! Windows365" runbook, without its defect: no Cloud PC is a clear error, not a call on nothing).
//!
//! The license group must carry exactly one license: its SKU's service plans pick the Cloud PC.
//! With `notify`, the user gets a mail that the Cloud PC is being reprovisioned (skipped, and
//! reported, when they have no mailbox — as in assign).

use serde::Serialize;
use w365_graph::Client;

use crate::assign::{DEFAULT_LICENSE_GROUP, find_groups, one_group};
use crate::cloud_pc::{
    Failure, check_action, cloud_pc_ref, cloud_pcs_of_user, exists, find_user, is_leaving,
    validate_upn,
};
use crate::error::{Error, GraphContext, Result};
use crate::execute::{
    CloudPcReport, Event, ExecState, Executor, MailReport, Observer, StepReport, Waits,
    cloud_pc_report, permissions,
};
use crate::licensing::{LicenseGroupLicense, Windows365Catalog};
use crate::mail::{validate_custom_message, verify_sender};
use crate::plan::{Approval, CloudPcAction, CloudPcTarget, GroupRef, Plan, SkuRef, Step, UserRef};

/// Everything `reprovision` needs to know.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReprovisionOptions {
    pub user: String,
    pub license_group: String,
    pub notify: bool,
    pub custom_message: Option<String>,
    /// The sender of the mail; required with `notify` (no default outside the sandbox).
    pub from_mailbox: Option<String>,
    pub dry_run: bool,
}

impl ReprovisionOptions {
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            license_group: DEFAULT_LICENSE_GROUP.into(),
            notify: false,
            custom_message: None,
            from_mailbox: None,
            dry_run: false,
        }
    }

    pub fn validate(&self) -> Result<()> {
        validate_upn(&self.user)?;
        if self.license_group.trim().is_empty() {
            return Err(Error::InvalidInput {
                reason: "--license-group is empty".into(),
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

/// What `reprovision` did (or would do).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReprovisionReport {
    pub requested_user: String,
    pub user: Option<UserRef>,
    pub license_group: Option<GroupRef>,
    pub sku: Option<SkuRef>,
    pub dry_run: bool,
    /// The Cloud PC as it was before.
    pub cloud_pc: Option<CloudPcReport>,
    pub plan: Plan,
    pub steps: Vec<StepReport>,
    pub mails: Vec<MailReport>,
    pub graph_requests: u64,
}

/// Plans and (unless `dry_run`) reprovisions.
pub async fn reprovision(
    client: &Client,
    opts: &ReprovisionOptions,
    observer: &dyn Observer,
) -> std::result::Result<ReprovisionReport, Failure<ReprovisionReport>> {
    reprovision_approved(client, opts, observer, &mut |_| true).await
}

/// Plans only (reads, no change): the report with its plan, as job mode starts from.
pub async fn plan(
    client: &Client,
    opts: &ReprovisionOptions,
    observer: &dyn Observer,
) -> std::result::Result<ReprovisionReport, Failure<ReprovisionReport>> {
    reprovision_approved(client, opts, observer, &mut |_| false).await
}

/// As [`reprovision`], executing the plan only if `approve` agrees (nothing changes otherwise).
pub async fn reprovision_approved(
    client: &Client,
    opts: &ReprovisionOptions,
    observer: &dyn Observer,
    approve: Approval<'_>,
) -> std::result::Result<ReprovisionReport, Failure<ReprovisionReport>> {
    let before = client.stats().requests;
    let mut report = ReprovisionReport {
        requested_user: opts.user.clone(),
        dry_run: opts.dry_run,
        ..ReprovisionReport::default()
    };
    let result = async {
        opts.validate()?;
        observer.on_event(&Event::Planning {
            what: "reading the user, the license group and the Cloud PCs",
        });
        let upn = opts.user.trim();
        let (user, groups, skus, pcs) = futures::try_join!(
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
                client.subscribed_skus().list().await.graph_ctx(
                    || "read the tenant's subscribed SKUs".into(),
                    permissions::READ_ORGANIZATION,
                )
            },
            cloud_pcs_of_user(client, upn),
        )?;
        report.user = Some(user.clone());
        let group = one_group(&groups, &opts.license_group)?;
        report.license_group = Some(group.clone());
        let full =
            groups
                .iter()
                .find(|g| g.id == group.id)
                .ok_or_else(|| Error::GroupNotFound {
                    name: opts.license_group.clone(),
                })?;
        // The group's one Windows 365 SKU, picked by its service plans.
        let license = LicenseGroupLicense::of(full, &skus, &Windows365Catalog::default())?;
        let (sku, service_plan_ids) = (license.sku, license.service_plan_ids);
        report.sku = Some(sku.clone());
        let target = CloudPcTarget::ServicePlans {
            sku: sku.clone(),
            service_plan_ids,
        };
        let mut mine: Vec<_> = pcs
            .iter()
            .filter(|pc| target.matches(pc) && exists(pc))
            .collect();
        // Prefer a Cloud PC that is not on its way out.
        mine.sort_by_key(|pc| is_leaving(pc));
        let Some(pc) = mine.first() else {
            return Err(Error::NoCloudPc {
                user: user.user_principal_name.clone(),
                what: format!(
                    "licensed by {sku} (license group '{}'); there is nothing to reprovision",
                    group.display_name
                ),
            });
        };
        report.cloud_pc = Some(cloud_pc_report(pc));
        check_action(pc, &CloudPcAction::Reprovision)?;
        let mut plan = Plan::from(vec![Step::RunCloudPcAction {
            cloud_pc: cloud_pc_ref(pc),
            action: CloudPcAction::Reprovision,
        }]);
        if opts.notify {
            // The sender must exist and have a mailbox before the Cloud PC is touched.
            let from = verify_sender(client, opts.from_mailbox.as_deref(), "--notify").await?;
            plan.push(Step::SendReprovisioningMail {
                from,
                user,
                custom_message: opts.custom_message.clone(),
            });
        }
        report.plan = plan.clone();
        if opts.dry_run || !approve(&plan) {
            return Ok(());
        }
        let executor = Executor::new(client, Waits::realistic(), observer);
        let mut state = ExecState {
            cloud_pc: report.cloud_pc.clone(),
            ..ExecState::default()
        };
        let run = executor.run(&plan, &mut state).await;
        report.steps = state.steps;
        report.mails = state.mails;
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
