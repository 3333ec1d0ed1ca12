//! `GET /deviceManagement/virtualEndpoint/supportedRegions` (beta only): the Azure regions where
//! Cloud PCs can be provisioned on the Microsoft-hosted network, with their region group.
//!
//! Graph: <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-supportedregions?view=graph-rest-beta>
//! (application permission `CloudPC.Read.All`), resource
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcsupportedregion?view=graph-rest-beta>
//! `{id, displayName, regionStatus (available|restricted|unavailable), supportedSolution
//! (windows365|devBox), regionGroup, geographicLocationType}`; region groups:
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcregiongroup?view=graph-rest-beta>.
//!
//! LIMITATIONS: a fixed catalog of common regions (the real list depends on the tenant and changes
//! over time); the id is the region's name (Graph's ids are opaque); `regionRestrictionDetail` is
//! not returned.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{BASE, CLOUD_PC_READ};
use crate::http::collection::{self, CollectionSpec};
use crate::http::{ApiError, ApiVersion, AppState, Auth, GraphQuery, RequestContext};

const SUPPORTED_REGIONS: CollectionSpec<'static> = CollectionSpec::plain(
    "deviceManagement/virtualEndpoint/supportedRegions",
    "microsoft.graph.cloudPcSupportedRegion",
);

/// `(displayName, regionGroup, geographicLocationType, regionStatus)`.
pub const REGIONS: &[(&str, &str, &str, &str)] = &[
    ("eastus", "usEast", "usEast", "available"),
    ("eastus2", "usEast", "usEast", "available"),
    ("centralus", "usCentral", "usCentral", "available"),
    ("southcentralus", "usCentral", "usCentral", "available"),
    ("westus2", "usWest", "usWest", "available"),
    ("westus3", "usWest", "usWest", "available"),
    ("canadacentral", "canada", "canada", "available"),
    ("brazilsouth", "southAmerica", "southAmerica", "available"),
    ("northeurope", "europeUnion", "europe", "available"),
    ("westeurope", "europeUnion", "europe", "available"),
    ("francecentral", "france", "europe", "available"),
    ("germanywestcentral", "germany", "europe", "available"),
    ("uksouth", "unitedKingdom", "europe", "available"),
    ("switzerlandnorth", "switzerland", "europe", "restricted"),
    ("norwayeast", "norway", "europe", "restricted"),
    ("centralindia", "india", "india", "available"),
    ("japaneast", "japan", "asia", "available"),
    ("southeastasia", "asia", "asia", "available"),
    ("eastasia", "asia", "asia", "available"),
    ("koreacentral", "southKorea", "asia", "restricted"),
    ("australiaeast", "australia", "australasia", "available"),
];

/// The routes, relative to the version.
pub fn routes() -> Router<AppState> {
    Router::new().route(&format!("{BASE}/supportedRegions"), get(list))
}

fn render((name, group, location, status): &(&str, &str, &str, &str)) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.cloudPcSupportedRegion",
        "id": name,
        "displayName": name,
        "regionStatus": status,
        "supportedSolution": "windows365",
        "regionGroup": group,
        "geographicLocationType": location,
    })
}

async fn list(
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    version.require_beta("supportedRegions")?;
    auth.require_any(CLOUD_PC_READ)?;
    let items = REGIONS.iter().map(render).collect();
    collection::collection(&ctx, &query, &SUPPORTED_REGIONS, items)
}
