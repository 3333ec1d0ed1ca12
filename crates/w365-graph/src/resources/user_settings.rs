//! `/deviceManagement/virtualEndpoint/userSettings` (beta).

use serde_json::json;

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{CloudPcUserSetting, CloudPcUserSettingUpdate, ProvisioningPolicyAssignment};
use crate::odata::{Filter, Query};

const COLLECTION: &str = "userSettings";

/// User settings policies.
#[derive(Debug, Clone)]
pub struct UserSettingsHandler {
    client: Client,
}

impl UserSettingsHandler {
    pub(crate) fn new(client: Client) -> Self {
        UserSettingsHandler { client }
    }

    /// Lists settings with any query (all pages).
    pub async fn list(&self, query: Query) -> Result<Vec<CloudPcUserSetting>> {
        self.client
            .list_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [""; 0]),
                &query,
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// Settings named exactly `name`, with assignments expanded.
    pub async fn find_by_display_name(&self, name: &str) -> Result<Vec<CloudPcUserSetting>> {
        self.list(
            Query::new()
                .filter(Filter::eq("displayName", name))
                .expand("assignments"),
        )
        .await
    }

    /// One setting.
    pub async fn get(&self, id: &str, expand_assignments: bool) -> Result<CloudPcUserSetting> {
        let query = if expand_assignments {
            Query::new().expand("assignments")
        } else {
            Query::new()
        };
        self.client
            .get_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [id]),
                &query,
                prefer_unknown_enums(),
            )
            .await
    }

    /// Like [`get`](Self::get); 404 gives `None`.
    pub async fn get_opt(
        &self,
        id: &str,
        expand_assignments: bool,
    ) -> Result<Option<CloudPcUserSetting>> {
        crate::client::none_if_not_found(self.get(id, expand_assignments).await)
    }

    /// Creates a setting; returns it as created.
    pub async fn create(&self, setting: &CloudPcUserSetting) -> Result<CloudPcUserSetting> {
        self.client
            .post_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [""; 0]),
                &setting.for_create(),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Updates the given properties.
    pub async fn update(&self, id: &str, update: &CloudPcUserSettingUpdate) -> Result<()> {
        self.client
            .patch_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [id]),
                update,
                prefer_unknown_enums(),
            )
            .await
    }

    /// Deletes a setting.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .delete_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [id]),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Replaces the assignments with `assignments` (complete desired set).
    pub async fn assign(
        &self,
        id: &str,
        assignments: &[ProvisioningPolicyAssignment],
    ) -> Result<()> {
        self.client
            .post_no_content_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [id, "assign"]),
                Some(&json!({ "assignments": assignments })),
                prefer_unknown_enums(),
            )
            .await
    }
}
