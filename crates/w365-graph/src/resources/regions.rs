//! Supported regions (beta only; Graph has no v1.0 form):
//! `GET /beta/deviceManagement/virtualEndpoint/supportedRegions`, application permission
//! `CloudPC.Read.All`:
//! <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-supportedregions?view=graph-rest-beta>.

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::CloudPcSupportedRegion;
use crate::odata::Query;

/// The regions Cloud PCs can be provisioned in.
#[derive(Debug, Clone)]
pub struct SupportedRegionsHandler {
    client: Client,
}

impl Client {
    /// Supported regions (beta).
    pub fn supported_regions(&self) -> SupportedRegionsHandler {
        SupportedRegionsHandler {
            client: self.clone(),
        }
    }
}

impl SupportedRegionsHandler {
    /// Every supported region (all pages).
    pub async fn list(&self) -> Result<Vec<CloudPcSupportedRegion>> {
        self.client
            .list_with(
                ApiVersion::Beta,
                &virtual_endpoint("supportedRegions", None::<&str>),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }
}
