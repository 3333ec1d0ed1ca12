//! Microsoft Graph client for Windows 365: credentials, retries, paging, batching, OData
//! query building and typed models.
//!
//! ```no_run
//! # async fn demo() -> w365_graph::Result<()> {
//! use w365_graph::{Client, Cloud, auth::Credential};
//! let client = Client::builder()
//!     .cloud(Cloud::Global)
//!     .credential(Credential::client_secret("contoso.onmicrosoft.com", "app-id", "secret"))
//!     .build()?;
//! let user = client.users().find_by_upn("o'brien@contoso.com").await?;
//! # Ok(()) }
//! ```
//!
//! # Pointing the client at the tenant simulator
//! `Cloud::custom("http://127.0.0.1:PORT", "http://127.0.0.1:PORT")` uses the simulator for
//! Graph (`/v1.0/...`, `/beta/...`) and for tokens (`/{tenant}/oauth2/v2.0/token`). Plain http is
//! accepted only for loopback hosts. Tokens are requested through the same `azure_identity`
//! credentials as for a real tenant; the scope is `https://graph.microsoft.com/.default`
//! ([`Cloud::graph_scope`]; override with [`ClientBuilder::scope`]).
//!
//! # Guarantees
//! - 429/503/504 and connection failures are retried ([`RetryPolicy`]); `Retry-After` wins.
//! - A `401 InvalidAuthenticationToken` triggers exactly one token refresh and one resend.
//! - Every collection read follows `@odata.nextLink` to the end ([`Pager`]).
//! - URLs are assembled from percent-encoded segments ([`GraphPath`]) and encoded query options
//!   ([`Query`], [`Filter`]); the bearer token is only ever sent to the Graph origin.
//! - Secrets and tokens never appear in `Debug` output, errors or logs.

// `Error::Api { error: GraphError }` is part of the agreed API; boxing it would change every
// pattern match downstream, and errors are not on a hot path.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod batch;
mod client;
pub mod error;
pub mod limits;
pub mod models;
pub mod odata;
pub mod paging;
pub mod resources;
pub mod retry;

pub use auth::{AccessToken, Credential, TokenCredential};
pub use batch::{BatchHandler, BatchRequest, BatchResponse};
pub use client::{
    ApiVersion, Client, ClientBuilder, Cloud, CredentialSource, RequestStats, SharedStats,
    TenantStats, is_loopback,
};
pub use error::{Error, GraphError, Result};
pub use limits::{WriteBudget, WriteGate, WritePace, WritePacer, is_directory_write};
pub use odata::{Filter, GraphPath, Query};
pub use paging::{Page, Pager};
pub use resources::{
    AddMemberOutcome, AssignablePolicy, CloudPcsHandler, GroupsHandler, MailHandler,
    PolicyCollection, ProvisioningPoliciesHandler, RemoveMemberOutcome, ServicePlansHandler,
    SubscribedSkusHandler, UserSettingsHandler, UsersHandler,
};
pub use resources::{CloudPcReportsHandler, CloudPcSnapshotsHandler};
pub use resources::{ImagesHandler, NetworkConnectionsHandler, OrganizationSettingsHandler};
pub use retry::{Idempotency, RetryPolicy};

impl Client {
    /// Users.
    pub fn users(&self) -> UsersHandler {
        UsersHandler::new(self.clone())
    }

    /// Groups and membership.
    pub fn groups(&self) -> GroupsHandler {
        GroupsHandler::new(self.clone())
    }

    /// Subscribed SKUs.
    pub fn subscribed_skus(&self) -> SubscribedSkusHandler {
        SubscribedSkusHandler::new(self.clone())
    }

    /// Mail.
    pub fn mail(&self) -> MailHandler {
        MailHandler::new(self.clone())
    }

    /// Cloud PCs.
    pub fn cloud_pcs(&self) -> CloudPcsHandler {
        CloudPcsHandler::new(self.clone())
    }

    /// Azure network connections (v1.0).
    pub fn network_connections(&self) -> NetworkConnectionsHandler {
        NetworkConnectionsHandler::new(self.clone())
    }

    /// Custom and gallery images (v1.0).
    pub fn images(&self) -> ImagesHandler {
        ImagesHandler::new(self.clone())
    }

    /// The Cloud PC organization settings (v1.0).
    pub fn organization_settings(&self) -> OrganizationSettingsHandler {
        OrganizationSettingsHandler::new(self.clone())
    }

    /// Cloud PC restore points (beta).
    pub fn cloud_pc_snapshots(&self) -> CloudPcSnapshotsHandler {
        CloudPcSnapshotsHandler::new(self.clone())
    }

    /// Cloud PC reports (beta report streams).
    pub fn cloud_pc_reports(&self) -> CloudPcReportsHandler {
        CloudPcReportsHandler::new(self.clone())
    }

    /// Provisioning policies.
    pub fn provisioning_policies(&self) -> ProvisioningPoliciesHandler {
        ProvisioningPoliciesHandler::new(self.clone())
    }

    /// User settings.
    pub fn user_settings(&self) -> UserSettingsHandler {
        UserSettingsHandler::new(self.clone())
    }

    /// Service plans.
    pub fn service_plans(&self) -> ServicePlansHandler {
        ServicePlansHandler::new(self.clone())
    }

    /// JSON batching.
    pub fn batch(&self) -> BatchHandler {
        BatchHandler::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn public_types_are_thread_safe() {
        send_sync::<super::Client>();
        send_sync::<super::Error>();
        send::<super::Pager<super::models::User>>();
        send_sync::<super::Credential>();
    }
}
