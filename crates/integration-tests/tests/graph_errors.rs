//! Graph error answers mapped to the client's error type, over real HTTP.

use crate::common;

use w365_graph::auth::Credential;
use w365_graph::{AddMemberOutcome, Error, RemoveMemberOutcome};

#[tokio::test]
async fn missing_user_is_not_found() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);

    let error = client
        .users()
        .get("nobody@contoso.com")
        .await
        .expect_err("no such user");

    assert!(error.is_not_found(), "{error:?}");
    assert_eq!(error.status(), Some(404));
    assert_eq!(error.code(), Some("Request_ResourceNotFound"));
    assert!(error.request_id().is_some_and(|id| !id.is_empty()));
    assert!(
        client
            .users()
            .get_opt("nobody@contoso.com")
            .await
            .expect("get_opt")
            .is_none()
    );
    assert!(
        client
            .users()
            .find_by_upn("nobody@contoso.com")
            .await
            .expect("find")
            .is_none()
    );
}

#[tokio::test]
async fn apostrophe_upn_is_found_by_filter() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);

    let user = client
        .users()
        .find_by_upn("o'brien@contoso.com")
        .await
        .expect("a quote in a filter literal is escaped");

    assert_eq!(
        user.map(|u| u.user_principal_name).as_deref(),
        Some("o'brien@contoso.com")
    );
}

#[tokio::test]
async fn app_without_the_role_gets_permission_denied() {
    let sim = common::start().await;
    let app = sim.create_app("users only", &["User.Read.All"]);
    let client = common::client_with(
        &sim,
        Credential::client_secret(sim.tenant_id(), &app.client_id, &app.client_secret),
        common::fast_retry(),
    );
    client
        .users()
        .get("alice.smith@contoso.com")
        .await
        .expect("User.Read.All reads users");

    let error = client
        .groups()
        .find_by_display_name("Engineering")
        .await
        .expect_err("no Group.Read.All");

    assert!(error.is_permission_denied(), "{error:?}");
    assert!(matches!(error, Error::Api { status: 403, .. }));
    assert_eq!(error.code(), Some("Authorization_RequestDenied"));
    assert_eq!(client.stats().retries, 0, "a 403 is never retried");
}

#[tokio::test]
async fn adding_an_existing_member_is_already_member_and_removing_a_stranger_is_not_member() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    let group = client
        .groups()
        .find_by_display_name("cfg - Windows 365 - Provisioning - Win10")
        .await
        .expect("find")
        .into_iter()
        .next()
        .expect("group exists");
    let user = client
        .users()
        .find_by_upn("tina.young@contoso.com")
        .await
        .expect("find")
        .expect("user exists");
    let members = client
        .groups()
        .members(&group.id)
        .collect_all()
        .await
        .expect("members");
    assert!(members.iter().all(|m| m.id != user.id), "precondition");

    let first = client
        .groups()
        .add_member(&group.id, &user.id)
        .await
        .expect("add");
    let second = client
        .groups()
        .add_member(&group.id, &user.id)
        .await
        .expect("add again");
    assert_eq!(first, AddMemberOutcome::Added);
    assert_eq!(second, AddMemberOutcome::AlreadyMember);
    let adds: Vec<u16> = sim
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/members/$ref"))
        .map(|r| r.status)
        .collect();
    assert_eq!(adds, [204, 400], "the second add really got Graph's 400");

    let removed = client
        .groups()
        .remove_member(&group.id, &user.id)
        .await
        .expect("remove");
    let again = client
        .groups()
        .remove_member(&group.id, &user.id)
        .await
        .expect("remove again");
    assert_eq!(removed, RemoveMemberOutcome::Removed);
    assert_eq!(again, RemoveMemberOutcome::NotMember);
}

#[tokio::test]
async fn unknown_group_member_add_is_a_mapped_error() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);

    let error = client
        .groups()
        .add_member(
            "00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000002",
        )
        .await
        .expect_err("no such group");

    assert!(error.is_not_found(), "{error:?}");
    assert!(!error.is_already_exists());
}
