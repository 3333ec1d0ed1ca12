//! The Graph client's token flows against the simulator's token endpoint, over real HTTP:
//! client secret, certificate (client assertion), and the refusals a real tenant gives.

mod common;

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
