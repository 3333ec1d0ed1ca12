//! `@odata.nextLink` paging across three pages with `ConsistencyLevel` resent on each.

use crate::common::*;
use futures::StreamExt;
use w365_graph::models::DirectoryObject;
use w365_graph::{ApiVersion, Error, GraphPath, Query};
use wiremock::Mock;
use wiremock::matchers::{header, method, path, query_param};

const GROUP: &str = "0c9a3e55-77b4-4f3e-9d3c-2a1b4c5d6e7f";

async fn mount_pages(server: &wiremock::MockServer) {
    let members = format!("/v1.0/groups/{GROUP}/members");
    // page 1: the request as the client builds it
    Mock::given(method("GET"))
        .and(path(members.clone()))
        .and(query_param("$count", "true"))
        .and(query_param("$top", "2"))
        .and(header("ConsistencyLevel", "eventual"))
        .and(wiremock::matchers::query_param_is_missing("$skiptoken"))
        .respond_with(json_response(
            200,
            fixture_json("group_members_page1.json", server),
        ))
        .expect(1)
        .named("page 1")
        .mount(server)
        .await;
    for (token, page) in [
        ("RFNwdAIAAQAAACpHcm91cF8w", "group_members_page2.json"),
        ("RFNwdAIAAQAAACpHcm91cF8x", "group_members_page3.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(members.clone()))
            .and(query_param("$skiptoken", token))
            .and(query_param("$top", "2"))
            .and(header("ConsistencyLevel", "eventual"))
            .respond_with(json_response(200, fixture_json(page, server)))
            .expect(1)
            .named(page)
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn follows_next_links_to_the_end_resending_consistency_level() {
    let server = server().await;
    mount_pages(&server).await;
    let client = static_client(&server);
    let query = Query::new().top(2).consistency_eventual();
    let mut pager = client.list::<DirectoryObject>(
        ApiVersion::V1,
        &GraphPath::new(["groups", GROUP, "members"]),
        &query,
    );
    let first = pager.next().await.unwrap().unwrap();
    assert_eq!(first.id, "u-1");
    assert_eq!(pager.odata_count(), Some(5));
    let mut rest = Vec::new();
    while let Some(item) = pager.next().await {
        rest.push(item.unwrap());
    }
    let ids: Vec<&str> = rest.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["u-2", "u-3", "g-9", "u-5"]);
    assert_eq!(pager.pages_fetched(), 3);
    assert!(rest[2].is_group());
    assert_eq!(
        rest[1].user_principal_name.as_deref(),
        Some("guest_fabrikam.com#EXT#@contoso.onmicrosoft.com")
    );
    assert_eq!(client.stats().requests, 3);
}

#[tokio::test]
async fn collect_all_gathers_every_page() {
    let server = server().await;
    mount_pages(&server).await;
    let client = static_client(&server);
    let all: Vec<DirectoryObject> = client
        .list(
            ApiVersion::V1,
            &GraphPath::new(["groups", GROUP, "members"]),
            &Query::new().top(2).consistency_eventual(),
        )
        .collect_all()
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .respond_with(json_response(
            200,
            serde_json::json!({
                "value": [{"id": "u1"}],
                "@odata.nextLink": "https://evil.example.com/v1.0/users?$skiptoken=x"
            }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = static_client(&server);
    let err = client
        .users()
        .list(Query::new())
        .collect_all()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    assert!(err.to_string().contains("another host"), "{err}");
}

#[tokio::test]
async fn a_failing_page_ends_the_stream_with_the_error() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .and(wiremock::matchers::query_param_is_missing("$skiptoken"))
        .respond_with(json_response(
            200,
            serde_json::json!({
                "value": [{"id": "u1"}],
                "@odata.nextLink": format!("{}/v1.0/users?$skiptoken=p2", server.uri())
            }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(fixture_response(403, "error_forbidden.json"))
        .expect(1)
        .mount(&server)
        .await;
    let client = static_client(&server);
    let mut pager = client.users().list(Query::new());
    assert_eq!(pager.next().await.unwrap().unwrap().id, "u1");
    let err = pager.next().await.unwrap().unwrap_err();
    assert!(err.is_permission_denied());
    assert!(pager.next().await.is_none());
}
