//! Job mode against the simulator over HTTP: checkpoints after every step, long waits park instead
//! of polling, a resumed run skips finished steps, and a mail whose send was interrupted is never
//! sent twice. The checkpoints go to an in-memory sink; the virtual clock is advanced by the test.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use w365_ops::execute::{Silent, Waits};
use w365_ops::plan::Step;
use w365_ops::profile::Profile;
use w365_ops::resume::{
    Checkpoint, CheckpointSink, JobRun, JobSettings, Phase, ResumeOptions, run_operation,
};
use w365_ops::spec::{self, ValidatedInput};
use w365_testkit::TestSim;

use crate::common::mails_to;

const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
/// The seed leaves exactly one unit of this SKU free.
const LIC_256: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";
/// CPC_E_2C_4GB_256GB's Windows 365 service plan.
const PLAN_256: &str = "0d143570-9b92-4f57-adb5-e4efcd23b3bb";

/// Keeps the last checkpoint; can refuse saves from the n-th on (a worker that dies).
#[derive(Default)]
struct MemorySink {
    saved: Mutex<Option<Value>>,
    saves: Mutex<u32>,
    fail_from: Option<u32>,
}

impl MemorySink {
    fn checkpoint(&self) -> Value {
        self.saved.lock().unwrap().clone().unwrap_or(Value::Null)
    }
}

impl CheckpointSink for MemorySink {
    async fn save(&self, cp: &Checkpoint) -> Result<(), String> {
        let mut n = self.saves.lock().unwrap();
        *n += 1;
        if self.fail_from.is_some_and(|k| *n >= k) {
            return Err("the worker died".into());
        }
        *self.saved.lock().unwrap() = Some(serde_json::to_value(cp).unwrap());
        Ok(())
    }
}

fn input(values: Value) -> ValidatedInput {
    input_of("assign", values)
}

fn input_of(operation: &str, values: Value) -> ValidatedInput {
    let spec = spec::operation(operation).unwrap();
    spec::validate(spec, values.as_object().unwrap(), Some(&Profile::sandbox())).unwrap()
}

fn settings() -> JobSettings {
    JobSettings {
        waits: Waits::uniform(Duration::from_millis(5), Duration::from_secs(60)),
        caller: "Helpdesk Hanna (hanna@contoso.com)".into(),
        profile: None,
    }
}

/// One check per run, then park.
const PARK_AT_ONCE: ResumeOptions = ResumeOptions {
    inline_wait: Duration::ZERO,
};

fn membership_adds(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/members/$ref"))
        .count()
}

#[tokio::test]
async fn a_long_wait_parks_and_the_resumed_run_skips_finished_steps() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let sink = MemorySink::default();
    let input = input(json!({"user": "megan.bowen@contoso.com", "notify": true}));
    let mut parks = 0;
    let body = loop {
        let checkpoint = sink.checkpoint();
        let run = run_operation(
            &client,
            &input,
            &settings(),
            &checkpoint,
            &Silent,
            &PARK_AT_ONCE,
            &sink,
        )
        .await
        .unwrap();
        match run {
            JobRun::Parked { reason, .. } => {
                parks += 1;
                assert!(reason.starts_with("waiting for"), "{reason}");
                let cp: Checkpoint = serde_json::from_value(sink.checkpoint()).unwrap();
                let cursor = cp.current.expect("a parked wait keeps its cursor");
                assert_eq!(cursor.phase, Phase::Waiting);
                assert!(
                    cp.plan.steps[cursor.index].to_string().starts_with("wait")
                        || cp.plan.steps[cursor.index]
                            .to_string()
                            .starts_with("confirm")
                );
                assert!(parks < 200, "never finished");
                // The lifecycle moves on while the job is parked (no worker waits).
                sim.advance(Duration::from_secs(120)).await;
            }
            JobRun::Done { body, error: None } => break body,
            other => panic!("unexpected: {other:?}"),
        }
    };
    assert!(parks >= 2, "licensing and provisioning both park ({parks})");
    // Every step ran exactly once over all the runs.
    assert_eq!(
        membership_adds(&sim),
        3,
        "the three memberships were added once"
    );
    assert_eq!(mails_to(&sim, "megan.bowen@contoso.com"), 1);
    let steps = body["steps"].as_array().unwrap();
    assert_eq!(steps.len(), body["plan"].as_array().unwrap().len());
    assert!(steps.iter().all(|s| s["outcome"] == "done"), "{steps:#?}");
    assert_eq!(body["cloudPc"]["status"], "provisioned");
    assert_eq!(body["caller"], "Helpdesk Hanna (hanna@contoso.com)");
    assert!(body["graphRequests"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn an_interrupted_send_is_reported_unknown_and_not_resent() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let _clock = sim.drive_clock(Duration::from_secs(60), Duration::from_millis(5));
    let input = input(json!({"user": "megan.bowen@contoso.com", "notify": true}));
    let inline = ResumeOptions {
        inline_wait: Duration::from_secs(60),
    };
    // First run: everything up to the mail, then the worker "dies" right after sending it
    // (the save that would record the mail as sent fails).
    let probe = MemorySink::default();
    let cp = {
        // Count the saves of a full run to find the one after the mail.
        let run = run_operation(
            &client,
            &input,
            &settings(),
            &Value::Null,
            &Silent,
            &inline,
            &probe,
        )
        .await
        .unwrap();
        assert!(matches!(run, JobRun::Done { error: None, .. }), "{run:?}");
        *probe.saves.lock().unwrap()
    };
    assert_eq!(mails_to(&sim, "megan.bowen@contoso.com"), 1);

    // A second user, the same job shape; this time the last save (after the mail) fails.
    let input = self::input(json!({"user": "grace.wilson@contoso.com", "notify": true}));
    let dying = MemorySink {
        fail_from: Some(cp),
        ..MemorySink::default()
    };
    let err = run_operation(
        &client,
        &input,
        &settings(),
        &Value::Null,
        &Silent,
        &inline,
        &dying,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("the worker died"), "{err}");
    assert_eq!(
        mails_to(&sim, "grace.wilson@contoso.com"),
        1,
        "the mail went out"
    );
    let saved: Checkpoint = serde_json::from_value(dying.checkpoint()).unwrap();
    let current = saved
        .current
        .clone()
        .expect("the send was recorded before it was made");
    assert_eq!(current.phase, Phase::Sending);
    assert!(matches!(
        saved.plan.steps[current.index],
        Step::SendReadyMail { .. }
    ));

    // The resumed run (another worker) finds "sending" without "sent": it does not send again.
    let resumed = MemorySink::default();
    let run = run_operation(
        &client,
        &input,
        &settings(),
        &dying.checkpoint(),
        &Silent,
        &inline,
        &resumed,
    )
    .await
    .unwrap();
    let JobRun::Done { body, error: None } = run else {
        panic!("{run:?}")
    };
    assert_eq!(mails_to(&sim, "grace.wilson@contoso.com"), 1, "not resent");
    let last = body["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["step"]["action"], "sendReadyMail");
    assert_eq!(last["outcome"], "skipped");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .starts_with("outcome unknown, not resent"),
        "{last}"
    );
    // Nothing before the mail ran twice.
    let adds = sim
        .sim()
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/members/$ref"))
        .count();
    assert_eq!(adds, 6, "three memberships per user, none repeated");
}

#[tokio::test]
async fn a_plan_that_cannot_be_made_fails_without_a_checkpoint() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let _clock = sim.drive_clock(Duration::from_secs(60), Duration::from_millis(5));
    let input = input(json!({
        "user": "megan.bowen@contoso.com",
        "licenseGroup": LIC_128,
        "provisioningGroup": "no such group",
    }));
    let sink = MemorySink::default();
    let run = run_operation(
        &client,
        &input,
        &settings(),
        &Value::Null,
        &Silent,
        &ResumeOptions::default(),
        &sink,
    )
    .await
    .unwrap();
    let JobRun::Done {
        body,
        error: Some(error),
    } = run
    else {
        panic!("{run:?}")
    };
    assert_eq!(error.kind(), w365_ops::ErrorKind::NotFound, "{error}");
    assert_eq!(body["requestedUser"], "megan.bowen@contoso.com");
    // Planning failed: nothing was saved, nothing changed.
    assert_eq!(sink.checkpoint(), Value::Null);
    assert_eq!(membership_adds(&sim), 0);
}

// ---- reprovision and resize: the Cloud PC action is at most once, the rest resumes ----------

/// The Cloud PC action requests (`POST .../cloudPCs/{id}/<action>`) the simulator received.
fn action_posts(sim: &TestSim, action: &str) -> usize {
    let suffix = format!("/{action}");
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| {
            r.method == "POST" && r.path.contains("/cloudPCs/") && r.path.ends_with(&suffix)
        })
        .count()
}

/// Runs (and resumes after every park, advancing the virtual clock) until the job is done.
async fn run_to_the_end(
    sim: &TestSim,
    input: &ValidatedInput,
    checkpoint: Value,
) -> (Value, Option<w365_ops::Error>) {
    let client = sim.client();
    let sink = MemorySink::default();
    *sink.saved.lock().unwrap() = Some(checkpoint);
    for _ in 0..200 {
        let checkpoint = sink.checkpoint();
        let run = run_operation(
            &client,
            input,
            &settings(),
            &checkpoint,
            &Silent,
            &PARK_AT_ONCE,
            &sink,
        )
        .await
        .unwrap();
        match run {
            JobRun::Parked { .. } => sim.advance(Duration::from_secs(120)).await,
            JobRun::Done { body, error } => return (body, error),
            other => panic!("unexpected: {other:?}"),
        }
    }
    panic!("never finished");
}

/// A first run whose worker dies at its `n`-th checkpoint save; returns what it saved before.
async fn run_dying_at(sim: &TestSim, input: &ValidatedInput, n: u32) -> Value {
    let dying = MemorySink {
        fail_from: Some(n),
        ..MemorySink::default()
    };
    let err = run_operation(
        &sim.client(),
        input,
        &settings(),
        &Value::Null,
        &Silent,
        &PARK_AT_ONCE,
        &dying,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("the worker died"), "{err}");
    dying.checkpoint()
}

fn first_step(body: &Value) -> Value {
    body["steps"].as_array().unwrap()[0].clone()
}

fn reprovision_input() -> ValidatedInput {
    input_of(
        "reprovision",
        json!({"user": "alice.smith@contoso.com", "notify": true}),
    )
}

#[tokio::test]
async fn a_reprovision_interrupted_after_the_request_is_found_accepted_and_not_resent() {
    let sim = TestSim::contoso().await;
    let input = reprovision_input();
    // Saves: 1 the plan, 2 "sending" the reprovision, 3 its outcome (the worker dies here).
    let saved = run_dying_at(&sim, &input, 3).await;
    assert_eq!(action_posts(&sim, "reprovision"), 1, "the request went out");
    let cp: Checkpoint = serde_json::from_value(saved.clone()).unwrap();
    let current = cp.current.clone().expect("recorded as sending");
    assert_eq!((current.index, current.phase), (0, Phase::Sending));
    assert!(cp.done.is_empty());

    let (body, error) = run_to_the_end(&sim, &input, saved).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(action_posts(&sim, "reprovision"), 1, "not sent again");
    let first = first_step(&body);
    assert_eq!(first["step"]["action"], "runCloudPcAction");
    assert_eq!(first["outcome"], "done", "{first}");
    let detail = first["detail"].as_str().unwrap();
    assert!(
        detail.contains("found when resuming") && detail.contains("provisioning"),
        "{detail}"
    );
    // The rest of the plan ran once: the user got the one reprovisioning mail.
    assert_eq!(mails_to(&sim, "alice.smith@contoso.com"), 1);
    assert_eq!(body["steps"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_reprovision_interrupted_before_the_request_sends_it_once_when_resumed() {
    let sim = TestSim::contoso().await;
    let input = reprovision_input();
    // The save of "sending" fails: the worker died before the request.
    let saved = run_dying_at(&sim, &input, 2).await;
    assert_eq!(action_posts(&sim, "reprovision"), 0);
    let cp: Checkpoint = serde_json::from_value(saved.clone()).unwrap();
    assert!(cp.current.is_none() && cp.done.is_empty(), "{cp:?}");

    let (body, error) = run_to_the_end(&sim, &input, saved).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(action_posts(&sim, "reprovision"), 1);
    assert_eq!(first_step(&body)["detail"], "accepted by Windows 365");
    assert_eq!(mails_to(&sim, "alice.smith@contoso.com"), 1);
}

/// The checkpoint of a fresh plan of `input` (reads only).
async fn body_checkpoint(sim: &TestSim, input: &ValidatedInput) -> Value {
    let sink = MemorySink {
        fail_from: Some(2),
        ..MemorySink::default()
    };
    let _ = run_operation(
        &sim.client(),
        input,
        &settings(),
        &Value::Null,
        &Silent,
        &PARK_AT_ONCE,
        &sink,
    )
    .await;
    sink.checkpoint()
}

#[tokio::test]
async fn a_send_the_cloud_pc_status_cannot_confirm_is_reported_unknown_and_not_resent() {
    let sim = TestSim::contoso().await;
    let input = reprovision_input();
    // A plan whose reprovision was marked "sending" but never reached Windows 365: the Cloud PC
    // still looks untouched, which cannot tell "lost" from "accepted, not yet started".
    let mut cp: Checkpoint = serde_json::from_value(body_checkpoint(&sim, &input).await).unwrap();
    cp.current = Some(w365_ops::resume::InFlight {
        index: 0,
        phase: Phase::Sending,
        started_at: time::OffsetDateTime::now_utc(),
        parks: 0,
        last_state: None,
    });
    let (body, error) = run_to_the_end(&sim, &input, serde_json::to_value(&cp).unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        action_posts(&sim, "reprovision"),
        0,
        "never sent on a guess"
    );
    let first = first_step(&body);
    assert_eq!(first["outcome"], "skipped");
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .starts_with("outcome unknown, not resent"),
        "{first}"
    );
}

fn resize_input() -> ValidatedInput {
    input_of(
        "resize",
        json!({"user": "alice.smith@contoso.com", "from": LIC_128, "to": LIC_256, "notify": true}),
    )
}

async fn assert_resized(sim: &TestSim, body: &Value) {
    let steps = body["steps"].as_array().unwrap();
    assert_eq!(steps.len(), body["plan"].as_array().unwrap().len());
    assert!(steps.iter().all(|s| s["outcome"] == "done"), "{steps:#?}");
    assert_eq!(action_posts(sim, "resize"), 1, "the resize was sent once");
    assert_eq!(
        membership_adds(sim),
        1,
        "added to the new license group once"
    );
    assert_eq!(mails_to(sim, "alice.smith@contoso.com"), 1);
    let alice = sim
        .client()
        .cloud_pcs()
        .list_of_user("alice.smith@contoso.com")
        .await
        .unwrap();
    assert_eq!(alice.len(), 1, "{alice:#?}");
    assert_eq!(alice[0].service_plan_id.as_deref(), Some(PLAN_256));
}

#[tokio::test]
async fn a_resize_interrupted_after_the_request_resumes_parks_and_converges() {
    let sim = TestSim::contoso().await;
    let input = resize_input();
    let saved = run_dying_at(&sim, &input, 3).await;
    assert_eq!(action_posts(&sim, "resize"), 1);
    let cp: Checkpoint = serde_json::from_value(saved.clone()).unwrap();
    assert_eq!(cp.current.as_ref().map(|c| c.phase), Some(Phase::Sending));

    let (body, error) = run_to_the_end(&sim, &input, saved).await;
    assert!(error.is_none(), "{error:?}");
    let detail = first_step(&body)["detail"].as_str().unwrap().to_owned();
    // The user has not got the new license yet: the resize waits for it.
    assert!(detail.contains("resizePendingLicense"), "{detail}");
    assert_resized(&sim, &body).await;
}

#[tokio::test]
async fn a_resize_interrupted_before_the_request_sends_it_once_when_resumed() {
    let sim = TestSim::contoso().await;
    let input = resize_input();
    let saved = run_dying_at(&sim, &input, 2).await;
    assert_eq!(action_posts(&sim, "resize"), 0);
    let (body, error) = run_to_the_end(&sim, &input, saved).await;
    assert!(error.is_none(), "{error:?}");
    assert_resized(&sim, &body).await;
}

#[tokio::test]
async fn a_one_go_run_of_an_earlier_version_is_not_repeated() {
    let sim = TestSim::contoso().await;
    let input = reprovision_input();
    // What the one-go path of earlier versions saved before it reprovisioned.
    let marker = json!({
        "version": 0,
        "operation": "reprovision",
        "plan": [],
        "report": {"operation": "reprovision", "startedAt": "2026-11-30T10:00:00Z"},
        "done": [],
        "current": null,
        "cloudPc": null,
        "mails": [],
        "graphRequests": 0,
    });
    let sink = MemorySink::default();
    let run = run_operation(
        &sim.client(),
        &input,
        &settings(),
        &marker,
        &Silent,
        &PARK_AT_ONCE,
        &sink,
    )
    .await
    .unwrap();
    let JobRun::Done {
        error: Some(error), ..
    } = run
    else {
        panic!("{run:?}")
    };
    assert!(
        error.to_string().contains("outcome unknown, not repeated"),
        "{error}"
    );
    assert_eq!(action_posts(&sim, "reprovision"), 0);
    assert!(sim.sim().request_log().is_empty(), "not even planned again");
}
