//! `/users`.

use serde_json::json;

use crate::client::{ApiVersion, Client};
use crate::error::{Error, GraphError, Result};
use crate::models::{Collection, Group, LicenseAssignmentState, User};
use crate::odata::{Filter, GraphPath, Query};
use crate::paging::Pager;

/// Properties read for a user.
pub const USER_SELECT: [&str; 6] = [
    "id",
    "userPrincipalName",
    "displayName",
    "mail",
    "accountEnabled",
    "usageLocation",
];

/// `checkMemberGroups` accepts at most 20 ids.
const CHECK_MEMBER_GROUPS_MAX: usize = 20;

/// Users.
#[derive(Debug, Clone)]
pub struct UsersHandler {
    client: Client,
}

impl UsersHandler {
    pub(crate) fn new(client: Client) -> Self {
        UsersHandler { client }
    }

    /// Finds a user by UPN with a `$filter` (never 404; `None` when absent).
    pub async fn find_by_upn(&self, upn: &str) -> Result<Option<User>> {
        let query = Query::new()
            .filter(Filter::eq("userPrincipalName", upn))
            .select(USER_SELECT);
        let users: Vec<User> = self
            .client
            .list(ApiVersion::V1, &GraphPath::new(["users"]), &query)
            .collect_all()
            .await?;
        Ok(users.into_iter().next())
    }

    /// Like [`find_by_upn`](Self::find_by_upn), also reading `assignedLicenses` and
    /// `licenseAssignmentStates` (each licence with the group that assigned it, or none for a
    /// direct assignment) in the same request.
    pub async fn find_by_upn_with_licenses(&self, upn: &str) -> Result<Option<User>> {
        let select: Vec<&str> = USER_SELECT
            .iter()
            .copied()
            .chain(["assignedLicenses", "licenseAssignmentStates"])
            .collect();
        let query = Query::new()
            .filter(Filter::eq("userPrincipalName", upn))
            .select(select);
        let users: Vec<User> = self
            .client
            .list(ApiVersion::V1, &GraphPath::new(["users"]), &query)
            .collect_all()
            .await?;
        Ok(users.into_iter().next())
    }

    /// The reads an assignment plans with — the user with their licences, their direct groups,
    /// the groups named `group_names` and the subscribed SKUs — in one `$batch` request (one
    /// round trip instead of four). Each read has its own result. With more than 15 names or a
    /// principal name starting with `$`, the reads are sent one by one (concurrently) instead.
    pub async fn read_for_assignment(
        &self,
        upn: &str,
        group_names: &[String],
    ) -> Result<super::AssignmentReads> {
        use super::assignment_reads;
        if !assignment_reads::batchable(upn, group_names) {
            let groups_handler = crate::resources::GroupsHandler::new(self.client.clone());
            let skus_handler = crate::resources::SubscribedSkusHandler::new(self.client.clone());
            let ((user, member_of), groups, skus) = futures::join!(
                async {
                    let user = self.find_by_upn_with_licenses(upn).await;
                    let member_of = match &user {
                        Ok(Some(u)) => self.member_of_groups(&u.id).await,
                        _ => Ok(Vec::new()),
                    };
                    (user, member_of)
                },
                groups_handler.find_by_display_names(group_names),
                skus_handler.list()
            );
            return Ok(super::AssignmentReads {
                user,
                member_of,
                groups,
                skus,
            });
        }
        let responses = self
            .client
            .batch()
            .send(assignment_reads::requests(upn, group_names))
            .await?;
        Ok(assignment_reads::decode(&self.client, &responses).await)
    }

    /// Gets a user by id or UPN.
    ///
    /// A UPN starting with `$` cannot be used as a plain path segment (Graph reads `$...` as a
    /// system segment), so such users are looked up with a `$filter` instead; no match is then
    /// reported like Graph's own 404.
    pub async fn get(&self, id_or_upn: &str) -> Result<User> {
        if id_or_upn.starts_with('$') {
            return match self.find_by_upn(id_or_upn).await? {
                Some(user) => Ok(user),
                None => Err(Error::Api {
                    status: 404,
                    error: GraphError {
                        code: "Request_ResourceNotFound".to_owned(),
                        message: format!(
                            "No user has the userPrincipalName '{id_or_upn}' (looked up with $filter)."
                        ),
                        ..GraphError::default()
                    },
                }),
            };
        }
        self.client
            .get(
                ApiVersion::V1,
                &GraphPath::new(["users", id_or_upn]),
                &Query::new().select(USER_SELECT),
            )
            .await
    }

    /// Like [`get`](Self::get); 404 gives `None`.
    pub async fn get_opt(&self, id_or_upn: &str) -> Result<Option<User>> {
        crate::client::none_if_not_found(self.get(id_or_upn).await)
    }

    /// The user's licence assignment states (`$select=assignedLicenses,licenseAssignmentStates`).
    pub async fn license_assignment_states(
        &self,
        user_id: &str,
    ) -> Result<Vec<LicenseAssignmentState>> {
        let user: User = self
            .client
            .get(
                ApiVersion::V1,
                &GraphPath::new(["users", user_id]),
                &Query::new().select(["id", "assignedLicenses", "licenseAssignmentStates"]),
            )
            .await?;
        Ok(user.license_assignment_states.unwrap_or_default())
    }

    /// Groups the user is a direct member of (all pages).
    pub async fn member_of_groups(&self, user_id: &str) -> Result<Vec<Group>> {
        self.client
            .list(
                ApiVersion::V1,
                &GraphPath::new(["users", user_id, "memberOf", "microsoft.graph.group"]),
                &Query::new()
                    .select(["id", "displayName", "assignedLicenses"])
                    .top(999),
            )
            .collect_all()
            .await
    }

    /// Which of `group_ids` the user is a (transitive) member of; sent in chunks of 20.
    pub async fn check_member_groups(
        &self,
        user_id: &str,
        group_ids: &[String],
    ) -> Result<Vec<String>> {
        let path = GraphPath::new(["users", user_id, "checkMemberGroups"]);
        let mut found = Vec::new();
        for chunk in group_ids.chunks(CHECK_MEMBER_GROUPS_MAX) {
            let result: Collection<String> = self
                .client
                // A read that happens to be a POST: safe to repeat.
                .post_with(
                    ApiVersion::V1,
                    &path,
                    &json!({ "groupIds": chunk }),
                    Vec::new(),
                    crate::retry::Idempotency::Idempotent,
                )
                .await?;
            found.extend(result.value);
        }
        Ok(found)
    }

    /// Lists users with any query.
    pub fn list(&self, query: Query) -> Pager<User> {
        self.client
            .list(ApiVersion::V1, &GraphPath::new(["users"]), &query)
    }
}
