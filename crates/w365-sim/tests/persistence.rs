//! Saving and loading the whole store through `SimHandle`.

use crate::common;

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

#[tokio::test]
async fn serve_saves_periodically_when_something_changed_and_on_stop() {
    let dir = std::env::temp_dir().join(format!("w365-sim-test-{}", uuid::Uuid::new_v4()));
    let path = dir.join("state.json");
    let mut cfg = SimConfig::contoso();
    cfg.state_file = Some(path.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (announced, base) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(w365_sim::serve_until(
        cfg.clone(),
        std::time::Duration::from_millis(20),
        move |handle| {
            let _ = announced.send((handle.base_url(), handle.admin_app(), handle.tenant_id()));
        },
        async move {
            let _ = stopped.await;
            Ok(())
        },
    ));
    let (base, admin, tenant) = base.await.expect("announced");
    let client = reqwest::Client::new();
    let token: serde_json::Value = client
        .post(format!("{base}{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", admin.client_id.as_str()),
            ("client_secret", admin.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    let token = token["access_token"].as_str().expect("token").to_owned();
    // A Graph write is saved by the periodic save, without a stop.
    let mail = serde_json::json!({ "message": { "subject": "autosaved", "toRecipients": [ { "emailAddress": { "address": "a@contoso.com" } } ] } });
    let sent = client
        .post(format!("{base}v1.0/users/runbooks@contoso.com/sendMail"))
        .bearer_auth(&token)
        .json(&mail)
        .send()
        .await
        .expect("sendMail");
    assert_eq!(sent.status(), 202);
    // Wait (bounded) for the periodic save: the server is still running.
    let mut saved = false;
    for _ in 0..500 {
        if std::fs::read_to_string(&path).is_ok_and(|t| t.contains("autosaved")) {
            saved = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        saved,
        "the change was saved while the simulator kept running"
    );
    stop.send(()).expect("still running");
    server.await.expect("joined").expect("clean stop");

    let again = common::start_with(cfg).await;
    assert!(
        again
            .handle
            .outbox()
            .iter()
            .any(|m| m.subject == "autosaved")
    );
    let _ = std::fs::remove_dir_all(dir);
}
