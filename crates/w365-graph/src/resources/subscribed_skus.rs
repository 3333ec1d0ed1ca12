//! `/subscribedSkus`.

use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::SubscribedSku;
use crate::odata::{GraphPath, Query};

/// Subscribed SKUs.
#[derive(Debug, Clone)]
pub struct SubscribedSkusHandler {
    client: Client,
}

impl SubscribedSkusHandler {
    pub(crate) fn new(client: Client) -> Self {
        SubscribedSkusHandler { client }
    }

    /// All SKUs of the tenant.
    pub async fn list(&self) -> Result<Vec<SubscribedSku>> {
        self.client
            .list(
                ApiVersion::V1,
                &GraphPath::new(["subscribedSkus"]),
                &Query::new(),
            )
            .collect_all()
            .await
    }
}
