//! The token endpoint wiring (the AADSTS logic itself is tested in the identity module).

use crate::common;

use crate::common::start;
use serde_json::Value;

#[tokio::test]
async fn tokens_by_tenant_id_or_domain_and_aadsts_errors() {
    let sim = start().await;
    let admin = sim.handle.admin_app();
    for tenant in [
        sim.handle.tenant_id(),
        "contoso.onmicrosoft.com".to_owned(),
        "contoso.com".to_owned(),
    ] {
        let response = sim
            .client
            .post(sim.url(&format!("{tenant}/oauth2/v2.0/token")))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", admin.client_id.as_str()),
                ("client_secret", admin.client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{tenant}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["expires_in"].as_u64().is_some_and(|s| s > 3000));
    }
    let response = sim
        .client
        .post(sim.url(&format!("{}/oauth2/v2.0/token", sim.handle.tenant_id())))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", admin.client_id.as_str()),
            ("client_secret", "wrong"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .starts_with("AADSTS7000215")
    );
    let response = sim
        .client
        .post(sim.url("fabrikam.com/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", admin.client_id.as_str()),
            ("client_secret", "x"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .starts_with("AADSTS90002")
    );
}

#[tokio::test]
async fn on_a_fast_clock_expires_in_is_real_seconds_and_the_token_lives_on_the_virtual_clock() {
    let mut cfg = w365_sim::SimConfig::contoso();
    cfg.clock = w365_sim::ClockMode::speed(60.0).expect("valid speed");
    let cfg = cfg.with_real_time_token_lifetime();
    assert_eq!(cfg.token_lifetime.as_secs(), 3599 * 60);
    let sim = common::start_with(cfg).await;
    let admin = sim.handle.admin_app();
    let response = sim
        .client
        .post(sim.url(&format!("{}/oauth2/v2.0/token", sim.handle.tenant_id())))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", admin.client_id.as_str()),
            ("client_secret", admin.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("request");
    let body: Value = response.json().await.expect("json");
    // An hour of virtual time at 60×: the client is told the real hour it has.
    let expires_in = body["expires_in"].as_u64().expect("expires_in");
    assert!((3590..=3599).contains(&expires_in), "{expires_in}");
    assert_eq!(sim.get("v1.0/users?$top=1").await.status, 200);
    // Sixty virtual hours later the sandbox's token is over.
    sim.handle
        .advance(std::time::Duration::from_secs(3600 * 60))
        .await;
    assert_eq!(sim.get("v1.0/users?$top=1").await.status, 401);
}
