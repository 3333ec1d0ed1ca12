//! `/groups` and membership.

use serde_json::json;

use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{DirectoryObject, Group};
use crate::odata::{Filter, GraphPath, Query};
use crate::paging::Pager;
use crate::retry::Idempotency;

/// Properties read for a group.
pub const GROUP_SELECT: [&str; 7] = [
    "id",
    "displayName",
    "assignedLicenses",
    "licenseProcessingState",
    "securityEnabled",
    "mailEnabled",
    "groupTypes",
];

/// Values per `in (...)` clause (reference §2.1).
pub(crate) const IN_MAX: usize = 15;
/// References per `members@odata.bind` PATCH (reference §3.4).
const BIND_MAX: usize = 20;

/// Result of adding a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddMemberOutcome {
    /// Graph added it.
    Added,
    /// It was already a member (Graph's "already exist" 400), possibly added by an earlier attempt.
    AlreadyMember,
}

/// Result of removing a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveMemberOutcome {
    /// Graph removed it.
    Removed,
    /// It was not a member (404 naming the member).
    NotMember,
}

/// Groups.
#[derive(Debug, Clone)]
pub struct GroupsHandler {
    client: Client,
}

impl GroupsHandler {
    pub(crate) fn new(client: Client) -> Self {
        GroupsHandler { client }
    }

    fn collection() -> GraphPath {
        GraphPath::new(["groups"])
    }

    /// Groups whose display name equals `name` exactly (display names are not unique).
    pub async fn find_by_display_name(&self, name: &str) -> Result<Vec<Group>> {
        let query = Query::new()
            .filter(Filter::eq("displayName", name))
            .select(GROUP_SELECT);
        self.client
            .list(ApiVersion::V1, &Self::collection(), &query)
            .collect_all()
            .await
    }

    /// Groups whose display name is one of `names` (one request per 15 names, using `in`).
    pub async fn find_by_display_names(&self, names: &[String]) -> Result<Vec<Group>> {
        let mut groups: Vec<Group> = Vec::new();
        for chunk in names.chunks(IN_MAX) {
            let query = Query::new()
                .filter(Filter::in_("displayName", chunk))
                .select(GROUP_SELECT);
            let page: Vec<Group> = self
                .client
                .list(ApiVersion::V1, &Self::collection(), &query)
                .collect_all()
                .await?;
            for g in page {
                if !groups.iter().any(|known| known.id == g.id) {
                    groups.push(g);
                }
            }
        }
        Ok(groups)
    }

    /// Groups whose display name starts with `prefix` (all pages), with their licences.
    pub async fn find_by_display_name_prefix(&self, prefix: &str) -> Result<Vec<Group>> {
        let query = Query::new()
            .filter(Filter::starts_with("displayName", prefix))
            .select(GROUP_SELECT)
            .top(999);
        self.client
            .list(ApiVersion::V1, &Self::collection(), &query)
            .collect_all()
            .await
    }

    /// Gets a group by id.
    pub async fn get(&self, id: &str) -> Result<Group> {
        self.client
            .get(
                ApiVersion::V1,
                &GraphPath::new(["groups", id]),
                &Query::new().select(GROUP_SELECT),
            )
            .await
    }

    /// Like [`get`](Self::get); 404 gives `None`.
    pub async fn get_opt(&self, id: &str) -> Result<Option<Group>> {
        crate::client::none_if_not_found(self.get(id).await)
    }

    /// Direct members, all pages via the stream.
    pub fn members(&self, group_id: &str) -> Pager<DirectoryObject> {
        self.client.list(
            ApiVersion::V1,
            &GraphPath::new(["groups", group_id, "members"]),
            &Query::new()
                .select(["id", "displayName", "userPrincipalName", "mail"])
                .top(999),
        )
    }

    fn directory_object_url(&self, object_id: &str) -> Result<String> {
        Ok(self
            .client
            .url(
                ApiVersion::V1,
                &GraphPath::new(["directoryObjects", object_id]),
                None,
            )?
            .to_string())
    }

    /// `POST /groups/{id}/members/$ref`. "Already a member" (also when an earlier, retried
    /// attempt succeeded) is [`AddMemberOutcome::AlreadyMember`].
    ///
    /// Idempotent: a repeat of a request Graph already processed answers 400 "One or more added
    /// object references already exist", which is mapped to `AlreadyMember`, so the client may
    /// resend it after a 503/504 or a lost connection.
    pub async fn add_member(&self, group_id: &str, object_id: &str) -> Result<AddMemberOutcome> {
        let body = json!({ "@odata.id": self.directory_object_url(object_id)? });
        let path = GraphPath::new(["groups", group_id, "members", "$ref"]);
        match self
            .client
            .post_no_content_with(
                ApiVersion::V1,
                &path,
                Some(&body),
                Vec::new(),
                Idempotency::Idempotent,
            )
            .await
        {
            Ok(()) => Ok(AddMemberOutcome::Added),
            Err(e) if e.is_already_exists() => Ok(AddMemberOutcome::AlreadyMember),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /groups/{id}/members/{member}/$ref` (always with `/$ref`: without it Graph would
    /// delete the object itself). A 404 that does not name the group is
    /// [`RemoveMemberOutcome::NotMember`].
    pub async fn remove_member(
        &self,
        group_id: &str,
        object_id: &str,
    ) -> Result<RemoveMemberOutcome> {
        let path = GraphPath::new(["groups", group_id, "members", object_id, "$ref"]);
        match self.client.delete(ApiVersion::V1, &path).await {
            Ok(()) => Ok(RemoveMemberOutcome::Removed),
            Err(crate::Error::Api { status: 404, error }) if !error.message.contains(group_id) => {
                Ok(RemoveMemberOutcome::NotMember)
            }
            Err(e) => Err(e),
        }
    }

    /// Adds several members with `PATCH members@odata.bind`, 20 per request (all-or-nothing per
    /// request). Idempotent like [`Self::add_member`]: the members are the same after a repeat.
    pub async fn add_members(&self, group_id: &str, object_ids: &[String]) -> Result<()> {
        let path = GraphPath::new(["groups", group_id]);
        for chunk in object_ids.chunks(BIND_MAX) {
            let refs = chunk
                .iter()
                .map(|id| self.directory_object_url(id))
                .collect::<Result<Vec<_>>>()?;
            self.client
                .patch_with(
                    ApiVersion::V1,
                    &path,
                    &json!({ "members@odata.bind": refs }),
                    Vec::new(),
                    Idempotency::Idempotent,
                )
                .await?;
        }
        Ok(())
    }
}
