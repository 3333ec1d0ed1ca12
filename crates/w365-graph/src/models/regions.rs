//! `cloudPcSupportedRegion` (beta only): where Cloud PCs can be provisioned.
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcsupportedregion?view=graph-rest-beta>

use serde::{Deserialize, Serialize};

/// A supported region and its region group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcSupportedRegion {
    #[serde(default)]
    pub id: String,
    /// The region's name as policies use it (`regionName`), e.g. `westeurope`.
    #[serde(default)]
    pub display_name: String,
    /// `available`, `restricted` or `unavailable`.
    #[serde(default)]
    pub region_status: Option<String>,
    /// `windows365` or `devBox`.
    #[serde(default)]
    pub supported_solution: Option<String>,
    /// `cloudPcRegionGroup`, e.g. `europeUnion`.
    #[serde(default)]
    pub region_group: Option<String>,
    #[serde(default)]
    pub geographic_location_type: Option<String>,
}
