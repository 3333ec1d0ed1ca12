//! Worker process for tests/crash.rs: `w365-jobs-crash-worker DATABASE_URL WORKER_ID CONCURRENCY`.
//!
//! Its handler records every run in `crash_runs` and the job's one side effect in `crash_effects`
//! (keyed by job id, like a membership add that tolerates "already exists"), using the checkpoint
//! so a resumed job skips finished steps. Modes (job input `mode`): `quick`, `slow` (works `ms`
//! milliseconds before its effect, so a kill lands mid-run) and `park` (parks once, then finishes).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use w365_jobs::{Finish, Handler, JobContext, JobStore, SqlStore, Worker, WorkerConfig};

struct CrashHandler {
    store: Arc<SqlStore>,
    worker: String,
}

impl CrashHandler {
    async fn effect(&self, ctx: &JobContext) -> Result<(), String> {
        if ctx.job().checkpoint["effectDone"] == json!(true) {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO crash_effects (job_id, worker) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(ctx.job().id.to_string())
        .bind(self.worker.clone())
        .execute(self.store.pool())
        .await
        .map_err(|e| e.to_string())?;
        ctx.checkpoint(&json!({"effectDone": true}))
            .await
            .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl Handler for CrashHandler {
    async fn run(&self, ctx: &JobContext) -> Finish {
        let job = ctx.job();
        let mode = job.input["mode"].as_str().unwrap_or("quick");
        let run =
            sqlx::query("INSERT INTO crash_runs (job_id, attempt, worker) VALUES ($1, $2, $3)")
                .bind(job.id.to_string())
                .bind(i64::from(job.attempt))
                .bind(self.worker.clone())
                .execute(self.store.pool())
                .await;
        if let Err(e) = run {
            return Finish::Retry {
                at: None,
                error: json!({"kind": "db", "message": e.to_string()}),
            };
        }
        match mode {
            "park" if job.checkpoint.is_null() => {
                if let Err(e) = ctx.checkpoint(&json!({"parked": true})).await {
                    return Finish::Retry {
                        at: None,
                        error: json!({"message": e.to_string()}),
                    };
                }
                return Finish::Park {
                    until: ctx.now() + Duration::from_millis(1500),
                    reason: "waiting (crash test)".into(),
                };
            }
            "slow" => {
                let ms = job.input["ms"].as_u64().unwrap_or(500);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            _ => {}
        }
        match self.effect(ctx).await {
            Ok(()) => Finish::Succeeded(json!({"worker": self.worker})),
            Err(e) => Finish::Retry {
                at: None,
                error: json!({"message": e}),
            },
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, worker, concurrency] = args.as_slice() else {
        eprintln!("usage: w365-jobs-crash-worker DATABASE_URL WORKER_ID CONCURRENCY");
        std::process::exit(2);
    };
    let concurrency: usize = concurrency.parse().expect("CONCURRENCY is a number");
    let store = Arc::new(
        SqlStore::connect(url, w365_jobs::ConnectOptions::default())
            .await
            .expect("connect"),
    );
    let handler = Arc::new(CrashHandler {
        store: store.clone(),
        worker: worker.clone(),
    });
    let dyn_store: Arc<dyn JobStore> = store.clone();
    let config = WorkerConfig {
        id: worker.clone(),
        concurrency,
        lease: Duration::from_millis(1000),
        poll_interval: Duration::from_millis(50),
        maintenance: true,
        shutdown_grace: Duration::ZERO,
    };
    println!("ready");
    Worker::new(dyn_store, handler, config)
        .run(std::future::pending::<()>())
        .await
        .expect("worker");
}
