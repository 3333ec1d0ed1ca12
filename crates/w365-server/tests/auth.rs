//! Sign-in and access over real HTTP: every kind of bad token is a 401; roles, protected users and
//! tenant scopes are enforced on the server (403), and a refusal for the role or on a protected
//! user is audited.

use crate::common;

use crate::common::{SCOPED_OPERATOR, start};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use w365_sim::oidc::{VIP_USER, W365_APP_ID};

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

async fn assert_401(h: &common::Harness, token: Option<&str>, why: &str) -> Value {
    let mut request = h.http.get(h.url("/api/v1/jobs"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let r = request.send().await.expect("request");
    assert_eq!(r.status(), 401, "{why}");
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("header")
            .starts_with("Bearer"),
        "{why}: a Bearer challenge"
    );
    let request_id = r.headers()["x-request-id"]
        .to_str()
        .expect("request id")
        .to_owned();
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthenticated", "{why}");
    assert_eq!(body["error"]["requestId"], request_id.as_str(), "{why}");
    assert!(
        body["error"]["fix"].as_str().is_some_and(|f| !f.is_empty()),
        "{why}"
    );
    body
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401() {
    let h = start().await;
    let good = h.token("admin").await;
    let (status, _) = h.get(&good, "/api/v1/jobs").await;
    assert_eq!(status, 200, "the good token works");

    assert_401(&h, None, "no token").await;
    assert_401(&h, Some("not-a-jwt"), "malformed").await;
    assert_401(&h, Some("a.b.c"), "malformed parts").await;

    // Forged: the payload changed (a reader made admin), the signature kept.
    let reader = h.token("reader").await;
    let mut claims = claims_of(&reader);
    claims["roles"] = json!(["W365.Admin"]);
    let parts: Vec<&str> = reader.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let body = assert_401(&h, Some(&forged), "forged signature").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("m")
            .contains("signature")
    );

    // alg none, with a perfectly valid payload.
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert_401(&h, Some(&unsigned), "alg none").await;
    // HS256 signed with the public modulus as secret (key confusion).
    let hs_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let confused = format!("{hs_header}.{}.{}", parts[1], parts[2]);
    assert_401(&h, Some(&confused), "alg HS256").await;

    // Signed by the provider's real key, but expired / for another API / from another issuer.
    let base = claims_of(&good);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut expired = base.clone();
    expired["iat"] = json!(now - 7200);
    expired["nbf"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let body = assert_401(&h, Some(&h.sim.oidc().sign_claims(&expired)), "expired").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("m")
            .contains("expired")
    );
    let mut future = base.clone();
    future["nbf"] = json!(now + 3600);
    assert_401(
        &h,
        Some(&h.sim.oidc().sign_claims(&future)),
        "not yet valid",
    )
    .await;
    let mut graph = base.clone();
    graph["aud"] = json!("00000003-0000-0000-c000-000000000000");
    let body = assert_401(
        &h,
        Some(&h.sim.oidc().sign_claims(&graph)),
        "wrong audience",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("m")
            .contains("audience")
    );
    let mut foreign = base.clone();
    foreign["iss"] = json!(format!(
        "https://login.microsoftonline.com/{}/v2.0",
        h.sim.tenant_id()
    ));
    let body = assert_401(
        &h,
        Some(&h.sim.oidc().sign_claims(&foreign)),
        "wrong issuer",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("m")
            .contains("issuer")
    );
    // The api:// form of the audience is accepted (v1 tokens).
    let mut v1 = base.clone();
    v1["aud"] = json!(format!("api://{W365_APP_ID}"));
    let (status, _) = h.get(&h.sim.oidc().sign_claims(&v1), "/api/v1/jobs").await;
    assert_eq!(status, 200);
    h.shutdown().await;
}

#[tokio::test]
async fn a_new_signing_key_is_fetched_on_an_unknown_kid() {
    let h = start().await;
    let before = h.token("reader").await;
    assert_eq!(h.get(&before, "/api/v1/jobs").await.0, 200);
    let kid = h.sim.oidc().rotate_signing_key();
    let after = h.token("reader").await;
    assert!(after != before);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(after.split('.').next().expect("h"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["kid"], kid.as_str());
    assert_eq!(h.get(&after, "/api/v1/jobs").await.0, 200, "refetched JWKS");
    h.shutdown().await;
}

fn assign(user: &str, tenant: &str) -> Value {
    json!({"operation": "assign", "tenant": tenant, "params": {"user": user}})
}

#[tokio::test]
async fn roles_protected_users_and_tenant_scopes_are_enforced() {
    let h = start().await;
    let reader = h.token("reader").await;
    let helpdesk = h.token("helpdesk").await;
    let admin = h.token("admin").await;

    // A Reader may read but not submit.
    assert_eq!(h.get(&reader, "/api/v1/operations").await.0, 200);
    let (status, body) = h
        .post(
            &reader,
            "/api/v1/jobs",
            &assign("kate.thomas@contoso.com", "sandbox"),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("m")
            .contains("W365.Helpdesk")
    );

    // A Helpdesk operator on a protected user: 403 and an audit record.
    let (status, body) = h
        .post(&helpdesk, "/api/v1/jobs", &assign(VIP_USER, "sandbox"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("m")
            .contains("protected")
    );
    let audit = h
        .store
        .audit_list(&w365_jobs::AuditFilter::default())
        .await
        .expect("audit");
    let refused: Vec<_> = audit
        .items
        .iter()
        .filter(|r| r.outcome == "refused")
        .collect();
    // Both refusals are audited: the Reader's (its role) and this one (the protected user).
    assert_eq!(refused.len(), 2, "{refused:?}");
    let vip = refused
        .iter()
        .find(|r| r.target.as_deref() == Some(VIP_USER))
        .expect("the refusal on the protected user");
    assert_eq!(vip.actor.upn, "hank.helpdesk@contoso.com");
    assert_eq!(
        vip.request_id.as_deref(),
        body["error"]["requestId"].as_str()
    );
    let role = refused
        .iter()
        .find(|r| r.target.as_deref() == Some("kate.thomas@contoso.com"))
        .expect("the refusal for the Reader's role");
    assert_eq!(role.actor.upn, "rita.reader@contoso.com");
    assert_eq!(role.operation, "assign");
    assert!(
        h.store
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty(),
        "no job"
    );
    // The Admin may.
    let (status, job) = h
        .post(&admin, "/api/v1/jobs", &assign(VIP_USER, "sandbox"))
        .await;
    assert_eq!(status, 202, "{job}");
    // The same operator on an ordinary user may.
    let (status, job) = h
        .post(
            &helpdesk,
            "/api/v1/jobs",
            &assign("kate.thomas@contoso.com", "sandbox"),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["requestedBy"]["upn"], "hank.helpdesk@contoso.com");

    // No way around the check by naming a protected user's Cloud PC by its id.
    let (alice_pc, alice) = h.sim.with_state(|s| {
        let t = s.default_tenant_mut().expect("tenant");
        let alice = t
            .directory
            .user_id_by_upn("alice.smith@contoso.com")
            .expect("alice")
            .to_owned();
        let pc = t.w365.cloud_pcs_of_user(&alice)[0].id.clone();
        let vip = t.directory.groups_named(w365_sim::oidc::VIP_GROUP)[0].clone();
        t.add_member(&vip, &alice, time::OffsetDateTime::now_utc())
            .expect("add");
        (pc, alice)
    });
    h.sim.advance(std::time::Duration::from_secs(3600)).await;
    let reboot = json!({"operation": "cloudpc.reboot", "tenant": "sandbox", "params": {"cloudPc": alice_pc}});
    let (status, body) = h.post(&helpdesk, "/api/v1/jobs", &reboot).await;
    assert_eq!(status, 403, "{body} ({alice})");
    let (status, _) = h.post(&admin, "/api/v1/jobs", &reboot).await;
    assert_eq!(status, 202);

    // A scoped operator: their tenant yes, another one no — for reads, submissions and streams.
    let scoped = h.token_for(SCOPED_OPERATOR).await;
    assert_eq!(
        h.get(&scoped, "/api/v1/tenants/sandbox/capacity").await.0,
        200
    );
    let (status, body) = h.get(&scoped, "/api/v1/tenants/other/capacity").await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = h
        .post(
            &scoped,
            "/api/v1/jobs",
            &assign("kate.thomas@contoso.com", "other"),
        )
        .await;
    assert_eq!(status, 403);
    let (status, other_job) = h
        .post(
            &admin,
            "/api/v1/jobs",
            &assign("liam.jackson@contoso.com", "other"),
        )
        .await;
    assert_eq!(status, 202);
    let id = other_job["id"].as_str().expect("id");
    assert_eq!(h.get(&scoped, &format!("/api/v1/jobs/{id}")).await.0, 403);
    let r = h
        .http
        .get(h.url(&format!("/api/v1/jobs/{id}/events")))
        .bearer_auth(&scoped)
        .send()
        .await
        .expect("events");
    assert_eq!(
        r.status(),
        403,
        "an event stream of a job outside the scope"
    );
    assert_eq!(h.get(&admin, &format!("/api/v1/jobs/{id}")).await.0, 200);
    // Their job list shows only their tenant.
    let (status, list) = h.get(&scoped, "/api/v1/jobs").await;
    assert_eq!(status, 200);
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|j| j["tenant"] == "sandbox")
    );
    assert_eq!(h.get(&scoped, "/api/v1/jobs?tenant=other").await.0, 403);
    h.shutdown().await;
}
