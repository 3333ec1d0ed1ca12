//! The simulator as the sandbox's identity provider, over HTTP: discovery, JWKS, the sign-in page,
//! the authorization-code grant with PKCE, the device-code flow, and the token claims.

use std::collections::HashMap;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::Value;
use w365_sim::oidc::{
    DEMO_OPERATORS, ROLE_ADMIN, ROLE_HELPDESK, ROLE_READER, VIP_GROUP, VIP_USER, W365_APP_ID,
    pkce_challenge,
};
use w365_sim::{SimConfig, SimHandle};

const VERIFIER: &str = "a-long-enough-code-verifier-for-the-tests-0123456789";
const REDIRECT: &str = "http://127.0.0.1:8123/auth/callback";

fn scope() -> String {
    format!("openid profile api://{W365_APP_ID}/access_as_user")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

async fn sim() -> SimHandle {
    w365_sim::spawn(SimConfig::contoso())
        .await
        .expect("simulator starts")
}

fn url(sim: &SimHandle, path: &str) -> String {
    format!("{}{}", sim.base_url(), path.trim_start_matches('/'))
}

async fn discovery(sim: &SimHandle, http: &reqwest::Client) -> Value {
    let response = http
        .get(url(
            sim,
            &format!("{}/v2.0/.well-known/openid-configuration", sim.tenant_id()),
        ))
        .send()
        .await
        .expect("discovery");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

fn authorize_params(challenge: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", W365_APP_ID.to_owned()),
        ("response_type", "code".to_owned()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("scope", scope()),
        ("state", "state-123".to_owned()),
        ("nonce", "nonce-456".to_owned()),
        ("code_challenge", challenge.to_owned()),
        ("code_challenge_method", "S256".to_owned()),
    ]
}

/// Signs in as `upn` through the authorize form; returns the redirect's query parameters.
async fn sign_in(sim: &SimHandle, http: &reqwest::Client, upn: &str) -> HashMap<String, String> {
    let doc = discovery(sim, http).await;
    let mut form = authorize_params(&pkce_challenge(VERIFIER));
    form.push(("login_hint", upn.to_owned()));
    let response = http
        .post(doc["authorization_endpoint"].as_str().expect("endpoint"))
        .form(&form)
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("location");
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(location)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

async fn redeem(
    sim: &SimHandle,
    http: &reqwest::Client,
    code: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    let doc = discovery(sim, http).await;
    let response = http
        .post(doc["token_endpoint"].as_str().expect("endpoint"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", W365_APP_ID),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

async fn verify(sim: &SimHandle, http: &reqwest::Client, token: &str, audience: &str) -> Value {
    let doc = discovery(sim, http).await;
    let jwks: JwkSet = http
        .get(doc["jwks_uri"].as_str().expect("jwks_uri"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("the token's key is published");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[doc["issuer"].as_str().expect("issuer")]);
    jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_jwk(jwk).expect("key"),
        &validation,
    )
    .expect("the token verifies against the JWKS")
    .claims
}

#[tokio::test]
async fn discovery_document_points_at_the_simulator_in_entra_v2_format() {
    let sim = sim().await;
    let http = client();
    let doc = discovery(&sim, &http).await;
    let base = sim.base_url().as_str().trim_end_matches('/').to_owned();
    let tid = sim.tenant_id();
    assert_eq!(doc["issuer"], format!("{base}/{tid}/v2.0"));
    assert_eq!(sim.oidc_issuer(), format!("{base}/{tid}/v2.0"));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{base}/{tid}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        doc["token_endpoint"],
        format!("{base}/{tid}/oauth2/v2.0/token")
    );
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{base}/{tid}/oauth2/v2.0/devicecode")
    );
    assert_eq!(doc["jwks_uri"], format!("{base}/{tid}/discovery/v2.0/keys"));
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    // By domain too; an unknown tenant is AADSTS90002.
    let by_domain: Value = http
        .get(url(
            &sim,
            "contoso.com/v2.0/.well-known/openid-configuration",
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(by_domain["issuer"], doc["issuer"]);
    let unknown = http
        .get(url(
            &sim,
            "nowhere.example/v2.0/.well-known/openid-configuration",
        ))
        .send()
        .await
        .expect("discovery");
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["error_codes"][0], 90002);

    let jwks: Value = http
        .get(doc["jwks_uri"].as_str().expect("jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "no private member is published");
    // A 2048-bit modulus: 256 bytes, 342 base64url characters.
    assert_eq!(key["n"].as_str().expect("n").len(), 342);
}

#[tokio::test]
async fn keys_differ_per_simulator() {
    let (a, b) = (sim().await, sim().await);
    assert_ne!(a.oidc().signing_key().kid(), b.oidc().signing_key().kid());
}

#[tokio::test]
async fn sign_in_page_lists_the_demo_operators_and_the_code_grant_issues_role_tokens() {
    let sim = sim().await;
    let http = client();
    let doc = discovery(&sim, &http).await;
    let page = http
        .get(doc["authorization_endpoint"].as_str().expect("endpoint"))
        .query(&authorize_params(&pkce_challenge(VERIFIER)))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    for op in DEMO_OPERATORS {
        assert!(html.contains(op.upn), "{} listed", op.upn);
        assert!(html.contains(op.role), "{} listed", op.role);
    }
    assert!(html.contains("name=\"code_challenge\""));

    for (op, role) in DEMO_OPERATORS
        .iter()
        .zip([ROLE_READER, ROLE_HELPDESK, ROLE_ADMIN])
    {
        let query = sign_in(&sim, &http, op.upn).await;
        assert_eq!(query["state"], "state-123");
        let (status, body) = redeem(&sim, &http, &query["code"], VERIFIER).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        let access = verify(
            &sim,
            &http,
            body["access_token"].as_str().expect("at"),
            W365_APP_ID,
        )
        .await;
        assert_eq!(access["roles"], serde_json::json!([role]));
        assert_eq!(access["preferred_username"], op.upn);
        assert_eq!(access["tid"], sim.tenant_id());
        assert_eq!(access["ver"], "2.0");
        assert_eq!(access["scp"], "access_as_user");
        assert_eq!(access["azp"], W365_APP_ID);
        let oid = sim.with_state(|s| {
            s.default_tenant()
                .expect("tenant")
                .directory
                .user_id_by_upn(op.upn)
                .map(str::to_owned)
        });
        assert_eq!(
            access["oid"].as_str(),
            oid.as_deref(),
            "the seeded user's id"
        );
        let id = verify(
            &sim,
            &http,
            body["id_token"].as_str().expect("id"),
            W365_APP_ID,
        )
        .await;
        assert_eq!(id["nonce"], "nonce-456");
        assert_eq!(id["name"], op.display_name);
        // A code is redeemed once.
        let (again, err) = redeem(&sim, &http, &query["code"], VERIFIER).await;
        assert_eq!(again, StatusCode::BAD_REQUEST);
        assert_eq!(err["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn pkce_is_required_and_checked() {
    let sim = sim().await;
    let http = client();
    // Wrong verifier.
    let query = sign_in(&sim, &http, DEMO_OPERATORS[1].upn).await;
    let (status, body) = redeem(
        &sim,
        &http,
        &query["code"],
        "another-verifier-that-does-not-match-xxxxxxxx",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"][0], 501481, "{body}");

    let doc = discovery(&sim, &http).await;
    let endpoint = doc["authorization_endpoint"].as_str().expect("endpoint");
    // No challenge, or the plain method: back to the client with invalid_request.
    for (drop, method) in [(true, "S256"), (false, "plain")] {
        let mut params: Vec<(&str, String)> = authorize_params(&pkce_challenge(VERIFIER))
            .into_iter()
            .filter(|(k, _)| !(drop && *k == "code_challenge"))
            .collect();
        for p in &mut params {
            if p.0 == "code_challenge_method" {
                p.1 = method.to_owned();
            }
        }
        let response = http
            .get(endpoint)
            .query(&params)
            .send()
            .await
            .expect("authorize");
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let q: HashMap<String, String> = url::Url::parse(&location)
            .expect("url")
            .query_pairs()
            .into_owned()
            .collect();
        assert_eq!(q["error"], "invalid_request", "{location}");
        assert_eq!(q["state"], "state-123");
        assert!(!q.contains_key("code"));
    }
    // A non-loopback redirect URI is never redirected to.
    let mut params = authorize_params(&pkce_challenge(VERIFIER));
    params[2].1 = "https://evil.example/callback".to_owned();
    let response = http
        .get(endpoint)
        .query(&params)
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    assert!(response.text().await.expect("html").contains("AADSTS50011"));
    // An unknown client.
    let mut params = authorize_params(&pkce_challenge(VERIFIER));
    params[0].1 = "00000000-0000-0000-0000-000000000001".to_owned();
    let response = http
        .get(endpoint)
        .query(&params)
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("AADSTS700016")
    );
}

#[tokio::test]
async fn device_code_flow_pends_until_approved_then_issues_tokens() {
    let sim = sim().await;
    let http = client();
    let doc = discovery(&sim, &http).await;
    let start: Value = http
        .post(
            doc["device_authorization_endpoint"]
                .as_str()
                .expect("endpoint"),
        )
        .form(&[("client_id", W365_APP_ID), ("scope", scope().as_str())])
        .send()
        .await
        .expect("devicecode")
        .json()
        .await
        .expect("json");
    let device_code = start["device_code"].as_str().expect("device_code");
    let user_code = start["user_code"].as_str().expect("user_code");
    assert_eq!(user_code.len(), 8);
    assert!(
        start["message"]
            .as_str()
            .expect("message")
            .contains(user_code)
    );
    let poll = || async {
        let response = http
            .post(doc["token_endpoint"].as_str().expect("endpoint"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", W365_APP_ID),
                ("device_code", device_code),
            ])
            .send()
            .await
            .expect("poll");
        let status = response.status();
        (status, response.json::<Value>().await.expect("json"))
    };
    let (status, pending) = poll().await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(pending["error"], "authorization_pending");

    let verification = start["verification_uri"].as_str().expect("uri");
    let page = http
        .get(verification)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("ada.admin@contoso.com"));
    // A wrong code is refused; the right one (any case, with a dash) signs in.
    let wrong = http
        .post(verification)
        .form(&[
            ("user_code", "ZZZZZZZZ"),
            ("login_hint", "ada.admin@contoso.com"),
        ])
        .send()
        .await
        .expect("submit");
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let typed = format!("{}-{}", &user_code[..4], &user_code[4..]).to_lowercase();
    let ok = http
        .post(verification)
        .form(&[
            ("user_code", typed.as_str()),
            ("login_hint", "ada.admin@contoso.com"),
        ])
        .send()
        .await
        .expect("submit");
    assert_eq!(ok.status(), StatusCode::OK);
    let (status, tokens) = poll().await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = verify(
        &sim,
        &http,
        tokens["access_token"].as_str().expect("at"),
        W365_APP_ID,
    )
    .await;
    assert_eq!(claims["roles"], serde_json::json!([ROLE_ADMIN]));
    // Used once.
    let (status, _) = poll().await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Client credentials still go to the Graph token code.
    let admin = sim.admin_app();
    let graph = http
        .post(doc["token_endpoint"].as_str().expect("endpoint"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", admin.client_id.as_str()),
            ("client_secret", admin.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(graph.status(), StatusCode::OK);
}

#[tokio::test]
async fn rotated_keys_stay_published_and_sign_new_tokens() {
    let sim = sim().await;
    let http = client();
    let old = sim.oidc().signing_key().kid().to_owned();
    let new = sim.oidc().rotate_signing_key();
    let query = sign_in(&sim, &http, DEMO_OPERATORS[0].upn).await;
    let (_, body) = redeem(&sim, &http, &query["code"], VERIFIER).await;
    let token = body["access_token"].as_str().expect("at");
    assert_eq!(
        jsonwebtoken::decode_header(token)
            .expect("header")
            .kid
            .as_deref(),
        Some(new.as_str())
    );
    verify(&sim, &http, token, W365_APP_ID).await;
    let doc = discovery(&sim, &http).await;
    let jwks: Value = http
        .get(doc["jwks_uri"].as_str().expect("jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(kids.contains(&old.as_str()) && kids.contains(&new.as_str()));
}

#[tokio::test]
async fn demo_operators_and_the_vip_group_are_seeded_in_contoso() {
    let sim = sim().await;
    sim.with_state(|s| {
        let t = s.default_tenant().expect("tenant");
        for op in DEMO_OPERATORS {
            assert!(t.directory.user_id_by_upn(op.upn).is_some(), "{}", op.upn);
        }
        let vip = t
            .directory
            .user_id_by_upn(VIP_USER)
            .expect("vip user")
            .to_owned();
        let groups = t.directory.groups_named(VIP_GROUP).to_vec();
        assert_eq!(groups.len(), 1);
        assert!(t.directory.is_member(&groups[0], &vip));
    });
}
