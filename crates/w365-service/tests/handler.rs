//! OpsHandler in a real worker on a SQLite store, against the simulator over HTTP: a job parks
//! while the Cloud PC provisions and finishes with the CLI's result document; errors are sorted
//! into retry (Graph unavailable only) and failed (validation, not found); the executor's progress
//! is the job's log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use w365_jobs::{Identity, Job, JobId, JobState, JobStore, NewJob, Worker, WorkerConfig};
use w365_ops::profile::ConfigFile;
use w365_ops::resume::ResumeOptions;
use w365_service::{HandlerOptions, OpsHandler, SANDBOX};
use w365_sim::faults::{FaultAction, FaultRule, Trigger};
use w365_testkit::TestSim;

struct Setup {
    sim: TestSim,
    store: Arc<dyn JobStore>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    worker: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Self {
        let sim = TestSim::contoso().await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("jobs.db").display());
        let store = w365_jobs::connect(&url).await.unwrap();
        let handler = OpsHandler::new(
            ConfigFile::default(),
            HandlerOptions {
                resume: ResumeOptions {
                    inline_wait: Duration::ZERO,
                },
                poll_interval: Some(Duration::from_millis(10)),
                retry: Some(TestSim::fast_retry()),
            },
        )
        .with_sandbox(sim.cloud(), sim.credential(&sim.sim().admin_app()));
        let worker = Worker::new(
            store.clone(),
            Arc::new(handler),
            WorkerConfig {
                id: "test-worker".into(),
                concurrency: 2,
                lease: Duration::from_secs(10),
                poll_interval: Duration::from_millis(20),
                ..WorkerConfig::default()
            },
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(async move {
            worker
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            sim,
            store,
            stop: Some(stop),
            worker: Some(worker),
            _dir: dir,
        }
    }

    async fn submit(&self, operation: &str, tenant: &str, input: Value) -> JobId {
        let (job, _) = self
            .store
            .insert(NewJob {
                operation: operation.into(),
                tenant: tenant.into(),
                input,
                target: None,
                requested_by: Identity {
                    object_id: "00000000-0000-0000-0000-0000000000aa".into(),
                    upn: "hanna@contoso.com".into(),
                    display_name: "Helpdesk Hanna".into(),
                },
                idempotency_key: None,
                run_at: None,
                max_attempts: 3,
                request_id: None,
            })
            .await
            .unwrap();
        job.id
    }

    /// Polls the job until `done` holds, advancing the virtual clock when `clock` is set.
    async fn until(&self, id: JobId, clock: bool, done: impl Fn(&Job) -> bool) -> Job {
        let started = Instant::now();
        loop {
            let job = self.store.get(id).await.unwrap().unwrap();
            if done(&job) {
                return job;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "job stuck in {:?}: {:?}",
                job.state,
                job.error
            );
            if clock {
                self.sim.advance(Duration::from_secs(60)).await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn log(&self, id: JobId) -> Vec<String> {
        self.store
            .log(id, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|l| format!("{} {}", l.level, l.message))
            .collect()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(worker) = self.worker.take() {
            worker.await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assign_job_parks_while_provisioning_and_returns_the_cli_document() {
    let s = Setup::start().await;
    let id = s
        .submit(
            "assign",
            SANDBOX,
            json!({"user": "megan.bowen@contoso.com", "notify": true}),
        )
        .await;
    // Nothing moves until the clock does: the job parks on a wait, holding no worker.
    let parked = s.until(id, false, |j| j.state == JobState::Parked).await;
    assert!(
        parked
            .parked_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("waiting for")),
        "{:?}",
        parked.parked_reason
    );
    assert!(
        parked.checkpoint["plan"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    let job = s.until(id, true, |j| j.state.is_terminal()).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let doc = job.result.clone().unwrap();
    assert_eq!(doc["schemaVersion"], 1);
    assert_eq!(doc["command"], "assign");
    assert_eq!(doc["tenant"], "sandbox");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["exitCode"], 0);
    assert_eq!(doc["caller"], "Helpdesk Hanna (hanna@contoso.com)");
    assert_eq!(doc["cloudPc"]["status"], "provisioned");
    assert_eq!(doc["mails"].as_array().unwrap().len(), 1);
    let log = s.log(id).await;
    assert!(
        log.iter().any(|l| l.starts_with("info planning:")),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|l| l.contains("parked: waiting for")),
        "{log:#?}"
    );
    assert!(
        log.iter().any(|l| l.starts_with("info resuming:")),
        "{log:#?}"
    );
    let steps = doc["steps"].as_array().unwrap().len();
    assert!(
        log.iter()
            .any(|l| l.starts_with(&format!("info step {steps}/{steps} done: mail sent"))),
        "{log:#?}"
    );
    s.stop().await;
}

/// Every Graph write of a job is taken first from the tenant's write budget in the job store
/// (shared by all worker processes), in chunks of `WRITE_BUDGET_CHUNK`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assign_jobs_writes_are_taken_from_the_tenants_shared_budget() {
    let s = Setup::start().await;
    // A big bucket that refills one write an hour: what is missing afterwards was taken.
    let capacity = 1000;
    s.store
        .set_tenant_limits(
            SANDBOX,
            w365_jobs::TenantLimits {
                max_running: 10,
                write_capacity: capacity,
                write_refill_per_hour: 1,
            },
        )
        .await
        .unwrap();
    let id = s
        .submit(
            "assign",
            SANDBOX,
            json!({"user": "megan.bowen@contoso.com", "notify": true}),
        )
        .await;
    let job = s.until(id, true, |j| j.state.is_terminal()).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let w365_jobs::BudgetGrant::Wait(wait) =
        s.store.take_write_budget(SANDBOX, capacity).await.unwrap()
    else {
        panic!("the job took nothing from the tenant's write budget");
    };
    let taken = (wait.as_secs_f64() / 3600.0).round() as u64;
    assert_eq!(
        taken % u64::from(w365_service::WRITE_BUDGET_CHUNK),
        0,
        "taken in chunks: {taken}"
    );
    // At least every directory write the simulator saw outside a $batch (a $batch's items count
    // one by one; the ready mail is not a directory write).
    let writes = s
        .sim
        .sim()
        .request_log()
        .iter()
        .filter(|r| w365_graph::is_directory_write(&r.method, &r.path))
        .count() as u64;
    assert!(writes > 0);
    assert!(taken >= writes, "taken {taken} < {writes} writes sent");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_not_found_fail_at_once_without_retry() {
    let s = Setup::start().await;
    // Invalid input (the stored input is validated again): every problem, no Graph call.
    let invalid = s
        .submit("assign", SANDBOX, json!({"user": "megan", "notify": "yes"}))
        .await;
    // A user that does not exist: planning fails, not found.
    let missing = s
        .submit("assign", SANDBOX, json!({"user": "nobody@contoso.com"}))
        .await;
    // A tenant the worker has no profile for.
    let unknown = s
        .submit(
            "assign",
            "fabrikam",
            json!({"user": "megan.bowen@contoso.com"}),
        )
        .await;
    let job = s.until(invalid, false, |j| j.state.is_terminal()).await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempt, 1);
    let error = job.error.unwrap();
    assert_eq!(error["kind"], "refusedByValidation");
    let params: Vec<&str> = error["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["param"].as_str().unwrap())
        .collect();
    assert_eq!(params, vec!["user", "notify"]);

    let job = s.until(missing, false, |j| j.state.is_terminal()).await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempt, 1);
    assert_eq!(job.error.as_ref().unwrap()["kind"], "notFound");
    let doc = job.result.unwrap();
    assert_eq!(doc["exitCode"], 3);
    assert_eq!(doc["requestedUser"], "nobody@contoso.com");

    let job = s.until(unknown, false, |j| j.state.is_terminal()).await;
    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.error.as_ref().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("no tenant profile named 'fabrikam'")
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_unavailable_is_retried_later() {
    let s = Setup::start().await;
    s.sim.sim().set_faults(vec![FaultRule {
        method: None,
        path: Some("/v1.0/users*".into()),
        tenant: None,
        action: FaultAction::Status {
            status: 503,
            retry_after_secs: None,
            http_date: false,
        },
        trigger: Trigger::Always,
    }]);
    let id = s
        .submit(
            "assign",
            SANDBOX,
            json!({"user": "megan.bowen@contoso.com"}),
        )
        .await;
    let job = s
        .until(id, false, |j| {
            j.state == JobState::Retryable || j.state.is_terminal()
        })
        .await;
    assert_eq!(job.state, JobState::Retryable, "{:?}", job.error);
    assert_eq!(job.error.as_ref().unwrap()["kind"], "graphUnavailable");
    // Graph recovers: the retry (after its backoff) succeeds.
    s.sim.sim().set_faults(vec![]);
    let job = s.until(id, true, |j| j.state.is_terminal()).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(job.attempt, 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_job_parks_for_the_license_and_the_cloud_pc_and_resizes_once() {
    let s = Setup::start().await;
    let id = s
        .submit(
            "resize",
            SANDBOX,
            json!({
                "user": "alice.smith@contoso.com",
                "from": "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB",
                "to": "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB",
                "notify": true,
            }),
        )
        .await;
    // Resumable now: the job parks (no worker held) instead of waiting inside one run.
    let parked = s.until(id, false, |j| j.state == JobState::Parked).await;
    assert_eq!(parked.checkpoint["operation"], "resize");
    let job = s.until(id, true, |j| j.state.is_terminal()).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let doc = job.result.clone().unwrap();
    assert_eq!(doc["command"], "resize");
    assert_eq!(doc["ok"], true);
    let steps = doc["steps"].as_array().unwrap();
    assert_eq!(steps.len(), doc["plan"].as_array().unwrap().len());
    assert!(steps.iter().all(|s| s["outcome"] == "done"), "{steps:#?}");
    let resizes = s
        .sim
        .sim()
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/resize"))
        .count();
    assert_eq!(resizes, 1);
    s.stop().await;
}
