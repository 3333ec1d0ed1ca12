//! Crash test: worker processes are killed with SIGKILL while jobs are running, parked and queued;
//! after a restart (SQLite) or by the surviving worker (PostgreSQL, two processes) every job
//! finishes exactly once and its side effect happened once.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use w365_jobs::*;

use crate::common::TestDb;

const WORKER: &str = env!("CARGO_BIN_EXE_w365-jobs-crash-worker");

/// A worker process, killed when dropped (so a failing test leaves none running).
struct Worker(Child);

impl Worker {
    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL the worker");
        self.0.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(url: &str, id: &str) -> Worker {
    Worker(
        Command::new(WORKER)
            .args([url, id, "4"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the crash worker"),
    )
}

async fn count(t: &TestDb, sql: &str) -> i64 {
    use sqlx::Row;
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(t.store.pool())
        .await
        .unwrap();
    row.try_get::<i64, _>(0).unwrap()
}

async fn wait_until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn kill_mid_run_then_every_job_finishes_once(t: &TestDb) {
    for ddl in [
        "CREATE TABLE crash_effects (job_id TEXT PRIMARY KEY, worker TEXT NOT NULL)",
        "CREATE TABLE crash_runs (job_id TEXT NOT NULL, attempt BIGINT NOT NULL, worker TEXT NOT NULL)",
    ] {
        t.store.execute_raw(ddl).await.unwrap();
    }
    let mut ids = Vec::new();
    let modes = std::iter::repeat_n(json!({"mode": "park"}), 6)
        .chain(std::iter::repeat_n(json!({"mode": "slow", "ms": 1500}), 8))
        .chain(std::iter::repeat_n(json!({"mode": "quick"}), 10));
    for input in modes {
        let nj = NewJob::new("crash", "contoso", input, common::alice());
        ids.push(t.store.insert(nj).await.unwrap().0.id);
        t.clock.advance(Duration::from_millis(1));
    }
    let pg = t.store.backend() == Backend::Postgres;
    let mut victim = spawn_worker(&t.url, "victim");
    let mut others = if pg {
        vec![spawn_worker(&t.url, "survivor")]
    } else {
        Vec::new()
    };
    // Wait until the victim holds running jobs while others are parked and queued. A slow one
    // (1.5 s of work): a quick one may finish between this check and the kill.
    wait_until("running, parked and queued jobs at once", async || {
        let running = count(
            t,
            "SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner = 'victim' \
             AND input LIKE '%\"slow\"%'",
        )
        .await;
        let parked = count(t, "SELECT COUNT(*) FROM jobs WHERE state = 'parked'").await;
        let queued = count(
            t,
            "SELECT COUNT(*) FROM jobs WHERE state IN ('available', 'scheduled', 'retryable')",
        )
        .await;
        running >= 1 && parked >= 1 && queued >= 1
    })
    .await;
    victim.kill();
    let orphans: Vec<JobId> = t
        .store
        .list(&JobFilter {
            state: Some(JobState::Running),
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| j.lease_owner.as_deref() == Some("victim"))
        .map(|j| j.id)
        .collect();
    assert!(
        !orphans.is_empty(),
        "the kill must leave running jobs behind"
    );
    if !pg {
        others.push(spawn_worker(&t.url, "restarted"));
    }
    wait_until("every job finished", async || {
        count(
            t,
            "SELECT COUNT(*) FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')",
        )
        .await
            == ids.len() as i64
    })
    .await;
    for mut c in others {
        c.kill();
    }
    for id in &ids {
        let j = t.store.get(*id).await.unwrap().unwrap();
        assert_eq!(j.state, JobState::Succeeded, "{j:?}");
        let finished = t
            .store
            .log(*id, 0)
            .await
            .unwrap()
            .iter()
            .filter(|l| l.message == "finished: succeeded")
            .count();
        assert_eq!(finished, 1, "job {id} finished more than once");
    }
    let audited = count(
        t,
        "SELECT COUNT(*) FROM audit_log WHERE outcome = 'succeeded'",
    )
    .await;
    assert_eq!(
        audited,
        ids.len() as i64,
        "one 'succeeded' audit record per job"
    );
    assert!(matches!(
        t.store.audit_verify().await.unwrap(),
        AuditVerdict::Ok { .. }
    ));
    let effects = count(t, "SELECT COUNT(*) FROM crash_effects").await;
    assert_eq!(
        effects,
        ids.len() as i64,
        "each job's side effect happened exactly once"
    );
    // Jobs the kill left running were rescued (their lease expired) and finished by another
    // worker. (A job listed as running at the kill may still have been finished by the victim:
    // a commit it had sent before dying can land afterwards; that is fine and not counted.)
    let mut rescued = 0;
    for id in &ids {
        let log = t.store.log(*id, 0).await.unwrap();
        if log
            .iter()
            .any(|l| l.message == "lease expired (worker gone): now retryable")
        {
            rescued += 1;
            let j = t.store.get(*id).await.unwrap().unwrap();
            assert_ne!(j.result.as_ref().unwrap()["worker"], "victim", "{j:?}");
            assert!(
                orphans.contains(id),
                "only jobs the victim held are rescued: {j:?}"
            );
        }
    }
    assert!(
        rescued >= 1,
        "no job interrupted by the kill was taken over"
    );
}

both_stores!(kill_mid_run_then_every_job_finishes_once);
