//! The worker against both stores: runs, parks and resumes, cancels, retries, survives a lost
//! lease, and gives running jobs back on shutdown.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use w365_jobs::*;

use crate::common::TestDb;

/// A handler whose behaviour is chosen by the job's input `mode`.
#[derive(Default)]
struct TestHandler {
    current: AtomicUsize,
    max_current: AtomicUsize,
    runs: AtomicUsize,
    stopped: AtomicUsize,
}

struct StopGuard<'a>(&'a TestHandler, bool);
impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::SeqCst);
        if !self.1 {
            self.0.stopped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait::async_trait]
impl Handler for TestHandler {
    async fn run(&self, ctx: &JobContext) -> Finish {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_current.fetch_max(now, Ordering::SeqCst);
        let mut guard = StopGuard(self, false);
        let job = ctx.job();
        let mode = job.input["mode"].as_str().unwrap_or("succeed").to_string();
        ctx.log("info", &format!("attempt {} ({mode})", job.attempt))
            .await
            .unwrap();
        let out = match mode.as_str() {
            "succeed" => {
                // Give other jobs a chance to overlap.
                tokio::task::yield_now().await;
                Finish::Succeeded(json!({"attempt": job.attempt}))
            }
            "park_once" => {
                if job.checkpoint.is_null() {
                    ctx.checkpoint(&json!({"done": ["step1"]})).await.unwrap();
                    Finish::Park {
                        until: ctx.now() + Duration::from_secs(600),
                        reason: "waiting for provisioning".into(),
                    }
                } else {
                    Finish::Succeeded(json!({"resumedFrom": job.checkpoint}))
                }
            }
            "retry_once" => {
                if job.attempt == 1 {
                    Finish::Retry {
                        at: Some(ctx.now()),
                        error: json!({"kind": "graphUnavailable"}),
                    }
                } else {
                    Finish::Succeeded(json!({"attempt": job.attempt}))
                }
            }
            "steps_until_cancelled" => loop {
                if ctx.cancel_requested().await.unwrap() {
                    ctx.log("info", "cancel seen at a step boundary")
                        .await
                        .unwrap();
                    break Finish::Cancelled;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            },
            "live_log" => {
                ctx.log("info", "step 1/2").await.unwrap();
                ctx.checkpoint(&json!({"done": 1})).await.unwrap();
                ctx.log("info", "step 2/2: a long Graph call")
                    .await
                    .unwrap();
                // No checkpoint for a while: the worker writes the line by itself, so a reader
                // sees it while the job runs.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let log = ctx.store().log(job.id, 0).await.unwrap();
                    if log
                        .iter()
                        .any(|l| l.message == "step 2/2: a long Graph call")
                    {
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "the line was never written: {log:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                ctx.log("info", "step 2/2 done").await.unwrap();
                Finish::Succeeded(json!({"attempt": job.attempt}))
            }
            "staged" if job.checkpoint.is_null() => {
                // Staged, not written: visible in the store within LOG_FLUSH_AFTER while the
                // job still runs, replaced by the next one staged, which rides with the park.
                ctx.stage_checkpoint(json!({"done": 1})).unwrap();
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let stored = ctx.store().get(job.id).await.unwrap().unwrap();
                    if stored.checkpoint == json!({"done": 1}) {
                        assert_eq!(stored.state, JobState::Running);
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "the staged checkpoint was never written: {:?}",
                        stored.checkpoint
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                ctx.stage_checkpoint(json!({"done": 2})).unwrap();
                ctx.log("info", "waiting").await.unwrap();
                Finish::Park {
                    until: ctx.now() + Duration::from_secs(60),
                    reason: "waiting".into(),
                }
            }
            "staged" => {
                // A barrier replaces a staged checkpoint: the outcome does not write the older one.
                ctx.stage_checkpoint(json!({"done": 3})).unwrap();
                ctx.checkpoint(&json!({"done": 4})).await.unwrap();
                Finish::Succeeded(json!({"resumedFrom": job.checkpoint}))
            }
            "block_first_attempt" if job.attempt == 1 => std::future::pending().await,
            "block_first_attempt" => Finish::Succeeded(json!({"attempt": job.attempt})),
            "block" => std::future::pending().await,
            "budget" => match ctx.take_write_budget(5, Duration::ZERO).await.unwrap() {
                Ok(()) => Finish::Succeeded(json!({"wrote": 5})),
                Err(wait) => Finish::Park {
                    until: ctx.now() + wait,
                    reason: format!("write budget: {} ms", wait.as_millis()),
                },
            },
            other => Finish::Failed {
                error: json!({"kind": "unknownMode", "message": other}),
                result: None,
            },
        };
        guard.1 = true;
        out
    }
}

fn job(mode: &str) -> NewJob {
    NewJob::new("test", "contoso", json!({"mode": mode}), common::alice())
}

fn config(concurrency: usize, maintenance: bool) -> WorkerConfig {
    WorkerConfig {
        id: "test-worker".into(),
        concurrency,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        maintenance,
        shutdown_grace: Duration::ZERO,
    }
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<Result<()>>,
}

fn start(store: Arc<SqlStore>, handler: Arc<TestHandler>, cfg: WorkerConfig) -> Running {
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let w = Worker::new(store, handler, cfg);
    let done = tokio::spawn(w.run(async move {
        let _ = rx.await;
    }));
    Running { stop, done }
}

impl Running {
    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.done.await.unwrap().unwrap();
    }
}

/// Waits (up to 30 s) until the job satisfies `pred`; returns it.
async fn wait_for(s: &SqlStore, id: JobId, what: &str, pred: impl Fn(&Job) -> bool) -> Job {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let j = s.get(id).await.unwrap().unwrap();
        if pred(&j) {
            return j;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never became {what}: {j:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn worker_runs_jobs_with_bounded_concurrency(t: &TestDb) {
    let h = Arc::new(TestHandler::default());
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(t.store.insert(job("succeed")).await.unwrap().0.id);
    }
    let w = start(t.store.clone(), h.clone(), config(4, true));
    for id in &ids {
        let j = wait_for(&t.store, *id, "succeeded", |j| {
            j.state == JobState::Succeeded
        })
        .await;
        assert_eq!(j.result, Some(json!({"attempt": 1})));
        assert_eq!(
            t.store.log(*id, 0).await.unwrap()[0].message,
            "attempt 1 (succeed)"
        );
    }
    w.shutdown().await;
    assert_eq!(h.runs.load(Ordering::SeqCst), 20, "each job ran once");
    assert!(h.max_current.load(Ordering::SeqCst) <= 4);
}

async fn worker_parks_and_resumes_from_checkpoint(t: &TestDb) {
    let h = Arc::new(TestHandler::default());
    let id = t.store.insert(job("park_once")).await.unwrap().0.id;
    let w = start(t.store.clone(), h.clone(), config(2, true));
    let parked = wait_for(&t.store, id, "parked", |j| j.state == JobState::Parked).await;
    assert_eq!(parked.attempt, 0);
    assert_eq!(parked.checkpoint, json!({"done": ["step1"]}));
    assert_eq!(
        h.current.load(Ordering::SeqCst),
        0,
        "no handler holds the parked job"
    );
    t.clock.advance(Duration::from_secs(600));
    let done = wait_for(&t.store, id, "succeeded", |j| {
        j.state == JobState::Succeeded
    })
    .await;
    assert_eq!(
        done.result,
        Some(json!({"resumedFrom": {"done": ["step1"]}}))
    );
    assert_eq!((done.attempt, done.parks), (1, 1));
    w.shutdown().await;
    assert_eq!(h.runs.load(Ordering::SeqCst), 2);
}

/// A staged checkpoint is written by the worker while the job runs, and the last one with the
/// park, in its transaction; a barrier written later wins over one staged before it.
async fn worker_writes_staged_checkpoints_soon_and_with_the_outcome(t: &TestDb) {
    let h = Arc::new(TestHandler::default());
    let id = t.store.insert(job("staged")).await.unwrap().0.id;
    let w = start(t.store.clone(), h.clone(), config(1, true));
    let parked = wait_for(&t.store, id, "parked", |j| j.state == JobState::Parked).await;
    assert_eq!(parked.checkpoint, json!({"done": 2}));
    let log: Vec<String> = t
        .store
        .log(id, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert_eq!(log[1], "waiting", "{log:?}");
    t.clock.advance(Duration::from_secs(60));
    let done = wait_for(&t.store, id, "succeeded", |j| {
        j.state == JobState::Succeeded
    })
    .await;
    assert_eq!(done.result, Some(json!({"resumedFrom": {"done": 2}})));
    assert_eq!(done.checkpoint, json!({"done": 4}));
    w.shutdown().await;
}

async fn worker_cancel_running_at_step_boundary(t: &TestDb) {
    let h = Arc::new(TestHandler::default());
    let id = t
        .store
        .insert(job("steps_until_cancelled"))
        .await
        .unwrap()
        .0
        .id;
    let w = start(t.store.clone(), h.clone(), config(2, true));
    wait_for(&t.store, id, "running", |j| j.state == JobState::Running).await;
    // Cancel from another process.
    let other = t.another_store().await;
    other.cancel(id).await.unwrap();
    let j = wait_for(&t.store, id, "cancelled", |j| {
        j.state == JobState::Cancelled
    })
    .await;
    assert!(j.cancel_requested_at.is_some());
    assert!(
        t.store
            .log(id, 0)
            .await
            .unwrap()
            .iter()
            .any(|l| l.message == "cancel seen at a step boundary")
    );
    w.shutdown().await;
}

/// Lines are buffered and written with the checkpoint, by the worker when no checkpoint comes,
/// and the last ones with the outcome: in order, each once, numbered without gaps.
async fn worker_writes_the_log_in_batches_and_live(t: &TestDb) {
    let h = Arc::new(TestHandler::default());
    let id = t.store.insert(job("live_log")).await.unwrap().0.id;
    let w = start(t.store.clone(), h.clone(), config(1, true));
    wait_for(&t.store, id, "succeeded", |j| {
        j.state == JobState::Succeeded
    })
    .await;
    w.shutdown().await;
    let log: Vec<(i64, String)> = t
        .store
        .log(id, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.seq, l.message))
        .collect();
    let expected = [
        "attempt 1 (live_log)",
        "step 1/2",
        "step 2/2: a long Graph call",
        "step 2/2 done",
        "finished: succeeded",
    ];
    assert_eq!(
        log,
        expected
            .iter()
            .enumerate()
            .map(|(i, m)| (i as i64 + 1, (*m).to_owned()))
            .collect::<Vec<_>>()
    );
}

async fn worker_retries_transient_failures(t: &TestDb) {
    let h = Arc::new(TestHandler::default());
    let id = t.store.insert(job("retry_once")).await.unwrap().0.id;
    let w = start(t.store.clone(), h.clone(), config(1, true));
    let j = wait_for(&t.store, id, "succeeded", |j| {
        j.state == JobState::Succeeded
    })
    .await;
    assert_eq!(j.attempt, 2);
    assert_eq!(j.result, Some(json!({"attempt": 2})));
    let bad = t.store.insert(job("no-such-mode")).await.unwrap().0.id;
    let j = wait_for(&t.store, bad, "failed", |j| j.state == JobState::Failed).await;
    assert_eq!(j.attempt, 1, "no retry for a permanent failure");
    w.shutdown().await;
}

/// A worker whose lease was taken away (expired and rescued) stops its handler; the job runs
/// again and finishes once.
async fn worker_stops_a_handler_that_lost_its_lease(t: &TestDb) {
    let h = Arc::new(TestHandler::default());
    let id = t
        .store
        .insert(job("block_first_attempt"))
        .await
        .unwrap()
        .0
        .id;
    let mut cfg = config(1, false);
    cfg.lease = Duration::from_millis(300);
    let w = start(t.store.clone(), h.clone(), cfg);
    wait_for(&t.store, id, "running", |j| j.state == JobState::Running).await;
    // Expire the lease (the heartbeat may extend it once more; keep going until the rescuer wins).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        t.clock.advance(Duration::from_secs(10));
        if t.store.rescue().await.unwrap().iter().any(|j| j.id == id) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rescuer never took the job"
        );
    }
    let j = wait_for(&t.store, id, "succeeded", |j| {
        j.state == JobState::Succeeded
    })
    .await;
    assert_eq!(j.attempt, 2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while h.stopped.load(Ordering::SeqCst) != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first handler was never stopped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.shutdown().await;
}

async fn worker_shutdown_releases_running_jobs(t: &TestDb) {
    let h = Arc::new(TestHandler::default());
    let a = t.store.insert(job("block")).await.unwrap().0.id;
    let b = t.store.insert(job("block")).await.unwrap().0.id;
    let c = t.store.insert(job("block")).await.unwrap().0.id;
    let w = start(t.store.clone(), h.clone(), config(2, true));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while h.current.load(Ordering::SeqCst) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "jobs never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.shutdown().await;
    assert_eq!(h.stopped.load(Ordering::SeqCst), 2);
    for id in [a, b, c] {
        let j = t.store.get(id).await.unwrap().unwrap();
        assert_eq!(j.state, JobState::Available, "{id} was not given back");
        assert_eq!(j.attempt, 0);
        assert!(j.lease_owner.is_none());
    }
}

/// A handler out of write budget parks until the bucket has refilled instead of holding a worker.
async fn worker_parks_when_the_write_budget_is_spent(t: &TestDb) {
    t.store
        .set_tenant_limits(
            "contoso",
            TenantLimits {
                max_running: 4,
                write_capacity: 5,
                write_refill_per_hour: 3600,
            },
        )
        .await
        .unwrap();
    let h = Arc::new(TestHandler::default());
    let first = t.store.insert(job("budget")).await.unwrap().0.id;
    let w = start(t.store.clone(), h.clone(), config(1, true));
    wait_for(&t.store, first, "succeeded", |j| {
        j.state == JobState::Succeeded
    })
    .await;
    let second = t.store.insert(job("budget")).await.unwrap().0.id;
    let parked = wait_for(&t.store, second, "parked", |j| j.state == JobState::Parked).await;
    assert_eq!(
        parked.parked_reason.as_deref(),
        Some("write budget: 5000 ms")
    );
    t.clock.advance(Duration::from_secs(5));
    let done = wait_for(&t.store, second, "succeeded", |j| {
        j.state == JobState::Succeeded
    })
    .await;
    assert_eq!(done.attempt, 1);
    w.shutdown().await;
}

both_stores!(
    worker_parks_when_the_write_budget_is_spent,
    worker_runs_jobs_with_bounded_concurrency,
    worker_parks_and_resumes_from_checkpoint,
    worker_writes_staged_checkpoints_soon_and_with_the_outcome,
    worker_cancel_running_at_step_boundary,
    worker_writes_the_log_in_batches_and_live,
    worker_retries_transient_failures,
    worker_stops_a_handler_that_lost_its_lease,
    worker_shutdown_releases_running_jobs,
);
