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

const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";

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
    let spec = spec::operation("assign").unwrap();
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

fn mails_to(sim: &TestSim, address: &str) -> usize {
    sim.sim()
        .outbox()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.address.eq_ignore_ascii_case(address)))
        .count()
}

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
