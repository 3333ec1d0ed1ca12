//! `/deviceManagement/virtualEndpoint/provisioningPolicies` (beta).

use serde_json::json;

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{
    PolicySettingType, ProvisioningPolicy, ProvisioningPolicyAssignment, ProvisioningPolicyUpdate,
};
use crate::odata::{Filter, Query};

const COLLECTION: &str = "provisioningPolicies";

/// Provisioning policies.
#[derive(Debug, Clone)]
pub struct ProvisioningPoliciesHandler {
    client: Client,
}

impl ProvisioningPoliciesHandler {
    pub(crate) fn new(client: Client) -> Self {
        ProvisioningPoliciesHandler { client }
    }

    /// Lists policies with any query (all pages).
    pub async fn list(&self, query: Query) -> Result<Vec<ProvisioningPolicy>> {
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

    /// Policies named exactly `name`, with their assignments expanded.
    pub async fn find_by_display_name(&self, name: &str) -> Result<Vec<ProvisioningPolicy>> {
        self.list(
            Query::new()
                .filter(Filter::eq("displayName", name))
                .expand("assignments"),
        )
        .await
    }

    /// One policy (assignments only with `expand_assignments`: there is no working
    /// `/{id}/assignments` route).
    pub async fn get(&self, id: &str, expand_assignments: bool) -> Result<ProvisioningPolicy> {
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
    ) -> Result<Option<ProvisioningPolicy>> {
        crate::client::none_if_not_found(self.get(id, expand_assignments).await)
    }

    /// Creates a policy (read-only properties and assignments are not sent); returns it as created.
    pub async fn create(&self, policy: &ProvisioningPolicy) -> Result<ProvisioningPolicy> {
        self.client
            .post_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [""; 0]),
                &policy.for_create(),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Updates the given properties.
    pub async fn update(&self, id: &str, update: &ProvisioningPolicyUpdate) -> Result<()> {
        self.client
            .patch_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [id]),
                update,
                prefer_unknown_enums(),
            )
            .await
    }

    /// Deletes a policy (Graph refuses while it is assigned).
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .delete_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [id]),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Replaces the policy's assignments with `assignments` (the complete desired set: groups
    /// left out are unassigned).
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

    /// Applies the policy's current `setting` to its existing Cloud PCs.
    pub async fn apply(&self, id: &str, setting: PolicySettingType) -> Result<()> {
        self.client
            .post_no_content_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, [id, "apply"]),
                Some(&json!({ "policySettings": setting })),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Applies the current `setting` to the given Cloud PCs (collection-bound `applyConfig`).
    pub async fn apply_config(
        &self,
        cloud_pc_ids: &[String],
        setting: PolicySettingType,
    ) -> Result<()> {
        self.client
            .post_no_content_with(
                ApiVersion::Beta,
                &virtual_endpoint(COLLECTION, ["applyConfig"]),
                Some(&json!({ "cloudPcIds": cloud_pc_ids, "policySettings": setting })),
                prefer_unknown_enums(),
            )
            .await
    }
}
