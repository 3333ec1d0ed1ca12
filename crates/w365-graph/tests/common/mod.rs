//! Shared test helpers: a wiremock server on 127.0.0.1 with a loud catch-all, a token endpoint,
//! fixtures and a client pointed at the server (Cloud::Custom with loopback http URLs).
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use w365_graph::{Client, Cloud, Credential, RetryPolicy};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TENANT: &str = "aaaaaaaa-0000-4000-8000-000000000000";
pub const CLIENT_ID: &str = "00000000-0000-0000-0000-00000000c1d1";
pub const SECRET: &str = "s3cr3t~Value.With+Chars";

/// A mock server with a catch-all that answers 500 and names the unexpected request.
pub async fn server() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(any())
        .respond_with(|req: &wiremock::Request| {
            ResponseTemplate::new(500).set_body_string(format!(
                "UNEXPECTED REQUEST in test: {} {}",
                req.method, req.url
            ))
        })
        .with_priority(u8::MAX)
        .named("catch-all (unexpected request)")
        .mount(&server)
        .await;
    server
}

pub fn fixture(name: &str) -> String {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("fixture {p}: {e}"))
}

/// A fixture with `{{BASE}}` replaced by the server URI.
pub fn fixture_json(name: &str, server: &MockServer) -> Value {
    serde_json::from_str(&fixture(name).replace("{{BASE}}", &server.uri()))
        .expect("fixture is JSON")
}

pub fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

/// Mounts a token endpoint that always succeeds.
pub async fn mount_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("token_success.json"), "application/json"),
        )
        .named("token endpoint")
        .mount(server)
        .await;
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        max_total_wait: Duration::from_secs(10),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

pub fn cloud(server: &MockServer) -> Cloud {
    Cloud::custom(&server.uri(), &server.uri()).expect("loopback cloud")
}

/// A client using a static token (no token endpoint needed).
pub fn static_client(server: &MockServer) -> Client {
    Client::builder()
        .cloud(cloud(server))
        .credential(Credential::static_token("static-test-token"))
        .retry(fast_retry())
        .build()
        .expect("client")
}

/// A client using the client-secret flow against the server's token endpoint.
pub fn secret_client(server: &MockServer) -> Client {
    Client::builder()
        .cloud(cloud(server))
        .credential(Credential::client_secret(TENANT, CLIENT_ID, SECRET))
        .retry(fast_retry())
        .build()
        .expect("client")
}

pub fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

pub fn fixture_response(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(name), "application/json")
}
