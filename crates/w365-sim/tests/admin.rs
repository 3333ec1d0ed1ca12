//! The `/_sim` admin API.

use crate::common;

use crate::common::start;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn clock_advances_and_reports() {
    let sim = start().await;
    let before = sim.handle.now();
    let answer = sim
        .call(
            Method::POST,
            "_sim/clock/advance",
            None,
            &[],
            Some(json!({ "minutes": 5 })),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(sim.handle.now() - before, time::Duration::minutes(5));
    let clock = sim.call(Method::GET, "_sim/clock", None, &[], None).await;
    assert_eq!(clock.body["mode"], "manual");
    let backwards = sim
        .call(
            Method::POST,
            "_sim/clock/advance",
            None,
            &[],
            Some(json!({ "seconds": -1 })),
        )
        .await;
    assert_eq!(backwards.status, 400);
}

#[tokio::test]
async fn apps_are_created_with_exactly_their_roles() {
    let sim = start().await;
    let created = sim
        .call(
            Method::POST,
            "_sim/apps",
            None,
            &[],
            Some(json!({ "displayName": "reader", "roles": ["User.Read.All"] })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let app = w365_sim::AppCredentials {
        client_id: created.body["clientId"].as_str().expect("id").to_owned(),
        client_secret: created.body["clientSecret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    };
    let token = sim.token_for(&app).await;
    let users = sim
        .call(Method::GET, "v1.0/users?$top=1", Some(&token), &[], None)
        .await;
    assert_eq!(users.status, 200);
    let groups = sim
        .call(Method::GET, "v1.0/groups", Some(&token), &[], None)
        .await;
    assert_eq!(groups.status, 403);
    let listed = sim.call(Method::GET, "_sim/apps", None, &[], None).await;
    assert!(
        listed
            .values()
            .iter()
            .any(|a| a["clientId"] == app.client_id.as_str()
                && a["roles"] == json!(["User.Read.All"]))
    );
    assert!(
        !listed.text.contains(&app.client_secret),
        "no secret in listings"
    );
}

#[tokio::test]
async fn reset_and_seed_replace_the_state() {
    let sim = start().await;
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
    let reset = sim.call(Method::POST, "_sim/reset", None, &[], None).await;
    assert_eq!(reset.status, 204, "{}", reset.text);
    let members = sim
        .get(&format!("v1.0/groups/{group}/members?$select=id"))
        .await;
    assert_eq!(
        members.values().len(),
        1,
        "back to the seed: {}",
        members.text
    );
    let seeded = sim
        .call(
            Method::POST,
            "_sim/seed",
            None,
            &[],
            Some(json!({ "seed": "empty" })),
        )
        .await;
    assert_eq!(seeded.status, 200, "{}", seeded.text);
    let token = sim.token_for(&sim.handle.admin_app()).await;
    let users = sim
        .call(Method::GET, "v1.0/users", Some(&token), &[], None)
        .await;
    assert_eq!(users.status, 200, "{}", users.text);
    assert!(users.values().is_empty());
    let custom = json!({ "tenant": { "tenant": { "id": "11111111-2222-4333-8444-555555555555", "displayName": "Fabrikam", "domains": ["fabrikam.com"] },
        "users": [ { "userPrincipalName": "a@fabrikam.com", "displayName": "A" } ] } });
    let seeded = sim
        .call(Method::POST, "_sim/seed", None, &[], Some(custom))
        .await;
    assert_eq!(seeded.status, 200, "{}", seeded.text);
    assert_eq!(
        sim.handle.tenant_id(),
        "11111111-2222-4333-8444-555555555555"
    );
    let bad = sim
        .call(
            Method::POST,
            "_sim/seed",
            None,
            &[],
            Some(json!({ "seed": "nope" })),
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn state_export_and_request_log() {
    let sim = start().await;
    sim.get("v1.0/users?$top=1").await;
    sim.get("v1.0/users/alice.smith@contoso.com").await;
    sim.get("v1.0/users/bob.jones@contoso.com").await;
    let log = sim
        .call(Method::GET, "_sim/requests", None, &[], None)
        .await;
    assert_eq!(
        log.body["counts"]["GET /v1.0/users/{key}"], 2,
        "{}",
        log.text
    );
    let records = sim.handle.request_log();
    let get = records
        .iter()
        .find(|r| r.path == "/v1.0/users/alice.smith@contoso.com")
        .expect("logged");
    assert_eq!(get.status, 200);
    assert_eq!(get.tenant.as_deref(), Some(sim.handle.tenant_id().as_str()));
    let state = sim.call(Method::GET, "_sim/state", None, &[], None).await;
    assert_eq!(state.status, 200);
    assert!(state.text.contains("alice.smith@contoso.com"));
    assert!(!state.text.contains(&sim.handle.admin_app().client_secret));
    let cleared = sim
        .call(Method::DELETE, "_sim/requests", None, &[], None)
        .await;
    assert_eq!(cleared.status, 204);
}

#[tokio::test]
async fn faults_apply_to_graph_routes_only() {
    let sim = start().await;
    let rule = json!({ "path": "/v1.0/groups*", "action": { "status": { "status": 429, "retryAfterSecs": 7 } }, "trigger": { "firstN": 1 } });
    let added = sim
        .call(Method::POST, "_sim/faults", None, &[], Some(rule))
        .await;
    assert_eq!(added.status, 204, "{}", added.text);
    let throttled = sim.get("v1.0/groups").await;
    assert_eq!(throttled.status, 429, "{}", throttled.text);
    assert_eq!(throttled.headers["retry-after"], "7");
    assert_eq!(
        throttled.body["error"]["innerError"]["request-id"],
        throttled.headers["request-id"].to_str().expect("ascii")
    );
    let ok = sim.get("v1.0/groups").await;
    assert_eq!(ok.status, 200);
    let listed = sim.call(Method::GET, "_sim/faults", None, &[], None).await;
    assert_eq!(listed.values().len(), 1);
    let cleared = sim
        .call(Method::DELETE, "_sim/faults", None, &[], None)
        .await;
    assert_eq!(cleared.status, 204);
}

#[tokio::test]
async fn license_reprocessing_retries_errors() {
    let sim = start().await;
    let group = sim.group_id("lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB");
    for upn in ["megan.bowen@contoso.com", "kate.thomas@contoso.com"] {
        assert_eq!(
            sim.post(
                &format!("v1.0/groups/{group}/members/$ref"),
                sim.reference(&sim.user_id(upn))
            )
            .await
            .status,
            204
        );
    }
    sim.handle
        .advance(std::time::Duration::from_secs(300))
        .await;
    let megan = sim.user_id("megan.bowen@contoso.com");
    assert_eq!(
        sim.delete(&format!("v1.0/groups/{group}/members/{megan}/$ref"))
            .await
            .status,
        204
    );
    sim.handle
        .advance(std::time::Duration::from_secs(300))
        .await;
    let still = sim
        .get("v1.0/users/kate.thomas@contoso.com?$select=licenseAssignmentStates")
        .await;
    assert_eq!(still.body["licenseAssignmentStates"][0]["state"], "Error");
    let answer = sim
        .call(
            Method::POST,
            &format!("_sim/groups/{group}/reprocess"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    sim.handle
        .advance(std::time::Duration::from_secs(300))
        .await;
    let fixed = sim
        .get("v1.0/users/kate.thomas@contoso.com?$select=licenseAssignmentStates")
        .await;
    assert_eq!(
        fixed.body["licenseAssignmentStates"][0]["state"], "Active",
        "{}",
        fixed.text
    );
}

// ------------------------------------------------------------ the guard of /_sim

/// A request to the admin API without the helper's automatic key.
async fn raw(
    sim: &common::Sim,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> reqwest::Response {
    let mut request = sim.client.request(method, sim.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn the_admin_api_needs_the_admin_key() {
    let sim = start().await;
    let key = sim.handle.admin_key().expose().to_owned();
    assert!(key.len() >= 32, "a random key of 32 characters");
    assert!(!format!("{:?}", sim.handle.admin_key()).contains(&key));

    let none = raw(&sim, Method::GET, "_sim/clock", &[], None).await;
    assert_eq!(none.status(), 401);
    let text = none.text().await.expect("body");
    assert!(text.contains(w365_sim::ADMIN_KEY_HEADER), "{text}");

    let wrong = raw(
        &sim,
        Method::GET,
        "_sim/clock",
        &[(w365_sim::ADMIN_KEY_HEADER, "not-the-key-of-this-simulator")],
        None,
    )
    .await;
    assert_eq!(wrong.status(), 401);

    let right = raw(
        &sim,
        Method::GET,
        "_sim/clock",
        &[(w365_sim::ADMIN_KEY_HEADER, &key)],
        None,
    )
    .await;
    assert_eq!(right.status(), 200);

    // Another simulator has another key.
    let other = start().await;
    assert_ne!(other.handle.admin_key().expose(), key);
    let foreign = raw(
        &other,
        Method::GET,
        "_sim/clock",
        &[(w365_sim::ADMIN_KEY_HEADER, &key)],
        None,
    )
    .await;
    assert_eq!(foreign.status(), 401);

    // Graph routes do not need it (they use bearer tokens).
    assert_eq!(sim.get("v1.0/users?$top=1").await.status, 200);
}

#[tokio::test]
async fn a_web_page_cannot_reset_the_simulator() {
    let sim = start().await;
    let key = sim.handle.admin_key().expose().to_owned();
    let group = sim.group_id("Engineering");
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
    let k = (w365_sim::ADMIN_KEY_HEADER, key.as_str());
    let members_path = format!("v1.0/groups/{group}/members?$select=id");
    let before = sim.get(&members_path).await.values().len();

    // The request of the issue: a foreign Host and a text/plain body, as a page could send.
    let evil = raw(
        &sim,
        Method::POST,
        "_sim/reset",
        &[("Host", "evil.example.com"), ("Content-Type", "text/plain")],
        Some("x"),
    )
    .await;
    assert_ne!(evil.status(), 204);
    // Even with the key, each check refuses on its own.
    let host = raw(
        &sim,
        Method::POST,
        "_sim/reset",
        &[k, ("Host", "evil.example.com")],
        None,
    )
    .await;
    assert_eq!(host.status(), 403);
    let origin = raw(
        &sim,
        Method::POST,
        "_sim/reset",
        &[k, ("Origin", "https://evil.example.com")],
        None,
    )
    .await;
    assert_eq!(origin.status(), 403);
    let plain = raw(
        &sim,
        Method::POST,
        "_sim/reset",
        &[k, ("Content-Type", "text/plain")],
        Some("{}"),
    )
    .await;
    assert_eq!(plain.status(), 415);
    let form = raw(
        &sim,
        Method::POST,
        "_sim/clock/advance",
        &[k, ("Content-Type", "application/x-www-form-urlencoded")],
        Some("minutes=5"),
    )
    .await;
    assert_eq!(form.status(), 415);
    let after = sim.get(&members_path).await;
    assert_eq!(
        after.values().len(),
        before,
        "nothing was reset: {}",
        after.text
    );

    // The simulator's own pages and tools: loopback Host/Origin, JSON or no body.
    let local = raw(
        &sim,
        Method::POST,
        "_sim/clock/advance",
        &[
            k,
            ("Host", "localhost:1234"),
            ("Origin", "http://127.0.0.1:1234"),
            ("Content-Type", "application/json; charset=utf-8"),
        ],
        Some(r#"{"minutes": 1}"#),
    )
    .await;
    assert_eq!(local.status(), 200);
    let reset = raw(&sim, Method::POST, "_sim/reset", &[k], None).await;
    assert_eq!(reset.status(), 204);
}
