//! One tracing span per request with method, path (no query values), attempt, status and
//! request-id; secrets and tokens never appear in the log output, even at TRACE level.
//!
//! A test binary of its own (not in tests/suite.rs): it captures logs with a thread's default
//! subscriber, and tracing caches whether a span is wanted per call site for the whole process,
//! so another test's thread registering the same call site at that moment can leave the span
//! out of the capture.

use std::io::Write;
use std::sync::{Arc, Mutex};

mod common;

use crate::common::*;
use tracing_subscriber::fmt::MakeWriter;
use w365_graph::Query;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn spans_carry_request_facts_and_logs_carry_no_secrets() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = server().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .respond_with(
            fixture_response(429, "error_throttled.json").insert_header("Retry-After", "0"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .respond_with(
            fixture_response(200, "users_filter_obrien.json")
                .insert_header("request-id", "rid-123"),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let client = secret_client(&server);
    let user = client
        .users()
        .find_by_upn("o'brien@contoso.com")
        .await
        .unwrap();
    assert!(user.is_some());
    let _ = client
        .users()
        .list(Query::new())
        .collect_all()
        .await
        .unwrap();
    let _ = ResponseTemplate::new(200);

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("graph_request"), "{logs}");
    assert!(logs.contains("method=GET"), "{logs}");
    assert!(
        logs.contains("path=\"/v1.0/users\"") || logs.contains("path=/v1.0/users"),
        "{logs}"
    );
    assert!(logs.contains("attempt=2"), "{logs}");
    assert!(logs.contains("status=429"), "{logs}");
    assert!(
        logs.contains("request_id=\"rid-123\"") || logs.contains("request_id=rid-123"),
        "{logs}"
    );
    assert!(logs.contains("duration_ms"), "{logs}");
    assert!(!logs.contains(SECRET), "client secret leaked into logs");
    assert!(
        !logs.contains("fixture-token-one"),
        "access token leaked into logs"
    );
    assert!(!logs.contains("brien%40"), "query values leaked into logs");
}
