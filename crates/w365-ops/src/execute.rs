//! Runs a [`Plan`] and reports each step's outcome.
//!
//! Every step is idempotent: adding a member that is already there, or removing one that is not,
//! counts as done ([`StepOutcome::AlreadyDone`]). A re-run after a partial failure therefore
//! converges. The executor stops at the first step that fails and returns that error; the steps
//! run so far are in the report.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use w365_graph::Client;
use w365_graph::models::{
    BodyType, CloudPc, CloudPcStatus, EmailAddress, ItemBody, LicenseAssignmentError,
    LicenseAssignmentStatus, Message, Recipient, ReprovisionOptions,
};
use w365_graph::{AddMemberOutcome, RemoveMemberOutcome};

use crate::error::{Error, GraphContext, Result};
use crate::mail::{self, ReadyMail, RenderedMail};
use crate::plan::{
    CloudPcAction, CloudPcRef, CloudPcTarget, GroupRef, Plan, SkuRef, Step, TicketDetails, UserRef,
};
use crate::wait::{Check, WaitOutcome, WaitPolicy, WaitTick, wait_for};

/// Application permissions named in permission errors, one per kind of call.
pub mod permissions {
    pub const READ_USERS: &str = "User.Read.All";
    /// Group reads need GroupMember.Read.All at least (Microsoft's "Get group" reference lists it as
    /// the least-privileged application permission); the operations also write memberships, so the
    /// one permission that covers both is named.
    pub const READ_GROUPS: &str = "GroupMember.ReadWrite.All";
    pub const WRITE_MEMBERS: &str = "GroupMember.ReadWrite.All";
    pub const READ_ORGANIZATION: &str = "Organization.Read.All";
    pub const READ_CLOUD_PCS: &str = "CloudPC.Read.All";
    pub const SEND_MAIL: &str = "Mail.Send";
    pub const WRITE_CLOUD_PCS: &str = "CloudPC.ReadWrite.All";
}

/// The waits an operation may perform, each bounded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Waits {
    /// New group memberships becoming visible (Entra ID replication).
    pub memberships: WaitPolicy,
    /// Group-based licensing granting the license.
    pub license: WaitPolicy,
    /// The Cloud PC appearing in the Windows 365 list.
    pub cloud_pc_appears: WaitPolicy,
    /// The Cloud PC finishing provisioning.
    pub provisioning: WaitPolicy,
}

impl Waits {
    /// For a real tenant: replication takes seconds, licensing minutes, provisioning up to ~90 min.
    pub const fn realistic() -> Self {
        Self {
            memberships: WaitPolicy::new(secs(1), secs(10), secs(5 * 60)),
            license: WaitPolicy::new(secs(5), secs(30), secs(30 * 60))
                .with_second_check_after(secs(10)),
            cloud_pc_appears: WaitPolicy::new(secs(10), secs(60), secs(60 * 60)),
            provisioning: WaitPolicy::new(secs(15), secs(60), secs(3 * 60 * 60)),
        }
    }

    /// For the sandbox, whose clock runs fast: poll often, give up within minutes.
    pub const fn sandbox() -> Self {
        Self {
            memberships: WaitPolicy::new(ms(100), ms(500), secs(60)),
            license: WaitPolicy::new(ms(200), ms(1000), secs(2 * 60))
                .with_second_check_after(ms(150)),
            cloud_pc_appears: WaitPolicy::new(ms(250), ms(1000), secs(3 * 60)),
            provisioning: WaitPolicy::new(ms(250), ms(1000), secs(5 * 60)),
        }
    }

    /// Every interval the same tiny value, every timeout `timeout` (tests driving a manual clock).
    pub const fn uniform(interval: Duration, timeout: Duration) -> Self {
        let p = WaitPolicy {
            initial_interval: interval,
            max_interval: interval,
            multiplier: 1.0,
            timeout,
            second_check_after: Duration::ZERO,
        };
        Self {
            memberships: p,
            license: p,
            cloud_pc_appears: p,
            provisioning: p,
        }
    }
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum StepOutcome {
    /// The step changed what it should.
    Done { detail: String },
    /// Nothing to change: the tenant already was as wanted.
    AlreadyDone { detail: String },
    /// Deliberately not done (e.g. no mailbox to send to).
    Skipped { reason: String },
    /// The wait ended before the work finished (the work is still running).
    TimedOut { detail: String },
    /// The step failed.
    Failed { error: String },
}

impl StepOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            StepOutcome::Done { .. } => "done",
            StepOutcome::AlreadyDone { .. } => "already done",
            StepOutcome::Skipped { .. } => "skipped",
            StepOutcome::TimedOut { .. } => "timed out",
            StepOutcome::Failed { .. } => "failed",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            StepOutcome::Done { detail }
            | StepOutcome::AlreadyDone { detail }
            | StepOutcome::TimedOut { detail } => detail,
            StepOutcome::Skipped { reason } => reason,
            StepOutcome::Failed { error } => error,
        }
    }
}

/// A step and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub step: Step,
    #[serde(flatten)]
    pub outcome: StepOutcome,
    pub elapsed_ms: u64,
}

/// The Cloud PC an operation followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcReport {
    pub id: String,
    pub display_name: Option<String>,
    pub managed_device_name: Option<String>,
    pub status: Option<String>,
    pub status_detail: Option<String>,
    pub service_plan_id: Option<String>,
    pub provisioning_policy_id: Option<String>,
}

/// Which kind of mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MailKind {
    CloudPcReady,
    /// A pooled (shared-mode Frontline) assignment: access to the group's shared Cloud PCs.
    AccessGranted,
    OutOfLicensesTicket,
    CloudPcReprovisioning,
}

/// Renders a mail to the user about their Cloud PC.
type UserMailTemplate = fn(&ReadyMail<'_>) -> Result<RenderedMail>;

/// A mail the operation sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailReport {
    pub kind: MailKind,
    pub from: String,
    pub to: String,
    pub subject: String,
}

/// Progress events, for people watching.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Planning reads are under way.
    Planning { what: &'a str },
    StepStarted {
        index: usize,
        total: usize,
        step: &'a Step,
    },
    StepFinished {
        index: usize,
        total: usize,
        step: &'a Step,
        outcome: &'a StepOutcome,
    },
    /// A wait made a check that was not ready yet.
    Waiting(&'a WaitTick<'a>),
    /// Something worth telling (e.g. a membership that was kept).
    Note(&'a str),
}

/// Receives progress events. Implemented by the CLI's printer.
pub trait Observer: Send + Sync {
    fn on_event(&self, event: &Event<'_>);
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn on_event(&self, _event: &Event<'_>) {}
}

/// What the executor learned while running (shared by the steps of one operation).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecState {
    pub steps: Vec<StepReport>,
    pub cloud_pc: Option<CloudPcReport>,
    pub mails: Vec<MailReport>,
}

/// Runs plans against one tenant.
pub struct Executor<'a> {
    client: &'a Client,
    waits: Waits,
    observer: &'a dyn Observer,
}

impl<'a> Executor<'a> {
    pub fn new(client: &'a Client, waits: Waits, observer: &'a dyn Observer) -> Self {
        Self {
            client,
            waits,
            observer,
        }
    }

    /// Runs every step in order; stops at the first error (recorded in `state.steps` too).
    ///
    /// Consecutive [`Step::AddUserToGroup`] steps are independent of each other (each adds the
    /// user to another group, and "already a member" counts as done), so they are sent
    /// concurrently: one round trip instead of one each. All of them are attempted; their outcomes
    /// are reported in plan order, and the first failure stops the plan after them (a re-run
    /// converges). A step that depends on a membership (the license group after the wait) is never
    /// next to them: a wait separates it.
    pub async fn run(&self, plan: &Plan, state: &mut ExecState) -> Result<()> {
        let total = plan.len();
        let steps = &plan.steps;
        let mut index = 0;
        while index < total {
            let adds: Vec<(&UserRef, &GroupRef)> = steps[index..]
                .iter()
                .map_while(|s| match s {
                    Step::AddUserToGroup { user, group, .. } => Some((user, group)),
                    _ => None,
                })
                .collect();
            if adds.len() >= 2 {
                for (i, step) in steps[index..index + adds.len()].iter().enumerate() {
                    self.observer.on_event(&Event::StepStarted {
                        index: index + i,
                        total,
                        step,
                    });
                }
                let started = Instant::now();
                let results = futures::future::join_all(
                    adds.iter()
                        .map(|(user, group)| self.add_to_group(user, group)),
                )
                .await;
                let mut first_error = None;
                for (i, result) in results.into_iter().enumerate() {
                    let step = &steps[index + i];
                    self.finish(index + i, total, step, &result, started, state);
                    if let Err(e) = result {
                        first_error.get_or_insert(e);
                    }
                }
                if let Some(e) = first_error {
                    return Err(e);
                }
                index += adds.len();
                continue;
            }
            let step = &steps[index];
            self.observer
                .on_event(&Event::StepStarted { index, total, step });
            let started = Instant::now();
            let result = self.run_step(step, state).await;
            self.finish(index, total, step, &result, started, state);
            result?;
            index += 1;
        }
        Ok(())
    }

    /// Reports how a step ended (observer and `state.steps`).
    fn finish(
        &self,
        index: usize,
        total: usize,
        step: &Step,
        result: &Result<StepOutcome>,
        started: Instant,
        state: &mut ExecState,
    ) {
        let outcome = match result {
            Ok(outcome) => outcome.clone(),
            Err(e @ Error::TimedOut { .. }) => StepOutcome::TimedOut {
                detail: e.to_string(),
            },
            Err(e) => StepOutcome::Failed {
                error: e.to_string(),
            },
        };
        self.observer.on_event(&Event::StepFinished {
            index,
            total,
            step,
            outcome: &outcome,
        });
        state.steps.push(StepReport {
            step: step.clone(),
            outcome,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }

    pub(crate) async fn run_step(&self, step: &Step, state: &mut ExecState) -> Result<StepOutcome> {
        match step {
            Step::AddUserToGroup { user, group, .. } => self.add_to_group(user, group).await,
            Step::RemoveUserFromGroup { user, group, .. } => {
                self.remove_from_group(user, group).await
            }
            Step::WaitForGroupMemberships { user, groups } => {
                self.wait_for_memberships(user, groups).await
            }
            Step::ConfirmLicenseAssigned {
                user,
                license_group,
                sku,
            } => self.confirm_license(user, license_group, sku).await,
            Step::WaitForCloudPc { user, target } => {
                self.wait_for_cloud_pc(user, target, state).await
            }
            Step::SendReadyMail {
                from,
                user,
                custom_message,
            } => {
                self.send_user_mail(
                    (MailKind::CloudPcReady, mail::render_ready_mail),
                    from,
                    user,
                    custom_message.as_deref(),
                    cloud_pc_name(state),
                    state,
                )
                .await
            }
            Step::SendAccessGrantedMail {
                from,
                user,
                policy_name,
                custom_message,
            } => {
                self.send_user_mail(
                    (MailKind::AccessGranted, mail::render_access_granted_mail),
                    from,
                    user,
                    custom_message.as_deref(),
                    Some(policy_name.clone()),
                    state,
                )
                .await
            }
            Step::SendOutOfLicensesTicket { from, to, ticket } => {
                self.send_ticket(from, to, ticket, state).await
            }
            Step::RunCloudPcAction { cloud_pc, action } => {
                self.cloud_pc_action(cloud_pc, action).await
            }
            Step::EndGracePeriod { user, target } => {
                self.end_grace_period(user, target, state).await
            }
            Step::SendReprovisioningMail {
                from,
                user,
                custom_message,
            } => {
                self.send_user_mail(
                    (
                        MailKind::CloudPcReprovisioning,
                        mail::render_reprovisioning_mail,
                    ),
                    from,
                    user,
                    custom_message.as_deref(),
                    cloud_pc_name(state),
                    state,
                )
                .await
            }
        }
    }

    async fn add_to_group(&self, user: &UserRef, group: &GroupRef) -> Result<StepOutcome> {
        let outcome = self
            .client
            .groups()
            .add_member(&group.id, &user.id)
            .await
            .graph_ctx(
                || format!("add {user} to the group {group}"),
                permissions::WRITE_MEMBERS,
            )?;
        Ok(match outcome {
            AddMemberOutcome::AlreadyMember => StepOutcome::AlreadyDone {
                detail: format!("{user} already is a member of {group}"),
            },
            _ => StepOutcome::Done {
                detail: format!("added {user} to {group}"),
            },
        })
    }

    async fn remove_from_group(&self, user: &UserRef, group: &GroupRef) -> Result<StepOutcome> {
        let outcome = self
            .client
            .groups()
            .remove_member(&group.id, &user.id)
            .await
            .graph_ctx(
                || format!("remove {user} from the group {group}"),
                permissions::WRITE_MEMBERS,
            )?;
        Ok(match outcome {
            RemoveMemberOutcome::NotMember => StepOutcome::AlreadyDone {
                detail: format!("{user} was not a member of {group}"),
            },
            _ => StepOutcome::Done {
                detail: format!("removed {user} from {group}"),
            },
        })
    }

    fn tick(&self) -> impl FnMut(&WaitTick<'_>) + '_ {
        |tick| self.observer.on_event(&Event::Waiting(tick))
    }

    async fn wait_for_memberships(
        &self,
        user: &UserRef,
        groups: &[GroupRef],
    ) -> Result<StepOutcome> {
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        let what = "the new group memberships to become visible";
        let outcome = wait_for(what, &self.waits.memberships, self.tick(), || async {
            let visible = self
                .client
                .users()
                .check_member_groups(&user.id, &ids)
                .await
                .graph_ctx(
                    || format!("check the group memberships of {user}"),
                    permissions::READ_USERS,
                )?;
            let missing = ids
                .iter()
                .filter(|id| !visible.iter().any(|v| v.eq_ignore_ascii_case(id)))
                .count();
            Ok::<_, Error>(if missing == 0 {
                Check::Ready(())
            } else {
                Check::Pending(Some(format!("{missing} of {} not visible yet", ids.len())))
            })
        })
        .await?;
        match outcome {
            WaitOutcome::Ready(()) => Ok(StepOutcome::Done {
                detail: "memberships visible".into(),
            }),
            WaitOutcome::TimedOut {
                waited, last_state, ..
            } => Err(Error::TimedOut {
                what: what.into(),
                waited,
                last_state,
            }),
        }
    }

    async fn confirm_license(
        &self,
        user: &UserRef,
        license_group: &GroupRef,
        sku: &SkuRef,
    ) -> Result<StepOutcome> {
        let what = format!("the license {sku} to be granted");
        let checks = std::sync::atomic::AtomicU32::new(0);
        let outcome = wait_for(&what, &self.waits.license, self.tick(), || async {
            let check = checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let states = self
                .client
                .users()
                .license_assignment_states(&user.id)
                .await
                .graph_ctx(
                    || format!("read the license states of {user}"),
                    permissions::READ_USERS,
                )?;
            // Only the assignment made by this group counts: another, pre-existing assignment of
            // the same SKU (direct or another group) says nothing about this one.
            let from_group = states.iter().find(|s| {
                s.sku_id == sku.sku_id
                    && s.assigned_by_group
                        .as_deref()
                        .is_some_and(|g| g.eq_ignore_ascii_case(&license_group.id))
            });
            let Some(state) = from_group else {
                if check == 1 {
                    // The first check comes at once, often before group licensing could have
                    // started: no second request to say so.
                    return Ok(Check::Pending(Some(format!(
                        "no assignment from {license_group} yet"
                    ))));
                }
                // Not processed for this user yet: say how far the group's processing is.
                let processing = self
                    .client
                    .groups()
                    .get(&license_group.id)
                    .await
                    .graph_ctx(
                        || format!("read the license processing state of {license_group}"),
                        permissions::READ_GROUPS,
                    )?
                    .license_processing_state
                    .and_then(|p| p.state)
                    .map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned());
                return Ok(Check::Pending(Some(format!(
                    "no assignment from {license_group} yet (group licensing: {processing})"
                ))));
            };
            match (&state.state, &state.error) {
                (LicenseAssignmentStatus::Active | LicenseAssignmentStatus::ActiveWithError, _) => {
                    Ok(Check::Ready(state.state.as_str().to_owned()))
                }
                (_, Some(LicenseAssignmentError::CountViolation)) => {
                    Err(Error::LicenseCountViolation {
                        sku: sku.sku_part_number.clone(),
                    })
                }
                (LicenseAssignmentStatus::Error, error) => Err(Error::LicenseNotGranted {
                    sku: sku.sku_part_number.clone(),
                    state: "Error".into(),
                    reason: error
                        .as_ref()
                        .map_or_else(|| "unknown".to_owned(), |e| e.as_str().to_owned()),
                }),
                (other, _) => Ok(Check::Pending(Some(other.as_str().to_owned()))),
            }
        })
        .await?;
        match outcome {
            WaitOutcome::Ready(state) => Ok(StepOutcome::Done {
                detail: format!("{sku} granted ({state})"),
            }),
            WaitOutcome::TimedOut {
                waited, last_state, ..
            } => Err(Error::TimedOut {
                what,
                waited,
                last_state,
            }),
        }
    }

    async fn find_cloud_pc(
        &self,
        user: &UserRef,
        target: &CloudPcTarget,
    ) -> Result<Option<CloudPc>> {
        let mut matching = self.cloud_pcs_of(user, target).await?;
        // Prefer a Cloud PC that is not on its way out (an old one may still be in grace period).
        matching.sort_by_key(|pc| {
            matches!(
                pc.status,
                Some(CloudPcStatus::InGracePeriod | CloudPcStatus::Deprovisioning)
            )
        });
        Ok(matching.into_iter().next())
    }

    async fn wait_for_cloud_pc(
        &self,
        user: &UserRef,
        target: &CloudPcTarget,
        state: &mut ExecState,
    ) -> Result<StepOutcome> {
        let appear = format!("the Cloud PC of {user} to appear");
        let found = wait_for(
            &appear,
            &self.waits.cloud_pc_appears,
            self.tick(),
            || async {
                Ok::<_, Error>(match self.find_cloud_pc(user, target).await? {
                    Some(pc) => Check::Ready(pc),
                    None => Check::Pending(Some("no Cloud PC yet".into())),
                })
            },
        )
        .await?;
        let pc = match found {
            WaitOutcome::Ready(pc) => pc,
            WaitOutcome::TimedOut {
                waited, last_state, ..
            } => {
                return Err(Error::TimedOut {
                    what: appear,
                    waited,
                    last_state,
                });
            }
        };
        state.cloud_pc = Some(cloud_pc_report(&pc));

        let provisioned = format!("the Cloud PC of {user} to be provisioned");
        let mut last_seen: Option<CloudPc> = Some(pc);
        let outcome = wait_for(&provisioned, &self.waits.provisioning, self.tick(), || {
            let first = last_seen.take();
            async move {
                let pc = match first {
                    Some(pc) => Some(pc),
                    None => self.find_cloud_pc(user, target).await?,
                };
                let Some(pc) = pc else {
                    return Ok(Check::Pending(Some("Cloud PC not listed".into())));
                };
                match &pc.status {
                    Some(CloudPcStatus::Provisioned | CloudPcStatus::ProvisionedWithWarnings) => {
                        Ok(Check::Ready(Ok(pc)))
                    }
                    Some(CloudPcStatus::Failed) => Ok(Check::Ready(Err(pc))),
                    other => Ok::<_, Error>(Check::Pending(Some(status_text(other.as_ref())))),
                }
            }
        })
        .await?;
        match outcome {
            WaitOutcome::Ready(Ok(pc)) => {
                let report = cloud_pc_report(&pc);
                let detail = format!(
                    "Cloud PC {} is {}",
                    report.display_name.as_deref().unwrap_or(&report.id),
                    report.status.as_deref().unwrap_or("provisioned")
                );
                state.cloud_pc = Some(report);
                Ok(StepOutcome::Done { detail })
            }
            WaitOutcome::Ready(Err(pc)) => {
                let report = cloud_pc_report(&pc);
                let detail = report
                    .status_detail
                    .clone()
                    .unwrap_or_else(|| "no status detail given".into());
                state.cloud_pc = Some(report);
                Err(Error::ProvisioningFailed {
                    cloud_pc_id: pc.id.clone(),
                    detail,
                })
            }
            WaitOutcome::TimedOut {
                waited, last_state, ..
            } => {
                if let (Some(pc), Some(status)) = (state.cloud_pc.as_mut(), last_state.as_ref()) {
                    pc.status = Some(status.clone());
                }
                Err(Error::TimedOut {
                    what: provisioned,
                    waited,
                    last_state,
                })
            }
        }
    }

    async fn send(
        &self,
        from: &str,
        to: &str,
        name: Option<&str>,
        mail: &RenderedMail,
    ) -> Result<()> {
        let message = Message {
            subject: mail.subject.clone(),
            body: ItemBody {
                content_type: BodyType::Html,
                content: mail.html_body.clone(),
            },
            to_recipients: vec![Recipient {
                email_address: EmailAddress {
                    address: to.to_owned(),
                    name: name.map(str::to_owned),
                },
            }],
            cc_recipients: Vec::new(),
            bcc_recipients: Vec::new(),
        };
        self.client
            .mail()
            .send_mail(from, &message, false)
            .await
            .graph_ctx(
                || format!("send mail from {from} to {to}"),
                permissions::SEND_MAIL,
            )
    }

    /// Mails the user about their Cloud PC (ready, or being reprovisioned), if they have a mailbox.
    async fn send_user_mail(
        &self,
        (kind, render): (MailKind, UserMailTemplate),
        from: &str,
        user: &UserRef,
        custom_message: Option<&str>,
        cloud_pc_name: Option<String>,
        state: &mut ExecState,
    ) -> Result<StepOutcome> {
        let Some(to) = user.mail.as_deref() else {
            return Ok(StepOutcome::Skipped {
                reason: format!("{user} has no mailbox; no mail sent"),
            });
        };
        let name = user
            .display_name
            .as_deref()
            .unwrap_or(&user.user_principal_name);
        let rendered = render(&ReadyMail {
            name,
            user_principal_name: &user.user_principal_name,
            cloud_pc_name: cloud_pc_name.as_deref(),
            custom_message,
        })?;
        self.send(from, to, Some(name), &rendered).await?;
        state.mails.push(MailReport {
            kind,
            from: from.to_owned(),
            to: to.to_owned(),
            subject: rendered.subject,
        });
        Ok(StepOutcome::Done {
            detail: format!("mail sent to {to}"),
        })
    }

    async fn cloud_pc_action(
        &self,
        cloud_pc: &CloudPcRef,
        action: &CloudPcAction,
    ) -> Result<StepOutcome> {
        let pcs = self.client.cloud_pcs();
        let id = cloud_pc.id.as_str();
        let result = match action {
            CloudPcAction::Reboot => pcs.reboot(id).await,
            CloudPcAction::Rename { display_name } => pcs.rename(id, display_name).await,
            CloudPcAction::Restore { snapshot_id } => pcs.restore(id, snapshot_id).await,
            CloudPcAction::Troubleshoot => pcs.troubleshoot(id).await,
            CloudPcAction::EndGracePeriod => pcs.end_grace_period(id).await,
            CloudPcAction::PowerOn => pcs.power_on(id).await,
            CloudPcAction::PowerOff => pcs.power_off(id).await,
            CloudPcAction::Reprovision => pcs.reprovision(id, ReprovisionOptions::default()).await,
            CloudPcAction::Resize {
                target_service_plan_id,
                ..
            } => pcs.resize(id, target_service_plan_id).await,
        };
        result.graph_ctx(
            || format!("{action} the Cloud PC {cloud_pc}"),
            permissions::WRITE_CLOUD_PCS,
        )?;
        Ok(StepOutcome::Done {
            detail: "accepted by Windows 365".into(),
        })
    }

    async fn end_grace_period(
        &self,
        user: &UserRef,
        target: &CloudPcTarget,
        state: &mut ExecState,
    ) -> Result<StepOutcome> {
        let what = format!("the Cloud PC of {user} to enter its grace period");
        let outcome = wait_for(&what, &self.waits.cloud_pc_appears, self.tick(), || async {
            let pcs = self.cloud_pcs_of(user, target).await?;
            if let Some(pc) = pcs
                .iter()
                .find(|pc| pc.status == Some(CloudPcStatus::InGracePeriod))
            {
                return Ok::<_, Error>(Check::Ready(Some(pc.clone())));
            }
            let live: Vec<&CloudPc> = pcs
                .iter()
                .filter(|pc| pc.status != Some(CloudPcStatus::Deprovisioning))
                .collect();
            match live.first() {
                None => Ok(Check::Ready(None)),
                Some(pc) => Ok(Check::Pending(Some(status_text(pc.status.as_ref())))),
            }
        })
        .await?;
        match outcome {
            WaitOutcome::Ready(Some(pc)) => {
                self.client
                    .cloud_pcs()
                    .end_grace_period(&pc.id)
                    .await
                    .graph_ctx(
                        || format!("end the grace period of the Cloud PC {}", pc.id),
                        permissions::WRITE_CLOUD_PCS,
                    )?;
                let mut report = cloud_pc_report(&pc);
                report.status = Some(CloudPcStatus::Deprovisioning.as_str().to_owned());
                state.cloud_pc = Some(report);
                Ok(StepOutcome::Done {
                    detail: format!(
                        "ended the grace period of {}; it is being deprovisioned",
                        pc.display_name.as_deref().unwrap_or(&pc.id)
                    ),
                })
            }
            WaitOutcome::Ready(None) => Ok(StepOutcome::AlreadyDone {
                detail: format!("{user} has no Cloud PC left for it (gone or deprovisioning)"),
            }),
            WaitOutcome::TimedOut {
                waited, last_state, ..
            } => Err(Error::TimedOut {
                what,
                waited,
                last_state,
            }),
        }
    }

    /// Every Cloud PC of the user that matches the target (any status).
    pub(crate) async fn cloud_pcs_of(
        &self,
        user: &UserRef,
        target: &CloudPcTarget,
    ) -> Result<Vec<CloudPc>> {
        let pcs =
            crate::cloud_pc::cloud_pcs_of_user(self.client, &user.user_principal_name).await?;
        Ok(pcs.into_iter().filter(|pc| target.matches(pc)).collect())
    }

    async fn send_ticket(
        &self,
        from: &str,
        to: &str,
        ticket: &TicketDetails,
        state: &mut ExecState,
    ) -> Result<StepOutcome> {
        let rendered = mail::render_ticket(ticket)?;
        self.send(from, to, None, &rendered).await?;
        state.mails.push(MailReport {
            kind: MailKind::OutOfLicensesTicket,
            from: from.to_owned(),
            to: to.to_owned(),
            subject: rendered.subject.clone(),
        });
        Ok(StepOutcome::Done {
            detail: format!("ticket \"{}\" sent to {to}", rendered.subject),
        })
    }
}

/// The display name of the Cloud PC the operation followed, for mails.
fn cloud_pc_name(state: &ExecState) -> Option<String> {
    state
        .cloud_pc
        .as_ref()
        .and_then(|pc| pc.display_name.clone())
}

fn status_text(status: Option<&CloudPcStatus>) -> String {
    status.map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned())
}

/// The report form of a Cloud PC.
pub fn cloud_pc_report(pc: &CloudPc) -> CloudPcReport {
    let status_detail =
        pc.status_detail
            .as_ref()
            .map(|d| match (d.code.as_deref(), d.message.as_deref()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                (None, Some(message)) => message.to_owned(),
                (None, None) => "no detail".to_owned(),
            });
    CloudPcReport {
        id: pc.id.clone(),
        display_name: pc.display_name.clone(),
        managed_device_name: pc.managed_device_name.clone(),
        status: pc.status.as_ref().map(|s| status_text(Some(s))),
        status_detail,
        service_plan_id: pc.service_plan_id.clone(),
        provisioning_policy_id: pc.provisioning_policy_id.clone(),
    }
}
