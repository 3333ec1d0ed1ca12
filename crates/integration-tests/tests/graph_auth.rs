//! The Graph client's token flows against the simulator's token endpoint, over real HTTP:
//! client secret, certificate (client assertion), and the refusals a real tenant gives.

use crate::common;

use time::OffsetDateTime;
use w365_graph::Error;
use w365_graph::auth::Credential;

const UPN: &str = "alice.smith@contoso.com";

#[tokio::test]
async fn client_secret_flow_reads_a_user() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);

    let user = client.users().get(UPN).await.expect("GET user");

    assert_eq!(user.user_principal_name, UPN);
    assert!(!user.id.is_empty());
    assert_eq!(
        common::logged(
            &sim,
            "POST",
            &format!("/{}/oauth2/v2.0/token", sim.tenant_id())
        ),
        1
    );
}

#[tokio::test]
async fn one_token_serves_many_requests() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);

    for _ in 0..5 {
        client.users().get(UPN).await.expect("GET user");
    }

    let tokens = sim
        .request_log()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .count();
    assert_eq!(tokens, 1, "the token is cached between requests");
    assert_eq!(client.stats().requests, 5);
}

#[tokio::test]
async fn certificate_flow_reads_a_user() {
    let sim = common::start().await;
    let app = sim.create_app("certificate app", &["User.Read.All"]);
    let now = OffsetDateTime::now_utc();
    let (cert_pem, key_pem) = common::self_signed_certificate(
        now - time::Duration::days(1),
        now + time::Duration::days(30),
    );
    sim.add_app_certificate(&app.client_id, &cert_pem)
        .expect("the simulator accepts the certificate");
    let credential = Credential::certificate(
        sim.tenant_id(),
        &app.client_id,
        format!("{cert_pem}\n{key_pem}"),
    );
    let client = common::client_with(&sim, credential, common::fast_retry());

    let user = client
        .users()
        .get(UPN)
        .await
        .expect("GET user with a certificate");

    assert_eq!(user.user_principal_name, UPN);
}

#[tokio::test]
async fn wrong_secret_is_a_clear_auth_error_without_the_secret() {
    let sim = common::start().await;
    let admin = sim.admin_app();
    let wrong = "not-the-secret-Zq8~3vX";
    let credential = Credential::client_secret(sim.tenant_id(), &admin.client_id, wrong);
    let client = common::client_with(&sim, credential, common::fast_retry());

    let error = client
        .users()
        .get(UPN)
        .await
        .expect_err("a wrong secret is refused");

    match &error {
        Error::Auth { aadsts, .. } => assert_eq!(aadsts.as_deref(), Some("7000215")),
        other => panic!("expected Error::Auth, got {other:?}"),
    }
    assert!(error.is_permission_denied());
    let shown = format!("{error} / {error:?}");
    assert!(shown.contains("AADSTS7000215"), "{shown}");
    assert!(!shown.contains(wrong), "the secret leaked: {shown}");
    assert_eq!(
        common::logged(&sim, "GET", "/v1.0/"),
        0,
        "no Graph request without a token"
    );
}

#[tokio::test]
async fn unknown_client_is_an_auth_error() {
    let sim = common::start().await;
    let credential = Credential::client_secret(
        sim.tenant_id(),
        "00000000-0000-0000-0000-00000000dead",
        "whatever",
    );
    let client = common::client_with(&sim, credential, common::fast_retry());

    let error = client.users().get(UPN).await.expect_err("unknown client");

    assert!(
        matches!(&error, Error::Auth { aadsts: Some(code), .. } if code == "700016"),
        "{error:?}"
    );
}

#[tokio::test]
async fn expired_certificate_is_a_clear_auth_error() {
    let sim = common::start().await;
    let app = sim.create_app("expired certificate app", &["User.Read.All"]);
    let now = OffsetDateTime::now_utc();
    let (cert_pem, key_pem) = common::self_signed_certificate(
        now - time::Duration::days(60),
        now - time::Duration::days(1),
    );
    // The registration may refuse an expired certificate outright; either way no token may be
    // issued for it.
    let registered = sim.add_app_certificate(&app.client_id, &cert_pem).is_ok();
    let credential = Credential::certificate(
        sim.tenant_id(),
        &app.client_id,
        format!("{cert_pem}\n{key_pem}"),
    );
    let client = common::client_with(&sim, credential, common::fast_retry());

    let error = client
        .users()
        .get(UPN)
        .await
        .expect_err("an expired certificate is refused");

    assert!(
        matches!(error, Error::Auth { .. }),
        "registered: {registered}, got {error:?}"
    );
    assert!(!format!("{error:?}").contains("PRIVATE KEY"));
}

/// A PKCS#12 (PFX) file with the certificate and its key, protected by `password`.
fn pfx(cert_pem: &str, key_pem: &str, password: &str) -> Vec<u8> {
    let cert = pem::parse(cert_pem).expect("certificate PEM");
    let key = pem::parse(key_pem).expect("key PEM");
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "w365",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            key.contents(),
            [1u8, 2, 3, 4],
            [p12_keystore::Certificate::from_der(cert.contents()).expect("DER certificate")],
        )),
    );
    store.writer(password).write().expect("a PFX")
}

#[tokio::test]
async fn environment_pfx_certificate_with_a_password_signs_in() {
    let sim = common::start().await;
    let app = sim.create_app("pfx app", &["User.Read.All"]);
    let now = OffsetDateTime::now_utc();
    let (cert_pem, key_pem) = common::self_signed_certificate(
        now - time::Duration::days(1),
        now + time::Duration::days(30),
    );
    sim.add_app_certificate(&app.client_id, &cert_pem)
        .expect("the simulator accepts the certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("app.pfx");
    let password = "pfx-Pa55word";
    std::fs::write(&path, pfx(&cert_pem, &key_pem, password)).expect("write the PFX");
    let tenant = sim.tenant_id();
    let path_text = path.to_string_lossy().into_owned();
    let env = |with_password: Option<&'static str>| {
        let tenant = tenant.clone();
        let client_id = app.client_id.clone();
        let path_text = path_text.clone();
        move |name: &str| match name {
            "AZURE_TENANT_ID" => Some(tenant.clone()),
            "AZURE_CLIENT_ID" => Some(client_id.clone()),
            "AZURE_CLIENT_CERTIFICATE_PATH" => Some(path_text.clone()),
            "AZURE_CLIENT_CERTIFICATE_PASSWORD" => with_password.map(str::to_owned),
            _ => None,
        }
    };

    let credential = Credential::from_env_lookup(env(Some(password))).expect("the PFX opens");
    let client = common::client_with(&sim, credential, common::fast_retry());
    let user = client
        .users()
        .get(UPN)
        .await
        .expect("GET user with the PFX");
    assert_eq!(user.user_principal_name, UPN);

    // A wrong password: a clear error that does not repeat it.
    let err = Credential::from_env_lookup(env(Some("wrong-Pa55word"))).expect_err("refused");
    let text = format!("{err} {err:?}");
    assert!(text.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"), "{text}");
    assert!(
        !text.contains("wrong-Pa55word") && !text.contains(password),
        "{text}"
    );
    // A PEM file still works through the same variable.
    let pem_path = dir.path().join("app.pem");
    std::fs::write(&pem_path, format!("{cert_pem}\n{key_pem}")).expect("write the PEM");
    let pem_path_text = pem_path.to_string_lossy().into_owned();
    let tenant_pem = sim.tenant_id();
    let client_id = app.client_id.clone();
    let credential = Credential::from_env_lookup(move |name: &str| match name {
        "AZURE_TENANT_ID" => Some(tenant_pem.clone()),
        "AZURE_CLIENT_ID" => Some(client_id.clone()),
        "AZURE_CLIENT_CERTIFICATE_PATH" => Some(pem_path_text.clone()),
        _ => None,
    })
    .expect("the PEM opens");
    let client = common::client_with(&sim, credential, common::fast_retry());
    assert!(client.users().get(UPN).await.is_ok());
}
