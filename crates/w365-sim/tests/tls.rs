//! HTTPS (`SimConfig::tls`) and the links the simulator builds: they carry the scheme and host
//! the client used, and a TLS proxy's headers only when `trust_forwarded_headers` is on.

use crate::common::Sim;
use w365_sim::SimConfig;
use w365_sim::tls::{LOOPBACK_NAMES, generate};

async fn start_tls(trust_forwarded_headers: bool) -> (Sim, reqwest::Client) {
    let generated = generate(LOOPBACK_NAMES).expect("a certificate");
    let cfg = SimConfig {
        tls: Some(generated.server.clone()),
        trust_forwarded_headers,
        ..SimConfig::contoso()
    };
    let handle = w365_sim::spawn(cfg).await.expect("simulator starts");
    let ca = reqwest::Certificate::from_pem(generated.ca_pem.as_bytes()).expect("CA PEM");
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let mut sim = Sim {
        handle,
        client: client.clone(),
        token: String::new(),
    };
    let admin = sim.handle.admin_app();
    sim.token = sim.token_for(&admin).await;
    (sim, client)
}

#[tokio::test]
async fn https_serves_graph_with_https_links() {
    let (sim, _) = start_tls(false).await;
    assert_eq!(sim.handle.base_url().scheme(), "https");
    let page = sim.get("v1.0/users?$top=2").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let base = sim.handle.base_url().to_string();
    let next = page.body["@odata.nextLink"].as_str().expect("a nextLink");
    assert!(next.starts_with(&format!("{base}v1.0/users?")), "{next}");
    let context = page.body["@odata.context"].as_str().expect("a context");
    assert!(
        context.starts_with(&format!("{base}v1.0/$metadata#users")),
        "{context}"
    );
    // The nextLink is followed over HTTPS as given.
    let second = sim
        .client
        .get(next)
        .bearer_auth(&sim.token)
        .send()
        .await
        .expect("nextLink");
    assert_eq!(second.status(), 200);
}

#[tokio::test]
async fn plain_http_clients_cannot_talk_to_the_tls_listener() {
    let (sim, _) = start_tls(false).await;
    let plain = format!("http://{}/v1.0/users", sim.handle.addr());
    let answer = reqwest::Client::new().get(&plain).send().await;
    assert!(
        answer.is_err() || !answer.expect("answer").status().is_success(),
        "a plain-http request must not be served"
    );
}

#[tokio::test]
async fn forwarded_headers_count_only_when_enabled() {
    for trusted in [false, true] {
        let (sim, client) = start_tls(trusted).await;
        let answer = client
            .get(sim.url("v1.0/users?$top=1"))
            .bearer_auth(&sim.token)
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "graph.proxy.example")
            .send()
            .await
            .expect("answer");
        let body: serde_json::Value = answer.json().await.expect("json");
        let next = body["@odata.nextLink"].as_str().expect("nextLink");
        if trusted {
            assert!(
                next.starts_with("https://graph.proxy.example/v1.0/users?"),
                "{next}"
            );
        } else {
            assert!(next.starts_with(sim.handle.base_url().as_str()), "{next}");
        }
    }
}
