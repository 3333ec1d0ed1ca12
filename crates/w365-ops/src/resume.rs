//! Resumable runs: the job mode of the executor.
//!
//! The CLI runs a plan end to end and waits inside it ([`crate::Executor::run`], unchanged). A job
//! cannot hold a worker for the 30–90 minutes a Cloud PC takes to provision, and must survive the
//! worker dying at any point. So in job mode:
//! - the plan and each finished step's outcome are a serializable [`Checkpoint`], saved through a
//!   [`CheckpointSink`] after every step (River's resumable steps: a resumed run skips them);
//! - a wait checks for at most [`ResumeOptions::inline_wait`]; when the work is still running it
//!   returns [`Progress::Parked`] with the time of the next check, and keeps its cursor (when the
//!   wait began, how often it parked) in the checkpoint. The resumed run re-checks at once, and
//!   the wait's overall bound still counts from when it began;
//! - a step that must not happen twice (a mail, a ticket, a Cloud PC action) is recorded as
//!   "sending" before the request and as finished after it. A resumed run that finds "sending"
//!   without the outcome does not send again. A reprovision or resize reads the Cloud PC's
//!   status first: when it shows the request was accepted, the step is done; otherwise (and for
//!   mails and tickets) it is reported as "outcome unknown, not resent" (at most once, never twice).
//!
//! [`run_operation`] plans an operation (first run only), runs it resumably and returns the
//! result document's body, or "parked".

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use w365_graph::Client;
use w365_graph::models::CloudPcStatus;

use crate::assign::{self, AssignOptions, AssignPath, AssignReport, Blocked};
use crate::cloud_pc::{self, ActionReport};
use crate::error::{Error, ErrorKind, GraphContext, Result};
use crate::execute::{
    CloudPcReport, Event, ExecState, Executor, MailKind, MailReport, Observer, StepOutcome,
    StepReport, Waits, cloud_pc_report,
};
use crate::plan::{GroupRole, Plan, Step, TicketDetails};
use crate::spec::ValidatedInput;
use crate::unassign::{self, UnassignReport};
use crate::wait::WaitPolicy;

/// Version of the checkpoint format.
pub const CHECKPOINT_VERSION: u32 = 1;

/// What a resumed run needs: the plan, what is done, and the step in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub version: u32,
    pub operation: String,
    pub plan: Plan,
    /// The operation's report as planning left it; the steps, Cloud PC and mails are added at the end.
    pub report: Value,
    /// Finished steps, in plan order (entry `i` is step `i`).
    pub done: Vec<StepRecord>,
    /// The step that was under way when the checkpoint was written.
    pub current: Option<InFlight>,
    pub cloud_pc: Option<CloudPcReport>,
    pub mails: Vec<MailReport>,
    /// Graph requests made by all runs so far.
    pub graph_requests: u64,
    /// Operation-specific state (assign: why the plan is blocked, whether the undo was added).
    #[serde(default)]
    pub extra: Value,
    /// The step that failed in the last run (not done: a retried run does it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<StepReport>,
}

/// A finished step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    #[serde(flatten)]
    pub report: StepReport,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
}

/// The step in flight: a wait's cursor, or a send that was started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlight {
    pub index: usize,
    pub phase: Phase,
    /// When the step (for a wait: the wait) began; a wait's bound counts from here.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// How often the wait parked so far (backs off the next check).
    pub parks: u32,
    pub last_state: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// A wait that parked; it is checked again when the job resumes.
    Waiting,
    /// A mail or action request was about to be sent; its outcome is not known.
    Sending,
}

/// How a resumable run ended this time.
#[derive(Debug)]
pub enum Progress {
    /// Every step ran (or one failed: the error).
    Finished(Result<()>),
    /// A wait is not over: resume at `until`. The checkpoint was saved.
    Parked {
        until: OffsetDateTime,
        reason: String,
    },
    /// Cancellation was requested; stopped at a step boundary. The checkpoint was saved.
    Cancelled,
}

/// Where checkpoints go (the job store); also tells whether the job was cancelled.
pub trait CheckpointSink: Send + Sync {
    /// Saves the checkpoint durably before returning: a barrier, used for the plan before the
    /// first step and before and after a step that runs at most once (a mail, a Cloud PC action).
    fn save(
        &self,
        checkpoint: &Checkpoint,
    ) -> impl std::future::Future<Output = std::result::Result<(), String>> + Send;
    /// Saves the checkpoint soon: at the latest with the run's outcome (a park, a finish), and
    /// in a worker within a moment. A run interrupted before then resumes from the checkpoint
    /// before and repeats the steps since, which converge (a membership add finds the member,
    /// a wait checks again), so the steps between barriers cost no write each.
    fn save_soon(
        &self,
        checkpoint: &Checkpoint,
    ) -> impl std::future::Future<Output = std::result::Result<(), String>> + Send {
        self.save(checkpoint)
    }
    /// Whether cancellation was requested (checked at step boundaries).
    fn cancel_requested(&self) -> impl std::future::Future<Output = bool> + Send {
        async { false }
    }
}

/// The checkpoint could not be saved: the run stopped (a lost lease, a store error).
#[derive(Debug, thiserror::Error)]
#[error("could not save the checkpoint: {0}")]
pub struct CheckpointError(pub String);

/// Tuning of job mode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResumeOptions {
    /// A wait checks for at most this long before it parks (zero: one check, then park).
    pub inline_wait: Duration,
}

impl Default for ResumeOptions {
    fn default() -> Self {
        Self {
            inline_wait: Duration::from_secs(5),
        }
    }
}

impl Step {
    /// Sends something that must not be sent twice (a mail, a ticket, a Cloud PC action).
    pub fn at_most_once(&self) -> bool {
        matches!(
            self,
            Step::SendReadyMail { .. }
                | Step::SendOutOfLicensesTicket { .. }
                | Step::SendReprovisioningMail { .. }
                | Step::RunCloudPcAction { .. }
        )
    }

    /// The waits this step polls with, if it is a wait (first: the one that paces parking).
    fn waits_of(&self, w: &Waits) -> Option<Vec<WaitPolicy>> {
        match self {
            Step::WaitForGroupMemberships { .. } => Some(vec![w.memberships]),
            Step::ConfirmLicenseAssigned { .. } => Some(vec![w.license]),
            Step::WaitForCloudPc { .. } => Some(vec![w.provisioning, w.cloud_pc_appears]),
            Step::EndGracePeriod { .. } => Some(vec![w.cloud_pc_appears]),
            _ => None,
        }
    }
}

fn elapsed_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn since(t: OffsetDateTime) -> Duration {
    let d = OffsetDateTime::now_utc() - t;
    d.try_into().unwrap_or(Duration::ZERO)
}

/// Every wait bounded by `bound` instead of its own timeout.
fn bounded(waits: &Waits, bound: Duration, resumed: bool) -> Waits {
    let b = |p: WaitPolicy| {
        let mut p = p.with_timeout(bound);
        // A resumed wait has waited (parked) already: its checks come at the policy's intervals.
        if resumed {
            p.second_check_after = Duration::ZERO;
        }
        p
    };
    Waits {
        memberships: b(waits.memberships),
        license: b(waits.license),
        cloud_pc_appears: b(waits.cloud_pc_appears),
        provisioning: b(waits.provisioning),
    }
}

/// Runs `cp.plan` from where the checkpoint left it.
pub async fn run_resumable<S: CheckpointSink>(
    client: &Client,
    waits: Waits,
    observer: &dyn Observer,
    cp: &mut Checkpoint,
    opts: &ResumeOptions,
    sink: &S,
) -> std::result::Result<Progress, CheckpointError> {
    let total = cp.plan.len();
    let mut state = ExecState {
        steps: cp.done.iter().map(|r| r.report.clone()).collect(),
        cloud_pc: cp.cloud_pc.clone(),
        mails: cp.mails.clone(),
    };
    cp.failed = None;
    while cp.done.len() < total {
        let index = cp.done.len();
        let step = cp.plan.steps[index].clone();
        if sink.cancel_requested().await {
            return Ok(Progress::Cancelled);
        }
        let in_flight = cp.current.clone().filter(|c| c.index == index);
        observer.on_event(&Event::StepStarted {
            index,
            total,
            step: &step,
        });
        let started = std::time::Instant::now();
        let result: Result<StepOutcome> = match (&in_flight, step.waits_of(&waits)) {
            (
                Some(InFlight {
                    phase: Phase::Sending,
                    started_at,
                    ..
                }),
                _,
            ) => match reconcile_action(client, &step, *started_at).await {
                Err(e) => Err(e),
                Ok(Some(outcome)) => {
                    if let StepOutcome::Done { detail } = &outcome {
                        observer.on_event(&Event::Note(detail));
                    }
                    Ok(outcome)
                }
                Ok(None) => {
                    let note = format!(
                        "outcome unknown, not resent: the run stopped while this was being sent ({}); check the recipient or the Cloud PC before repeating it",
                        started_at
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default()
                    );
                    observer.on_event(&Event::Note(&note));
                    Ok(StepOutcome::Skipped { reason: note })
                }
            },
            (_, Some(policies)) => {
                let cursor = match in_flight {
                    Some(c) if c.phase == Phase::Waiting => c,
                    _ => InFlight {
                        index,
                        phase: Phase::Waiting,
                        started_at: OffsetDateTime::now_utc(),
                        parks: 0,
                        last_state: None,
                    },
                };
                let budget: Duration = policies.iter().map(|p| p.timeout).sum();
                let remaining = budget.saturating_sub(since(cursor.started_at));
                let bound = opts.inline_wait.min(remaining);
                let executor =
                    Executor::new(client, bounded(&waits, bound, cursor.parks > 0), observer);
                match executor.run_step(&step, &mut state).await {
                    Err(Error::TimedOut {
                        what, last_state, ..
                    }) if remaining > bound => {
                        let pace = policies[0];
                        let delay = pace.interval(cursor.parks).max(Duration::from_millis(1));
                        let until = OffsetDateTime::now_utc() + delay;
                        let reason = format!(
                            "waiting for {what}{}; next check at {}",
                            last_state
                                .as_deref()
                                .map(|s| format!(" (now: {s})"))
                                .unwrap_or_default(),
                            until
                                .format(&time::format_description::well_known::Rfc3339)
                                .unwrap_or_default()
                        );
                        cp.current = Some(InFlight {
                            parks: cursor.parks + 1,
                            last_state,
                            ..cursor
                        });
                        cp.cloud_pc = state.cloud_pc.clone();
                        save_soon(sink, cp).await?;
                        return Ok(Progress::Parked { until, reason });
                    }
                    Err(Error::TimedOut {
                        what, last_state, ..
                    }) => Err(Error::TimedOut {
                        what,
                        waited: since(cursor.started_at),
                        last_state,
                    }),
                    other => other,
                }
            }
            (_, None) => {
                if step.at_most_once() {
                    cp.current = Some(InFlight {
                        index,
                        phase: Phase::Sending,
                        started_at: OffsetDateTime::now_utc(),
                        parks: 0,
                        last_state: None,
                    });
                    save(sink, cp).await?;
                }
                Executor::new(client, waits, observer)
                    .run_step(&step, &mut state)
                    .await
            }
        };
        let outcome = match &result {
            Ok(outcome) => outcome.clone(),
            Err(e @ Error::TimedOut { .. }) => StepOutcome::TimedOut {
                detail: e.to_string(),
            },
            Err(e) => StepOutcome::Failed {
                error: e.to_string(),
            },
        };
        observer.on_event(&Event::StepFinished {
            index,
            total,
            step: &step,
            outcome: &outcome,
        });
        let report = StepReport {
            step,
            outcome,
            elapsed_ms: elapsed_ms(started.elapsed()),
        };
        state.steps.push(report.clone());
        cp.current = None;
        cp.cloud_pc = state.cloud_pc.clone();
        cp.mails = state.mails.clone();
        let at_most_once = report.step.at_most_once();
        match result {
            Ok(_) => {
                cp.done.push(StepRecord {
                    report,
                    finished_at: OffsetDateTime::now_utc(),
                });
                // What a step that runs at most once did is on disk before the run goes on;
                // the others are repeated harmlessly if the run is cut off before the next save.
                if at_most_once {
                    save(sink, cp).await?;
                } else {
                    save_soon(sink, cp).await?;
                }
            }
            Err(e) => {
                // Not "done": a retried run does this step again (a failed send sent nothing).
                cp.failed = Some(report);
                save_soon(sink, cp).await?;
                return Ok(Progress::Finished(Err(e)));
            }
        }
    }
    Ok(Progress::Finished(Ok(())))
}

/// A reprovision or resize whose request was started ("sending") but whose outcome was not
/// recorded: the Cloud PC's status tells whether Windows 365 accepted it. `Some(Done)` when it
/// did; `None` when the status cannot tell (then the step is reported unknown, never resent).
///
/// Both actions answer 204 and then run asynchronously
/// (https://learn.microsoft.com/en-us/graph/api/cloudpc-reprovision?view=graph-rest-1.0,
/// https://learn.microsoft.com/en-us/graph/api/cloudpc-resize?view=graph-rest-1.0); the
/// `cloudPcStatus` members `provisioning`, `resizing` and `resizePendingLicense` are listed at
/// https://learn.microsoft.com/en-us/graph/api/resources/cloudpcstatussummary?view=graph-rest-beta.
/// Evidence that the request was accepted:
/// - reprovision: the Cloud PC is `provisioning` again, or was provisioned after the send began;
/// - resize: the Cloud PC is `resizing` or `resizePendingLicense`, or already has the target
///   service plan.
///
/// A Cloud PC that still looks untouched is not proof that the request was lost: the actions
/// are asynchronous (204 first, the status changes later), so that case stays unknown.
async fn reconcile_action(
    client: &Client,
    step: &Step,
    started_at: OffsetDateTime,
) -> Result<Option<StepOutcome>> {
    let Step::RunCloudPcAction { cloud_pc, action } = step else {
        return Ok(None);
    };
    if !matches!(
        action,
        crate::plan::CloudPcAction::Reprovision | crate::plan::CloudPcAction::Resize { .. }
    ) {
        return Ok(None);
    }
    let pc = match client.cloud_pcs().get(&cloud_pc.id).await {
        Ok(pc) => pc,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => {
            return Err(e).graph_ctx(
                || {
                    format!(
                        "read the Cloud PC {cloud_pc} to learn whether the {action} was accepted"
                    )
                },
                crate::execute::permissions::READ_CLOUD_PCS,
            );
        }
    };
    let status = pc.status.clone();
    let accepted = match action {
        crate::plan::CloudPcAction::Reprovision => {
            status == Some(CloudPcStatus::Provisioning)
                || pc.provisioned_date_time.is_some_and(|t| t >= started_at)
        }
        crate::plan::CloudPcAction::Resize {
            target_service_plan_id,
            ..
        } => {
            matches!(
                status,
                Some(CloudPcStatus::Resizing | CloudPcStatus::ResizePendingLicense)
            ) || pc
                .service_plan_id
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(target_service_plan_id))
        }
        _ => false,
    };
    Ok(accepted.then(|| StepOutcome::Done {
        detail: format!(
            "accepted by Windows 365 (found when resuming an interrupted run: the Cloud PC is {}); not sent again",
            crate::cloud_pc::status_name(&pc)
        ),
    }))
}

async fn save<S: CheckpointSink>(
    sink: &S,
    cp: &Checkpoint,
) -> std::result::Result<(), CheckpointError> {
    sink.save(cp).await.map_err(CheckpointError)
}

async fn save_soon<S: CheckpointSink>(
    sink: &S,
    cp: &Checkpoint,
) -> std::result::Result<(), CheckpointError> {
    sink.save_soon(cp).await.map_err(CheckpointError)
}

/// What a run of an operation in job mode came to.
#[derive(Debug)]
pub enum JobRun {
    /// Finished: the result document's body (the operation's report) and the error, if it failed.
    Done { body: Value, error: Option<Error> },
    /// Waiting: resume at `until` (the checkpoint was saved).
    Parked {
        until: OffsetDateTime,
        reason: String,
    },
    /// Stopped at a step boundary because cancellation was requested.
    Cancelled { body: Value },
}

/// What the worker knows about the run besides the input.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// The waits for the tenant (realistic, or the sandbox's).
    pub waits: Waits,
    /// Recorded in the report and in tickets: the identity that asked.
    pub caller: String,
    /// The tenant profile (resize takes its group prefixes from it).
    pub profile: Option<crate::profile::Profile>,
}

/// Assign's state between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignExtra {
    /// Set when the plan only sends a ticket and then fails: (what, detail).
    blocked: Option<(String, String)>,
    /// The license engine reported CountViolation: the undo steps were added to the plan.
    count_violation: Option<String>,
    seats: bool,
}

fn what_static(what: &str) -> &'static str {
    if what == "licenses/seats" {
        "licenses/seats"
    } else {
        "licenses"
    }
}

fn ticket_recipient(mails: &[MailReport]) -> Option<String> {
    mails
        .iter()
        .find(|m| m.kind == MailKind::OutOfLicensesTicket)
        .map(|m| m.to.clone())
}

/// The checkpoint of a freshly planned operation, or the body of a failure to plan.
async fn plan_operation(
    client: &Client,
    input: &ValidatedInput,
    settings: &JobSettings,
    observer: &dyn Observer,
) -> std::result::Result<Checkpoint, (Value, Error)> {
    let new = |plan: Plan, report: Value, extra: Value| Checkpoint {
        version: CHECKPOINT_VERSION,
        operation: input.operation.clone(),
        plan,
        report,
        done: Vec::new(),
        current: None,
        cloud_pc: None,
        mails: Vec::new(),
        graph_requests: 0,
        extra,
        failed: None,
    };
    match input.operation.as_str() {
        "assign" => {
            let opts = assign_opts(input, settings);
            let mut report = AssignReport {
                requested_user: opts.user.clone(),
                caller: opts.caller.clone(),
                ..AssignReport::default()
            };
            match assign::plan(client, &opts, observer).await {
                Err(e) => Err((to_value(&report), e)),
                Ok(planned) => {
                    report.user = Some(planned.user.clone());
                    report.path = Some(planned.path.clone());
                    report.kept_memberships = planned.kept_memberships.clone();
                    report.capacity = planned.capacity.clone();
                    report.plan = planned.plan.clone();
                    report.blocked = planned.blocked.clone();
                    let extra = AssignExtra {
                        blocked: planned.blocked.as_ref().map(|b| match b {
                            Blocked::OutOfLicenses { what, detail } => {
                                ((*what).to_owned(), detail.clone())
                            }
                        }),
                        count_violation: None,
                        seats: matches!(planned.path, AssignPath::Frontline { .. }),
                    };
                    Ok(new(planned.plan, to_value(&report), to_value(&extra)))
                }
            }
        }
        "unassign" => {
            let mut opts = input.unassign_options();
            opts.waits = settings.waits;
            let mut report = UnassignReport {
                requested_user: opts.user.clone(),
                skip_grace_period: opts.skip_grace_period,
                ..UnassignReport::default()
            };
            match unassign::plan(client, &opts, observer).await {
                Err(e) => Err((to_value(&report), e)),
                Ok(planned) => {
                    report.user = Some(planned.user);
                    report.path = Some(planned.path);
                    report.cloud_pc = planned.cloud_pc.clone();
                    report.groups = planned.groups;
                    report.plan = planned.plan.clone();
                    let mut cp = new(planned.plan, to_value(&report), Value::Null);
                    cp.cloud_pc = planned.cloud_pc;
                    Ok(cp)
                }
            }
        }
        "reprovision" => {
            let opts = input.reprovision_options();
            match crate::reprovision::plan(client, &opts, observer).await {
                Err(f) => Err((to_value(&f.report), f.error)),
                Ok(report) => {
                    let mut cp = new(report.plan.clone(), to_value(&report), Value::Null);
                    // The reprovisioning mail names the Cloud PC.
                    cp.cloud_pc = report.cloud_pc;
                    Ok(cp)
                }
            }
        }
        "resize" => {
            let mut opts = input.resize_options(settings.profile.as_ref());
            opts.waits = settings.waits;
            match crate::resize::plan(client, &opts, observer).await {
                Err(f) => Err((to_value(&f.report), f.error)),
                Ok(report) => {
                    let mut cp = new(report.plan.clone(), to_value(&report), Value::Null);
                    cp.cloud_pc = report.cloud_pc;
                    Ok(cp)
                }
            }
        }
        _ => {
            let Some(opts) = input.action_options() else {
                return Err((
                    Value::Object(Default::default()),
                    Error::InvalidInput {
                        reason: format!(
                            "the operation '{}' cannot run as a resumable job",
                            input.operation
                        ),
                    },
                ));
            };
            let mut report = ActionReport {
                requested: opts.target.clone(),
                ..ActionReport::default()
            };
            match cloud_pc::plan_action(client, &opts).await {
                Err(e) => Err((to_value(&report), e)),
                Ok((pc, plan)) => {
                    report.cloud_pc = Some(cloud_pc_report(&pc));
                    report.plan = plan.clone();
                    Ok(new(plan, to_value(&report), Value::Null))
                }
            }
        }
    }
}

fn assign_opts(input: &ValidatedInput, settings: &JobSettings) -> AssignOptions {
    let mut opts = input.assign_options(settings.caller.clone());
    opts.waits = settings.waits;
    input.apply_wait_timeout(&mut opts.waits);
    opts
}

fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Whether an operation runs resumably (checkpoints, parking); the others cannot run as jobs.
pub fn is_resumable(operation: &str) -> bool {
    matches!(operation, "assign" | "unassign" | "reprovision" | "resize")
        || operation.starts_with("cloudpc.")
}

/// The body of the result document from a checkpoint: the planned report plus what ran.
fn body_of(cp: &Checkpoint) -> Value {
    let mut body = cp.report.clone();
    if let Value::Object(map) = &mut body {
        map.insert("plan".into(), to_value(&cp.plan));
        let steps: Vec<&StepReport> = cp
            .done
            .iter()
            .map(|r| &r.report)
            .chain(cp.failed.as_ref())
            .collect();
        map.insert("steps".into(), to_value(&steps));
        if cp.cloud_pc.is_some() {
            map.insert("cloudPc".into(), to_value(&cp.cloud_pc));
        }
        if map.contains_key("mails") || !cp.mails.is_empty() {
            map.insert("mails".into(), to_value(&cp.mails));
        }
        map.insert("graphRequests".into(), cp.graph_requests.into());
    }
    body
}

/// Runs an operation in job mode: plans it on the first run (saving the checkpoint), then runs
/// the plan resumably. `checkpoint` is what an earlier run saved (`None` or JSON null: none).
/// An operation that is not [`is_resumable`] is refused.
pub async fn run_operation<S: CheckpointSink>(
    client: &Client,
    input: &ValidatedInput,
    settings: &JobSettings,
    checkpoint: &Value,
    observer: &dyn Observer,
    opts: &ResumeOptions,
    sink: &S,
) -> std::result::Result<JobRun, CheckpointError> {
    let before = client.stats().requests;
    if !is_resumable(&input.operation) {
        return Ok(JobRun::Done {
            body: json!({}),
            error: Some(Error::InvalidInput {
                reason: format!("the operation '{}' cannot run as a job", input.operation),
            }),
        });
    }
    // A job started by an earlier w365, which ran reprovision and resize in one go, left only
    // the mark that it started: its outcome is unknown, so it is not repeated.
    if let Some(started) = checkpoint
        .pointer("/report/startedAt")
        .and_then(Value::as_str)
        .filter(|_| checkpoint.get("version").and_then(Value::as_u64) == Some(0))
    {
        return Ok(JobRun::Done {
            body: json!({ "requestedUser": input.str("user") }),
            error: Some(Error::InvalidInput {
                reason: format!(
                    "outcome unknown, not repeated: a run of this {} started at {started} (by an earlier w365, in one go) was interrupted; check the Cloud PC, then submit it again if needed",
                    input.operation
                ),
            }),
        });
    }
    let mut cp = match serde_json::from_value::<Checkpoint>(checkpoint.clone()) {
        Ok(cp) if cp.version == CHECKPOINT_VERSION && cp.operation == input.operation => {
            observer.on_event(&Event::Note(&format!(
                "resuming: {} of {} steps done",
                cp.done.len(),
                cp.plan.len()
            )));
            cp
        }
        _ => match plan_operation(client, input, settings, observer).await {
            Ok(mut cp) => {
                cp.graph_requests = client.stats().requests.saturating_sub(before);
                // A barrier: the first step changes the tenant, and a run cut off after it with
                // no plan on disk would plan again against the changed tenant (finding, say, the
                // user already licensed by its own first run, and failing instead of going on).
                sink.save(&cp).await.map_err(CheckpointError)?;
                cp
            }
            Err((mut body, error)) => {
                if let Value::Object(map) = &mut body {
                    map.insert(
                        "graphRequests".into(),
                        client.stats().requests.saturating_sub(before).into(),
                    );
                }
                return Ok(JobRun::Done {
                    body,
                    error: Some(error),
                });
            }
        },
    };
    let planned_requests = cp.graph_requests;
    let run_start = client.stats().requests;
    let account = |cp: &mut Checkpoint| {
        cp.graph_requests = planned_requests + client.stats().requests.saturating_sub(run_start);
    };
    loop {
        let progress = run_resumable(client, settings.waits, observer, &mut cp, opts, sink).await?;
        account(&mut cp);
        let result = match progress {
            Progress::Parked { until, reason } => {
                // Written with the park, in one transaction.
                sink.save_soon(&cp).await.map_err(CheckpointError)?;
                return Ok(JobRun::Parked { until, reason });
            }
            Progress::Cancelled => return Ok(JobRun::Cancelled { body: body_of(&cp) }),
            Progress::Finished(result) => result,
        };
        if cp.operation == "assign" {
            let mut extra: AssignExtra =
                serde_json::from_value(cp.extra.clone()).unwrap_or_default();
            match result {
                Err(Error::LicenseCountViolation { sku }) if extra.count_violation.is_none() => {
                    // The race for the last unit was lost: undo the license membership, ticket, stop.
                    let opts = assign_opts(input, settings);
                    if let Some(undo) = count_violation_undo(&cp, &opts, extra.seats) {
                        cp.plan.steps.extend(undo);
                        extra.count_violation = Some(sku);
                        cp.extra = to_value(&extra);
                        sink.save_soon(&cp).await.map_err(CheckpointError)?;
                        continue;
                    }
                    return Ok(done(&cp, Some(Error::LicenseCountViolation { sku })));
                }
                Err(e) => return Ok(done(&cp, Some(e))),
                Ok(()) => {
                    let ticket_sent_to = ticket_recipient(&cp.mails);
                    if let Some(sku) = &extra.count_violation {
                        let what = if extra.seats {
                            "licenses/seats"
                        } else {
                            "licenses"
                        };
                        let user = cp.report["user"]["userPrincipalName"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        return Ok(done(
                            &cp,
                            Some(Error::OutOfLicenses {
                                what,
                                detail: format!(
                                    "another assignment took the last {sku} license; {user} was removed from the license group again"
                                ),
                                ticket_sent_to,
                            }),
                        ));
                    }
                    if let Some((what, detail)) = extra.blocked {
                        return Ok(done(
                            &cp,
                            Some(Error::OutOfLicenses {
                                what: what_static(&what),
                                detail,
                                ticket_sent_to,
                            }),
                        ));
                    }
                    return Ok(done(&cp, None));
                }
            }
        }
        if cp.operation == "resize" {
            match result {
                Err(Error::LicenseCountViolation { sku }) if cp.extra.is_null() => {
                    // Lost the race for the last unit: leave no user in a license group without
                    // its license (as the CLI's resize does), then report it.
                    let Some(undo) = resize_undo(&cp) else {
                        return Ok(done(&cp, Some(Error::LicenseCountViolation { sku })));
                    };
                    cp.plan.steps.push(undo);
                    cp.extra = json!({ "countViolation": sku });
                    sink.save_soon(&cp).await.map_err(CheckpointError)?;
                    continue;
                }
                Ok(()) if cp.extra.get("countViolation").is_some() => {
                    let sku = cp.extra["countViolation"].as_str().unwrap_or_default();
                    let name = |k: &str| {
                        cp.report[k]["displayName"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let user = cp.report["user"]["userPrincipalName"]
                        .as_str()
                        .unwrap_or_default();
                    let detail = format!(
                        "another assignment took the last {sku} license; {user} was removed from '{}' again and keeps '{}' (the resize waits for the license)",
                        name("to"),
                        name("from")
                    );
                    return Ok(done(
                        &cp,
                        Some(Error::OutOfLicenses {
                            what: "licenses",
                            detail,
                            ticket_sent_to: None,
                        }),
                    ));
                }
                other => return Ok(done(&cp, other.err())),
            }
        }
        return Ok(done(&cp, result.err()));
    }
}

/// Resize's undo after CountViolation: the user leaves the `to` license group again.
fn resize_undo(cp: &Checkpoint) -> Option<Step> {
    Some(Step::RemoveUserFromGroup {
        user: serde_json::from_value(cp.report.get("user")?.clone()).ok()?,
        group: serde_json::from_value(cp.report.get("to")?.clone()).ok()?,
        role: GroupRole::License,
        reason: "the license engine reported CountViolation".into(),
    })
}

fn done(cp: &Checkpoint, error: Option<Error>) -> JobRun {
    JobRun::Done {
        body: body_of(cp),
        error,
    }
}

/// The steps that undo a license membership after CountViolation, plus the ticket if enabled.
fn count_violation_undo(cp: &Checkpoint, opts: &AssignOptions, seats: bool) -> Option<Vec<Step>> {
    let path: Value = cp.report.get("path")?.clone();
    let user = serde_json::from_value(cp.report.get("user")?.clone()).ok()?;
    let (group, role, license_name, sku_part_number) = if seats {
        let g: crate::plan::GroupRef =
            serde_json::from_value(path.get("assignmentGroup")?.clone()).ok()?;
        let plan_name = path.get("servicePlanName")?.as_str()?.to_owned();
        (
            g.clone(),
            GroupRole::FrontlineAssignment,
            g.display_name,
            plan_name,
        )
    } else {
        let g: crate::plan::GroupRef =
            serde_json::from_value(path.get("licenseGroup")?.clone()).ok()?;
        let sku = path.get("sku")?.get("skuPartNumber")?.as_str()?.to_owned();
        (g.clone(), GroupRole::License, g.display_name, sku)
    };
    let mut steps = vec![Step::RemoveUserFromGroup {
        user,
        group,
        role,
        reason: "the license engine reported CountViolation".into(),
    }];
    // As planning does: a ticket needs its queue, its sender and its customer id.
    if opts.ticket_when_out_of_licenses
        && let (Some(to), Some(from), Some(customer_id)) = (
            opts.ticket_queue.clone(),
            opts.from_mailbox.clone(),
            opts.ticket_customer_id.clone(),
        )
    {
        steps.push(Step::SendOutOfLicensesTicket {
            from,
            to,
            ticket: TicketDetails {
                customer_id,
                license_name,
                sku_part_number,
                caller: opts.caller.clone(),
                user_principal_name: cp.report["user"]["userPrincipalName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                seats,
            },
        });
    }
    Some(steps)
}

/// The exit code and stable kind string of an error kind (the CLI's exit codes, ARCHITECTURE.md).
pub fn exit_code(kind: ErrorKind) -> (u8, &'static str) {
    match kind {
        ErrorKind::Validation => (11, "refusedByValidation"),
        ErrorKind::NotFound => (3, "notFound"),
        ErrorKind::Ambiguous => (4, "ambiguousName"),
        ErrorKind::OutOfCapacity => (5, "outOfLicenses"),
        ErrorKind::AlreadyAssigned => (6, "alreadyAssigned"),
        ErrorKind::ProvisioningFailed => (7, "provisioningFailed"),
        ErrorKind::TimedOut => (8, "timedOut"),
        ErrorKind::Permission => (9, "permissionDenied"),
        ErrorKind::Unavailable => (10, "graphUnavailable"),
        _ => (1, "unexpected"),
    }
}

/// The error object of a result document: kind, message, chain of causes, hint.
pub fn error_object(error: &Error) -> Value {
    let (_, kind) = exit_code(error.kind());
    let mut chain = Vec::new();
    let mut current = std::error::Error::source(error);
    while let Some(e) = current {
        chain.push(e.to_string());
        current = e.source();
    }
    chain.dedup();
    json!({
        "kind": kind,
        "message": error.to_string(),
        "chain": chain,
        "hint": error.hint(),
    })
}

/// The CLI's JSON result document (`--output json`) for an operation run as a job.
pub fn document(command: &str, tenant: &str, body: &Value, error: Option<&Error>) -> Value {
    let code = error.map_or(0, |e| exit_code(e.kind()).0);
    let mut doc = json!({
        "schemaVersion": 1,
        "command": command,
        "tenant": tenant,
        "ok": error.is_none(),
        "exitCode": code,
        "error": error.map(error_object),
    });
    if let (Value::Object(doc), Value::Object(body)) = (&mut doc, body) {
        for (k, v) in body {
            doc.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_through_json() {
        let cp = Checkpoint {
            version: CHECKPOINT_VERSION,
            operation: "assign".into(),
            plan: Plan::new(),
            report: json!({"requestedUser": "a@b.c"}),
            done: vec![],
            current: Some(InFlight {
                index: 3,
                phase: Phase::Sending,
                started_at: OffsetDateTime::UNIX_EPOCH,
                parks: 0,
                last_state: None,
            }),
            cloud_pc: None,
            mails: vec![],
            graph_requests: 7,
            extra: to_value(&AssignExtra::default()),
            failed: None,
        };
        let json = serde_json::to_value(&cp).unwrap();
        assert_eq!(json["current"]["phase"], "sending");
        let back: Checkpoint = serde_json::from_value(json).unwrap();
        assert_eq!(back, cp);
    }

    #[test]
    fn documents_carry_the_exit_code_and_the_body() {
        let e = Error::UserNotFound {
            upn: "x@y.z".into(),
        };
        let doc = document(
            "assign",
            "sandbox",
            &json!({"requestedUser": "x@y.z"}),
            Some(&e),
        );
        assert_eq!(doc["exitCode"], 3);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["error"]["kind"], "notFound");
        assert_eq!(doc["requestedUser"], "x@y.z");
    }
}
