//! The two assignable Windows 365 policy collections under `/deviceManagement/virtualEndpoint`
//! (beta): provisioning policies and user settings. Both are listed, read, created, updated,
//! deleted and assigned the same way, so one generic handler serves both; what differs (the URL
//! segment, the PATCH body, the create body) comes from [`AssignablePolicy`].

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{
    CloudPcUserSetting, CloudPcUserSettingUpdate, PolicySettingType, ProvisioningPolicy,
    ProvisioningPolicyAssignment, ProvisioningPolicyUpdate,
};
use crate::odata::{Filter, Query};
use crate::retry::Idempotency;

/// A policy resource whose collection supports CRUD and the full-set `assign` action.
pub trait AssignablePolicy: Serialize + DeserializeOwned + Send + 'static {
    /// The collection's URL segment under `/deviceManagement/virtualEndpoint`.
    const COLLECTION: &'static str;
    /// The `PATCH` body (only the updatable properties).
    type Update: Serialize + Sync;
    /// The body to `POST`: the writable properties only.
    fn for_create(&self) -> Self;
}

impl AssignablePolicy for ProvisioningPolicy {
    const COLLECTION: &'static str = "provisioningPolicies";
    type Update = ProvisioningPolicyUpdate;
    fn for_create(&self) -> Self {
        ProvisioningPolicy::for_create(self)
    }
}

impl AssignablePolicy for CloudPcUserSetting {
    const COLLECTION: &'static str = "userSettings";
    type Update = CloudPcUserSettingUpdate;
    fn for_create(&self) -> Self {
        CloudPcUserSetting::for_create(self)
    }
}

/// Provisioning policies (`client.provisioning_policies()`).
pub type ProvisioningPoliciesHandler = PolicyCollection<ProvisioningPolicy>;
/// User settings policies (`client.user_settings()`).
pub type UserSettingsHandler = PolicyCollection<CloudPcUserSetting>;

/// The handler of one assignable policy collection.
pub struct PolicyCollection<T> {
    client: Client,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for PolicyCollection<T> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            kind: PhantomData,
        }
    }
}

impl<T: AssignablePolicy> fmt::Debug for PolicyCollection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyCollection")
            .field("collection", &T::COLLECTION)
            .field("client", &self.client)
            .finish()
    }
}

impl<T: AssignablePolicy> PolicyCollection<T> {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            kind: PhantomData,
        }
    }

    /// Lists with any query (all pages).
    pub async fn list(&self, query: Query) -> Result<Vec<T>> {
        self.client
            .list_with(
                ApiVersion::Beta,
                &virtual_endpoint(T::COLLECTION, [""; 0]),
                &query,
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// The objects named exactly `name` (display names are not unique), assignments expanded.
    pub async fn find_by_display_name(&self, name: &str) -> Result<Vec<T>> {
        self.list(
            Query::new()
                .filter(Filter::eq("displayName", name))
                .expand("assignments"),
        )
        .await
    }

    /// One object; assignments only come back when expanded.
    pub async fn get(&self, id: &str, expand_assignments: bool) -> Result<T> {
        let query = if expand_assignments {
            Query::new().expand("assignments")
        } else {
            Query::new()
        };
        self.client
            .get_with(
                ApiVersion::Beta,
                &virtual_endpoint(T::COLLECTION, [id]),
                &query,
                prefer_unknown_enums(),
            )
            .await
    }

    /// Like [`get`](Self::get); 404 gives `None`.
    pub async fn get_opt(&self, id: &str, expand_assignments: bool) -> Result<Option<T>> {
        crate::client::none_if_not_found(self.get(id, expand_assignments).await)
    }

    /// Creates one (only the writable properties are sent); returns it as created.
    pub async fn create(&self, object: &T) -> Result<T> {
        self.client
            .post_with(
                ApiVersion::Beta,
                &virtual_endpoint(T::COLLECTION, [""; 0]),
                &object.for_create(),
                prefer_unknown_enums(),
                // A repeat would create a second policy.
                Idempotency::NotIdempotent,
            )
            .await
    }

    /// Updates the given properties (204).
    pub async fn update(&self, id: &str, update: &T::Update) -> Result<()> {
        self.client
            .patch_with(
                ApiVersion::Beta,
                &virtual_endpoint(T::COLLECTION, [id]),
                update,
                prefer_unknown_enums(),
                // A PATCH of absolute values.
                Idempotency::Idempotent,
            )
            .await
    }

    /// Updates the properties in `patch`, a JSON object of changed properties (204). For callers
    /// that compute the changed properties themselves (policies as code); the typed
    /// [`update`](Self::update) is preferred otherwise. Sent like every virtualEndpoint call,
    /// with the `Prefer: include-unknown-enum-members` header.
    pub async fn update_properties(&self, id: &str, patch: &serde_json::Value) -> Result<()> {
        self.client
            .patch_with(
                ApiVersion::Beta,
                &virtual_endpoint(T::COLLECTION, [id]),
                patch,
                prefer_unknown_enums(),
                // A PATCH of absolute values: repeating it leaves the same policy.
                Idempotency::Idempotent,
            )
            .await
    }

    /// Deletes one (Graph refuses while it is assigned).
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .delete_with(
                ApiVersion::Beta,
                &virtual_endpoint(T::COLLECTION, [id]),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Replaces the assignments with `assignments`: the complete desired set (an omitted group is
    /// unassigned; merge with the current set first to change one).
    pub async fn assign(
        &self,
        id: &str,
        assignments: &[ProvisioningPolicyAssignment],
    ) -> Result<()> {
        self.client
            .post_no_content_with(
                ApiVersion::Beta,
                &virtual_endpoint(T::COLLECTION, [id, "assign"]),
                Some(&json!({ "assignments": assignments })),
                prefer_unknown_enums(),
                // The complete assignment set replaces the previous one.
                Idempotency::Idempotent,
            )
            .await
    }
}

impl PolicyCollection<ProvisioningPolicy> {
    /// Applies the policy's current `setting` to its existing Cloud PCs.
    pub async fn apply(&self, id: &str, setting: PolicySettingType) -> Result<()> {
        self.client
            .post_no_content_with(
                ApiVersion::Beta,
                &virtual_endpoint(ProvisioningPolicy::COLLECTION, [id, "apply"]),
                Some(&json!({ "policySettings": setting })),
                prefer_unknown_enums(),
                // Applying the current settings again leaves them applied.
                Idempotency::Idempotent,
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
                &virtual_endpoint(ProvisioningPolicy::COLLECTION, ["applyConfig"]),
                Some(&json!({ "cloudPcIds": cloud_pc_ids, "policySettings": setting })),
                prefer_unknown_enums(),
                // Applying the current settings again leaves them applied.
                Idempotency::Idempotent,
            )
            .await
    }
}
