use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::state::apps::AppRegistrations;

const TENANT_ID: &str = "8f1d3c2a-5b6e-4f70-9a81-b2c3d4e5f607";
const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
const CLIENT_ID: &str = "0b5a2c3d-1e2f-4a5b-8c6d-7e8f9a0b1c2d";
const SECRET: &str = "s3cr3t~Value.With-Symbols+/=";
const ENDPOINT: &str = "http://127.0.0.1:4321/contoso.onmicrosoft.com/oauth2/v2.0/token";
const NOW: OffsetDateTime = datetime!(2026-03-02 10:00:00 UTC);
const LIFETIME: Duration = Duration::from_secs(3599);

fn apps() -> AppRegistrations {
    let mut apps = AppRegistrations::default();
    apps.create_app(
        CLIENT_ID.to_owned(),
        "w365 automation",
        vec![
            "User.Read.All".to_owned(),
            "CloudPC.ReadWrite.All".to_owned(),
        ],
    );
    apps.add_secret(CLIENT_ID, SECRET).expect("app exists");
    apps
}

fn secret_form() -> TokenForm {
    TokenForm {
        grant_type: Some("client_credentials".to_owned()),
        client_id: Some(CLIENT_ID.to_owned()),
        scope: Some("https://graph.microsoft.com/.default".to_owned()),
        client_secret: Some(SECRET.to_owned()),
        ..TokenForm::default()
    }
}

fn issue(
    apps: &AppRegistrations,
    form: &TokenForm,
    key: &SigningKey,
) -> Result<TokenResponse, AadError> {
    issue_at(apps, form, key, NOW, &mut MemoryJtiCache::new())
}

fn issue_at(
    apps: &AppRegistrations,
    form: &TokenForm,
    key: &SigningKey,
    now: OffsetDateTime,
    jti: &mut MemoryJtiCache,
) -> Result<TokenResponse, AadError> {
    issue_token(
        Some(TENANT_ID),
        TENANT_DOMAIN,
        apps,
        form,
        key,
        now,
        LIFETIME,
        ENDPOINT,
        jti,
    )
}

#[track_caller]
fn assert_aad(
    result: Result<TokenResponse, AadError>,
    code: u32,
    error: &str,
    status: u16,
) -> AadError {
    let err = result.expect_err("the token request must fail");
    assert_eq!(
        (err.code(), err.error(), err.status()),
        (code, error, status),
        "{err}"
    );
    err
}

// ---------------------------------------------------------------- secret flow

#[test]
fn secret_flow_issues_a_graph_token_with_the_observed_claims() {
    let apps = apps();
    let key = SigningKey::generate();
    let tokens = issue(&apps, &secret_form(), &key).expect("valid request");
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!((tokens.expires_in, tokens.ext_expires_in), (3599, 3599));

    let claims: Value = jsonwebtoken::dangerous::insecure_decode(&tokens.access_token)
        .expect("a JWT")
        .claims;
    let sp = apps
        .get(CLIENT_ID)
        .expect("registered")
        .service_principal_id
        .clone();
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(
        claims["iss"],
        format!("https://sts.windows.net/{TENANT_ID}/")
    );
    assert_eq!(claims["tid"], TENANT_ID);
    assert_eq!(claims["appid"], CLIENT_ID);
    assert_eq!(claims["oid"], sp.as_str());
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(
        claims["roles"],
        json!(["User.Read.All", "CloudPC.ReadWrite.All"])
    );
    assert_eq!(claims["iat"], NOW.unix_timestamp());
    assert_eq!(claims["nbf"], NOW.unix_timestamp());
    assert_eq!(claims["exp"], NOW.unix_timestamp() + 3599);

    let caller = authenticate(Some(&format!("Bearer {}", tokens.access_token)), &key, NOW)
        .expect("the token is valid");
    assert_eq!(
        caller,
        Caller {
            tenant_id: TENANT_ID.to_owned(),
            app_id: CLIENT_ID.to_owned(),
            roles: vec![
                "User.Read.All".to_owned(),
                "CloudPC.ReadWrite.All".to_owned()
            ],
        }
    );
}

#[test]
fn token_lifetime_is_configurable() {
    let apps = apps();
    let key = SigningKey::generate();
    let tokens = issue_token(
        Some(TENANT_ID),
        TENANT_DOMAIN,
        &apps,
        &secret_form(),
        &key,
        NOW,
        Duration::from_secs(600),
        ENDPOINT,
        &mut MemoryJtiCache::new(),
    )
    .expect("valid request");
    assert_eq!(tokens.expires_in, 600);
    let header = format!("Bearer {}", tokens.access_token);
    assert!(authenticate(Some(&header), &key, NOW + time::Duration::seconds(599)).is_ok());
    assert_eq!(
        authenticate(Some(&header), &key, NOW + time::Duration::seconds(600)),
        Err(AuthFailure::Expired)
    );
}

#[test]
fn form_body_and_basic_auth_are_parsed() {
    let body = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_secret={}",
        url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect::<String>()
    );
    let form = TokenForm::parse(
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        body.as_bytes(),
        None,
    );
    assert_eq!(form.client_secret.as_deref(), Some(SECRET));
    assert_eq!(
        form.scope.as_deref(),
        Some("https://graph.microsoft.com/.default")
    );
    assert!(issue(&apps(), &form, &SigningKey::generate()).is_ok());

    // RFC 6749 §2.3.1: form-encode id and secret, then base64 "id:secret".
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(CLIENT_ID), enc(SECRET)))
    );
    let body = "grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";
    let form = TokenForm::parse(
        Some("application/x-www-form-urlencoded"),
        body.as_bytes(),
        Some(&basic),
    );
    assert_eq!(
        form.basic.as_ref().map(|b| b.client_secret.as_str()),
        Some(SECRET)
    );
    assert!(issue(&apps(), &form, &SigningKey::generate()).is_ok());

    // A wrong secret in the Basic header is a wrong secret.
    let bad = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:nope")));
    let form = TokenForm::parse(
        Some("application/x-www-form-urlencoded"),
        body.as_bytes(),
        Some(&bad),
    );
    assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        7000215,
        "invalid_client",
        401,
    );

    // Secret both in the header and the body: malformed.
    let both = format!("{body}&client_secret=x");
    let form = TokenForm::parse(
        Some("application/x-www-form-urlencoded"),
        both.as_bytes(),
        Some(&basic),
    );
    assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        9002313,
        "invalid_request",
        400,
    );
}

#[test]
fn a_json_body_lacks_grant_type() {
    let body = json!({"grant_type": "client_credentials", "client_id": CLIENT_ID}).to_string();
    let form = TokenForm::parse(Some("application/json"), body.as_bytes(), None);
    let err = assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        900144,
        "invalid_request",
        400,
    );
    assert!(err.to_string().contains("'grant_type'"), "{err}");
}

#[test]
fn wrong_secret_gives_7000215_with_the_entra_error_body() {
    let mut form = secret_form();
    form.client_secret = Some("the-secret-id-not-the-value".to_owned());
    let err = assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        7000215,
        "invalid_client",
        401,
    );
    let body = err.body(NOW);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    assert_eq!(body["timestamp"], "2026-03-02 10:00:00Z");
    assert_eq!(
        body["error_uri"],
        "https://login.microsoftonline.com/error?code=7000215"
    );
    let trace = body["trace_id"].as_str().expect("trace id");
    let correlation = body["correlation_id"].as_str().expect("correlation id");
    assert!(uuid::Uuid::parse_str(trace).is_ok() && uuid::Uuid::parse_str(correlation).is_ok());
    let description = body["error_description"].as_str().expect("description");
    assert!(
        description.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{description}"
    );
    assert!(description.contains(&format!("for a secret added to app '{CLIENT_ID}'")));
    assert!(description.ends_with(&format!(
        "\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: 2026-03-02 10:00:00Z"
    )));
    assert!(!description.contains("the-secret-id-not-the-value"));

    let fixed = uuid::Uuid::new_v4();
    assert_eq!(
        err.with_correlation_id(fixed).body(NOW)["correlation_id"],
        fixed.to_string()
    );
}

#[test]
fn expired_secret_gives_7000222() {
    let mut apps = apps();
    apps.add_secret_expiring(
        CLIENT_ID,
        "short-lived",
        Some(NOW - time::Duration::days(1)),
    )
    .expect("app exists");
    let mut form = secret_form();
    form.client_secret = Some("short-lived".to_owned());
    assert_aad(
        issue(&apps, &form, &SigningKey::generate()),
        7000222,
        "invalid_client",
        401,
    );
    // The other, non-expiring secret still works.
    assert!(issue(&apps, &secret_form(), &SigningKey::generate()).is_ok());
}

#[test]
fn unknown_client_gives_700016() {
    let mut form = secret_form();
    form.client_id = Some("11111111-2222-3333-4444-555555555555".to_owned());
    let err = assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        700016,
        "unauthorized_client",
        400,
    );
    assert!(err.to_string().contains(TENANT_DOMAIN), "{err}");
}

#[test]
fn scope_must_be_graph_default() {
    for bad in [
        "https://graph.microsoft.com/User.Read.All",
        "openid",
        "https://management.azure.com/.default",
    ] {
        let mut form = secret_form();
        form.scope = Some(bad.to_owned());
        let err = assert_aad(
            issue(&apps(), &form, &SigningKey::generate()),
            70011,
            "invalid_scope",
            400,
        );
        assert!(err.to_string().contains(bad), "{err}");
    }
    let mut form = secret_form();
    form.scope = None;
    assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        70011,
        "invalid_scope",
        400,
    );
    form.scope = Some("00000003-0000-0000-c000-000000000000/.default".to_owned());
    assert!(issue(&apps(), &form, &SigningKey::generate()).is_ok());
}

#[test]
fn missing_fields_give_900144_and_unknown_grant_70003() {
    let mut form = secret_form();
    form.grant_type = None;
    let err = assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        900144,
        "invalid_request",
        400,
    );
    assert!(err.to_string().contains("'grant_type'"));

    let mut form = secret_form();
    form.client_id = None;
    let err = assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        900144,
        "invalid_request",
        400,
    );
    assert!(err.to_string().contains("'client_id'"));

    let mut form = secret_form();
    form.grant_type = Some("password".to_owned());
    assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        70003,
        "unsupported_grant_type",
        400,
    );

    let mut form = secret_form();
    form.client_secret = None;
    assert_aad(
        issue(&apps(), &form, &SigningKey::generate()),
        7000218,
        "invalid_client",
        401,
    );
}

#[test]
fn unknown_tenant_gives_90002() {
    let result = issue_token(
        None,
        "fabrikam.onmicrosoft.com",
        &apps(),
        &secret_form(),
        &SigningKey::generate(),
        NOW,
        LIFETIME,
        ENDPOINT,
        &mut MemoryJtiCache::new(),
    );
    let err = assert_aad(result, 90002, "invalid_request", 400);
    assert!(
        err.to_string()
            .contains("Tenant 'fabrikam.onmicrosoft.com' not found"),
        "{err}"
    );
}

// ---------------------------------------------------------------- certificate flow

struct ClientCert {
    pem: String,
    der: Vec<u8>,
    key: EncodingKey,
}

fn rsa_cert(not_after: Option<OffsetDateTime>) -> ClientCert {
    make_cert(&rcgen::PKCS_RSA_SHA256, not_after)
}

fn make_cert(
    alg: &'static rcgen::SignatureAlgorithm,
    not_after: Option<OffsetDateTime>,
) -> ClientCert {
    let key_pair = rcgen::KeyPair::generate_for(alg).expect("key generation");
    let mut params =
        rcgen::CertificateParams::new(vec!["w365-automation".to_owned()]).expect("params");
    params.not_before = datetime!(2025-01-01 00:00:00 UTC);
    params.not_after = not_after.unwrap_or(datetime!(2030-01-01 00:00:00 UTC));
    let cert = params
        .self_signed(&key_pair)
        .expect("self-signed certificate");
    let key_pem = key_pair.serialize_pem();
    let key = if alg == &rcgen::PKCS_RSA_SHA256 {
        EncodingKey::from_rsa_pem(key_pem.as_bytes())
    } else {
        EncodingKey::from_ec_pem(key_pem.as_bytes())
    }
    .expect("private key");
    ClientCert {
        pem: cert.pem(),
        der: cert.der().to_vec(),
        key,
    }
}

fn cert_apps(cert: &ClientCert) -> (AppRegistrations, crate::state::apps::Thumbprints) {
    let mut apps = apps();
    let thumbprints = apps
        .add_certificate(CLIENT_ID, &cert.pem)
        .expect("valid certificate");
    (apps, thumbprints)
}

fn claims(now: OffsetDateTime, jti: &str) -> Value {
    json!({
        "aud": ENDPOINT, "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": jti,
        "nbf": now.unix_timestamp(), "iat": now.unix_timestamp(),
        "exp": now.unix_timestamp() + 600,
    })
}

enum Thumb<'a> {
    S256(&'a str),
    Sha1(&'a str),
}

fn sign(cert: &ClientCert, alg: Algorithm, thumb: Thumb<'_>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.typ = Some("JWT".to_owned());
    match thumb {
        Thumb::S256(t) => header.x5t_s256 = Some(t.to_owned()),
        Thumb::Sha1(t) => header.x5t = Some(t.to_owned()),
    }
    jsonwebtoken::encode(&header, claims, &cert.key).expect("signing")
}

fn assertion_form(assertion: String) -> TokenForm {
    TokenForm {
        grant_type: Some("client_credentials".to_owned()),
        client_id: Some(CLIENT_ID.to_owned()),
        scope: Some("https://graph.microsoft.com/.default".to_owned()),
        client_assertion_type: Some(JWT_BEARER_ASSERTION_TYPE.to_owned()),
        client_assertion: Some(assertion),
        ..TokenForm::default()
    }
}

#[test]
fn certificate_thumbprints_are_computed_from_the_der() {
    let cert = rsa_cert(None);
    let (apps, thumbprints) = cert_apps(&cert);
    assert_eq!(
        thumbprints.x5t_s256,
        URL_SAFE_NO_PAD.encode(Sha256::digest(&cert.der))
    );
    let sha1 = URL_SAFE_NO_PAD.decode(&thumbprints.x5t).expect("base64url");
    assert_eq!(sha1.len(), 20);
    let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(thumbprints.sha1_hex, hex);
    let registered = &apps.get(CLIENT_ID).expect("app").certificates[0];
    assert_eq!(registered.not_after, datetime!(2030-01-01 00:00:00 UTC));
}

#[test]
fn rs256_and_ps256_assertions_with_either_thumbprint_are_accepted() {
    let cert = rsa_cert(None);
    let (apps, t) = cert_apps(&cert);
    let key = SigningKey::generate();
    let mut jti = MemoryJtiCache::new();
    for (i, (alg, thumb)) in [
        (Algorithm::RS256, Thumb::S256(&t.x5t_s256)),
        (Algorithm::PS256, Thumb::S256(&t.x5t_s256)),
        (Algorithm::RS256, Thumb::Sha1(&t.x5t)),
        (Algorithm::PS256, Thumb::Sha1(&t.x5t)),
    ]
    .into_iter()
    .enumerate()
    {
        let assertion = sign(&cert, alg, thumb, &claims(NOW, &format!("jti-{i}")));
        let tokens = issue_at(&apps, &assertion_form(assertion), &key, NOW, &mut jti)
            .unwrap_or_else(|e| panic!("{alg:?} assertion {i} refused: {e}"));
        let claims: Value = jsonwebtoken::dangerous::insecure_decode(&tokens.access_token)
            .expect("jwt")
            .claims;
        assert_eq!(claims["appidacr"], "2");
    }
}

#[test]
fn standard_base64_thumbprints_are_accepted() {
    // azure_identity sends x5t as padded standard base64.
    let cert = rsa_cert(None);
    let (apps, t) = cert_apps(&cert);
    let sha1 = URL_SAFE_NO_PAD.decode(&t.x5t).expect("base64url");
    let standard = STANDARD.encode(&sha1);
    assert!(standard.ends_with('='));
    let assertion = sign(
        &cert,
        Algorithm::RS256,
        Thumb::Sha1(&standard),
        &claims(NOW, "std-b64"),
    );
    issue(&apps, &assertion_form(assertion), &SigningKey::generate()).expect("accepted");
}

#[test]
fn es256_assertions_are_accepted() {
    let cert = make_cert(&rcgen::PKCS_ECDSA_P256_SHA256, None);
    let (apps, t) = cert_apps(&cert);
    let assertion = sign(
        &cert,
        Algorithm::ES256,
        Thumb::S256(&t.x5t_s256),
        &claims(NOW, "es-1"),
    );
    issue(&apps, &assertion_form(assertion), &SigningKey::generate())
        .expect("ES256 assertion accepted");
}

#[test]
fn assertion_outside_its_time_window_gives_700024() {
    let cert = rsa_cert(None);
    let (apps, t) = cert_apps(&cert);
    let key = SigningKey::generate();
    // Expired 10 minutes ago (beyond the 5 minutes of skew).
    let issued = NOW - time::Duration::minutes(20);
    let assertion = sign(
        &cert,
        Algorithm::RS256,
        Thumb::S256(&t.x5t_s256),
        &claims(issued, "old"),
    );
    let err = assert_aad(
        issue(&apps, &assertion_form(assertion), &key),
        700024,
        "invalid_client",
        401,
    );
    assert!(
        err.to_string()
            .contains("Current time: 2026-03-02T10:00:00"),
        "{err}"
    );
    // Not valid before 10 minutes from now.
    let future = NOW + time::Duration::minutes(10);
    let assertion = sign(
        &cert,
        Algorithm::RS256,
        Thumb::S256(&t.x5t_s256),
        &claims(future, "future"),
    );
    assert_aad(
        issue(&apps, &assertion_form(assertion), &key),
        700024,
        "invalid_client",
        401,
    );
    // Expired 4 minutes ago: inside the skew, accepted.
    let issued = NOW - time::Duration::minutes(14);
    let assertion = sign(
        &cert,
        Algorithm::RS256,
        Thumb::S256(&t.x5t_s256),
        &claims(issued, "skew"),
    );
    assert!(issue(&apps, &assertion_form(assertion), &key).is_ok());
}

#[test]
fn assertion_for_another_audience_gives_700023() {
    let cert = rsa_cert(None);
    let (apps, t) = cert_apps(&cert);
    let key = SigningKey::generate();
    let mut jti = MemoryJtiCache::new();
    let mut c = claims(NOW, "aud-1");
    c["aud"] = json!("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    let assertion = sign(&cert, Algorithm::RS256, Thumb::S256(&t.x5t_s256), &c);
    assert_aad(
        issue_at(&apps, &assertion_form(assertion), &key, NOW, &mut jti),
        700023,
        "invalid_client",
        401,
    );

    // The same endpoint named by tenant id, and the v1 path, are this endpoint too.
    for (i, aud) in [
        format!("http://127.0.0.1:4321/{TENANT_ID}/oauth2/v2.0/token"),
        "http://127.0.0.1:4321/contoso.onmicrosoft.com/oauth2/token".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = claims(NOW, &format!("aud-ok-{i}"));
        c["aud"] = json!(aud);
        let assertion = sign(&cert, Algorithm::RS256, Thumb::S256(&t.x5t_s256), &c);
        issue_at(&apps, &assertion_form(assertion), &key, NOW, &mut jti)
            .unwrap_or_else(|e| panic!("aud {aud} refused: {e}"));
    }
}

#[test]
fn assertion_issuer_must_be_the_client() {
    let cert = rsa_cert(None);
    let (apps, t) = cert_apps(&cert);
    let mut c = claims(NOW, "iss-1");
    c["sub"] = json!("someone-else");
    let assertion = sign(&cert, Algorithm::RS256, Thumb::S256(&t.x5t_s256), &c);
    assert_aad(
        issue(&apps, &assertion_form(assertion), &SigningKey::generate()),
        700021,
        "invalid_client",
        401,
    );
}

#[test]
fn unregistered_or_forged_certificates_give_700027() {
    let registered = rsa_cert(None);
    let (apps, t) = cert_apps(&registered);
    let key = SigningKey::generate();

    // A certificate the app does not know.
    let stranger = make_cert(&rcgen::PKCS_ECDSA_P256_SHA256, None);
    let stranger_thumb = URL_SAFE_NO_PAD.encode(Sha256::digest(&stranger.der));
    let assertion = sign(
        &stranger,
        Algorithm::ES256,
        Thumb::S256(&stranger_thumb),
        &claims(NOW, "s-1"),
    );
    let err = assert_aad(
        issue(&apps, &assertion_form(assertion), &key),
        700027,
        "invalid_client",
        401,
    );
    assert!(err.to_string().contains("The key was not found."), "{err}");
    assert!(err.to_string().contains(&stranger_thumb), "{err}");

    // The registered thumbprint, but signed with another private key.
    let forger = rsa_cert(None);
    let assertion = sign(
        &forger,
        Algorithm::RS256,
        Thumb::S256(&t.x5t_s256),
        &claims(NOW, "s-2"),
    );
    let err = assert_aad(
        issue(&apps, &assertion_form(assertion), &key),
        700027,
        "invalid_client",
        401,
    );
    assert!(
        err.to_string()
            .contains("did not match the expected signature"),
        "{err}"
    );
}

#[test]
fn expired_certificate_gives_700027() {
    let cert = rsa_cert(Some(datetime!(2026-01-01 00:00:00 UTC)));
    let (apps, t) = cert_apps(&cert);
    let assertion = sign(
        &cert,
        Algorithm::RS256,
        Thumb::S256(&t.x5t_s256),
        &claims(NOW, "exp-cert"),
    );
    let err = assert_aad(
        issue(&apps, &assertion_form(assertion), &SigningKey::generate()),
        700027,
        "invalid_client",
        401,
    );
    assert!(
        err.to_string().contains("The key used is expired."),
        "{err}"
    );
}

#[test]
fn replayed_jti_is_refused() {
    let cert = rsa_cert(None);
    let (apps, t) = cert_apps(&cert);
    let key = SigningKey::generate();
    let mut jti = MemoryJtiCache::new();
    let assertion = sign(
        &cert,
        Algorithm::RS256,
        Thumb::S256(&t.x5t_s256),
        &claims(NOW, "once"),
    );
    issue_at(
        &apps,
        &assertion_form(assertion.clone()),
        &key,
        NOW,
        &mut jti,
    )
    .expect("first use");
    let later = NOW + time::Duration::seconds(30);
    let err = assert_aad(
        issue_at(&apps, &assertion_form(assertion), &key, later, &mut jti),
        70002,
        "invalid_client",
        401,
    );
    assert!(err.to_string().contains("'once'"), "{err}");
    // A fresh jti works.
    let assertion = sign(
        &cert,
        Algorithm::RS256,
        Thumb::S256(&t.x5t_s256),
        &claims(later, "twice"),
    );
    assert!(issue_at(&apps, &assertion_form(assertion), &key, later, &mut jti).is_ok());
    // Entries are forgotten once the assertion could no longer be valid anyway.
    let much_later = NOW + time::Duration::hours(1);
    let assertion = sign(
        &cert,
        Algorithm::RS256,
        Thumb::S256(&t.x5t_s256),
        &claims(much_later, "third"),
    );
    assert!(
        issue_at(
            &apps,
            &assertion_form(assertion),
            &key,
            much_later,
            &mut jti
        )
        .is_ok()
    );
    assert_eq!(jti.len(), 1);
}

#[test]
fn assertion_type_and_shape_are_checked() {
    let cert = rsa_cert(None);
    let (apps, t) = cert_apps(&cert);
    let key = SigningKey::generate();
    let assertion = sign(
        &cert,
        Algorithm::RS256,
        Thumb::S256(&t.x5t_s256),
        &claims(NOW, "t-1"),
    );
    let mut form = assertion_form(assertion);
    form.client_assertion_type =
        Some("urn:ietf:params:oauth:client-assertion-type:saml2-bearer".to_owned());
    assert_aad(issue(&apps, &form, &key), 50012, "invalid_client", 401);

    assert_aad(
        issue(&apps, &assertion_form("not-a-jwt".to_owned()), &key),
        50027,
        "invalid_request",
        400,
    );

    let mut c = claims(NOW, "t-2");
    c.as_object_mut().expect("object").remove("jti");
    let assertion = sign(&cert, Algorithm::RS256, Thumb::S256(&t.x5t_s256), &c);
    assert_aad(
        issue(&apps, &assertion_form(assertion), &key),
        70002,
        "invalid_client",
        401,
    );
}

// ---------------------------------------------------------------- bearer checks

#[test]
fn authenticate_rejects_missing_malformed_forged_and_expired_tokens() {
    let apps = apps();
    let key = SigningKey::generate();
    let token = issue(&apps, &secret_form(), &key)
        .expect("valid")
        .access_token;

    assert_eq!(
        authenticate(None, &key, NOW),
        Err(AuthFailure::MissingToken)
    );
    assert_eq!(
        authenticate(Some("Bearer "), &key, NOW),
        Err(AuthFailure::MissingToken)
    );
    assert_eq!(
        authenticate(Some("Basic abc"), &key, NOW),
        Err(AuthFailure::MalformedToken)
    );
    assert_eq!(
        authenticate(Some("Bearer garbage"), &key, NOW),
        Err(AuthFailure::MalformedToken)
    );

    let forged = issue(&apps, &secret_form(), &SigningKey::generate())
        .expect("valid")
        .access_token;
    assert_eq!(
        authenticate(Some(&format!("Bearer {forged}")), &key, NOW),
        Err(AuthFailure::InvalidSignature)
    );

    let header = format!("bearer {token}");
    assert!(authenticate(Some(&header), &key, NOW + time::Duration::seconds(3598)).is_ok());
    let expired = authenticate(Some(&header), &key, NOW + time::Duration::seconds(3599))
        .expect_err("expired");
    assert_eq!(expired, AuthFailure::Expired);
    assert_eq!(
        (expired.status(), expired.code()),
        (401, "InvalidAuthenticationToken")
    );
    assert_eq!(
        expired.message(),
        "Lifetime validation failed, the token is expired."
    );
    assert_eq!(
        authenticate(Some(&header), &key, NOW - time::Duration::seconds(1)),
        Err(AuthFailure::NotYetValid)
    );
    let missing = AuthFailure::MissingToken;
    assert_eq!(
        (missing.status(), missing.message().as_str()),
        (401, "Access token is empty.")
    );
}

#[test]
fn unverified_tenant_reads_tid_for_routing_only() {
    let token = issue(&apps(), &secret_form(), &SigningKey::generate())
        .expect("valid")
        .access_token;
    assert_eq!(
        unverified_tenant(Some(&format!("Bearer {token}"))).as_deref(),
        Some(TENANT_ID)
    );
    assert_eq!(unverified_tenant(Some("Bearer nonsense")), None);
    assert_eq!(unverified_tenant(Some(&format!("Basic {token}"))), None);
    assert_eq!(unverified_tenant(None), None);
}

#[test]
fn certificate_bundles_keep_only_the_certificate() {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let cert = rcgen::CertificateParams::new(vec!["bundle".to_owned()])
        .expect("params")
        .self_signed(&key_pair)
        .expect("certificate");
    let bundle = format!("{}\n{}", key_pair.serialize_pem(), cert.pem());
    let mut apps = apps();
    let thumbprints = apps
        .add_certificate(CLIENT_ID, &bundle)
        .expect("bundle accepted");
    let stored = &apps.get(CLIENT_ID).expect("app").certificates[0];
    assert_eq!(stored.thumbprints, thumbprints);
    assert!(!stored.certificate_pem.contains("PRIVATE KEY"));
    assert!(
        !serde_json::to_string(&apps)
            .expect("ser")
            .contains("PRIVATE KEY")
    );
    // The same certificate twice is one credential.
    apps.add_certificate(CLIENT_ID, &cert.pem()).expect("again");
    assert_eq!(apps.get(CLIENT_ID).expect("app").certificates.len(), 1);

    assert!(matches!(
        apps.add_certificate(CLIENT_ID, &key_pair.serialize_pem()),
        Err(crate::state::apps::AppRegistrationError::InvalidCertificate { .. })
    ));
    assert!(matches!(
        apps.add_certificate("unknown-app", &cert.pem()),
        Err(crate::state::apps::AppRegistrationError::UnknownApp { .. })
    ));
    assert!(matches!(
        apps.add_secret(CLIENT_ID, ""),
        Err(crate::state::apps::AppRegistrationError::EmptySecret)
    ));
}

#[test]
fn create_app_updates_roles_and_keeps_credentials() {
    let mut apps = apps();
    apps.create_app(
        CLIENT_ID.to_uppercase(),
        "renamed",
        vec!["Mail.Send".to_owned()],
    );
    assert_eq!(apps.len(), 1);
    let app = apps.get(CLIENT_ID).expect("case-insensitive lookup");
    assert_eq!(
        (app.display_name.as_str(), app.roles.as_slice()),
        ("renamed", ["Mail.Send".to_owned()].as_slice())
    );
    let tokens = issue(&apps, &secret_form(), &SigningKey::generate()).expect("secret kept");
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(&tokens.access_token)
        .expect("jwt")
        .claims;
    assert_eq!(claims["roles"], json!(["Mail.Send"]));
    assert!(apps.remove(CLIENT_ID));
    assert!(apps.is_empty());
}

#[test]
fn authenticate_rejects_tokens_for_other_audiences() {
    let key = SigningKey::generate();
    let mut claims: Value = jsonwebtoken::dangerous::insecure_decode(
        issue(&apps(), &secret_form(), &key)
            .expect("valid")
            .access_token,
    )
    .expect("jwt")
    .claims;
    claims["aud"] = json!("https://management.azure.com");
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key.bytes()),
    )
    .expect("sign");
    assert_eq!(
        authenticate(Some(&format!("Bearer {token}")), &key, NOW),
        Err(AuthFailure::InvalidAudience)
    );
}

#[test]
fn require_any_answers_403_without_a_matching_role() {
    let caller = Caller {
        tenant_id: TENANT_ID.to_owned(),
        app_id: CLIENT_ID.to_owned(),
        roles: vec!["User.Read.All".to_owned()],
    };
    assert!(
        caller
            .require_any(&["User.ReadWrite.All", "user.read.all"])
            .is_ok()
    );
    assert!(caller.require_any(&[]).is_ok());
    let denied = caller
        .require_any(&["CloudPC.ReadWrite.All"])
        .expect_err("no such role");
    assert_eq!(denied, AuthFailure::InsufficientPrivileges);
    assert_eq!(denied.status(), 403);
    assert_eq!(denied.code(), "Authorization_RequestDenied");
    assert_eq!(
        denied.message(),
        "Insufficient privileges to complete the operation."
    );
}

// ---------------------------------------------------------------- secrets stay secret

#[test]
fn secrets_and_keys_never_appear_in_debug_or_state() {
    let apps = apps();
    let key = SigningKey::generate();
    let key_b64 = STANDARD.encode(key.bytes());
    assert!(!format!("{key:?}").contains(&key_b64));

    let state = serde_json::to_string(&apps).expect("serializable");
    assert!(!state.contains(SECRET));
    assert!(!format!("{apps:?}").contains(SECRET));
    let form = secret_form();
    assert!(!format!("{form:?}").contains(SECRET));
    let tokens = issue(&apps, &form, &key).expect("valid");
    assert!(!format!("{tokens:?}").contains(&tokens.access_token));
    let basic = TokenForm::parse(
        None,
        b"",
        Some(&format!(
            "Basic {}",
            STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"))
        )),
    );
    assert!(!format!("{basic:?}").contains(SECRET));

    // The admin view shows ids and thumbprints only.
    let summary = serde_json::to_value(apps.get(CLIENT_ID).expect("app").summary()).expect("ser");
    assert_eq!(summary["clientId"], CLIENT_ID);
    assert_eq!(summary["secrets"].as_array().map(Vec::len), Some(1));
    let persisted = serde_json::to_value(&apps).expect("ser");
    let app_state = persisted
        .as_object()
        .and_then(|m| m.values().next())
        .expect("one app");
    let salt = app_state["secrets"][0]["salt"]
        .as_str()
        .expect("salt persisted");
    let hash = app_state["secrets"][0]["hash"]
        .as_str()
        .expect("hash persisted");
    let shown = summary.to_string();
    assert!(!shown.contains(salt) && !shown.contains(hash), "{shown}");

    // The persisted form still verifies the secret and the certificate.
    let cert = rsa_cert(None);
    let (with_cert, t) = cert_apps(&cert);
    let restored: AppRegistrations =
        serde_json::from_str(&serde_json::to_string(&with_cert).expect("ser")).expect("de");
    assert!(issue(&restored, &secret_form(), &key).is_ok());
    let assertion = sign(
        &cert,
        Algorithm::PS256,
        Thumb::Sha1(&t.x5t),
        &claims(NOW, "restored"),
    );
    assert!(issue(&restored, &assertion_form(assertion), &key).is_ok());
}
