//! The job store's behaviour, run against SQLite and PostgreSQL (see common/mod.rs).

use crate::common;

use std::time::Duration;

use serde_json::json;
use w365_jobs::*;

use crate::common::{TestDb, new_job};

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
    // The store wrote the job's "finished" audit record itself, in the finishing transaction.
    let audit = s
        .audit_list(&AuditFilter {
            job_id: Some(job.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.items.len(), 1);
    let rec = &audit.items[0];
    assert_eq!(
        (
            rec.outcome.as_str(),
            rec.operation.as_str(),
            rec.tenant.as_str()
        ),
        ("succeeded", "assign", "contoso")
    );
    assert_eq!(rec.actor, common::alice());
    assert_eq!(rec.input, json!({"user": "bob@contoso.example"}));
    assert_eq!(
        s.audit_verify().await.unwrap(),
        AuditVerdict::Ok { count: 1 }
    );
}

/// Every terminal transition (finish, cancel, rescue) leaves exactly one audit record; the others none.
async fn terminal_transitions_are_audited_once(t: &TestDb) {
    let s = &t.store;
    let mut ids = Vec::new();
    for state in JobState::ALL {
        ids.push((state, job_in_state(t, state).await));
    }
    // A rescue that fails a job with no attempts left.
    let mut one = new_job("assign", "rescued");
    one.max_attempts = 1;
    let (r, _) = s.insert(one).await.unwrap();
    fetch_one(t, r.id).await;
    t.clock.advance(LEASE + Duration::from_secs(1));
    let rescued = s.rescue().await.unwrap();
    assert!(
        rescued
            .iter()
            .any(|j| j.id == r.id && j.state == JobState::Failed)
    );
    ids.push((JobState::Failed, r.id));
    for (state, id) in ids {
        let n = s
            .audit_list(&AuditFilter {
                job_id: Some(id),
                ..Default::default()
            })
            .await
            .unwrap()
            .items;
        let current = s.get(id).await.unwrap().unwrap().state;
        if current.is_terminal() {
            assert_eq!(n.len(), 1, "{state}: {n:?}");
            assert_eq!(n[0].outcome, current.as_str());
        } else {
            assert!(
                n.is_empty(),
                "{state} is not finished but was audited: {n:?}"
            );
        }
    }
    assert!(matches!(
        s.audit_verify().await.unwrap(),
        AuditVerdict::Ok { .. }
    ));
}

both_stores!(
    lifecycle_insert_fetch_succeed,
    terminal_transitions_are_audited_once
);

/// Brings a new job into `state` through the store's API; returns its id.
async fn job_in_state(t: &TestDb, state: JobState) -> JobId {
    let s = &t.store;
    let mut nj = new_job("assign", &format!("tenant-{}", uuid_short()));
    if state == JobState::Scheduled {
        nj.run_at = Some(t.clock.now() + Duration::from_secs(3600));
    }
    let (job, _) = s.insert(nj).await.unwrap();
    if matches!(state, JobState::Scheduled | JobState::Available) {
        return job.id;
    }
    if state == JobState::Cancelled {
        s.cancel(job.id).await.unwrap();
        return job.id;
    }
    let l = fetch_one(t, job.id).await;
    let finish = match state {
        JobState::Running => return job.id,
        JobState::Retryable => Finish::Retry {
            at: Some(t.clock.now() + Duration::from_secs(600)),
            error: json!({"kind": "unavailable"}),
        },
        JobState::Parked => Finish::Park {
            until: t.clock.now() + Duration::from_secs(600),
            reason: "waiting".into(),
        },
        JobState::Succeeded => Finish::Succeeded(json!({})),
        JobState::Failed => Finish::Failed {
            error: json!({"kind": "notFound"}),
            result: None,
        },
        _ => unreachable!(),
    };
    assert_eq!(s.finish(&l, finish).await.unwrap().state, state);
    job.id
}

fn uuid_short() -> String {
    JobId::new().to_string()[..8].to_string()
}

/// Fetches until the given job is leased (other tenants' jobs fetched meanwhile are released).
async fn fetch_one(t: &TestDb, id: JobId) -> Leased {
    let got = t.store.fetch("w-test", 100, LEASE).await.unwrap();
    let mut mine = None;
    for l in got {
        if l.job.id == id {
            mine = Some(l);
        } else {
            t.store.release(&l).await.unwrap();
        }
    }
    mine.unwrap_or_else(|| panic!("job {id} was not fetched"))
}

fn raw_set_state(id: JobId, to: JobState) -> String {
    let terminal = to.is_terminal();
    let running = to == JobState::Running;
    format!(
        "UPDATE jobs SET state = '{to}', finished_at = {fin}, lease_token = {tok}, lease_owner = {own}, \
         lease_expires_at = {exp}, started_at = COALESCE(started_at, 1), parked_reason = {why}, \
         cancel_requested_at = NULL WHERE id = '{id}'",
        fin = if terminal { "1" } else { "NULL" },
        tok = if running { "'tok'" } else { "NULL" },
        own = if running { "'raw'" } else { "NULL" },
        exp = if running { "99999999999999999" } else { "NULL" },
        why = if to == JobState::Parked {
            "'raw'"
        } else {
            "NULL"
        },
    )
}

/// Every (from, to) pair: legal ones are accepted by the database, every other one is refused,
/// and the database's transition table is the one JobState documents.
async fn every_transition_enforced_by_the_database(t: &TestDb) {
    for from in JobState::ALL {
        for to in JobState::ALL {
            if from == to {
                continue;
            }
            let id = job_in_state(t, from).await;
            let r = t.store.execute_raw(&raw_set_state(id, to)).await;
            let legal = from.can_transition_to(to);
            match (&r, legal) {
                (Ok(1), true) => {}
                (Err(e), false) => assert!(
                    e.to_string().contains("illegal job state transition"),
                    "{from} -> {to} refused for another reason: {e}"
                ),
                _ => panic!("{from} -> {to}: legal={legal} but the database answered {r:?}"),
            }
            let now = t.store.get(id).await.unwrap().unwrap().state;
            assert_eq!(now, if legal { to } else { from });
        }
    }
}

/// The CHECK constraints: finished_at iff terminal, a lease iff running.
async fn check_constraints_hold(t: &TestDb) {
    let id = job_in_state(t, JobState::Available).await;
    for bad in [
        format!("UPDATE jobs SET finished_at = 5 WHERE id = '{id}'"),
        format!("UPDATE jobs SET lease_token = 'x' WHERE id = '{id}'"),
        format!("UPDATE jobs SET state = 'running' WHERE id = '{id}'"),
        format!("UPDATE jobs SET parked_reason = 'x' WHERE id = '{id}'"),
        format!("UPDATE jobs SET state = 'bogus' WHERE id = '{id}'"),
        format!("UPDATE jobs SET attempt = max_attempts + 1 WHERE id = '{id}'"),
    ] {
        assert!(t.store.execute_raw(&bad).await.is_err(), "accepted: {bad}");
    }
    let done = job_in_state(t, JobState::Succeeded).await;
    let r = t
        .store
        .execute_raw(&format!(
            "UPDATE jobs SET result = '{{}}' WHERE id = '{done}'"
        ))
        .await;
    assert!(r.is_err(), "a finished job must be immutable");
}

async fn idempotency_key_returns_the_live_job(t: &TestDb) {
    let s = &t.store;
    let mut nj = new_job("assign", "contoso");
    nj.idempotency_key = Some("req-42".into());
    let (a, ins_a) = s.insert(nj.clone()).await.unwrap();
    let (b, ins_b) = s.insert(nj.clone()).await.unwrap();
    assert!(ins_a);
    assert!(!ins_b);
    assert_eq!(a.id, b.id);
    // Still the same while running.
    let l = fetch_one(t, a.id).await;
    let (c, ins_c) = s.insert(nj.clone()).await.unwrap();
    assert!(!ins_c);
    assert_eq!(c.id, a.id);
    // Once finished, the key is free again.
    s.finish(&l, Finish::Succeeded(json!({}))).await.unwrap();
    let (d, ins_d) = s.insert(nj.clone()).await.unwrap();
    assert!(ins_d);
    assert_ne!(d.id, a.id);
    // Concurrent inserts with one key: one job.
    let mut nj2 = new_job("assign", "contoso");
    nj2.idempotency_key = Some("req-43".into());
    let other = t.another_store().await;
    let results = futures_join((0..8).map(|i| {
        let st: std::sync::Arc<dyn JobStore> = if i % 2 == 0 {
            t.store.clone()
        } else {
            other.clone()
        };
        let nj = nj2.clone();
        tokio::spawn(async move { st.insert(nj).await.unwrap() })
    }))
    .await;
    let ids: std::collections::HashSet<_> = results.iter().map(|(j, _)| j.id).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(results.iter().filter(|(_, ins)| *ins).count(), 1);
}

async fn futures_join<T: Send + 'static>(
    handles: impl IntoIterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// A stale lease holder can write nothing once the job was rescued and fetched again.
async fn fencing_stale_lease_cannot_write(t: &TestDb) {
    let s = &t.store;
    let (job, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let stale = s
        .fetch("w1", 1, Duration::from_secs(10))
        .await
        .unwrap()
        .remove(0);
    t.clock.advance(Duration::from_secs(11));
    let rescued = s.rescue().await.unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].state, JobState::Retryable);
    let fresh = s.fetch("w2", 1, LEASE).await.unwrap().remove(0);
    assert_eq!(fresh.job.id, job.id);
    assert_eq!(fresh.job.attempt, 2);
    let lost = |r: Result<_>| matches!(r, Err(Error::LostLease(id)) if id == job.id);
    assert!(lost(
        s.finish(&stale, Finish::Succeeded(json!("stale")))
            .await
            .map(|_| ())
    ));
    assert!(lost(
        s.append_log(&stale, "info", "stale").await.map(|_| ())
    ));
    assert!(lost(s.save_checkpoint(&stale, &json!("stale")).await));
    assert!(lost(s.heartbeat(&stale, LEASE).await.map(|_| ())));
    assert!(lost(s.cancel_requested(&stale).await.map(|_| ())));
    assert!(lost(s.release(&stale).await.map(|_| ())));
    let done = s
        .finish(&fresh, Finish::Succeeded(json!("fresh")))
        .await
        .unwrap();
    assert_eq!(done.result, Some(json!("fresh")));
    assert_ne!(done.checkpoint, json!("stale"));
    assert!(
        !s.log(job.id, 0)
            .await
            .unwrap()
            .iter()
            .any(|l| l.message == "stale")
    );
    // And after finishing, even the fresh lease is gone.
    assert!(lost(
        s.finish(&fresh, Finish::Succeeded(json!("again")))
            .await
            .map(|_| ())
    ));
}

/// Heartbeats keep a lease alive; the rescuer takes only expired ones, and fails jobs that have
/// no attempts left; a cancel request makes a rescued job cancelled.
async fn rescuer_and_heartbeats(t: &TestDb) {
    let s = &t.store;
    let mut one_attempt = new_job("assign", "contoso");
    one_attempt.max_attempts = 1;
    let (a, _) = s.insert(one_attempt).await.unwrap();
    let (b, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let (c, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let leased = s.fetch("w1", 10, Duration::from_secs(10)).await.unwrap();
    assert_eq!(leased.len(), 3);
    let lc = leased.iter().find(|l| l.job.id == c.id).unwrap();
    let lb = leased.iter().find(|l| l.job.id == b.id).unwrap();
    s.cancel(b.id).await.unwrap();
    t.clock.advance(Duration::from_secs(8));
    assert!(!s.heartbeat(lc, Duration::from_secs(10)).await.unwrap());
    assert!(
        s.heartbeat(lb, Duration::from_secs(1)).await.unwrap(),
        "heartbeat reports the cancel request"
    );
    t.clock.advance(Duration::from_secs(3));
    let mut rescued = s.rescue().await.unwrap();
    rescued.sort_by_key(|j| if j.id == a.id { 0 } else { 1 });
    assert_eq!(rescued.len(), 2, "c's lease was extended by its heartbeat");
    assert_eq!(rescued[0].id, a.id);
    assert_eq!(rescued[0].state, JobState::Failed);
    assert!(rescued[0].finished_at.is_some());
    assert_eq!(rescued[1].id, b.id);
    assert_eq!(rescued[1].state, JobState::Cancelled);
    assert_eq!(s.get(c.id).await.unwrap().unwrap().state, JobState::Running);
    assert!(s.rescue().await.unwrap().is_empty());
}

/// Park: the job waits in `parked` holding nothing, gets its attempt back, keeps its checkpoint,
/// and is fetched again only when the wait is over.
async fn parking_and_resume(t: &TestDb) {
    let s = &t.store;
    let (job, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let l = s.fetch("w1", 1, LEASE).await.unwrap().remove(0);
    s.save_checkpoint(&l, &json!({"done": ["add-to-group"], "waitFor": "cloudPc"}))
        .await
        .unwrap();
    let until = t.clock.now() + Duration::from_secs(15 * 60);
    let parked = s
        .finish(
            &l,
            Finish::Park {
                until,
                reason: "waiting for the Cloud PC to provision".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(parked.state, JobState::Parked);
    assert_eq!(parked.attempt, 0, "the attempt is given back");
    assert_eq!(parked.parks, 1);
    assert_eq!(parked.scheduled_at, until);
    assert_eq!(
        parked.parked_reason.as_deref(),
        Some("waiting for the Cloud PC to provision")
    );
    assert!(parked.lease_owner.is_none() && parked.lease_expires_at.is_none());
    assert!(parked.finished_at.is_none());
    t.clock.advance(Duration::from_secs(14 * 60));
    assert!(
        s.fetch("w2", 10, LEASE).await.unwrap().is_empty(),
        "not before `until`"
    );
    t.clock.advance(Duration::from_secs(60));
    let resumed = s.fetch("w2", 10, LEASE).await.unwrap().remove(0);
    assert_eq!(resumed.job.id, job.id);
    assert_eq!(resumed.job.attempt, 1);
    assert_eq!(
        resumed.job.checkpoint,
        json!({"done": ["add-to-group"], "waitFor": "cloudPc"})
    );
    assert!(resumed.job.parked_reason.is_none());
    // Parking many times never uses up attempts.
    let mut l = resumed;
    for _ in 0..10 {
        let until = t.clock.now() + Duration::from_secs(60);
        s.finish(
            &l,
            Finish::Park {
                until,
                reason: "again".into(),
            },
        )
        .await
        .unwrap();
        t.clock.advance(Duration::from_secs(60));
        l = s.fetch("w2", 1, LEASE).await.unwrap().remove(0);
    }
    assert_eq!(l.job.attempt, 1);
    assert_eq!(l.job.parks, 11);
    let done = s
        .finish(&l, Finish::Succeeded(json!({"cloudPc": "ready"})))
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Succeeded);
    let log = s.log(job.id, 0).await.unwrap();
    assert!(log.iter().any(|l| l.message.starts_with("parked until")));
}

/// Retry with backoff: the store picks exponential backoff with jitter; no attempts left: failed.
async fn retries_with_backoff(t: &TestDb) {
    let s = &t.store;
    let mut nj = new_job("assign", "contoso");
    nj.max_attempts = 3;
    let (job, _) = s.insert(nj).await.unwrap();
    let err = json!({"kind": "graphUnavailable", "message": "503"});
    for attempt in 1..=2u32 {
        let l = s.fetch("w1", 1, LEASE).await.unwrap().remove(0);
        assert_eq!(l.job.attempt, attempt);
        let now = t.clock.now();
        let r = s
            .finish(
                &l,
                Finish::Retry {
                    at: None,
                    error: err.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(r.state, JobState::Retryable);
        assert_eq!(r.error, Some(err.clone()));
        let base = Duration::from_secs(2u64.pow(attempt));
        let wait = r.scheduled_at - now;
        assert!(
            wait >= base && wait <= base + base / 10 + Duration::from_millis(1),
            "attempt {attempt}: waited {wait}"
        );
        assert!(
            s.fetch("w1", 1, LEASE).await.unwrap().is_empty(),
            "not before the backoff"
        );
        t.clock.advance(base + base / 10 + Duration::from_millis(1));
    }
    let l = s.fetch("w1", 1, LEASE).await.unwrap().remove(0);
    assert_eq!(l.job.attempt, 3);
    let last = s
        .finish(
            &l,
            Finish::Retry {
                at: None,
                error: err.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(last.state, JobState::Failed);
    assert!(last.finished_at.is_some());
    assert_eq!(s.get(job.id).await.unwrap().unwrap().attempt, 3);
    // An explicit retry time is kept.
    let (j2, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let l = fetch_one(t, j2.id).await;
    let at = t.clock.now() + Duration::from_secs(120);
    assert_eq!(
        s.finish(
            &l,
            Finish::Retry {
                at: Some(at),
                error: err
            }
        )
        .await
        .unwrap()
        .scheduled_at,
        at
    );
}

async fn cancel_queued_parked_and_running(t: &TestDb) {
    let s = &t.store;
    for state in [
        JobState::Scheduled,
        JobState::Available,
        JobState::Retryable,
        JobState::Parked,
    ] {
        let id = job_in_state(t, state).await;
        let c = s.cancel(id).await.unwrap();
        assert_eq!(c.state, JobState::Cancelled, "from {state}");
        assert!(c.finished_at.is_some());
        assert!(c.parked_reason.is_none());
    }
    // Running: the request is recorded; the handler sees it and stops at a step boundary.
    let id = job_in_state(t, JobState::Running).await;
    let c = s.cancel(id).await.unwrap();
    assert_eq!(c.state, JobState::Running);
    assert!(c.cancel_requested_at.is_some());
    // Finished jobs cannot be cancelled; unknown ids are NotFound.
    for state in [JobState::Succeeded, JobState::Failed, JobState::Cancelled] {
        let id = job_in_state(t, state).await;
        assert!(
            matches!(s.cancel(id).await, Err(Error::IllegalTransition { from, to: JobState::Cancelled, .. }) if from == state)
        );
    }
    assert!(matches!(
        s.cancel(JobId::new()).await,
        Err(Error::NotFound(_))
    ));
}

async fn cancel_running_seen_at_step_boundary(t: &TestDb) {
    let s = &t.store;
    let (job, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let l = fetch_one(t, job.id).await;
    assert!(!s.cancel_requested(&l).await.unwrap());
    s.cancel(job.id).await.unwrap();
    assert!(s.cancel_requested(&l).await.unwrap());
    // A handler that parks (or asks for a retry) after the request ends cancelled.
    let until = t.clock.now() + Duration::from_secs(60);
    let end = s
        .finish(
            &l,
            Finish::Park {
                until,
                reason: "wait".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(end.state, JobState::Cancelled);
    // And one that returns Cancelled itself.
    let (job2, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let l2 = fetch_one(t, job2.id).await;
    s.cancel(job2.id).await.unwrap();
    assert_eq!(
        s.finish(&l2, Finish::Cancelled).await.unwrap().state,
        JobState::Cancelled
    );
    // Release after a cancel request: cancelled, not requeued.
    let (job3, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let l3 = fetch_one(t, job3.id).await;
    s.cancel(job3.id).await.unwrap();
    assert_eq!(s.release(&l3).await.unwrap().state, JobState::Cancelled);
}

async fn release_gives_the_job_back(t: &TestDb) {
    let s = &t.store;
    let (job, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let l = fetch_one(t, job.id).await;
    let r = s.release(&l).await.unwrap();
    assert_eq!(r.state, JobState::Available);
    assert_eq!(r.attempt, 0);
    assert!(r.lease_owner.is_none());
    let again = fetch_one(t, job.id).await;
    assert_eq!(again.job.attempt, 1);
}

async fn scheduled_job_waits_for_run_at(t: &TestDb) {
    let s = &t.store;
    let mut nj = new_job("report", "contoso");
    nj.run_at = Some(t.clock.now() + Duration::from_secs(3600));
    let (job, _) = s.insert(nj).await.unwrap();
    assert_eq!(job.state, JobState::Scheduled);
    assert!(s.fetch("w", 10, LEASE).await.unwrap().is_empty());
    t.clock.advance(Duration::from_secs(3599));
    assert_eq!(s.promote().await.unwrap(), 0);
    t.clock.advance(Duration::from_secs(1));
    assert_eq!(s.promote().await.unwrap(), 1);
    assert_eq!(
        s.get(job.id).await.unwrap().unwrap().state,
        JobState::Available
    );
    assert_eq!(s.fetch("w", 10, LEASE).await.unwrap()[0].job.id, job.id);
}

async fn log_lines_are_numbered_and_announced(t: &TestDb) {
    let s = &t.store;
    let mut events = s.subscribe();
    let (job, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let l = fetch_one(t, job.id).await;
    for i in 1..=5 {
        assert_eq!(
            s.append_log(&l, "info", &format!("line {i}"))
                .await
                .unwrap(),
            i
        );
    }
    let tail = s.log(job.id, 3).await.unwrap();
    assert_eq!(tail.iter().map(|l| l.seq).collect::<Vec<_>>(), vec![4, 5]);
    assert_eq!(tail[1].message, "line 5");
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let JobEvent::Log { job: j, seq } = ev {
            assert_eq!(j, job.id);
            seen.push(seq);
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    // Readable from another store (another process) while the job runs.
    let other = t.another_store().await;
    assert_eq!(other.log(job.id, 0).await.unwrap().len(), 5);
}

async fn list_filters_and_pages(t: &TestDb) {
    let s = &t.store;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut nj = new_job(
            if i % 2 == 0 { "assign" } else { "unassign" },
            if i < 5 { "contoso" } else { "fabrikam" },
        );
        nj.target = Some(format!("user{i}@contoso.example"));
        ids.push(s.insert(nj).await.unwrap().0.id);
        t.clock.advance(Duration::from_secs(1));
    }
    let all = s
        .list(&JobFilter {
            limit: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3);
    assert_eq!(all.items[0].id, ids[6], "newest first");
    let p2 = s
        .list(&JobFilter {
            limit: Some(3),
            cursor: all.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let p3 = s
        .list(&JobFilter {
            limit: Some(3),
            cursor: p2.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(p3.items.len(), 1);
    assert!(p3.next_cursor.is_none());
    let seen: Vec<_> = all
        .items
        .iter()
        .chain(&p2.items)
        .chain(&p3.items)
        .map(|j| j.id)
        .collect();
    assert_eq!(seen, ids.iter().rev().copied().collect::<Vec<_>>());
    let f = s
        .list(&JobFilter {
            tenant: Some("contoso".into()),
            operation: Some("assign".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(f.items.len(), 3);
    let f = s
        .list(&JobFilter {
            target: Some("user6@contoso.example".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(f.items.len(), 1);
    let f = s
        .list(&JobFilter {
            requested_by: Some("alice@contoso.example".into()),
            state: Some(JobState::Available),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(f.items.len(), 7);
    let f = s
        .list(&JobFilter {
            created_after: Some(common::start_time() + Duration::from_secs(5)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(f.items.len(), 2);
    assert!(
        s.list(&JobFilter {
            cursor: Some("nonsense".into()),
            ..Default::default()
        })
        .await
        .is_err()
    );
}

/// Search, every sort column both ways and offset pages with a total run in the query, over all
/// the matches (not a window of the newest).
async fn list_searches_sorts_and_offsets(t: &TestDb) {
    let s = &t.store;
    let ops = ["unassign", "assign", "reprovision"];
    let mut ids = Vec::new();
    for i in 0..12 {
        let mut nj = new_job(ops[i % 3], "contoso");
        // Mixed case: search and the text sorts ignore case.
        nj.target = Some(format!("User{:02}@Contoso.example", 11 - i));
        nj.requested_by.upn = format!("op{}@contoso.example", i % 4);
        ids.push(s.insert(nj).await.unwrap().0.id);
        t.clock.advance(Duration::from_secs(1));
    }
    let page = |f: JobFilter| async move { s.list(&f).await.unwrap() };
    let targets = |p: &Page<Job>| {
        p.items
            .iter()
            .map(|j| j.target.clone().unwrap())
            .collect::<Vec<_>>()
    };

    // Search: any case, over target, operation, requester and id; LIKE wildcards are literal.
    let f = JobFilter {
        search: Some("user11@CONTOSO".into()),
        ..Default::default()
    };
    assert_eq!(page(f.clone()).await.items.len(), 1);
    assert_eq!(
        page(f.clone()).await.items[0].id,
        ids[0],
        "the oldest job is found"
    );
    assert_eq!(s.count(&f).await.unwrap(), 1);
    let f = JobFilter {
        search: Some("REPROV".into()),
        ..Default::default()
    };
    assert_eq!(s.count(&f).await.unwrap(), 4);
    let f = JobFilter {
        search: Some("op3@".into()),
        ..Default::default()
    };
    assert_eq!(s.count(&f).await.unwrap(), 3);
    let id_prefix: String = ids[5].to_string().chars().take(13).collect();
    let f = JobFilter {
        search: Some(id_prefix),
        ..Default::default()
    };
    assert_eq!(page(f).await.items[0].id, ids[5]);
    for wild in ["%", "_", "\\"] {
        let f = JobFilter {
            search: Some(wild.into()),
            ..Default::default()
        };
        assert_eq!(s.count(&f).await.unwrap(), 0, "{wild} is not a wildcard");
    }
    // Search combines with the other filters.
    let f = JobFilter {
        search: Some("user".into()),
        operation: Some("assign".into()),
        ..Default::default()
    };
    assert_eq!(s.count(&f).await.unwrap(), 4);

    // Sort by target, both ways, over every match.
    let asc = page(JobFilter {
        sort: JobSort::Target,
        limit: Some(50),
        ..Default::default()
    })
    .await;
    let expected: Vec<String> = (0..12)
        .map(|i| format!("User{i:02}@Contoso.example"))
        .collect();
    assert_eq!(
        targets(&asc),
        expected,
        "A to Z by default on a text column"
    );
    let desc = page(JobFilter {
        sort: JobSort::Target,
        descending: Some(true),
        ..Default::default()
    })
    .await;
    assert_eq!(
        targets(&desc),
        expected.iter().rev().cloned().collect::<Vec<_>>()
    );
    // Operation then newest first within one operation.
    let by_op = page(JobFilter {
        sort: JobSort::Operation,
        ..Default::default()
    })
    .await;
    let op_names: Vec<&str> = by_op.items.iter().map(|j| j.operation.as_str()).collect();
    assert_eq!(&op_names[..4], ["assign"; 4]);
    assert_eq!(&op_names[8..], ["unassign"; 4]);
    assert_eq!(by_op.items[0].id, ids[10], "ties newest first");
    let by_requester = page(JobFilter {
        sort: JobSort::Requester,
        descending: Some(true),
        ..Default::default()
    })
    .await;
    assert_eq!(
        by_requester.items[0].requested_by.upn,
        "op3@contoso.example"
    );
    let by_state = page(JobFilter {
        sort: JobSort::State,
        ..Default::default()
    })
    .await;
    assert_eq!(by_state.items.len(), 12);
    let oldest_first = page(JobFilter {
        descending: Some(false),
        ..Default::default()
    })
    .await;
    assert_eq!(oldest_first.items[0].id, ids[0]);

    // Offset pages: disjoint, complete, in order, the last one short.
    let mut seen = Vec::new();
    for offset in [0, 5, 10] {
        let p = page(JobFilter {
            sort: JobSort::Target,
            limit: Some(5),
            offset: Some(offset),
            ..Default::default()
        })
        .await;
        assert!(p.next_cursor.is_none(), "offset pages carry no cursor");
        seen.extend(targets(&p));
    }
    assert_eq!(seen, expected);
    let past = page(JobFilter {
        offset: Some(40),
        ..Default::default()
    })
    .await;
    assert!(past.items.is_empty());
    assert_eq!(s.count(&JobFilter::default()).await.unwrap(), 12);

    // A cursor only pages the newest-first order.
    let first = page(JobFilter {
        limit: Some(5),
        ..Default::default()
    })
    .await;
    let err = s
        .list(&JobFilter {
            sort: JobSort::Target,
            cursor: first.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!("created; DROP TABLE jobs".parse::<JobSort>().is_err());
}

both_stores!(
    every_transition_enforced_by_the_database,
    check_constraints_hold,
    idempotency_key_returns_the_live_job,
    fencing_stale_lease_cannot_write,
    rescuer_and_heartbeats,
    parking_and_resume,
    retries_with_backoff,
    cancel_queued_parked_and_running,
    cancel_running_seen_at_step_boundary,
    release_gives_the_job_back,
    scheduled_job_waits_for_run_at,
    log_lines_are_numbered_and_announced,
    list_filters_and_pages,
    list_searches_sorts_and_offsets,
);

fn nightly_report(cron: &str, tz: &str) -> ScheduleSpec {
    ScheduleSpec {
        name: "nightly-capacity-report".into(),
        cron: cron.into(),
        time_zone: tz.into(),
        job: JobTemplate {
            operation: "capacity-report".into(),
            tenant: "contoso".into(),
            input: json!({"mailTo": "it@contoso.example"}),
            target: None,
            requested_by: common::alice(),
            max_attempts: 3,
        },
        enabled: true,
    }
}

/// Two schedulers (two stores on one database) run the same due schedule: one job per fire.
async fn cron_fires_once_across_two_schedulers(t: &TestDb) {
    let a = t.store.clone();
    let b = t.another_store().await;
    // 06:00 in Paris every day; now is 2026-03-02 09:00 UTC (10:00 Paris).
    let s = a
        .schedule_upsert(nightly_report("0 6 * * *", "Europe/Paris"))
        .await
        .unwrap();
    assert_eq!(
        s.next_fire_at,
        time::macros::datetime!(2026-03-03 05:00 UTC)
    );
    assert_eq!(b.schedule_list().await.unwrap(), vec![s.clone()]);
    assert!(
        a.run_due_schedules().await.unwrap().is_empty(),
        "not due yet"
    );
    t.clock
        .set(time::macros::datetime!(2026-03-03 05:00:30 UTC));
    let (ra, rb) = tokio::join!(a.run_due_schedules(), b.run_due_schedules());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.len() + rb.len(),
        1,
        "one job for the fire, whoever inserted it"
    );
    // Both again (late schedulers that saw the old next_fire_at): still one.
    a.run_due_schedules().await.unwrap();
    b.run_due_schedules().await.unwrap();
    let jobs = a
        .list(&JobFilter {
            operation: Some("capacity-report".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.items.len(), 1);
    let job = &jobs.items[0];
    assert_eq!(job.schedule.as_deref(), Some("nightly-capacity-report"));
    assert_eq!(job.input, json!({"mailTo": "it@contoso.example"}));
    assert_eq!(job.max_attempts, 3);
    assert_eq!(job.state, JobState::Available);
    let next = a.schedule_list().await.unwrap()[0].next_fire_at;
    assert_eq!(next, time::macros::datetime!(2026-03-04 05:00 UTC));
    // The next day fires once more; the concurrent race again.
    t.clock.set(time::macros::datetime!(2026-03-04 05:01 UTC));
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let st: std::sync::Arc<dyn JobStore> = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { st.run_due_schedules().await.unwrap().len() })
        })
        .collect();
    let inserted: usize = futures_join(handles).await.into_iter().sum();
    assert_eq!(inserted, 1);
    // Disabled schedules do not fire; deleted ones are gone.
    let mut off = nightly_report("0 6 * * *", "Europe/Paris");
    off.enabled = false;
    a.schedule_upsert(off).await.unwrap();
    t.clock.set(time::macros::datetime!(2026-03-06 05:01 UTC));
    assert!(a.run_due_schedules().await.unwrap().is_empty());
    assert!(a.schedule_delete("nightly-capacity-report").await.unwrap());
    assert!(!a.schedule_delete("nightly-capacity-report").await.unwrap());
    assert!(a.schedule_list().await.unwrap().is_empty());
}

async fn bad_schedules_are_refused(t: &TestDb) {
    let s = &t.store;
    let e = s
        .schedule_upsert(nightly_report("0 6 * *", "UTC"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("expected 5"), "{e}");
    let e = s
        .schedule_upsert(nightly_report("0 6 * * *", "Paris"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown time zone"), "{e}");
    let e = s
        .schedule_upsert(nightly_report("0 0 31 2 *", "UTC"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("never fires"), "{e}");
    assert!(s.schedule_list().await.unwrap().is_empty());
}

/// max_running per tenant holds across two stores (two processes) fetching at the same time.
async fn tenant_concurrency_across_two_workers(t: &TestDb) {
    let a = t.store.clone();
    let b = t.another_store().await;
    a.set_tenant_limits(
        "contoso",
        TenantLimits {
            max_running: 2,
            ..TenantLimits::GRAPH_DEFAULT
        },
    )
    .await
    .unwrap();
    assert_eq!(b.tenant_limits("contoso").await.unwrap().max_running, 2);
    assert_eq!(
        b.tenant_limits("fabrikam").await.unwrap(),
        TenantLimits::GRAPH_DEFAULT
    );
    for _ in 0..6 {
        a.insert(new_job("assign", "contoso")).await.unwrap();
    }
    for _ in 0..3 {
        a.insert(new_job("assign", "fabrikam")).await.unwrap();
    }
    // Many concurrent fetches from both stores.
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let st: std::sync::Arc<dyn JobStore> = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { st.fetch(&format!("w{i}"), 3, LEASE).await.unwrap() })
        })
        .collect();
    let leased: Vec<Leased> = futures_join(handles).await.into_iter().flatten().collect();
    let contoso: Vec<_> = leased
        .iter()
        .filter(|l| l.job.tenant == "contoso")
        .collect();
    let fabrikam = leased.iter().filter(|l| l.job.tenant == "fabrikam").count();
    assert_eq!(contoso.len(), 2, "contoso is limited to 2 running jobs");
    assert_eq!(fabrikam, 3, "fabrikam is not starved by contoso's queue");
    // One contoso job finishes: exactly one more may start, from either process.
    a.finish(contoso[0], Finish::Succeeded(json!({})))
        .await
        .unwrap();
    let more_b = b.fetch("wb", 10, LEASE).await.unwrap();
    let more_a = a.fetch("wa", 10, LEASE).await.unwrap();
    assert_eq!(more_b.len() + more_a.len(), 1);
    // A parked job does not count as running.
    let until = t.clock.now() + Duration::from_secs(600);
    b.finish(
        &more_b.into_iter().chain(more_a).next().unwrap(),
        Finish::Park {
            until,
            reason: "wait".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(a.fetch("wa", 10, LEASE).await.unwrap().len(), 1);
}

/// The Graph write budget is one token bucket per tenant in the database, shared by all processes.
async fn write_budget_across_two_workers(t: &TestDb) {
    let a = t.store.clone();
    let b = t.another_store().await;
    // 10 writes of burst, refilled at 1 per second.
    let limits = TenantLimits {
        max_running: 5,
        write_capacity: 10,
        write_refill_per_hour: 3600,
    };
    a.set_tenant_limits("contoso", limits).await.unwrap();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let st: std::sync::Arc<dyn JobStore> = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { st.take_write_budget("contoso", 1).await.unwrap() })
        })
        .collect();
    let grants = futures_join(handles).await;
    assert_eq!(
        grants
            .iter()
            .filter(|g| **g == BudgetGrant::Granted)
            .count(),
        10
    );
    match b.take_write_budget("contoso", 3).await.unwrap() {
        BudgetGrant::Wait(d) => assert!(
            d > Duration::from_millis(2990) && d <= Duration::from_millis(3001),
            "{d:?}"
        ),
        g => panic!("expected a wait, got {g:?}"),
    }
    // Other tenants have their own bucket.
    assert_eq!(
        a.take_write_budget("fabrikam", 1).await.unwrap(),
        BudgetGrant::Granted
    );
    t.clock.advance(Duration::from_secs(2));
    assert!(matches!(
        a.take_write_budget("contoso", 3).await.unwrap(),
        BudgetGrant::Wait(_)
    ));
    t.clock.advance(Duration::from_secs(1));
    assert_eq!(
        a.take_write_budget("contoso", 3).await.unwrap(),
        BudgetGrant::Granted
    );
    // The bucket never holds more than its capacity.
    t.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        b.take_write_budget("contoso", 10).await.unwrap(),
        BudgetGrant::Granted
    );
    assert!(matches!(
        b.take_write_budget("contoso", 1).await.unwrap(),
        BudgetGrant::Wait(_)
    ));
    assert!(
        a.take_write_budget("contoso", 11).await.is_err(),
        "more than the capacity can never be granted"
    );
}

fn audit_rec(outcome: &str, job: Option<JobId>) -> NewAuditRecord {
    NewAuditRecord {
        at: None,
        actor: common::alice(),
        tenant: "contoso".into(),
        operation: "assign".into(),
        target: Some("bob@contoso.example".into()),
        input: json!({"user": "bob@contoso.example", "clientSecret": "[redacted]"}),
        outcome: outcome.into(),
        job_id: job,
        request_id: Some("req-1".into()),
    }
}

async fn audit_chain_list_and_export(t: &TestDb) {
    let s = &t.store;
    assert_eq!(
        s.audit_verify().await.unwrap(),
        AuditVerdict::Ok { count: 0 }
    );
    let job = JobId::new();
    let r1 = s
        .audit_append(audit_rec("submitted", Some(job)))
        .await
        .unwrap();
    t.clock.advance(Duration::from_secs(5));
    let mut refused = audit_rec("refused", None);
    refused.actor.upn = "mallory@contoso.example".into();
    let r2 = s.audit_append(refused).await.unwrap();
    t.clock.advance(Duration::from_secs(5));
    let r3 = s
        .audit_append(audit_rec("succeeded", Some(job)))
        .await
        .unwrap();
    assert_eq!((r1.seq, r2.seq, r3.seq), (1, 2, 3));
    assert_eq!(r1.prev_hash, w365_jobs::audit::GENESIS_HASH);
    assert_eq!(r2.prev_hash, r1.hash);
    assert_eq!(r3.prev_hash, r2.hash);
    assert_eq!(
        s.audit_verify().await.unwrap(),
        AuditVerdict::Ok { count: 3 }
    );
    let all = s.audit_list(&AuditFilter::default()).await.unwrap();
    assert_eq!(all.items, vec![r1.clone(), r2.clone(), r3.clone()]);
    let by_job = s
        .audit_list(&AuditFilter {
            job_id: Some(job),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_job.items.len(), 2);
    let by_actor = s
        .audit_list(&AuditFilter {
            actor: Some("mallory@contoso.example".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_actor.items, vec![r2.clone()]);
    let since = s
        .audit_list(&AuditFilter {
            since: Some(r2.at),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(since.items.len(), 2);
    let p1 = s
        .audit_list(&AuditFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    let p2 = s
        .audit_list(&AuditFilter {
            limit: Some(2),
            cursor: p1.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(p2.items, vec![r3.clone()]);
    assert!(p2.next_cursor.is_none());
    // Concurrent appends from two processes keep one unbroken chain.
    let other = t.another_store().await;
    let handles: Vec<_> = (0..10)
        .map(|i| {
            let st: std::sync::Arc<dyn JobStore> = if i % 2 == 0 {
                t.store.clone()
            } else {
                other.clone()
            };
            tokio::spawn(
                async move { st.audit_append(audit_rec("submitted", None)).await.unwrap() },
            )
        })
        .collect();
    futures_join(handles).await;
    assert_eq!(
        s.audit_verify().await.unwrap(),
        AuditVerdict::Ok { count: 13 }
    );
    // Export.
    let mut jsonl = Vec::new();
    w365_jobs::audit::write_jsonl(&mut jsonl, &all.items).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["actor"]["upn"], "mallory@contoso.example");
    assert_eq!(lines[0]["jobId"], job.to_string());
    let mut csv = Vec::new();
    w365_jobs::audit::write_csv(&mut csv, &all.items, true).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let mut rows = csv.lines();
    assert_eq!(rows.next().unwrap(), w365_jobs::audit::CSV_HEADER.join(","));
    assert!(rows.next().unwrap().starts_with("1,2026-03-02T09:00:00Z,11111111-1111-1111-1111-111111111111,alice@contoso.example,Alice Admin,contoso,assign,bob@contoso.example,"));
}

/// Tampering: on SQLite a raw UPDATE goes through and verify names the record; on PostgreSQL the
/// trigger refuses UPDATE and DELETE (and when a superuser disables it, verify still finds it).
async fn audit_tampering_is_detected(t: &TestDb) {
    let s = &t.store;
    for i in 0..4 {
        s.audit_append(audit_rec(if i == 2 { "failed" } else { "succeeded" }, None))
            .await
            .unwrap();
    }
    let tamper = "UPDATE audit_log SET outcome = 'succeeded' WHERE seq = 3";
    if s.backend() == Backend::Postgres {
        let e = s.execute_raw(tamper).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        let e = s
            .execute_raw("DELETE FROM audit_log WHERE seq = 2")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        let e = s.execute_raw("TRUNCATE audit_log").await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        assert_eq!(
            s.audit_verify().await.unwrap(),
            AuditVerdict::Ok { count: 4 }
        );
        s.execute_raw("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            .await
            .unwrap();
    }
    assert_eq!(s.execute_raw(tamper).await.unwrap(), 1);
    match s.audit_verify().await.unwrap() {
        AuditVerdict::Broken { seq, reason } => {
            assert_eq!(seq, 3);
            assert!(reason.contains("does not match its hash"), "{reason}");
        }
        v => panic!("tampering not detected: {v:?}"),
    }
    // Rewriting the hash too breaks the link of the next record.
    s.execute_raw("UPDATE audit_log SET hash = 'ff' WHERE seq = 3")
        .await
        .unwrap();
    s.execute_raw("UPDATE audit_log SET outcome = 'failed' WHERE seq = 3")
        .await
        .unwrap();
    assert!(matches!(
        s.audit_verify().await.unwrap(),
        AuditVerdict::Broken { seq: 3, .. }
    ));
    // A deleted record is named too.
    s.execute_raw("DELETE FROM audit_log WHERE seq = 3")
        .await
        .unwrap();
    match s.audit_verify().await.unwrap() {
        AuditVerdict::Broken { seq, reason } => {
            assert_eq!(seq, 4);
            assert!(reason.contains("missing"), "{reason}");
        }
        v => panic!("deletion not detected: {v:?}"),
    }
}

both_stores!(
    cron_fires_once_across_two_schedulers,
    bad_schedules_are_refused,
    tenant_concurrency_across_two_workers,
    write_budget_across_two_workers,
    audit_chain_list_and_export,
    audit_tampering_is_detected,
);

/// A worker appending lines while others cancel (store-written lines): one gap-free sequence.
async fn concurrent_log_writers_get_distinct_seqs(t: &TestDb) {
    let (job, _) = t.store.insert(new_job("assign", "contoso")).await.unwrap();
    let l = fetch_one(t, job.id).await;
    let other = t.another_store().await;
    let mut handles = Vec::new();
    for i in 0..20 {
        let st: std::sync::Arc<dyn JobStore> = if i % 2 == 0 {
            t.store.clone()
        } else {
            other.clone()
        };
        let l = l.clone();
        handles.push(tokio::spawn(async move {
            if i % 5 == 4 {
                st.cancel(l.id()).await.map(|_| ())
            } else {
                st.append_log(&l, "info", &format!("line {i}"))
                    .await
                    .map(|_| ())
            }
        }));
    }
    for r in futures_join(handles).await {
        r.unwrap();
    }
    let seqs: Vec<i64> = t
        .store
        .log(job.id, 0)
        .await
        .unwrap()
        .iter()
        .map(|l| l.seq)
        .collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
}

both_stores!(concurrent_log_writers_get_distinct_seqs);

fn line(t: &TestDb, message: &str) -> NewLogLine {
    NewLogLine {
        at: t.clock.now(),
        level: "info".into(),
        message: message.into(),
    }
}

/// A step boundary is one write: the lines logged during the step, the checkpoint, and the
/// cancel request read back; the lease holder only; the last lines go with the outcome.
async fn progress_writes_lines_with_the_checkpoint(t: &TestDb) {
    let s = &t.store;
    let (job, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let l = fetch_one(t, job.id).await;
    let mut events = s.subscribe();
    let logged_at = t.clock.now();
    t.clock.advance(Duration::from_secs(3));
    let w = s
        .write_progress(
            &l,
            &[
                NewLogLine {
                    at: logged_at,
                    level: "info".into(),
                    message: "step 1/2: add to group".into(),
                },
                NewLogLine {
                    at: logged_at,
                    level: "warn".into(),
                    message: "step 1/2 done: added to 'Zoë's \"VIP\" group' \\ 日本".into(),
                },
            ],
            Some(&json!({"done": 1})),
            Durability::Now,
        )
        .await
        .unwrap();
    assert_eq!(
        w,
        Written {
            last_seq: Some(2),
            cancel_requested: false
        }
    );
    assert_eq!(
        events.recv().await.unwrap(),
        JobEvent::Log {
            job: job.id,
            seq: 2
        },
        "one event for the batch, with its last seq"
    );
    let got = s.get(job.id).await.unwrap().unwrap();
    assert_eq!(got.checkpoint, json!({"done": 1}));
    let log = s.log(job.id, 0).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].at, logged_at, "a line keeps the time it was logged");
    assert_eq!(log[0].message, "step 1/2: add to group");
    // Lines written in one statement keep their order, level and text.
    assert_eq!(
        (
            log[1].seq,
            log[1].level.as_str(),
            log[1].message.as_str(),
            log[1].at
        ),
        (
            2,
            "warn",
            "step 1/2 done: added to 'Zoë's \"VIP\" group' \\ 日本",
            logged_at
        )
    );
    // Lines alone keep the checkpoint; nothing at all still reads the cancel request.
    let w = s
        .write_progress(&l, &[line(t, "waiting")], None, Durability::Soon)
        .await
        .unwrap();
    assert_eq!(w.last_seq, Some(3));
    assert_eq!(
        s.get(job.id).await.unwrap().unwrap().checkpoint,
        json!({"done": 1})
    );
    s.cancel(job.id).await.unwrap();
    let w = s
        .write_progress(&l, &[], None, Durability::Soon)
        .await
        .unwrap();
    assert_eq!(
        w,
        Written {
            last_seq: None,
            cancel_requested: true
        }
    );
    // The outcome comes after the last lines, in one transaction.
    let done = s
        .finish_with_log(
            &l,
            Finish::Cancelled,
            &[line(t, "cancelled at a step boundary")],
            Some(&json!({"step": 3})),
        )
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Cancelled);
    assert_eq!(
        done.checkpoint,
        json!({"step": 3}),
        "saved with the outcome"
    );
    let log = s.log(job.id, 0).await.unwrap();
    let messages: Vec<(i64, &str)> = log.iter().map(|l| (l.seq, l.message.as_str())).collect();
    assert_eq!(
        messages[4..],
        [(5, "cancelled at a step boundary"), (6, "cancelled")]
    );
    // Fenced: a finished (or taken over) job takes no more lines.
    assert!(matches!(
        s.write_progress(&l, &[line(t, "late")], Some(&json!("late")), Durability::Now)
            .await,
        Err(Error::LostLease(id)) if id == job.id
    ));
    assert_eq!(s.log(job.id, 0).await.unwrap().len(), 6);
}

both_stores!(progress_writes_lines_with_the_checkpoint);

#[tokio::test]
async fn sqlite_in_memory_store() {
    let s = connect("sqlite::memory:").await.unwrap();
    let (job, _) = s.insert(new_job("assign", "contoso")).await.unwrap();
    let l = s.fetch("w", 1, LEASE).await.unwrap().remove(0);
    s.finish(&l, Finish::Succeeded(json!({}))).await.unwrap();
    assert_eq!(
        s.get(job.id).await.unwrap().unwrap().state,
        JobState::Succeeded
    );
}

#[tokio::test]
async fn unsupported_url_says_what_to_use() {
    let e = connect("mysql://localhost/db").await.err().unwrap();
    assert!(
        e.to_string()
            .contains("use sqlite://PATH?mode=rwc or postgres://"),
        "{e}"
    );
}

/// PostgreSQL: a store hears other processes' events (LISTEN/NOTIFY), not its own twice.
/// SQLite: only this process's events (documented on JobEvent).
async fn events_reach_other_processes_on_postgres(t: &TestDb) {
    let other = t.another_store().await;
    let mut rx = other.subscribe();
    let (job, _) = t.store.insert(new_job("assign", "contoso")).await.unwrap();
    let l = fetch_one(t, job.id).await;
    t.store.append_log(&l, "info", "hello").await.unwrap();
    if t.store.backend() == Backend::Postgres {
        let want = JobEvent::Log {
            job: job.id,
            seq: 1,
        };
        let got = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match rx.recv().await {
                    Ok(e) if e == want => return e,
                    Ok(_) => continue,
                    Err(e) => panic!("event stream ended: {e}"),
                }
            }
        })
        .await
        .expect("the log event reached the other store");
        assert_eq!(got, want);
    } else {
        assert!(
            rx.try_recv().is_err(),
            "SQLite stores do not share events across pools"
        );
    }
    // Its own events are not echoed back by the listener.
    let mut own = t.store.subscribe();
    t.store.append_log(&l, "info", "again").await.unwrap();
    assert_eq!(
        own.recv().await.unwrap(),
        JobEvent::Log {
            job: job.id,
            seq: 2
        }
    );
    let echoed = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Ok(JobEvent::Log { seq: 2, .. }) = own.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(echoed.is_err(), "own event delivered twice");
}

both_stores!(events_reach_other_processes_on_postgres);

/// Portal sessions and sign-ins: stored by digest, shared by every store on the database (server
/// replicas), expiring with the store's clock, sign-ins usable once.
async fn portal_sessions_and_signins(t: &TestDb) {
    let now = t.clock.now();
    let signin = PortalSignIn {
        key_hash: "k1".into(),
        state: "state-1".into(),
        nonce: "nonce-1".into(),
        verifier: "verifier-1".into(),
        return_to: "/users?q=adele".into(),
        expires_at: now + Duration::from_secs(600),
    };
    t.store.portal_signin_put(&signin).await.unwrap();
    let replica = t.another_store().await;
    assert_eq!(
        replica.portal_signin_take("k1").await.unwrap(),
        Some(signin.clone())
    );
    assert_eq!(
        t.store.portal_signin_take("k1").await.unwrap(),
        None,
        "used once"
    );
    // An expired sign-in is not handed out.
    let late = PortalSignIn {
        key_hash: "k2".into(),
        ..signin.clone()
    };
    t.store.portal_signin_put(&late).await.unwrap();
    t.clock.advance(Duration::from_secs(601));
    assert_eq!(t.store.portal_signin_take("k2").await.unwrap(), None);

    let now = t.clock.now();
    let session = PortalSession {
        id_hash: "h1".into(),
        operator: Identity {
            object_id: "o1".into(),
            upn: "hank.helpdesk@contoso.com".into(),
            display_name: "Hank Helpdesk".into(),
        },
        sign_in_tenant: "t1".into(),
        role: Some("W365.Helpdesk".into()),
        tenant: None,
        csrf_token: "csrf-1".into(),
        created_at: now,
        expires_at: now + Duration::from_secs(3600),
    };
    t.store.portal_session_put(&session).await.unwrap();
    let read = replica.portal_session_get("h1").await.unwrap().unwrap();
    assert_eq!(read.operator, session.operator);
    assert_eq!(read.role.as_deref(), Some("W365.Helpdesk"));
    assert_eq!(read.csrf_token, "csrf-1");
    assert_eq!(read.tenant, None);
    assert!(
        replica
            .portal_session_set_tenant("h1", "contoso")
            .await
            .unwrap()
    );
    assert_eq!(
        t.store
            .portal_session_get("h1")
            .await
            .unwrap()
            .unwrap()
            .tenant
            .as_deref(),
        Some("contoso")
    );
    assert!(
        !t.store
            .portal_session_set_tenant("nope", "contoso")
            .await
            .unwrap()
    );
    assert_eq!(t.store.portal_session_get("nope").await.unwrap(), None);
    // Sign out on one replica ends it everywhere.
    assert!(t.store.portal_session_delete("h1").await.unwrap());
    assert_eq!(replica.portal_session_get("h1").await.unwrap(), None);
    assert!(!t.store.portal_session_delete("h1").await.unwrap());
    // Expiry.
    let short = PortalSession {
        id_hash: "h2".into(),
        ..session
    };
    t.store.portal_session_put(&short).await.unwrap();
    assert!(t.store.portal_session_get("h2").await.unwrap().is_some());
    t.clock.advance(Duration::from_secs(3600));
    assert_eq!(t.store.portal_session_get("h2").await.unwrap(), None);
    assert!(
        !t.store
            .portal_session_set_tenant("h2", "contoso")
            .await
            .unwrap()
    );
}

both_stores!(portal_sessions_and_signins);

/// A write that fails inside its transaction (here: a lost lease, found after BEGIN) ends that
/// transaction: another store on the same database (another process) can write at once, and so
/// can this one. On SQLite a transaction left open would hold the database's one write lock.
async fn a_failed_write_leaves_no_transaction_open(t: &TestDb) {
    let s = &t.store;
    s.insert(new_job("assign", "contoso")).await.unwrap();
    let stale = s
        .fetch("w1", 1, Duration::from_secs(10))
        .await
        .unwrap()
        .remove(0);
    t.clock.advance(Duration::from_secs(11));
    assert_eq!(s.rescue().await.unwrap().len(), 1);
    let line = NewLogLine {
        at: t.clock.now(),
        level: "info".into(),
        message: "stale".into(),
    };
    for _ in 0..3 {
        let r = s
            .write_progress(
                &stale,
                std::slice::from_ref(&line),
                Some(&json!(1)),
                Durability::Now,
            )
            .await;
        assert!(matches!(r, Err(Error::LostLease(_))), "{r:?}");
    }
    let (other, job) = tokio::time::timeout(Duration::from_secs(10), async {
        let other = t.another_store().await;
        let (job, _) = other.insert(new_job("assign", "contoso")).await.unwrap();
        (other, job)
    })
    .await
    .expect("the other store's write is not kept waiting by a transaction left open");
    assert!(s.get(job.id).await.unwrap().is_some());
    s.insert(new_job("unassign", "contoso")).await.unwrap();
    other.pool().close().await;
}

both_stores!(a_failed_write_leaves_no_transaction_open);

/// A worker's idle poll asks `work_ready` (a read) before it fetches: it must say yes exactly
/// when a fetch would find something to take or to promote.
async fn work_ready_says_whether_a_fetch_would_find_anything(t: &TestDb) {
    let s = &t.store;
    assert!(!s.work_ready().await.unwrap(), "nothing is queued");
    s.set_tenant_limits(
        "contoso",
        TenantLimits {
            max_running: 1,
            ..TenantLimits::GRAPH_DEFAULT
        },
    )
    .await
    .unwrap();
    for _ in 0..2 {
        s.insert(new_job("assign", "contoso")).await.unwrap();
    }
    assert!(s.work_ready().await.unwrap(), "two available jobs");
    let first = s.fetch("w", 5, LEASE).await.unwrap();
    assert_eq!(first.len(), 1, "contoso runs one job at a time");
    assert!(
        !s.work_ready().await.unwrap(),
        "contoso is at its limit: its other job cannot start"
    );
    s.finish(
        &first[0],
        Finish::Park {
            until: s.clock().now() + Duration::from_secs(60),
            reason: "waiting".into(),
        },
    )
    .await
    .unwrap();
    assert!(s.work_ready().await.unwrap(), "contoso has room again");
    let second = s.fetch("w", 5, LEASE).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(
        !s.work_ready().await.unwrap(),
        "at its limit again, and the parked job is not due"
    );
    t.clock.advance(Duration::from_secs(61));
    assert!(
        s.work_ready().await.unwrap(),
        "the parked job is due: a fetch would promote it"
    );
    assert_eq!(s.promote().await.unwrap(), 1);
    assert!(
        !s.work_ready().await.unwrap(),
        "promoted, it waits for contoso's limit"
    );
}

both_stores!(work_ready_says_whether_a_fetch_would_find_anything);
