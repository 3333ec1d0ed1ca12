//! Paging: the client follows `@odata.nextLink` to the last page, over real HTTP.

use crate::common;

use futures::TryStreamExt as _;
use w365_graph::models::{DirectoryObject, User};
use w365_graph::{ApiVersion, GraphPath, Query};

#[tokio::test]
async fn users_are_read_across_many_pages() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    let expected = sim.with_state(|store| {
        store
            .default_tenant()
            .expect("default tenant")
            .directory
            .user_count()
    });
    let top = 7;
    assert!(
        expected > 2 * top,
        "the seed has enough users for three pages"
    );

    let pager = client.list::<User>(
        ApiVersion::V1,
        &GraphPath::new(["users"]),
        &Query::new()
            .select(["id", "userPrincipalName"])
            .top(top as u32),
    );
    let users: Vec<User> = pager.collect_all().await.expect("all pages");

    assert_eq!(users.len(), expected);
    let mut ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), expected, "no user twice, none skipped");
    let pages = common::logged(&sim, "GET", "/v1.0/users");
    assert_eq!(pages, expected.div_ceil(top));
    assert!(pages >= 3);
}

#[tokio::test]
async fn group_members_are_read_across_pages_as_they_grow() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    let group = client
        .groups()
        .find_by_display_name("cfg - Windows 365 - Provisioning - Win10")
        .await
        .expect("find group")
        .into_iter()
        .next()
        .expect("the seed has the group");
    let users: Vec<User> = client
        .users()
        .list(Query::new().select(["id"]).top(999))
        .collect_all()
        .await
        .expect("users");
    let before: Vec<DirectoryObject> = client
        .groups()
        .members(&group.id)
        .collect_all()
        .await
        .expect("members");
    // Add every user through the client (already-members are reported, not errors).
    for user in &users {
        client
            .groups()
            .add_member(&group.id, &user.id)
            .await
            .expect("add member");
    }
    let log_before = common::logged(&sim, "GET", &format!("/v1.0/groups/{}/members", group.id));

    let pager = client.list::<DirectoryObject>(
        ApiVersion::V1,
        &GraphPath::new(["groups", group.id.as_str(), "members"]),
        &Query::new().top(5),
    );
    let members: Vec<DirectoryObject> = pager.try_collect().await.expect("every page");

    // Every user, plus whatever else (a nested group) was a member before.
    let mut expected: Vec<&str> = users
        .iter()
        .map(|u| u.id.as_str())
        .chain(before.iter().map(|m| m.id.as_str()))
        .collect();
    expected.sort_unstable();
    expected.dedup();
    let mut got: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, expected);
    assert!(members.len() > before.len());
    let pages =
        common::logged(&sim, "GET", &format!("/v1.0/groups/{}/members", group.id)) - log_before;
    assert_eq!(pages, members.len().div_ceil(5));
    assert!(pages >= 3);
}
