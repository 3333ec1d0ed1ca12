//! Token acquisition through azure_identity (secret and certificate) against a wiremock token
//! endpoint reached over the loopback transport, token caching, 401 refresh and AADSTS mapping.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;
use sha2::{Digest, Sha256};
use w365_graph::{Client, Credential, Error};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test]
async fn client_secret_flow_gets_and_reuses_a_token() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(fixture_response(200, "token_success.json"))
        .expect(1)
        .named("token endpoint, once")
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .and(header(
            "authorization",
            "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fixture-token-one.sig",
        ))
        .respond_with(fixture_response(200, "subscribed_skus.json"))
        .expect(2)
        .mount(&server)
        .await;

    let client = secret_client(&server);
    let skus = client.subscribed_skus().list().await.unwrap();
    assert_eq!(skus[0].sku_part_number, "CPC_E_2C_4GB_128GB");
    assert_eq!(skus[0].available_units(), 11);
    client.subscribed_skus().list().await.unwrap();

    let requests = server.received_requests().await.unwrap();
    let token_req = requests
        .iter()
        .find(|r| r.url.path() == token_path())
        .expect("token request");
    let f = form(&token_req.body);
    assert_eq!(f["grant_type"], "client_credentials");
    assert_eq!(f["client_id"], CLIENT_ID);
    assert_eq!(f["client_secret"], SECRET);
    assert_eq!(f["scope"], "https://graph.microsoft.com/.default");
    assert!(!format!("{client:?}").contains(SECRET));
}

#[tokio::test]
async fn wrong_secret_is_an_auth_error_with_the_aadsts_code_and_no_secret() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(fixture_response(401, "token_error_7000215.json"))
        .mount(&server)
        .await;
    let err = secret_client(&server)
        .users()
        .get("alice@contoso.com")
        .await
        .unwrap_err();
    match &err {
        Error::Auth {
            aadsts,
            oauth_error,
            status,
            message,
            ..
        } => {
            assert_eq!(aadsts.as_deref(), Some("7000215"));
            assert_eq!(oauth_error.as_deref(), Some("invalid_client"));
            assert_eq!(*status, Some(401));
            assert!(message.contains("client secret is wrong"), "{message}");
            assert!(message.contains("AADSTS7000215"), "{message}");
        }
        other => panic!("expected Error::Auth, got {other:?}"),
    }
    assert!(err.is_permission_denied());
    assert_eq!(err.code(), Some("7000215"));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET), "secret leaked: {shown}");
    assert!(
        !shown.contains("Correlation ID"),
        "only the description is kept: {shown}"
    );
    assert!(
        shown.contains("trace id 255d1aef-8c98-452f-ac51-23d051240864"),
        "{shown}"
    );
}

#[tokio::test]
async fn unknown_client_maps_700016() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(fixture_response(400, "token_error_700016.json"))
        .mount(&server)
        .await;
    let err = secret_client(&server)
        .subscribed_skus()
        .list()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("700016"));
    assert!(
        err.to_string().contains("not found in this tenant"),
        "{err}"
    );
}

#[tokio::test]
async fn expired_token_is_refreshed_once_then_the_call_succeeds() {
    let server = server().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(fixture_response(401, "error_token_expired.json"))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(fixture_response(200, "subscribed_skus.json"))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let client = secret_client(&server);
    let skus = client.subscribed_skus().list().await.unwrap();
    assert_eq!(skus.len(), 1);
    let token_calls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == token_path())
        .count();
    assert_eq!(
        token_calls, 2,
        "one initial token and exactly one forced refresh"
    );
    assert_eq!(client.stats().requests, 2);
}

#[tokio::test]
async fn a_second_401_is_returned_not_retried_forever() {
    let server = server().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(fixture_response(401, "error_token_expired.json"))
        .expect(2)
        .mount(&server)
        .await;
    let err = secret_client(&server)
        .subscribed_skus()
        .list()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some("InvalidAuthenticationToken"));
    assert!(err.is_permission_denied());
}

#[tokio::test]
async fn static_token_is_sent_as_bearer() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .and(header("authorization", "Bearer static-test-token"))
        .respond_with(fixture_response(200, "subscribed_skus.json"))
        .expect(1)
        .mount(&server)
        .await;
    static_client(&server)
        .subscribed_skus()
        .list()
        .await
        .unwrap();
}

fn test_certificate() -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let params = rcgen::CertificateParams::new(vec!["w365-test-app".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed certificate");
    (
        format!("{}{}", cert.pem(), key.serialize_pem()),
        key.public_key_pem(),
        cert.der().to_vec(),
    )
}

#[tokio::test]
async fn certificate_flow_sends_a_valid_signed_assertion() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(fixture_response(200, "token_success.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(fixture_response(200, "subscribed_skus.json"))
        .mount(&server)
        .await;
    let (pem, public_pem, der) = test_certificate();
    let client = Client::builder()
        .cloud(cloud(&server))
        .credential(Credential::certificate(TENANT, CLIENT_ID, pem.clone()))
        .retry(fast_retry())
        .build()
        .unwrap();
    client.subscribed_skus().list().await.unwrap();
    assert!(!format!("{client:?}").contains("PRIVATE KEY"));

    let requests = server.received_requests().await.unwrap();
    let token_req = requests
        .iter()
        .find(|r| r.url.path() == token_path())
        .unwrap();
    let f = form(&token_req.body);
    assert_eq!(f["grant_type"], "client_credentials");
    assert_eq!(f["client_id"], CLIENT_ID);
    assert_eq!(
        f["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert!(!f.contains_key("client_secret"));
    let assertion = &f["client_assertion"];

    let header = jsonwebtoken::decode_header(assertion).unwrap();
    assert_eq!(header.alg, Algorithm::PS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(
        header.x5t_s256.as_deref(),
        Some(URL_SAFE_NO_PAD.encode(Sha256::digest(&der)).as_str())
    );

    let audience = format!("{}{}", server.uri(), token_path());
    let mut validation = Validation::new(Algorithm::PS256);
    validation.set_audience(&[audience.as_str()]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.validate_nbf = true;
    let key = DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
        .expect("assertion verifies with the certificate key")
        .claims;
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["iss"], CLIENT_ID);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let nbf = claims["nbf"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!((now - nbf).abs() < 60);
    assert!((300..=600).contains(&(exp - nbf)), "lifetime {}", exp - nbf);
    let _ = json!(null);
}

#[tokio::test]
async fn a_certificate_without_a_key_is_refused_at_build_time() {
    let server = server().await;
    let (pem, _, _) = test_certificate();
    let cert_only: String = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .next()
        .unwrap()
        .to_owned();
    let err = Client::builder()
        .cloud(cloud(&server))
        .credential(Credential::certificate(TENANT, CLIENT_ID, cert_only))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err}");
    assert!(err.to_string().contains("private key"), "{err}");
}

#[tokio::test]
async fn non_loopback_http_is_refused() {
    let err = w365_graph::Cloud::custom("http://graph.example.com", "http://login.example.com")
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
    let _ = ResponseTemplate::new(200);
}

#[tokio::test]
async fn environment_variables_with_a_certificate_path_use_the_certificate_flow() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(fixture_response(200, "token_success.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/subscribedSkus"))
        .respond_with(fixture_response(200, "subscribed_skus.json"))
        .mount(&server)
        .await;
    let (pem, _, _) = test_certificate();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("app.pem");
    std::fs::write(&cert_path, pem).unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("AZURE_TENANT_ID", TENANT.to_owned()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_owned()),
        (
            "AZURE_CLIENT_CERTIFICATE_PATH",
            cert_path.display().to_string(),
        ),
    ]);
    let credential = Credential::from_env_lookup(|name| vars.get(name).cloned()).unwrap();
    assert!(matches!(credential, Credential::Certificate { .. }));
    let client = Client::builder()
        .cloud(cloud(&server))
        .credential(credential)
        .build()
        .unwrap();
    client.subscribed_skus().list().await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let token_req = requests
        .iter()
        .find(|r| r.url.path() == token_path())
        .unwrap();
    assert!(form(&token_req.body).contains_key("client_assertion"));
}

#[tokio::test]
async fn managed_identity_and_azure_cli_credentials_build_without_network() {
    let server = server().await;
    for credential in [
        Credential::ManagedIdentity { client_id: None },
        Credential::ManagedIdentity {
            client_id: Some("11111111-2222-3333-4444-555555555555".to_owned()),
        },
        Credential::AzureCli,
    ] {
        let shown = format!("{credential:?}");
        Client::builder()
            .cloud(cloud(&server))
            .credential(credential)
            .build()
            .unwrap_or_else(|e| panic!("{shown}: {e}"));
    }
    // nothing was sent anywhere while building
    assert!(server.received_requests().await.unwrap().is_empty());
}
