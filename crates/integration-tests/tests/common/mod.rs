//! Shared helpers of the Graph client tests: a contoso simulator on 127.0.0.1:0 (one per test)
//! and a Graph client that reaches it through its real credential code path
//! (`Cloud::Custom` with the simulator's loopback URLs, a client secret or certificate).

#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use w365_graph::auth::Credential;
use w365_graph::{Client, Cloud, RetryPolicy};
use w365_sim::{AppCredentials, SimConfig, SimHandle};

/// Starts a contoso simulator with a manual clock.
pub async fn start() -> SimHandle {
    w365_sim::spawn(SimConfig::contoso())
        .await
        .expect("the simulator starts on 127.0.0.1:0")
}

/// The simulator as a custom cloud: Graph and the token authority on the same loopback server.
pub fn cloud(sim: &SimHandle) -> Cloud {
    Cloud::Custom {
        graph: sim.base_url(),
        authority: sim.base_url(),
    }
}

/// Retries fast enough for tests; a `Retry-After` from the simulator still wins.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        max_total_wait: Duration::from_secs(20),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
    }
}

/// A client for the simulator with the client's defaults (including the token scope it picks for
/// a loopback custom cloud).
pub fn client_with(sim: &SimHandle, credential: Credential, retry: RetryPolicy) -> Client {
    Client::builder()
        .cloud(cloud(sim))
        .credential(credential)
        .retry(retry)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a loopback custom cloud is accepted")
}

pub fn secret_credential(sim: &SimHandle, app: &AppCredentials) -> Credential {
    Credential::client_secret(sim.tenant_id(), &app.client_id, &app.client_secret)
}

/// A client of the admin app (every permission), with its client secret.
pub fn admin_client(sim: &SimHandle) -> Client {
    client_with(sim, secret_credential(sim, &sim.admin_app()), fast_retry())
}

/// A self-signed RSA 2048 certificate valid between the two instants (Entra ID and the client
/// sign assertions with RSA): (certificate PEM, private key PEM).
pub fn self_signed_certificate(
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("a fresh RSA key pair");
    let mut params = rcgen::CertificateParams::new(vec!["w365-integration-test".to_owned()])
        .expect("certificate parameters");
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    (cert.pem(), key.serialize_pem())
}

/// How many requests the simulator logged for `method` on paths starting with `path_prefix`.
pub fn logged(sim: &SimHandle, method: &str, path_prefix: &str) -> usize {
    sim.request_log()
        .iter()
        .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
        .count()
}
