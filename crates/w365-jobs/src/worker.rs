//! The worker: fetches jobs, runs them with a [`Handler`], keeps their leases alive, finishes them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::{BudgetGrant, Error, Finish, Job, JobEvent, JobId, JobStore, Leased, Result};

/// Runs one job. Return [`Finish::Park`] for long waits (after saving the checkpoint), and
/// [`Finish::Retry`] only for transient errors.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn run(&self, ctx: &JobContext) -> Finish;
}

/// What a handler gets: its job, and fenced access to the store for that job.
pub struct JobContext {
    store: Arc<dyn JobStore>,
    leased: Leased,
    lost: Arc<AtomicBool>,
}

impl JobContext {
    pub fn new(store: Arc<dyn JobStore>, leased: Leased) -> Self {
        Self {
            store,
            leased,
            lost: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The job as fetched (its `checkpoint` is the one saved by the previous run).
    pub fn job(&self) -> &Job {
        &self.leased.job
    }

    pub fn leased(&self) -> &Leased {
        &self.leased
    }

    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.store
    }

    /// The store's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.store.clock().now()
    }

    /// Appends a line to the job's log; returns its seq.
    pub async fn log(&self, level: &str, message: &str) -> Result<i64> {
        self.store.append_log(&self.leased, level, message).await
    }

    /// Saves the checkpoint (plan, finished steps, wait cursor); a later run resumes from it.
    pub async fn checkpoint(&self, checkpoint: &Value) -> Result<()> {
        self.store.save_checkpoint(&self.leased, checkpoint).await
    }

    /// Whether a cancel was requested; check it at each step boundary and return
    /// [`Finish::Cancelled`] when it is. Reads the database, so a cancel made by another process
    /// is seen at once. `Err(LostLease)` means the job is no longer ours.
    pub async fn cancel_requested(&self) -> Result<bool> {
        self.store.cancel_requested(&self.leased).await
    }

    /// Whether the lease was lost (a heartbeat was refused): stop and return anything.
    pub fn lease_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Takes `n` writes from the tenant's Graph write budget, waiting (real time) while the
    /// bucket refills. For waits longer than `max_wait` it returns the wait instead, so the
    /// handler can park.
    pub async fn take_write_budget(
        &self,
        n: u32,
        max_wait: Duration,
    ) -> Result<std::result::Result<(), Duration>> {
        loop {
            match self.store.take_write_budget(&self.job().tenant, n).await? {
                BudgetGrant::Granted => return Ok(Ok(())),
                BudgetGrant::Wait(d) if d > max_wait => return Ok(Err(d)),
                BudgetGrant::Wait(d) => tokio::time::sleep(d).await,
            }
        }
    }
}

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Name shown as the lease owner, e.g. "host:pid:1".
    pub id: String,
    /// Jobs run at once by this worker.
    pub concurrency: usize,
    /// Lease length; heartbeats extend it every `lease / 3`.
    pub lease: Duration,
    /// How often to look for jobs when nothing wakes the worker.
    pub poll_interval: Duration,
    /// Run the rescuer and the cron scheduler from this worker.
    pub maintenance: bool,
    /// On shutdown, how long running handlers get to finish before they are stopped and their
    /// jobs released back to available.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: format!("worker-{}", std::process::id()),
            concurrency: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            maintenance: true,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Runs jobs until shut down. See [`Worker::run`].
pub struct Worker {
    store: Arc<dyn JobStore>,
    handler: Arc<dyn Handler>,
    config: WorkerConfig,
}

impl Worker {
    pub fn new(store: Arc<dyn JobStore>, handler: Arc<dyn Handler>, config: WorkerConfig) -> Self {
        Self {
            store,
            handler,
            config,
        }
    }

    /// Runs until `shutdown` completes. Then it stops fetching, gives running handlers
    /// `shutdown_grace` to finish, stops the rest and releases their jobs (back to available,
    /// attempt given back): no job is lost.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let cfg = self.config.clone();
        let mut events = self.store.subscribe();
        let mut tasks: JoinSet<JobId> = JoinSet::new();
        let mut running: HashMap<JobId, Leased> = HashMap::new();
        let mut task_ids: HashMap<tokio::task::Id, JobId> = HashMap::new();
        tokio::pin!(shutdown);
        let mut last_maintenance: Option<tokio::time::Instant> = None;
        loop {
            let due = last_maintenance.is_none_or(|t| t.elapsed() >= cfg.poll_interval);
            if cfg.maintenance && due {
                last_maintenance = Some(tokio::time::Instant::now());
                if let Err(e) = self.store.rescue().await {
                    tracing::warn!(error = %e, "rescuer failed");
                }
                if let Err(e) = self.store.run_due_schedules().await {
                    tracing::warn!(error = %e, "scheduler failed");
                }
            }
            let free = cfg.concurrency.saturating_sub(running.len());
            if free > 0 {
                match self.store.fetch(&cfg.id, free as u32, cfg.lease).await {
                    Ok(jobs) => {
                        for leased in jobs {
                            let id = leased.job.id;
                            running.insert(id, leased.clone());
                            let store = self.store.clone();
                            let handler = self.handler.clone();
                            let lease = cfg.lease;
                            let h = tasks.spawn(run_one(store, handler, leased, lease));
                            task_ids.insert(h.id(), id);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "fetch failed"),
                }
            }
            let fetched_full = cfg.concurrency.saturating_sub(running.len()) == 0;
            tokio::select! {
                _ = &mut shutdown => break,
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    // Collect every job that has finished by now, then fetch once for all of them.
                    let mut next = Some(done);
                    while let Some(done) = next {
                        let tid = match &done { Ok((tid, _)) => *tid, Err(e) => e.id() };
                        if let Some(id) = task_ids.remove(&tid) {
                            running.remove(&id);
                        }
                        next = tasks.try_join_next_with_id();
                    }
                }
                _ = next_insert(&mut events), if !fetched_full => {
                    // New work inserted by this process: look again at once.
                }
                _ = tokio::time::sleep(cfg.poll_interval) => {}
            }
        }
        // Shutdown: let running handlers finish within the grace period.
        let deadline = tokio::time::sleep(cfg.shutdown_grace);
        tokio::pin!(deadline);
        while !tasks.is_empty() {
            tokio::select! {
                _ = &mut deadline => break,
                Some(done) = tasks.join_next_with_id() => {
                    let tid = match &done { Ok((tid, _)) => *tid, Err(e) => e.id() };
                    if let Some(id) = task_ids.remove(&tid) {
                        running.remove(&id);
                    }
                }
            }
        }
        tasks.abort_all();
        while let Some(done) = tasks.join_next_with_id().await {
            if let Ok((tid, id)) = done {
                task_ids.remove(&tid);
                running.remove(&id);
            }
        }
        for (_, leased) in running {
            match self.store.release(&leased).await {
                Ok(_) | Err(Error::LostLease(_)) => {}
                Err(e) => tracing::warn!(job = %leased.job.id, error = %e, "release failed"),
            }
        }
        Ok(())
    }
}

/// Resolves at the next job inserted through this process's store (other events are skipped).
async fn next_insert(events: &mut tokio::sync::broadcast::Receiver<JobEvent>) {
    loop {
        match events.recv().await {
            Ok(JobEvent::Inserted { .. }) => return,
            Ok(_) => {}
            // Missed events: some may have been inserts.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

async fn run_one(
    store: Arc<dyn JobStore>,
    handler: Arc<dyn Handler>,
    leased: Leased,
    lease: Duration,
) -> JobId {
    let id = leased.job.id;
    let ctx = JobContext::new(store.clone(), leased.clone());
    let lost = ctx.lost.clone();
    let beat = {
        let store = store.clone();
        let leased = leased.clone();
        let lost = lost.clone();
        async move {
            let every = (lease / 3).max(Duration::from_millis(10));
            loop {
                tokio::time::sleep(every).await;
                match store.heartbeat(&leased, lease).await {
                    Ok(_) => {}
                    Err(Error::LostLease(_)) => {
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => tracing::warn!(job = %leased.job.id, error = %e, "heartbeat failed"),
                }
            }
        }
    };
    let outcome = tokio::select! {
        outcome = handler.run(&ctx) => Some(outcome),
        _ = beat => None,
    };
    match outcome {
        Some(outcome) => match store.finish(&leased, outcome).await {
            Ok(_) => {}
            Err(Error::LostLease(_)) => {
                tracing::warn!(job = %id, "finished after losing the lease; the result was not recorded")
            }
            Err(e) => tracing::warn!(job = %id, error = %e, "could not record the job's outcome"),
        },
        None => tracing::warn!(job = %id, "lost the lease; stopped the handler"),
    }
    id
}
