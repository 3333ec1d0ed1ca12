//! SimConfig variants: the sandbox (fast clock, state file), file seeds, the announcement.

use crate::common;

use std::time::Duration;

use w365_sim::{ClockMode, Seed, SimConfig};

#[tokio::test]
async fn the_sandbox_clock_runs_fast_and_resumes_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("w365-sim-sandbox-{}", uuid::Uuid::new_v4()));
    let cfg = SimConfig::sandbox(dir.join("sandbox.json"));
    assert_eq!(cfg.clock, ClockMode::Speed(60.0));
    let sim = common::start_with(cfg.clone()).await;
    let t0 = sim.handle.now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let moved = sim.handle.now() - t0;
    assert!(
        moved >= time::Duration::seconds(5),
        "60x clock moved {moved}"
    );
    sim.handle.save().expect("save");
    let saved = sim.handle.now();
    sim.handle.shutdown().await;
    let again = common::start_with(cfg).await;
    assert!(
        again.handle.now() >= saved,
        "the virtual clock never goes back"
    );
    assert_eq!(
        again.get("v1.0/users/alice.smith@contoso.com").await.status,
        200
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_seed_file_builds_its_tenant() {
    let dir = std::env::temp_dir().join(format!("w365-sim-seed-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("fabrikam.json");
    std::fs::write(
        &path,
        r#"{ "tenant": { "id": "22222222-3333-4444-8555-666666666666", "displayName": "Fabrikam", "domains": ["fabrikam.com"] },
             "skus": [ { "skuPartNumber": "CPC_E_2C_8GB_128GB", "prepaidUnits": 2 } ],
             "users": [ { "userPrincipalName": "ann@fabrikam.com", "displayName": "Ann" } ],
             "groups": [ { "displayName": "lic", "licenses": ["CPC_E_2C_8GB_128GB"], "members": ["ann@fabrikam.com"] } ] }"#,
    )
    .expect("write");
    let mut cfg = SimConfig::contoso();
    cfg.seed = Seed::File(path);
    let sim = common::start_with(cfg).await;
    assert_eq!(
        sim.handle.tenant_id(),
        "22222222-3333-4444-8555-666666666666"
    );
    let skus = sim.get("v1.0/subscribedSkus").await;
    assert_eq!(skus.values()[0]["consumedUnits"], 1);
    let announcement = sim.handle.announcement();
    assert_eq!(announcement.tenant_id, sim.handle.tenant_id());
    assert_eq!(announcement.client_id, sim.handle.admin_app().client_id);
    assert!(
        announcement
            .base_url
            .as_str()
            .starts_with("http://127.0.0.1:")
    );
    let mut bad = SimConfig::contoso();
    bad.seed = Seed::File(dir.join("missing.json"));
    assert!(w365_sim::spawn(bad).await.is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_second_tenant_is_isolated_from_the_first() {
    let sim = common::start().await;
    let file = w365_sim::SeedFile::parse(
        r#"{ "tenant": { "id": "33333333-4444-4555-8666-777777777777", "displayName": "Northwind", "domains": ["northwind.com"] },
             "users": [ { "userPrincipalName": "nina@northwind.com", "displayName": "Nina" } ] }"#,
        "northwind",
    )
    .expect("valid");
    let northwind = sim
        .handle
        .add_tenant(&Seed::Data(Box::new(file)))
        .expect("added");
    assert_eq!(
        sim.handle.tenant_id(),
        w365_sim::seed::CONTOSO_TENANT_ID,
        "the default tenant stays"
    );
    let admin = sim.handle.admin_app();
    let response = sim
        .client
        .post(sim.url("northwind.com/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", admin.client_id.as_str()),
            ("client_secret", admin.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 200);
    let token = response.json::<serde_json::Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let users = sim
        .call(
            reqwest::Method::GET,
            "v1.0/users?$select=userPrincipalName",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(users.values().len(), 1, "{}", users.text);
    assert_eq!(users.values()[0]["userPrincipalName"], "nina@northwind.com");
    let contoso_user = sim
        .call(
            reqwest::Method::GET,
            "v1.0/users/alice.smith@contoso.com",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(contoso_user.status, 404);
    let outbox = sim
        .call(
            reqwest::Method::GET,
            "_sim/outbox",
            None,
            &[("x-sim-tenant", northwind.as_str())],
            None,
        )
        .await;
    assert_eq!(outbox.status, 200);
    let unknown = sim
        .call(
            reqwest::Method::GET,
            "_sim/outbox",
            None,
            &[("x-sim-tenant", "nowhere.com")],
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
    let added = sim
        .call(
            reqwest::Method::POST,
            "_sim/seed",
            None,
            &[],
            Some(serde_json::json!({ "seed": "empty", "add": true })),
        )
        .await;
    assert_eq!(
        added.status, 409,
        "the empty seed reuses contoso's id: {}",
        added.text
    );
    assert_eq!(
        sim.get("v1.0/users/alice.smith@contoso.com").await.status,
        200,
        "contoso untouched"
    );
    assert!(sim.handle.add_tenant(&Seed::Contoso).is_err());
}
