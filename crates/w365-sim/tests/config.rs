//! SimConfig variants: the sandbox (fast clock, state file), file seeds, the announcement.

mod common;

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
