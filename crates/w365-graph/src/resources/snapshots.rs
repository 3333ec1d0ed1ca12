//! Cloud PC restore points (beta only; Graph has no v1.0 form):
//! - `GET /beta/deviceManagement/virtualEndpoint/cloudPCs/{id}/retrieveSnapshots`
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpc-retrievesnapshots?view=graph-rest-beta>
//!   (application permission `CloudPC.ReadWrite.All`: the documentation lists no read-only one);
//! - `POST /beta/deviceManagement/virtualEndpoint/cloudPCs/{id}/createSnapshot` -> 204
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpc-createsnapshot?view=graph-rest-beta>
//!   (`CloudPC.ReadWrite.All`; asynchronous: the restore point appears later).
//!
//! Restoring one is [`CloudPcsHandler::restore`](super::CloudPcsHandler::restore) (v1.0).

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::retry::Idempotency;
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::CloudPcSnapshot;
use crate::odata::Query;

/// Restore points of Cloud PCs.
#[derive(Debug, Clone)]
pub struct CloudPcSnapshotsHandler {
    client: Client,
}

impl CloudPcSnapshotsHandler {
    pub(crate) fn new(client: Client) -> Self {
        CloudPcSnapshotsHandler { client }
    }

    /// Every restore point of a Cloud PC (all pages), in Graph's order.
    pub async fn list(&self, cloud_pc_id: &str) -> Result<Vec<CloudPcSnapshot>> {
        self.client
            .list_with(
                ApiVersion::Beta,
                &virtual_endpoint("cloudPCs", [cloud_pc_id, "retrieveSnapshots"]),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// Asks for a manual restore point now (kept by the service; no storage account copy).
    pub async fn create(&self, cloud_pc_id: &str) -> Result<()> {
        self.client
            .post_no_content_with(
                ApiVersion::Beta,
                &virtual_endpoint("cloudPCs", [cloud_pc_id, "createSnapshot"]),
                None::<&serde_json::Value>,
                prefer_unknown_enums(),
                // A repeat would take a second restore point (and count against the limit).
                Idempotency::NotIdempotent,
            )
            .await
    }
}
