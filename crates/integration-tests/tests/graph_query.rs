//! Graph query rules the client keeps by itself, against the simulator (which, like Graph,
//! answers an advanced query without `ConsistencyLevel: eventual` and `$count=true` with 400).

use crate::common;

use w365_graph::models::{Group, User};
use w365_graph::{ApiVersion, Error, Filter, GraphPath, Query};

#[tokio::test]
async fn advanced_filters_carry_consistency_level_and_count_without_the_caller_asking() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    for filter in [
        Filter::ends_with("mail", "@contoso.com"),
        Filter::ne("userPrincipalName", "megan.bowen@contoso.com"),
        Filter::not(Filter::starts_with("displayName", "Megan")),
    ] {
        let shown = filter.to_string();
        let users: Vec<User> = client
            .users()
            .list(
                Query::new()
                    .filter(filter)
                    .select(["id", "userPrincipalName"]),
            )
            .collect_all()
            .await
            .unwrap_or_else(|e| panic!("{shown}: {e}"));
        assert!(!users.is_empty(), "{shown}");
        assert!(
            users
                .iter()
                .all(|u| u.user_principal_name != "megan.bowen@contoso.com"
                    || shown.starts_with("endswith")),
            "{shown}"
        );
    }
    let logged: Vec<String> = sim
        .request_log()
        .iter()
        .filter(|r| r.path == "/v1.0/users")
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    assert_eq!(logged.len(), 3);
    assert!(
        logged.iter().all(|q| q.contains("$count=true")),
        "{logged:?}"
    );
}

#[tokio::test]
async fn an_empty_in_list_is_never_sent() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    let nothing: [&str; 0] = [];
    let err = client
        .list::<Group>(
            ApiVersion::V1,
            &GraphPath::new(["groups"]),
            &Query::new().filter(Filter::in_("displayName", nothing)),
        )
        .collect_all()
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    assert!(err.to_string().contains("empty list"), "{err}");
    // Nor inside a $batch.
    let err = client
        .batch()
        .send(vec![w365_graph::BatchRequest::get(
            "empty",
            &GraphPath::new(["groups"]),
            &Query::new().filter(Filter::in_("displayName", nothing)),
        )])
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("empty `in ()`"), "{err}");
    assert_eq!(common::logged(&sim, "POST", "/v1.0/$batch"), 0);
    // The handler that looks names up skips the request itself.
    let none = client.groups().find_by_display_names(&[]).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(common::logged(&sim, "GET", "/v1.0/groups"), 0);
}
