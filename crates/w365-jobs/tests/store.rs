//! The job store's behaviour, run against SQLite and PostgreSQL (see common/mod.rs).

mod common;

use std::time::Duration;

use serde_json::json;
use w365_jobs::*;

use common::{TestDb, new_job};

const LEASE: Duration = Duration::from_secs(30);

async fn lifecycle_insert_fetch_succeed(t: &TestDb) {
    let s = &t.store;
    let (job, inserted) = s.insert(new_job("assign", "contoso")).await.unwrap();
    assert!(inserted);
    assert_eq!(job.state, JobState::Available);
    assert_eq!(job.attempt, 0);
    assert!(job.finished_at.is_none());
    let leased = s.fetch("w1", 10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 1);
    let l = &leased[0];
    assert_eq!(l.job.id, job.id);
    assert_eq!(l.job.state, JobState::Running);
    assert_eq!(l.job.attempt, 1);
    assert_eq!(l.job.lease_owner.as_deref(), Some("w1"));
    assert!(
        s.fetch("w2", 10, LEASE).await.unwrap().is_empty(),
        "a running job is not fetched twice"
    );
    s.append_log(l, "info", "step 1 done").await.unwrap();
    s.save_checkpoint(l, &json!({"done": ["step1"]}))
        .await
        .unwrap();
    let done = s
        .finish(l, Finish::Succeeded(json!({"ok": true})))
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.result, Some(json!({"ok": true})));
    assert_eq!(done.checkpoint, json!({"done": ["step1"]}));
    assert!(done.finished_at.is_some());
    assert!(done.lease_owner.is_none());
    let got = s.get(job.id).await.unwrap().unwrap();
    assert_eq!(got, done);
    let log = s.log(job.id, 0).await.unwrap();
    assert_eq!(log[0].message, "step 1 done");
    assert_eq!(log[0].seq, 1);
    assert!(log.iter().any(|l| l.message == "finished: succeeded"));
}

both_stores!(lifecycle_insert_fetch_succeed);
