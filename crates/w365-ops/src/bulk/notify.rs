//! `assign --from FILE --notify`: mail each user when their Cloud PC is ready.
//!
//! One polling loop for all users: each check lists the tenant's Cloud PCs once (every page) and
//! matches them to the users still waiting, never one poll per user. A user whose Cloud PC is
//! provisioned is mailed at once, with the single assign's mail ([`Step::SendReadyMail`]); a
//! pooled (shared-mode Frontline) seat has no personal Cloud PC and gets the "access granted"
//! mail without waiting ([`Step::SendAccessGrantedMail`]).
//!
//! At most once per user: the journal records the mail as begun before it is sent and as sent
//! after. A later run that finds it begun but not sent reports "outcome unknown, not resent".
//!
//! In a job ([`NotifyMode::Job`]) the loop holds no worker between checks: it checks for at most
//! the job's inline wait, then returns [`NotifyEnd::Park`] with the time of the next check and a
//! [`NotifyCursor`] (when the wait began, how often it parked) for the job's checkpoint. The
//! resumed run plans again (the journal says which users were mailed), checks at once, and the
//! provisioning wait's bound still counts from when the wait began.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use w365_graph::Client;
use w365_graph::models::{CloudPc, CloudPcStatus};

use super::journal::{Journal, fail_row};
use super::{Progress, RowResult};
use crate::assign::AssignOptions;
use crate::error::{Error, GraphContext, Result};
use crate::execute::{
    Event, ExecState, Executor, Observer, StepOutcome, cloud_pc_report, permissions,
};
use crate::plan::{CloudPcTarget, Step, UserRef};
use crate::wait::Poll;

/// Journal steps of a mail: begun (before the request) and sent (after it).
pub(crate) const STEP_MAILING: &str = "mailing";
pub(crate) const STEP_MAILED: &str = "mailed";

/// Which mail a user gets.
#[derive(Debug, Clone)]
pub(crate) enum NotifyMail {
    /// When the personal Cloud PC (matched by `target`) is provisioned.
    Ready(CloudPcTarget),
    /// At once: a pooled Frontline seat (shared mode).
    AccessGranted { policy_name: String },
}

/// A user to mail, by index into the rows.
#[derive(Debug, Clone)]
pub(crate) struct Notify {
    pub(crate) index: usize,
    /// The file's UPN (the journal's key).
    pub(crate) upn: String,
    pub(crate) user: UserRef,
    pub(crate) mail: NotifyMail,
    /// The text of the mail, when the row (or `--message`) gives one.
    pub(crate) custom_message: Option<String>,
}

/// Where a job's Cloud PC wait stands between its runs (kept in the job's checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifyCursor {
    /// When the wait began: the provisioning wait's bound counts from here.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// How often the wait parked so far (backs off the next check).
    pub parks: u32,
}

/// How the Cloud PC wait is run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NotifyMode {
    /// In the command: sleeps between checks until every user is mailed or the wait times out.
    Inline,
    /// In a job: checks for at most `inline_wait`, then parks.
    Job {
        cursor: Option<NotifyCursor>,
        inline_wait: Duration,
    },
}

/// How the wait ended this time.
#[derive(Debug, Clone)]
pub(crate) enum NotifyEnd {
    /// Every user is mailed, or given up on (timed out, failed).
    Done,
    /// A job's wait is not over: resume at `until`.
    Park {
        until: OffsetDateTime,
        reason: String,
        cursor: NotifyCursor,
    },
}

fn since(t: OffsetDateTime) -> Duration {
    (OffsetDateTime::now_utc() - t)
        .try_into()
        .unwrap_or(Duration::ZERO)
}

/// What the journal says about a user's mail: `None` when it is still to be sent.
pub(crate) fn mail_recorded(journal_has: impl Fn(&str) -> bool) -> Option<&'static str> {
    if journal_has(STEP_MAILED) {
        Some("mail sent by an earlier run of this file")
    } else if journal_has(STEP_MAILING) {
        Some(
            "outcome unknown, not resent: an earlier run stopped while this mail was being sent; check the user's mailbox before sending it by hand",
        )
    } else {
        None
    }
}

/// Mails every user of `items` once: pooled seats at once, the others when their Cloud PC is
/// provisioned (one polling loop, bounded by the provisioning wait; in a job, parked between
/// checks).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn notify(
    client: &Client,
    opts: &AssignOptions,
    items: Vec<Notify>,
    rows: &mut [RowResult],
    journal: &mut Journal<'_>,
    mode: NotifyMode,
    observer: &dyn Observer,
    progress: &dyn Progress,
) -> Result<NotifyEnd> {
    let mut waiting: Vec<(Notify, CloudPcTarget)> = Vec::new();
    for item in items {
        if let Some(said) = mail_recorded(|step| journal.has(&item.upn, step)) {
            rows[item.index].mail = Some(said.to_owned());
            continue;
        }
        match &item.mail {
            NotifyMail::AccessGranted { policy_name } => {
                let step = Step::SendAccessGrantedMail {
                    from: opts.from_mailbox.clone().unwrap_or_default(),
                    user: item.user.clone(),
                    policy_name: policy_name.clone(),
                    custom_message: item.custom_message.clone(),
                };
                send(client, opts, &item, step, None, rows, journal, observer).await?;
            }
            NotifyMail::Ready(target) => {
                let target = target.clone();
                waiting.push((item, target));
            }
        }
    }
    if waiting.is_empty() {
        return Ok(NotifyEnd::Done);
    }
    let total = waiting.len() as u64;
    let provisioning = opts.waits.provisioning;
    // In a job: this run checks for at most the inline wait, within what is left of the bound.
    let (policy, job) = match mode {
        NotifyMode::Inline => (provisioning, None),
        NotifyMode::Job {
            cursor,
            inline_wait,
        } => {
            let cursor = cursor.unwrap_or(NotifyCursor {
                started_at: OffsetDateTime::now_utc(),
                parks: 0,
            });
            let remaining = provisioning
                .timeout
                .saturating_sub(since(cursor.started_at));
            let bound = inline_wait.min(remaining);
            let mut policy = provisioning.with_timeout(bound);
            if cursor.parks > 0 {
                // The park was the delay: no longer delay before the next check.
                policy.second_check_after = Duration::ZERO;
            }
            (policy, Some((cursor, remaining > bound)))
        }
    };
    let mut poll = Poll::start(&policy).await;
    loop {
        let pcs = client
            .cloud_pcs()
            .list(None)
            .await
            .graph_ctx(|| "list the Cloud PCs".into(), permissions::READ_CLOUD_PCS)?;
        let mut by_user: HashMap<String, Vec<&CloudPc>> = HashMap::new();
        for pc in &pcs {
            if let Some(upn) = &pc.user_principal_name {
                by_user.entry(upn.to_lowercase()).or_default().push(pc);
            }
        }
        let mut still = Vec::new();
        let mut states: HashMap<String, usize> = HashMap::new();
        for (item, target) in waiting {
            let mut mine: Vec<&CloudPc> = by_user
                .get(&item.user.user_principal_name.to_lowercase())
                .map(|v| v.iter().copied().filter(|pc| target.matches(pc)).collect())
                .unwrap_or_default();
            // Prefer a Cloud PC that is not on its way out (an old one may be in grace period).
            mine.sort_by_key(|pc| {
                matches!(
                    pc.status,
                    Some(CloudPcStatus::InGracePeriod | CloudPcStatus::Deprovisioning)
                )
            });
            let Some(pc) = mine.first() else {
                *states.entry("not listed yet".into()).or_default() += 1;
                still.push((item, target));
                continue;
            };
            let report = cloud_pc_report(pc);
            rows[item.index].cloud_pc = report
                .display_name
                .clone()
                .or_else(|| Some(report.id.clone()));
            match &pc.status {
                Some(CloudPcStatus::Provisioned | CloudPcStatus::ProvisionedWithWarnings) => {
                    let step = Step::SendReadyMail {
                        from: opts.from_mailbox.clone().unwrap_or_default(),
                        user: item.user.clone(),
                        custom_message: item.custom_message.clone(),
                    };
                    send(
                        client,
                        opts,
                        &item,
                        step,
                        Some(report),
                        rows,
                        journal,
                        observer,
                    )
                    .await?;
                }
                Some(CloudPcStatus::Failed) => {
                    let e = Error::ProvisioningFailed {
                        cloud_pc_id: pc.id.clone(),
                        detail: report
                            .status_detail
                            .clone()
                            .unwrap_or_else(|| "no status detail given".into()),
                    };
                    fail_row(&mut rows[item.index], &e);
                    rows[item.index].mail =
                        Some("not sent: the Cloud PC failed to provision".into());
                }
                other => {
                    let s = other.as_ref().map_or("unknown", |s| s.as_str()).to_owned();
                    *states.entry(s).or_default() += 1;
                    still.push((item, target));
                }
            }
        }
        waiting = still;
        progress.rows(total - waiting.len() as u64, total);
        if waiting.is_empty() {
            return Ok(NotifyEnd::Done);
        }
        let mut summary: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
        summary.sort();
        let next = match poll.not_ready() {
            Ok(next) => next,
            Err(waited) => {
                if let Some((cursor, true)) = job {
                    // Not over: park until the next check, holding no worker.
                    let delay = provisioning
                        .interval(cursor.parks)
                        .max(Duration::from_millis(1));
                    let until = OffsetDateTime::now_utc() + delay;
                    let reason = format!(
                        "waiting for {} Cloud PC(s) to be provisioned ({}); next check at {}",
                        waiting.len(),
                        summary.join(", "),
                        until
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default()
                    );
                    return Ok(NotifyEnd::Park {
                        until,
                        reason,
                        cursor: NotifyCursor {
                            parks: cursor.parks + 1,
                            ..cursor
                        },
                    });
                }
                let (waited, again) = match job {
                    Some((cursor, _)) => (
                        since(cursor.started_at),
                        "this job stopped waiting: tell the user yourself once it is provisioned",
                    ),
                    None => (
                        waited,
                        "run the same command again to keep waiting and send it",
                    ),
                };
                let waited = crate::wait::human_duration(waited);
                for (item, _) in &waiting {
                    rows[item.index].mail = Some(format!(
                        "not sent yet: the Cloud PC was not ready after {waited} ({}); {again}",
                        summary.join(", ")
                    ));
                }
                observer.on_event(&Event::Note(&format!(
                    "stopped waiting for {} Cloud PC(s) after {waited}; their mails are not sent yet",
                    waiting.len()
                )));
                return Ok(NotifyEnd::Done);
            }
        };
        observer.on_event(&Event::Note(&format!(
            "waiting for {} Cloud PC(s) to be provisioned ({}); next check in {}",
            waiting.len(),
            summary.join(", "),
            crate::wait::human_duration(next)
        )));
        tokio::time::sleep(next).await;
    }
}

/// Sends one user's mail, recorded in the journal before (begun) and after (sent).
#[allow(clippy::too_many_arguments)]
async fn send(
    client: &Client,
    opts: &AssignOptions,
    item: &Notify,
    step: Step,
    cloud_pc: Option<crate::execute::CloudPcReport>,
    rows: &mut [RowResult],
    journal: &mut Journal<'_>,
    observer: &dyn Observer,
) -> Result<()> {
    journal.record([item.upn.as_str()], STEP_MAILING).await?;
    let mut state = ExecState {
        cloud_pc,
        ..ExecState::default()
    };
    let row = &mut rows[item.index];
    match Executor::new(client, opts.waits, observer)
        .run_step(&step, &mut state)
        .await
    {
        Ok(outcome) => {
            journal.record([item.upn.as_str()], STEP_MAILED).await?;
            row.mail = Some(match outcome {
                StepOutcome::Done { detail } => detail,
                StepOutcome::Skipped { reason } => reason,
                other => other.detail().to_owned(),
            });
        }
        // Whether Graph took it is not known: never sent again by a re-run.
        Err(e) => {
            row.mail = Some(format!(
                "outcome unknown, not resent: sending failed ({e}); check the user's mailbox before sending it by hand"
            ));
        }
    }
    Ok(())
}
