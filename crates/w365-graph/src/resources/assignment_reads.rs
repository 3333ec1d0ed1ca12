//! The directory reads an assignment plans with, sent together in one `$batch` request
//! (reference §7.4): the user with their licences, the user's direct groups, the named groups and
//! the tenant's subscribed SKUs. They are independent of each other, so one round trip and one
//! request replace four. Each read keeps its own result (a missing permission is reported for the
//! read that needed it), and a page with `@odata.nextLink` is followed to the end like any other
//! collection read.

use serde::de::DeserializeOwned;
use url::Url;

use super::groups::{GROUP_SELECT, IN_MAX};
use super::users::USER_SELECT;
use crate::batch::{BatchRequest, BatchResponse};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::models::{Group, SubscribedSku, User};
use crate::odata::{Filter, GraphPath, Query};
use crate::paging::{Page, Pager};

/// The results of [`UsersHandler::read_for_assignment`](super::UsersHandler::read_for_assignment),
/// one per read.
#[derive(Debug)]
pub struct AssignmentReads {
    /// The user (with `assignedLicenses` and `licenseAssignmentStates`); `None` when no user has
    /// the principal name.
    pub user: Result<Option<User>>,
    /// The groups the user is a direct member of (with their `assignedLicenses`); empty when the
    /// user does not exist.
    pub member_of: Result<Vec<Group>>,
    /// The groups named like one of the requested names.
    pub groups: Result<Vec<Group>>,
    /// The tenant's subscribed SKUs.
    pub skus: Result<Vec<SubscribedSku>>,
}

/// Whether the four reads fit one batch: at most 15 names (one `in` clause), and a principal name
/// usable as a path segment (a UPN starting with `$` is read as a system segment by Graph).
pub(crate) fn batchable(upn: &str, group_names: &[String]) -> bool {
    !upn.starts_with('$') && !group_names.is_empty() && group_names.len() <= IN_MAX
}

/// The four requests.
pub(crate) fn requests(upn: &str, group_names: &[String]) -> Vec<BatchRequest> {
    let user_select: Vec<&str> = USER_SELECT
        .iter()
        .copied()
        .chain(["assignedLicenses", "licenseAssignmentStates"])
        .collect();
    vec![
        BatchRequest::get(
            "user",
            &GraphPath::new(["users"]),
            &Query::new()
                .filter(Filter::eq("userPrincipalName", upn))
                .select(user_select),
        ),
        BatchRequest::get(
            "memberOf",
            &GraphPath::new(["users", upn, "memberOf", "microsoft.graph.group"]),
            &Query::new()
                .select(["id", "displayName", "assignedLicenses"])
                .top(999),
        ),
        BatchRequest::get(
            "groups",
            &GraphPath::new(["groups"]),
            &Query::new()
                .filter(Filter::in_("displayName", group_names))
                .select(GROUP_SELECT),
        ),
        BatchRequest::get("skus", &GraphPath::new(["subscribedSkus"]), &Query::new()),
    ]
}

/// Every item of a collection answered inside a batch, following `@odata.nextLink` outside it.
async fn collection<T: DeserializeOwned + Send + 'static>(
    client: &Client,
    response: &BatchResponse,
) -> Result<Vec<T>> {
    let page: Page<T> = response.json()?;
    let mut items = page.value;
    if let Some(link) = page.next_link {
        let first = Url::parse(&link).map_err(|e| {
            Error::invalid_input(format!("the service sent an invalid @odata.nextLink: {e}"))
        });
        let rest: Vec<T> = Pager::new(client.clone(), first, Vec::new())
            .collect_all()
            .await?;
        items.extend(rest);
    }
    Ok(items)
}

/// Decodes the four answers (in the order of [`requests`]).
pub(crate) async fn decode(client: &Client, responses: &[BatchResponse]) -> AssignmentReads {
    let item = |id: &str| {
        responses
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Error::invalid_input(format!("the batch has no answer for {id}")))
    };
    let user = match item("user") {
        Ok(r) => collection::<User>(client, r)
            .await
            .map(|users| users.into_iter().next()),
        Err(e) => Err(e),
    };
    let member_of = match item("memberOf") {
        // The user does not exist: no memberships (the missing user is reported by `user`).
        Ok(r) if r.status == 404 => Ok(Vec::new()),
        Ok(r) => collection::<Group>(client, r).await,
        Err(e) => Err(e),
    };
    let groups = match item("groups") {
        Ok(r) => collection::<Group>(client, r).await.map(|mut groups| {
            let mut seen = std::collections::HashSet::new();
            groups.retain(|g| seen.insert(g.id.clone()));
            groups
        }),
        Err(e) => Err(e),
    };
    let skus = match item("skus") {
        Ok(r) => collection::<SubscribedSku>(client, r).await,
        Err(e) => Err(e),
    };
    AssignmentReads {
        user,
        member_of,
        groups,
        skus,
    }
}
