//! Azure network connections (v1.0, generally available):
//! `/deviceManagement/virtualEndpoint/onPremisesConnections`.
//! - list <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-onpremisesconnections?view=graph-rest-1.0>
//!   and get <https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-get?view=graph-rest-1.0>:
//!   `CloudPC.Read.All`; `inUse` and `healthCheckStatusDetail` only with `$select`;
//! - create <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-post-onpremisesconnections?view=graph-rest-1.0>,
//!   update <https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-update?view=graph-rest-1.0>,
//!   delete <https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-delete?view=graph-rest-1.0>
//!   ("You can't delete a connection that's in use"): `CloudPC.ReadWrite.All`;
//! - runHealthChecks <https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-runhealthcheck?view=graph-rest-1.0>:
//!   delegated `CloudPC.ReadWrite.All` only — application permissions are not supported.

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{NETWORK_CONNECTION_PROPERTIES, NetworkConnection, NetworkConnectionInput};
use crate::odata::Query;
use crate::retry::Idempotency;

const COLLECTION: &str = "onPremisesConnections";

/// Azure network connections.
#[derive(Debug, Clone)]
pub struct NetworkConnectionsHandler {
    client: Client,
}

impl NetworkConnectionsHandler {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    fn query() -> Query {
        Query::new().select(NETWORK_CONNECTION_PROPERTIES.iter().copied())
    }

    /// Every connection (all pages), with its health check detail and whether it is in use.
    pub async fn list(&self) -> Result<Vec<NetworkConnection>> {
        self.client
            .list_with(
                ApiVersion::V1,
                &virtual_endpoint(COLLECTION, [""; 0]),
                &Self::query(),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// One connection; 404 gives `None`.
    pub async fn get_opt(&self, id: &str) -> Result<Option<NetworkConnection>> {
        crate::client::none_if_not_found(
            self.client
                .get_with(
                    ApiVersion::V1,
                    &virtual_endpoint(COLLECTION, [id]),
                    &Self::query(),
                    prefer_unknown_enums(),
                )
                .await,
        )
    }

    /// Creates one; its first health check run starts at once.
    pub async fn create(&self, input: &NetworkConnectionInput) -> Result<NetworkConnection> {
        self.client
            .post_with(
                ApiVersion::V1,
                &virtual_endpoint(COLLECTION, [""; 0]),
                input,
                prefer_unknown_enums(),
                // A repeat would create a second connection.
                Idempotency::NotIdempotent,
            )
            .await
    }

    /// Updates the properties set in `input` (204).
    pub async fn update(&self, id: &str, input: &NetworkConnectionInput) -> Result<()> {
        self.client
            .patch_with(
                ApiVersion::V1,
                &virtual_endpoint(COLLECTION, [id]),
                input,
                prefer_unknown_enums(),
                // A PATCH of absolute values.
                Idempotency::Idempotent,
            )
            .await
    }

    /// Deletes one (Graph refuses while a provisioning policy uses it).
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.client
            .delete_with(
                ApiVersion::V1,
                &virtual_endpoint(COLLECTION, [id]),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Starts a new health check run (delegated permissions only; see the module docs).
    pub async fn run_health_checks(&self, id: &str) -> Result<()> {
        self.client
            .post_no_content_with(
                ApiVersion::V1,
                &virtual_endpoint(COLLECTION, [id, "runHealthChecks"]),
                None::<&serde_json::Value>,
                prefer_unknown_enums(),
                // A repeat starts the run over: the same end state.
                Idempotency::Idempotent,
            )
            .await
    }
}
