//! Retries on injected 429/503/504 (simulator fault rules) with `Retry-After` honored, and no
//! blind resend of what Graph may already have processed.
//!
//! No test measures wall-clock time (timings are in w365-bench): the waits the client chose are
//! read from its statistics (`RequestStats::retry_wait`), which is what it decided to sleep.

use crate::common;

use std::time::Duration;

use w365_graph::{Error, RetryPolicy};
use w365_sim::faults::{FaultAction, FaultRule, Trigger};

const UPN: &str = "bob.jones@contoso.com";

fn rule(
    status: u16,
    retry_after_secs: Option<u64>,
    http_date: bool,
    trigger: Trigger,
) -> FaultRule {
    FaultRule {
        method: Some("GET".to_owned()),
        path: Some("/v1.0/users/**".to_owned()),
        tenant: None,
        action: FaultAction::Status {
            status,
            retry_after_secs,
            http_date,
        },
        trigger,
    }
}

#[tokio::test]
async fn throttled_requests_are_retried_after_the_retry_after() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    sim.set_faults(vec![rule(429, Some(1), false, Trigger::FirstN(2))]);

    let user = client
        .users()
        .get(UPN)
        .await
        .expect("succeeds after two 429");

    assert_eq!(user.user_principal_name, UPN);
    let stats = client.stats();
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.retries, 2);
    assert_eq!(stats.throttled, 2);
    // Two waits of Retry-After: 1 s each (the backoff alone would be ~10-100 ms).
    assert_eq!(stats.retry_wait, Duration::from_secs(2));
    let statuses: Vec<u16> = sim
        .request_log()
        .iter()
        .filter(|r| r.path.starts_with("/v1.0/users/"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);
}

#[tokio::test]
async fn unavailable_with_an_http_date_retry_after_is_retried() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    sim.set_faults(vec![rule(503, Some(1), true, Trigger::FirstN(1))]);

    client.users().get(UPN).await.expect("succeeds after a 503");

    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries), (2, 1));
    // The simulator rounds the HTTP-date up (1 s + 1 s, one-second resolution): the wait is
    // taken from the date, not the 10-100 ms backoff.
    assert!(
        stats.retry_wait >= Duration::from_millis(900)
            && stats.retry_wait <= Duration::from_secs(2),
        "{:?}",
        stats.retry_wait
    );
}

#[tokio::test]
async fn gateway_timeout_without_retry_after_uses_backoff() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    sim.set_faults(vec![rule(504, None, false, Trigger::FirstN(2))]);

    client
        .users()
        .get(UPN)
        .await
        .expect("succeeds after two 504");

    let stats = client.stats();
    assert_eq!(stats.retries, 2);
    // Backoff of the test policy: 10 ms doubling with jitter, capped at 100 ms per wait.
    assert!(
        stats.retry_wait >= Duration::from_millis(20)
            && stats.retry_wait <= Duration::from_millis(200),
        "{:?}",
        stats.retry_wait
    );
}

#[tokio::test]
async fn retries_stop_at_the_budget_with_a_throttled_error() {
    let sim = common::start().await;
    let policy = RetryPolicy {
        max_attempts: 3,
        ..common::fast_retry()
    };
    let client = common::client_with(
        &sim,
        common::secret_credential(&sim, &sim.admin_app()),
        policy,
    );
    sim.set_faults(vec![rule(429, Some(0), false, Trigger::Always)]);

    let error = client.users().get(UPN).await.expect_err("always throttled");

    assert!(error.is_throttled(), "{error:?}");
    assert!(matches!(error, Error::Throttled { status: 429, .. }));
    assert_eq!(error.status(), Some(429));
    assert_eq!(client.stats().requests, 3);
    assert_eq!(common::logged(&sim, "GET", "/v1.0/users/"), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_is_not_slept() {
    let sim = common::start().await;
    let policy = RetryPolicy {
        max_total_wait: Duration::from_secs(2),
        ..common::fast_retry()
    };
    let client = common::client_with(
        &sim,
        common::secret_credential(&sim, &sim.admin_app()),
        policy,
    );
    sim.set_faults(vec![rule(429, Some(600), false, Trigger::Always)]);

    let error = client
        .users()
        .get(UPN)
        .await
        .expect_err("throttled for ten minutes");

    assert!(error.is_throttled(), "{error:?}");
    assert!(
        matches!(error, Error::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(600))
    );
    // The ten minutes exceed the budget: the client gave up without sleeping at all.
    assert_eq!(client.stats().retry_wait, Duration::ZERO);
    assert_eq!(client.stats().requests, 1);
}

// ------------------------------------------------------------ what may be resent

const SENDER: &str = "bob.jones@contoso.com";

fn mail_rule(action: FaultAction) -> FaultRule {
    FaultRule {
        method: Some("POST".to_owned()),
        path: Some("/v1.0/users/*/sendMail".to_owned()),
        tenant: None,
        action,
        trigger: Trigger::FirstN(1),
    }
}

fn message(subject: &str) -> w365_graph::models::Message {
    serde_json::from_value(serde_json::json!({
        "subject": subject,
        "body": {"contentType": "Text", "content": "hello"},
        "toRecipients": [{"emailAddress": {"address": "megan.bowen@contoso.com"}}]
    }))
    .expect("a message")
}

fn subjects(sim: &w365_sim::SimHandle, subject: &str) -> usize {
    sim.outbox().iter().filter(|m| m.subject == subject).count()
}

#[tokio::test]
async fn a_mail_answered_503_after_it_was_processed_is_not_resent() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    sim.set_faults(vec![mail_rule(FaultAction::StatusAfterProcessing {
        status: 503,
        retry_after_secs: Some(0),
        http_date: false,
    })]);

    let error = client
        .mail()
        .send_mail(SENDER, &message("after 503"), false)
        .await
        .expect_err("the outcome is unknown");

    assert!(error.is_outcome_unknown(), "{error:?}");
    assert_eq!(error.status(), Some(503));
    assert!(
        error.to_string().contains("outcome unknown, not resent"),
        "{error}"
    );
    assert_eq!(
        subjects(&sim, "after 503"),
        1,
        "the mail is in the outbox once"
    );
    assert_eq!(common::logged(&sim, "POST", "/v1.0/users/"), 1);
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn a_mail_whose_connection_broke_after_sending_is_not_resent() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    sim.set_faults(vec![mail_rule(FaultAction::DropAfterProcessing)]);

    let error = client
        .mail()
        .send_mail(SENDER, &message("after drop"), false)
        .await
        .expect_err("the outcome is unknown");

    assert!(error.is_outcome_unknown(), "{error:?}");
    assert_eq!(error.status(), None);
    assert!(error.to_string().contains("lost its connection"), "{error}");
    assert_eq!(subjects(&sim, "after drop"), 1);
    assert_eq!(client.stats().requests, 1);
}

#[tokio::test]
async fn a_throttled_mail_was_not_processed_and_is_resent_once() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    sim.set_faults(vec![mail_rule(FaultAction::Status {
        status: 429,
        retry_after_secs: Some(0),
        http_date: false,
    })]);

    client
        .mail()
        .send_mail(SENDER, &message("after 429"), false)
        .await
        .expect("sent after the 429");

    assert_eq!(subjects(&sim, "after 429"), 1);
    assert_eq!(client.stats().requests, 2);
}

#[tokio::test]
async fn a_member_add_answered_503_after_processing_is_resent_and_converges() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    let (group, user) = sim.with_state(|s| {
        let t = s.default_tenant().expect("tenant");
        (
            t.directory.groups_named("Engineering")[0].clone(),
            t.directory
                .user_id_by_upn("megan.bowen@contoso.com")
                .expect("user")
                .to_owned(),
        )
    });
    for action in [
        FaultAction::StatusAfterProcessing {
            status: 503,
            retry_after_secs: Some(0),
            http_date: false,
        },
        FaultAction::DropAfterProcessing,
    ] {
        sim.set_faults(vec![FaultRule {
            method: Some("POST".to_owned()),
            path: Some("/v1.0/groups/*/members/$ref".to_owned()),
            tenant: None,
            action,
            trigger: Trigger::FirstN(1),
        }]);
        let before = client.stats().requests;
        let outcome = client
            .groups()
            .add_member(&group, &user)
            .await
            .expect("an idempotent request is resent");
        // The first attempt added the member; the resend answers "already exist".
        assert_eq!(
            outcome,
            w365_graph::resources::AddMemberOutcome::AlreadyMember
        );
        assert_eq!(client.stats().requests - before, 2);
        let members = sim.with_state(|s| {
            let t = s.default_tenant().expect("tenant");
            t.directory.is_member(&group, &user)
        });
        assert!(members);
        let now = sim.now();
        sim.with_state(|s| {
            let t = s.default_tenant_mut().expect("tenant");
            t.remove_member(&group, &user, now).expect("removed again");
        });
    }
}

#[tokio::test]
async fn a_reprovision_answered_504_after_processing_is_not_resent() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    let pcs = client.cloud_pcs().list(None).await.expect("Cloud PCs");
    let pc = pcs.first().expect("the contoso seed has Cloud PCs");
    sim.set_faults(vec![FaultRule {
        method: Some("POST".to_owned()),
        path: Some("/beta/deviceManagement/virtualEndpoint/cloudPCs/*/reprovision".to_owned()),
        tenant: None,
        action: FaultAction::StatusAfterProcessing {
            status: 504,
            retry_after_secs: None,
            http_date: false,
        },
        trigger: Trigger::FirstN(1),
    }]);

    let error = client
        .cloud_pcs()
        .reprovision(&pc.id, Default::default())
        .await
        .expect_err("the outcome is unknown");

    assert!(error.is_outcome_unknown(), "{error:?}");
    assert_eq!(error.status(), Some(504));
    assert_eq!(common::logged(&sim, "POST", "/beta/deviceManagement/"), 1);
}
