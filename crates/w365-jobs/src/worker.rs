//! The worker: fetches jobs, runs them with a [`Handler`], keeps their leases alive, finishes them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::{
    BudgetGrant, Durability, Error, Finish, Job, JobEvent, JobId, JobStore, Leased, NewLogLine,
    Result, Written,
};

/// Runs one job. Return [`Finish::Park`] for long waits (after saving or staging the
/// checkpoint: a staged one is written with the outcome), and [`Finish::Retry`] only for
/// transient errors.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn run(&self, ctx: &JobContext) -> Finish;
}

/// What a handler gets: its job, and fenced access to the store for that job.
///
/// Log lines are buffered and written with the next checkpoint, in the same transaction
/// ([`JobStore::write_progress`]): a step boundary costs one write, not one per line. Lines that
/// no checkpoint picks up are written by the worker within [`LOG_FLUSH_AFTER`] (so the log stays
/// readable while a job runs), and the last ones with the job's outcome.
///
/// Checkpoints come in two kinds. [`checkpoint`](Self::checkpoint) writes before it returns: a
/// barrier, for the state that must be on disk before a step that may run at most once (a mail
/// is recorded as being sent before it is sent). [`stage_checkpoint`](Self::stage_checkpoint)
/// only keeps it: it is written with the lines, by the worker within [`LOG_FLUSH_AFTER`], by the
/// next barrier, or with the outcome (so a park records its wait cursor in the same transaction
/// as the park). A run interrupted before a staged checkpoint is written resumes from the one
/// before and repeats the steps since, so stage only after steps that converge when repeated.
pub struct JobContext {
    store: Arc<dyn JobStore>,
    leased: Leased,
    lost: AtomicBool,
    pending: std::sync::Mutex<Pending>,
    /// Held while lines are written and then removed from `pending`, so they are written in
    /// order and exactly once.
    writing: tokio::sync::Mutex<()>,
    /// The cancel request as last read from the store, and when.
    cancel: std::sync::Mutex<(bool, Option<Instant>)>,
    /// Set by the worker's cancel watch: a context run by a [`Worker`] never reads the store
    /// for [`cancel_requested`](Self::cancel_requested).
    watch: Option<Arc<AtomicBool>>,
}

/// Lines logged and the checkpoint staged, not written yet.
#[derive(Default)]
struct Pending {
    lines: Vec<NewLogLine>,
    /// The newest staged checkpoint and its number (numbers grow with each one staged).
    checkpoint: Option<(u64, Value)>,
    staged: u64,
    /// When the oldest of them was logged or staged (real time: the store's clock may be
    /// virtual).
    since: Option<Instant>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.checkpoint.is_none()
    }
}

/// A buffered log line is written at the latest this long after it was logged.
pub const LOG_FLUSH_AFTER: Duration = Duration::from_millis(200);

/// A cancel request read from the store this recently (by the write of a checkpoint, a flush
/// or a heartbeat) is not read again by [`JobContext::cancel_requested`] (a context of its own,
/// outside a [`Worker`]).
pub const CANCEL_FRESH: Duration = Duration::from_millis(250);

/// How often a worker's cancel watch reads the cancel requests of all its running jobs (one
/// read for them all). A cancel made in this process, or on PostgreSQL in any process, reaches
/// the watch at once as an event; this read is for the rest (another process on a SQLite file,
/// a lost notification).
pub const CANCEL_POLL: Duration = Duration::from_millis(500);

impl JobContext {
    pub fn new(store: Arc<dyn JobStore>, leased: Leased) -> Self {
        Self {
            store,
            leased,
            lost: AtomicBool::new(false),
            pending: std::sync::Mutex::new(Pending::default()),
            writing: tokio::sync::Mutex::new(()),
            cancel: std::sync::Mutex::new((false, None)),
            watch: None,
        }
    }

    /// A context whose cancel requests the worker's watch delivers to `flag`.
    fn watched(store: Arc<dyn JobStore>, leased: Leased, flag: Arc<AtomicBool>) -> Self {
        Self {
            watch: Some(flag),
            ..Self::new(store, leased)
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

    /// Adds a line to the job's log, timed now. It is written with the next checkpoint, by the
    /// worker within [`LOG_FLUSH_AFTER`], or with the outcome, whichever comes first.
    /// `Err(LostLease)` once the job is no longer ours.
    pub fn push_log(&self, level: &str, message: &str) -> Result<()> {
        if self.lease_lost() {
            return Err(Error::LostLease(self.job().id));
        }
        let line = NewLogLine {
            at: self.now(),
            level: level.to_owned(),
            message: message.to_owned(),
        };
        let mut pending = self.pending();
        pending.since.get_or_insert_with(Instant::now);
        pending.lines.push(line);
        Ok(())
    }

    /// [`push_log`](Self::push_log), for handlers that write `ctx.log(..).await`.
    pub async fn log(&self, level: &str, message: &str) -> Result<()> {
        self.push_log(level, message)
    }

    /// Saves the checkpoint (plan, finished steps, wait cursor) with the lines logged since the
    /// last write, in one transaction, before it returns; a later run resumes from it. It
    /// replaces a checkpoint staged before.
    pub async fn checkpoint(&self, checkpoint: &Value) -> Result<()> {
        self.write(Some(checkpoint)).await.map(|_| ())
    }

    /// Keeps the checkpoint to be written with the next write of this job: the worker's within
    /// [`LOG_FLUSH_AFTER`], the next [`checkpoint`](Self::checkpoint) or [`flush`](Self::flush),
    /// or the outcome's. It replaces a checkpoint staged before. `Err(LostLease)` once the job is
    /// no longer ours.
    pub fn stage_checkpoint(&self, checkpoint: Value) -> Result<()> {
        if self.lease_lost() {
            return Err(Error::LostLease(self.job().id));
        }
        let mut pending = self.pending();
        pending.staged += 1;
        let n = pending.staged;
        pending.checkpoint = Some((n, checkpoint));
        pending.since.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Writes the buffered lines and the staged checkpoint now (nothing when there are none).
    pub async fn flush(&self) -> Result<()> {
        if self.pending_since().is_some() {
            self.write(None).await?;
        }
        Ok(())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When (real time) the oldest unwritten line was logged.
    fn pending_since(&self) -> Option<Instant> {
        self.pending().since
    }

    /// Writes the buffered lines and the checkpoint (the one given, else the staged one, if
    /// any); they leave the buffer only once written, so a write that fails or is interrupted
    /// loses none.
    async fn write(&self, checkpoint: Option<&Value>) -> Result<Written> {
        let _order = self.writing.lock().await;
        let (lines, staged, upto) = {
            let p = self.pending();
            let staged = if checkpoint.is_none() {
                p.checkpoint.as_ref().map(|(_, v)| v.clone())
            } else {
                None
            };
            (p.lines.clone(), staged, p.staged)
        };
        match self
            .store
            .write_progress(
                &self.leased,
                &lines,
                checkpoint.or(staged.as_ref()),
                // A barrier is on disk before the step it guards starts.
                if checkpoint.is_some() {
                    Durability::Now
                } else {
                    Durability::Soon
                },
            )
            .await
        {
            Ok(w) => {
                let mut pending = self.pending();
                pending.lines.drain(..lines.len());
                // What was staged before this write is older than what it wrote.
                if pending.checkpoint.as_ref().is_some_and(|(n, _)| *n <= upto) {
                    pending.checkpoint = None;
                }
                pending.since = (!pending.is_empty()).then(Instant::now);
                drop(pending);
                self.saw_cancel(w.cancel_requested);
                Ok(w)
            }
            Err(e) => Err(self.note_lost(e)),
        }
    }

    /// Remembers a refused lease ([`lease_lost`](Self::lease_lost)); returns the error.
    fn note_lost(&self, e: Error) -> Error {
        if matches!(e, Error::LostLease(_)) {
            self.lost.store(true, Ordering::SeqCst);
        }
        e
    }

    fn saw_cancel(&self, requested: bool) {
        if requested && let Some(flag) = &self.watch {
            flag.store(true, Ordering::SeqCst);
        }
        *self.cancel.lock().unwrap_or_else(|p| p.into_inner()) = (requested, Some(Instant::now()));
    }

    /// Whether a cancel was requested; check it at each step boundary and return
    /// [`Finish::Cancelled`] when it is. Run by a [`Worker`], it reads no database: the worker's
    /// cancel watch hands it the request as an event (made in this process, or on PostgreSQL in
    /// any) or within [`CANCEL_POLL`], and every write and heartbeat of the job also brings it.
    /// A context of its own reads the store when its answer is more than [`CANCEL_FRESH`] old (a
    /// read only: buffered lines wait for the next write). `Err(LostLease)` means the job is no
    /// longer ours.
    pub async fn cancel_requested(&self) -> Result<bool> {
        if let Some(flag) = &self.watch {
            if self.lease_lost() {
                return Err(Error::LostLease(self.job().id));
            }
            return Ok(flag.load(Ordering::SeqCst));
        }
        let (requested, at) = *self.cancel.lock().unwrap_or_else(|p| p.into_inner());
        if requested || at.is_some_and(|t| t.elapsed() < CANCEL_FRESH) {
            return Ok(requested);
        }
        // A read, never a write: the buffered lines are the worker's to flush (within
        // LOG_FLUSH_AFTER), and a step boundary should not queue for the database's writer.
        match self.store.cancel_requested(&self.leased).await {
            Ok(requested) => {
                self.saw_cancel(requested);
                Ok(requested)
            }
            Err(e) => Err(self.note_lost(e)),
        }
    }

    /// Whether the lease was lost (a heartbeat or a write was refused): stop and return anything.
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
        let watch = CancelWatch::start(self.store.clone(), cfg.id.clone());
        // Woken by the poll timer only (no job finished, nothing inserted here): most such polls
        // find nothing, so they ask with a read before they fetch.
        let mut polled = false;
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
            let look = free > 0
                && (!std::mem::take(&mut polled) || self.store.work_ready().await.unwrap_or(true));
            if look {
                match self.store.fetch(&cfg.id, free as u32, cfg.lease).await {
                    Ok(jobs) => {
                        for leased in jobs {
                            let id = leased.job.id;
                            running.insert(id, leased.clone());
                            let store = self.store.clone();
                            let handler = self.handler.clone();
                            let lease = cfg.lease;
                            let flag = watch.register(id);
                            let h = tasks.spawn(run_one(store, handler, leased, lease, flag));
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
                            watch.unregister(id);
                        }
                        next = tasks.try_join_next_with_id();
                    }
                }
                _ = next_insert(&mut events), if !fetched_full => {
                    // New work inserted by this process: look again at once.
                }
                _ = tokio::time::sleep(cfg.poll_interval) => polled = true,
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
        drop(watch);
        for (_, leased) in running {
            match self.store.release(&leased).await {
                Ok(_) | Err(Error::LostLease(_)) => {}
                Err(e) => tracing::warn!(job = %leased.job.id, error = %e, "release failed"),
            }
        }
        Ok(())
    }
}

/// Hands cancel requests to the running jobs of one worker, so their step boundaries read no
/// database: a [`JobEvent::CancelRequested`] at once, and every [`CANCEL_POLL`] one read of the
/// requests for all of them (for what events do not carry: another process on a SQLite file, a
/// lost notification). Stops when dropped.
struct CancelWatch {
    flags: Arc<std::sync::Mutex<HashMap<JobId, Arc<AtomicBool>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CancelWatch {
    fn start(store: Arc<dyn JobStore>, worker: String) -> Self {
        let flags: Arc<std::sync::Mutex<HashMap<JobId, Arc<AtomicBool>>>> = Arc::default();
        let mut events = store.subscribe();
        let shared = flags.clone();
        let set = move |id: JobId| {
            if let Some(f) = shared.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
                f.store(true, Ordering::SeqCst);
            }
        };
        let watched = flags.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(CANCEL_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let read = tokio::select! {
                    ev = events.recv() => match ev {
                        Ok(JobEvent::CancelRequested { job }) => {
                            set(job);
                            false
                        }
                        Ok(_) => false,
                        // Missed events: some may have been cancels.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            std::future::pending().await
                        }
                    },
                    _ = tick.tick() => true,
                };
                let idle = watched.lock().unwrap_or_else(|p| p.into_inner()).is_empty();
                if !read || idle {
                    continue;
                }
                match store.cancels_requested(&worker).await {
                    Ok(ids) => ids.into_iter().for_each(&set),
                    Err(e) => tracing::warn!(error = %e, "reading cancel requests failed"),
                }
            }
        });
        Self { flags, task }
    }

    fn register(&self, id: JobId) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        self.flags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, flag.clone());
        flag
    }

    fn unregister(&self, id: JobId) {
        self.flags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

impl Drop for CancelWatch {
    fn drop(&mut self) {
        self.task.abort();
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
    cancel: Arc<AtomicBool>,
) -> JobId {
    let id = leased.job.id;
    let ctx = JobContext::watched(store.clone(), leased.clone(), cancel);
    let lost = tokio::sync::Notify::new();
    let done = tokio::sync::Notify::new();
    let run = async {
        let outcome = tokio::select! {
            outcome = handler.run(&ctx) => Some(outcome),
            () = lost.notified() => None,
        };
        done.notify_one();
        outcome
    };
    // Keeps the lease alive (every lease / 3) and writes the log lines and the staged checkpoint
    // no barrier picked up within LOG_FLUSH_AFTER. It stops only between writes, so a write is never cut off.
    let beat = async {
        let every = (lease / 3).max(Duration::from_millis(10));
        let tick = LOG_FLUSH_AFTER.min(every) / 2;
        let mut next_beat = Instant::now() + every;
        loop {
            tokio::select! {
                () = tokio::time::sleep(tick) => {}
                () = done.notified() => return,
            }
            if ctx
                .pending_since()
                .is_some_and(|t| t.elapsed() >= LOG_FLUSH_AFTER)
            {
                match ctx.flush().await {
                    Ok(()) => {}
                    Err(Error::LostLease(_)) => {
                        lost.notify_one();
                        return;
                    }
                    Err(e) => tracing::warn!(job = %id, error = %e, "writing the log failed"),
                }
            }
            if Instant::now() < next_beat {
                continue;
            }
            next_beat = Instant::now() + every;
            match store.heartbeat(&leased, lease).await {
                Ok(cancel) => ctx.saw_cancel(cancel),
                Err(e @ Error::LostLease(_)) => {
                    ctx.note_lost(e);
                    lost.notify_one();
                    return;
                }
                Err(e) => tracing::warn!(job = %id, error = %e, "heartbeat failed"),
            }
        }
    };
    let (outcome, ()) = tokio::join!(run, beat);
    match outcome {
        Some(outcome) => {
            let (lines, checkpoint) = {
                let mut p = ctx.pending();
                (std::mem::take(&mut p.lines), p.checkpoint.take())
            };
            let checkpoint = checkpoint.map(|(_, v)| v);
            match store
                .finish_with_log(&leased, outcome, &lines, checkpoint.as_ref())
                .await
            {
                Ok(_) => {}
                Err(Error::LostLease(_)) => {
                    tracing::warn!(job = %id, "finished after losing the lease; the result was not recorded")
                }
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "could not record the job's outcome")
                }
            }
        }
        None => tracing::warn!(job = %id, "lost the lease; stopped the handler"),
    }
    id
}
