//! Saving and loading the whole store through `SimHandle`.

mod common;

use w365_sim::SimConfig;

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("w365-sim-test-{}", uuid::Uuid::new_v4()));
    let path = dir.join("state.json");
    let mut cfg = SimConfig::contoso();
    cfg.state_file = Some(path.clone());
    let sim = common::start_with(cfg.clone()).await;
    let group = sim.group_id("cfg - Windows 365 - Provisioning - Win10");
    let user = sim.user_id("megan.bowen@contoso.com");
    assert_eq!(
        sim.post(
            &format!("v1.0/groups/{group}/members/$ref"),
            sim.reference(&user)
        )
        .await
        .status,
        204
    );
    let mail = serde_json::json!({ "message": { "subject": "hi", "toRecipients": [ { "emailAddress": { "address": "a@contoso.com" } } ] } });
    assert_eq!(
        sim.post("v1.0/users/runbooks@contoso.com/sendMail", mail)
            .await
            .status,
        202
    );
    let app = sim.handle.create_app("kept", &["User.Read.All"]);
    sim.handle
        .advance(std::time::Duration::from_secs(3600))
        .await;
    let saved_now = sim.handle.now();
    sim.handle.save().expect("save");
    sim.handle.shutdown().await;
    let text = std::fs::read_to_string(&path).expect("state file");
    assert!(!text.contains(&app.client_secret), "no plaintext secret");
    assert!(
        !text.contains(w365_sim::seed::ADMIN_CLIENT_SECRET),
        "no plaintext secret"
    );

    let again = common::start_with(cfg).await;
    assert_eq!(
        again.handle.now(),
        saved_now,
        "manual clock resumes where it was saved"
    );
    let members = again
        .get(&format!("v1.0/groups/{group}/members?$select=id"))
        .await;
    assert!(
        members.values().iter().any(|v| v["id"] == user.as_str()),
        "{}",
        members.text
    );
    assert_eq!(again.handle.outbox().len(), 1);
    let token = again.token_for(&app).await;
    let ok = again
        .call(
            reqwest::Method::GET,
            "v1.0/users?$top=1",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(ok.status, 200);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_corrupt_state_file_is_an_error_not_a_reseed() {
    let dir = std::env::temp_dir().join(format!("w365-sim-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("state.json");
    std::fs::write(&path, "{ not json").expect("write");
    let mut cfg = SimConfig::contoso();
    cfg.state_file = Some(path);
    let err = w365_sim::spawn(cfg).await.expect_err("corrupt state");
    assert!(
        matches!(err, w365_sim::SimError::StateFormat { .. }),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
