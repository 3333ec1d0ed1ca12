//! The tenant's Cloud PC organization settings (v1.0, generally available):
//! - get <https://learn.microsoft.com/en-us/graph/api/cloudpcorganizationsettings-get?view=graph-rest-1.0>
//!   (`CloudPC.Read.All`);
//! - update <https://learn.microsoft.com/en-us/graph/api/cloudpcorganizationsettings-update?view=graph-rest-1.0>
//!   (`CloudPC.ReadWrite.All`, 204).

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::OrganizationSettings;
use crate::odata::Query;
use crate::retry::Idempotency;

/// The organization settings.
#[derive(Debug, Clone)]
pub struct OrganizationSettingsHandler {
    client: Client,
}

impl OrganizationSettingsHandler {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// The settings.
    pub async fn get(&self) -> Result<OrganizationSettings> {
        self.client
            .get_with(
                ApiVersion::V1,
                &virtual_endpoint("organizationSettings", [""; 0]),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Changes the properties set in `update` (204).
    pub async fn update(&self, update: &OrganizationSettings) -> Result<()> {
        self.client
            .patch_with(
                ApiVersion::V1,
                &virtual_endpoint("organizationSettings", [""; 0]),
                update,
                prefer_unknown_enums(),
                // A PATCH of absolute values.
                Idempotency::Idempotent,
            )
            .await
    }
}
