//! Retries: 429/503/504 with Retry-After honoured, backoff without it, no retry on other 4xx,
//! and the Throttled error once the budget is spent.

use std::time::Duration;

use crate::common::*;
use w365_graph::{Client, Credential, Error, RetryPolicy};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn throttled(status: u16, retry_after: Option<&str>) -> ResponseTemplate {
    let t = fixture_response(status, "error_throttled.json");
    match retry_after {
        Some(v) => t.insert_header("Retry-After", v),
        None => t,
    }
}

async fn mount_sequence(server: &wiremock::MockServer, first: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(first)
        .up_to_n_times(times)
        .expect(times)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(fixture_response(200, "subscribed_skus.json"))
        .expect(1)
        .with_priority(2)
        .mount(server)
        .await;
}

#[tokio::test]
async fn retry_after_seconds_is_honoured_on_429() {
    let server = server().await;
    mount_sequence(&server, throttled(429, Some("1")), 1).await;
    let client = static_client(&server);
    client.subscribed_skus().list().await.unwrap();
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries, stats.throttled), (2, 1, 1));
    // The client waited what Graph asked, not its own (millisecond) backoff.
    assert_eq!(stats.retry_wait, Duration::from_secs(1));
}

#[tokio::test]
async fn retry_after_http_date_is_honoured_on_503() {
    let server = server().await;
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let date = at
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap();
    mount_sequence(&server, throttled(503, Some(&date)), 1).await;
    let client = static_client(&server);
    client.subscribed_skus().list().await.unwrap();
    // The date has one-second resolution: the wait comes from it (about 1-2 s), not the backoff.
    let waited = client.stats().retry_wait;
    assert!(
        waited >= Duration::from_millis(900) && waited <= Duration::from_secs(2),
        "waited {waited:?}"
    );
}

#[tokio::test]
async fn gateway_timeouts_back_off_without_retry_after() {
    let server = server().await;
    mount_sequence(&server, throttled(504, None), 2).await;
    let client = static_client(&server);
    client.subscribed_skus().list().await.unwrap();
    assert_eq!(client.stats().retries, 2);
    assert_eq!(client.stats().throttled, 0);
}

#[tokio::test]
async fn bad_request_and_not_found_are_never_retried() {
    for (status, fixture) in [
        (400, "error_unsupported_query.json"),
        (404, "error_not_found.json"),
    ] {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/v1.0/subscribedSkus"))
            .respond_with(fixture_response(status, fixture))
            .expect(1)
            .mount(&server)
            .await;
        let client = static_client(&server);
        let err = client.subscribed_skus().list().await.unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert_eq!(client.stats().retries, 0);
    }
}

#[tokio::test]
async fn exhausted_retries_become_throttled() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(throttled(429, Some("0")))
        .expect(3)
        .mount(&server)
        .await;
    let client = Client::builder()
        .cloud(cloud(&server))
        .credential(Credential::static_token("t"))
        .retry(RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let err = client.subscribed_skus().list().await.unwrap_err();
    match &err {
        Error::Throttled {
            status,
            retry_after,
            error,
        } => {
            assert_eq!(*status, 429);
            assert_eq!(*retry_after, Some(Duration::ZERO));
            assert_eq!(error.code, "TooManyRequests");
            assert_eq!(
                error.request_id.as_deref(),
                Some("5e6f7a8b-0000-4000-8000-000000000001")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_throttled());
    assert_eq!(client.stats().throttled, 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_total_budget_stops_immediately() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(throttled(429, Some("3600")))
        .expect(1)
        .mount(&server)
        .await;
    let client = static_client(&server);
    let err = client.subscribed_skus().list().await.unwrap_err();
    assert!(err.is_throttled());
    // Beyond the budget: no wait at all.
    assert_eq!(client.stats().retry_wait, Duration::ZERO);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let client = Client::builder()
        .cloud(w365_graph::Cloud::custom(&url, &url).unwrap())
        .credential(Credential::static_token("t"))
        .retry(RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let err = client.subscribed_skus().list().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert_eq!(client.stats().requests, 3);
    assert_eq!(client.stats().retries, 2);
}

#[tokio::test]
async fn timeouts_are_retried_for_get_but_a_mail_is_not_resent() {
    let server = server().await;
    let slow = ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"value": []}))
        .set_delay(Duration::from_secs(2));
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(slow.clone())
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/users/u1/sendMail"))
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_secs(2)))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .cloud(cloud(&server))
        .credential(Credential::static_token("t"))
        .timeout(Duration::from_millis(200))
        .retry(RetryPolicy {
            max_attempts: 2,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let err = client.subscribed_skus().list().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(
        !format!("{err:?}").contains("subscribedSkus?"),
        "no URL in the error"
    );
    // A timeout after the request was sent: the server may have sent the mail.
    let message: w365_graph::models::Message = serde_json::from_value(serde_json::json!({
        "subject": "s", "body": {"contentType": "Text", "content": "b"},
        "toRecipients": [{"emailAddress": {"address": "a@contoso.com"}}]
    }))
    .unwrap();
    let err = client
        .mail()
        .send_mail("u1", &message, false)
        .await
        .unwrap_err();
    assert!(err.is_outcome_unknown(), "{err}");
    assert!(err.to_string().contains("not resent"), "{err}");
}
