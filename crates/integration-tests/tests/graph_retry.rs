//! Retries on injected 429/503/504 (simulator fault rules) with `Retry-After` honored.

mod common;

use std::time::{Duration, Instant};

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

    let started = Instant::now();
    let user = client
        .users()
        .get(UPN)
        .await
        .expect("succeeds after two 429");
    let elapsed = started.elapsed();

    assert_eq!(user.user_principal_name, UPN);
    let stats = client.stats();
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.retries, 2);
    assert_eq!(stats.throttled, 2);
    // Two waits of Retry-After: 1 s each (the backoff alone would be ~10-100 ms).
    assert!(elapsed >= Duration::from_secs(2), "waited only {elapsed:?}");
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

    let started = Instant::now();
    client.users().get(UPN).await.expect("succeeds after a 503");

    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries), (2, 1));
    // An HTTP-date has one-second resolution: the wait is at least a few hundred ms, not the
    // 10 ms backoff.
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn gateway_timeout_without_retry_after_uses_backoff() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    sim.set_faults(vec![rule(504, None, false, Trigger::FirstN(2))]);

    let started = Instant::now();
    client
        .users()
        .get(UPN)
        .await
        .expect("succeeds after two 504");

    assert_eq!(client.stats().retries, 2);
    assert!(started.elapsed() < Duration::from_secs(5));
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

    let started = Instant::now();
    let error = client
        .users()
        .get(UPN)
        .await
        .expect_err("throttled for ten minutes");

    assert!(error.is_throttled(), "{error:?}");
    assert!(
        matches!(error, Error::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(600))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
