//! `assign.bulk` through `w365 serve`: a bulk file submitted as one job, its rows visible in the
//! job's result and log, a Reader refused, and a job killed after its memberships resumed by
//! another worker without doing anything twice (the journal is in the job's checkpoint).

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Harness, Options, start_with};
use secrecy::SecretString;
use serde_json::{Value, json};
use w365_graph::Cloud;
use w365_graph::auth::Credential;
use w365_jobs::{Handler, JobContext, JobId};
use w365_sim::faults::{FaultAction, FaultRule, Trigger};

const ASSIGNABLE: [&str; 3] = [
    "grace.wilson@contoso.com",
    "henry.moore@contoso.com",
    "jack.anderson@contoso.com",
];

/// Five rows: three users to assign, an unknown user (row 5, invalid) and a licensed one (row 6).
fn file() -> String {
    let mut text = String::from("user\n");
    for u in ASSIGNABLE {
        text.push_str(&format!("{u}\n"));
    }
    text.push_str("nobody@contoso.com\nalice.smith@contoso.com\n");
    text
}

async fn submit(h: &Harness, token: &str, rows: &str) -> (u16, Value) {
    h.post(
        token,
        "/api/v1/jobs",
        &json!({"operation": "assign.bulk", "tenant": "sandbox", "params": {"rows": rows}}),
    )
    .await
}

/// Follows the job until it is finished, advancing the simulator's clock.
async fn follow(h: &Harness, token: &str, id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, job) = h.get(token, &format!("/api/v1/jobs/{id}")).await;
        assert_eq!(status, 200, "{job}");
        if matches!(
            job["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "job stuck: {job}"
        );
        h.sim.advance(Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn outcomes(job: &Value) -> Vec<(u64, String, String)> {
    job["result"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in the result: {job}"))
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["user"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn expected_rows() -> Vec<(u64, String, String)> {
    let mut want: Vec<(u64, String, String)> = ASSIGNABLE
        .iter()
        .enumerate()
        .map(|(i, u)| (i as u64 + 2, (*u).to_owned(), "assigned".to_owned()))
        .collect();
    want.push((5, "nobody@contoso.com".into(), "invalid".into()));
    want.push((
        6,
        "alice.smith@contoso.com".into(),
        "alreadyAssigned".into(),
    ));
    want
}

/// Every member of the group once (a duplicated add would show twice or fail).
async fn assert_members_unique(h: &Harness, name: &str) {
    let client = common::sim_client(&h.sim);
    let g = client.groups().find_by_display_name(name).await.unwrap();
    let mut members: Vec<String> = client
        .groups()
        .members(&g[0].id)
        .collect_all()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    let n = members.len();
    members.sort();
    members.dedup();
    assert_eq!(members.len(), n, "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_file_runs_as_one_job_with_its_rows_in_the_result_and_the_log() {
    let h = start_with(Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let helpdesk = h.token("helpdesk").await;
    let reader = h.token("reader").await;

    let (status, body) = submit(&h, &reader, &file()).await;
    assert_eq!(status, 403, "{body}");

    // A file without one valid row is refused on submission, with the row number.
    let (status, body) = submit(&h, &helpdesk, "user\nnot-a-user\n").await;
    assert_eq!(status, 422, "{body}");
    let problem = &body["error"]["problems"][0];
    assert_eq!(problem["param"], "params.rows", "{body}");
    assert!(
        problem["message"].as_str().unwrap().contains("row 2"),
        "{body}"
    );

    let (status, job) = submit(&h, &helpdesk, &file()).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let job = follow(&h, &helpdesk, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(outcomes(&job), expected_rows());
    assert_eq!(job["result"]["command"], "assign");

    let lines: Vec<String> = h
        .store
        .log(id.parse::<JobId>().unwrap(), 0)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    for (row, user, outcome) in expected_rows() {
        // The log speaks as the CLI's table does.
        let outcome = outcome.replace("alreadyAssigned", "already assigned");
        let line = format!("row {row} {user}: {outcome}");
        assert!(
            lines.iter().any(|l| l.starts_with(&line)),
            "{line} not in {lines:#?}"
        );
    }
    assert_members_unique(&h, "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB").await;

    // The portal's job page shows the rows as a table, with the counts per outcome.
    let mut portal = common::portal::Portal::new(&h);
    portal.sign_in("helpdesk").await;
    let page = portal.get(&format!("/jobs/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let table = &page.body[page.body.find("id=\"rows-table\"").expect("a rows table")..];
    for (row, user, _) in expected_rows() {
        assert!(
            table.contains(&format!(
                "<td data-label=\"Row\">{row}</td><td data-label=\"User\">{user}</td>"
            )),
            "row {row} in {table}"
        );
    }
    assert!(
        table.contains("Fix:"),
        "an invalid row says how to fix it: {table}"
    );
    let counts = &page.body[page.body.find("id=\"row-counts\"").expect("counts")..];
    assert!(counts.starts_with("id=\"row-counts\">5 rows:"), "{counts}");
    for c in ["3 assigned", "1 invalid", "1 already assigned"] {
        assert!(counts[..400].contains(c), "{c} in {counts}");
    }
    h.shutdown().await;
}

/// The operations handler of a worker that is going to be killed.
fn handler(h: &Harness) -> Arc<w365_service::OpsHandler> {
    let base = h.sim.base_url();
    let app = h.sim.admin_app();
    let options = w365_service::HandlerOptions {
        poll_interval: Some(Duration::from_millis(50)),
        resume: w365_ops::resume::ResumeOptions {
            inline_wait: Duration::ZERO,
        },
        retry: None,
    };
    Arc::new(
        w365_service::OpsHandler::new(Default::default(), options).with_sandbox(
            Cloud::Custom {
                graph: base.clone(),
                authority: base,
            },
            Credential::ClientSecret {
                tenant_id: h.sim.tenant_id(),
                client_id: app.client_id.clone(),
                secret: SecretString::from(app.client_secret.clone()),
            },
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_job_killed_after_its_memberships_resumes_and_does_nothing_twice() {
    let mut h = start_with(Options::default()).await;
    let helpdesk = h.token("helpdesk").await;
    let (status, job) = submit(&h, &helpdesk, &file()).await;
    assert_eq!(status, 202, "{job}");
    let id: JobId = job["id"].as_str().unwrap().parse().unwrap();

    // Slow batches, so the run can be killed after the memberships, before the licences.
    h.sim.set_faults(vec![FaultRule {
        method: Some("POST".into()),
        path: Some("/v1.0/$batch".into()),
        tenant: None,
        action: FaultAction::Latency(400),
        trigger: Trigger::Always,
    }]);
    let leased = h
        .store
        .fetch("doomed-worker", 1, Duration::from_millis(500))
        .await
        .unwrap()
        .pop()
        .expect("the job is leased");
    let doomed = handler(&h);
    let store = h.store.clone();
    let run = tokio::spawn(async move {
        doomed.run(&JobContext::new(store, leased)).await;
    });
    let started = Instant::now();
    let journaled = loop {
        let job = h.store.get(id).await.unwrap().unwrap();
        let journal = job.checkpoint["bulkJournal"].clone();
        if journal
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["step"] == "groups"))
        {
            break journal;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never journaled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    run.abort(); // the worker dies: no finish, no release, its lease left to expire
    let _ = run.await;
    let journal = serde_json::to_string(&journaled).unwrap();
    assert!(!journal.contains("\"confirmed\""), "{journal}");
    for u in ASSIGNABLE {
        assert!(journal.contains(u), "{u} not in {journal}");
    }

    h.sim.set_faults(Vec::new());
    h.start_worker();
    let job = follow(&h, &helpdesk, &id.to_string()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(job["attempt"].as_u64().unwrap() >= 2, "{job}");
    assert_eq!(outcomes(&job), expected_rows());
    let journal = serde_json::to_string(&job["checkpoint"]["bulkJournal"]).unwrap();
    for u in ASSIGNABLE {
        for step in ["groups", "license", "confirmed"] {
            let entry = json!({"user": u, "step": step}).to_string();
            assert!(journal.contains(&entry), "{entry} not in {journal}");
        }
    }
    for name in [
        "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB",
        "cfg - Windows 365 - Provisioning - Win11",
    ] {
        assert_members_unique(&h, name).await;
    }
    assert!(h.sim.outbox().is_empty(), "no mail, no ticket");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_unassign_file_runs_as_one_job() {
    let h = start_with(Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let helpdesk = h.token("helpdesk").await;
    let rows = "user\nalice.smith@contoso.com\nnobody@contoso.com\n";
    let body = json!({"operation": "unassign.bulk", "tenant": "sandbox", "params": {"rows": rows}});
    let reader = h.token("reader").await;
    let (status, refused) = h.post(&reader, "/api/v1/jobs", &body).await;
    assert_eq!(status, 403, "{refused}");
    let (status, job) = h.post(&helpdesk, "/api/v1/jobs", &body).await;
    assert_eq!(status, 202, "{job}");
    let job = follow(&h, &helpdesk, job["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["command"], "unassign");
    let got: Vec<(u64, String, String)> = outcomes(&job);
    assert_eq!(
        got,
        [
            (2, "alice.smith@contoso.com".into(), "unassigned".into()),
            (3, "nobody@contoso.com".into(), "invalid".into()),
        ]
    );
    let journal = job["checkpoint"]["bulkJournal"].to_string();
    assert!(journal.contains("alice.smith@contoso.com"), "{journal}");
    h.shutdown().await;
}

/// `notify` in a bulk job: the wait for the rows' Cloud PCs parks the job between checks (no
/// worker held), the cursor and the journal in its checkpoint; when the clock has provisioned
/// them, the resumed run mails each user exactly once and the job succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_job_with_notify_parks_until_the_cloud_pcs_are_ready_and_mails_each_user_once() {
    let h = start_with(Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let helpdesk = h.token("helpdesk").await;
    let (status, job) = h
        .post(
            &helpdesk,
            "/api/v1/jobs",
            &json!({
                "operation": "assign.bulk",
                "tenant": "sandbox",
                "params": {"rows": file(), "notify": true, "message": "Welcome aboard"},
            }),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let id: JobId = job["id"].as_str().unwrap().parse().unwrap();

    // The licences are confirmed once the clock has passed their processing; the Cloud PCs take
    // 45 minutes more, so the job parks on them.
    let started = Instant::now();
    let parked = loop {
        let job = h.store.get(id).await.unwrap().unwrap();
        if job.state == w365_jobs::JobState::Parked && !job.checkpoint["bulkNotify"].is_null() {
            break job;
        }
        assert!(
            !job.state.is_terminal(),
            "finished before it waited: {job:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(60), "never parked");
        h.sim.advance(Duration::from_secs(15)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // A user whose Cloud PC is already there (grace's, out of its grace period again) is mailed
    // at once; the others are waited for.
    let mailed_at_park: Vec<&str> = ASSIGNABLE
        .iter()
        .copied()
        .filter(|u| {
            parked.checkpoint["bulkJournal"]
                .as_array()
                .unwrap()
                .contains(&json!({"user": u, "step": "mailed"}))
        })
        .collect();
    let waiting = ASSIGNABLE.len() - mailed_at_park.len();
    assert!(waiting > 0, "{parked:?}");
    let reason = parked.parked_reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with(&format!(
            "waiting for {waiting} Cloud PC(s) to be provisioned"
        )),
        "{reason}"
    );
    assert_eq!(parked.checkpoint["bulkNotify"]["parks"], 1, "{parked:?}");
    let journal = parked.checkpoint["bulkJournal"].to_string();
    for u in ASSIGNABLE {
        let entry = json!({"user": u, "step": "confirmed"}).to_string();
        assert!(journal.contains(&entry), "{entry} not in {journal}");
    }
    let mailed_users = |mails: &[w365_sim::SentMail]| {
        let mut to: Vec<String> = mails
            .iter()
            .flat_map(|m| m.to.iter().map(|a| a.address.to_lowercase()))
            .collect();
        to.sort();
        to
    };
    let mails = h.sim.outbox();
    assert_eq!(mailed_users(&mails), mailed_at_park, "{mails:#?}");

    // Parked again and again while the clock stands still: no new mail, the wait's start kept.
    let first_start = parked.checkpoint["bulkNotify"]["startedAt"].clone();
    let again = loop {
        let job = h.store.get(id).await.unwrap().unwrap();
        if job.state == w365_jobs::JobState::Parked
            && job.checkpoint["bulkNotify"]["parks"].as_u64() >= Some(3)
        {
            break job;
        }
        assert!(!job.state.is_terminal(), "{job:?}");
        assert!(started.elapsed() < Duration::from_secs(60), "never resumed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(again.checkpoint["bulkNotify"]["startedAt"], first_start);
    assert_eq!(
        h.sim.outbox().len(),
        mails.len(),
        "no mail before the Cloud PCs"
    );

    let job = follow(&h, &helpdesk, &id.to_string()).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(outcomes(&job), expected_rows());
    let mails = h.sim.outbox();
    for u in ASSIGNABLE {
        let to_user: Vec<_> = mails
            .iter()
            .filter(|m| m.to.iter().any(|a| a.address.eq_ignore_ascii_case(u)))
            .collect();
        assert_eq!(to_user.len(), 1, "{u}: {mails:#?}");
        assert!(
            to_user[0].body.contains("Welcome aboard"),
            "{}",
            to_user[0].body
        );
    }
    assert_eq!(mails.len(), ASSIGNABLE.len(), "{mails:#?}");
    let rows = job["result"]["rows"].as_array().unwrap();
    for r in rows.iter().filter(|r| r["outcome"] == "assigned") {
        assert!(r["mail"].is_string(), "{r}");
    }
    let journal = job["checkpoint"]["bulkJournal"].to_string();
    for u in ASSIGNABLE {
        for step in ["mailing", "mailed"] {
            let entry = json!({"user": u, "step": step}).to_string();
            assert!(journal.contains(&entry), "{entry} not in {journal}");
        }
    }
    h.shutdown().await;
}

/// A bulk file of 100,000 rows (about 2.9 MB, over axum's default 2 MB body limit) is accepted as
/// one job; a body over the submission limit gets a 413 with a JSON error saying what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100000_row_file_is_accepted_and_an_oversized_body_gets_a_clear_413() {
    let h = start_with(Options::default()).await;
    let helpdesk = h.token("helpdesk").await;
    let mut rows = String::from("user\n");
    for i in 0..100_000 {
        rows.push_str(&format!("bulk-user-{i:06}@contoso.com\n"));
    }
    let body = json!({"operation": "assign.bulk", "tenant": "sandbox", "params": {"rows": rows}});
    assert!(body.to_string().len() > 2 * 1024 * 1024);
    let (status, job) = h.post(&helpdesk, "/api/v1/jobs", &body).await;
    assert_eq!(status, 202, "{job}");
    let id: JobId = job["id"].as_str().unwrap().parse().unwrap();
    let stored = h.store.get(id).await.unwrap().unwrap();
    assert_eq!(
        stored.input["rows"].as_str().map(|r| r.lines().count()),
        Some(100_001)
    );

    let limit = w365_server::api::JOB_SUBMISSION_LIMIT;
    let huge = format!(
        "{{\"operation\":\"assign.bulk\",\"tenant\":\"sandbox\",\"params\":{{\"rows\":\"user\\n{}\"}}}}",
        "x".repeat(limit)
    );
    let answer = h
        .http
        .post(h.url("/api/v1/jobs"))
        .bearer_auth(&helpdesk)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 413);
    let error: Value = answer.json().await.expect("a JSON error");
    assert_eq!(error["error"]["code"], "payload_too_large", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("64 MiB"),
        "{error}"
    );
    assert!(
        error["error"]["fix"]
            .as_str()
            .unwrap()
            .contains("smaller files"),
        "{error}"
    );
    h.shutdown().await;
}
