//! Service plan catalog and frontline/shared-use counters.

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{FrontLineServicePlan, ServicePlan, SharedUseServicePlan};
use crate::odata::Query;

/// Service plans.
#[derive(Debug, Clone)]
pub struct ServicePlansHandler {
    client: Client,
}

impl ServicePlansHandler {
    pub(crate) fn new(client: Client) -> Self {
        ServicePlansHandler { client }
    }

    /// The Cloud PC service plan catalog.
    pub async fn list(&self) -> Result<Vec<ServicePlan>> {
        self.client
            .list_with(
                ApiVersion::Beta,
                &virtual_endpoint("servicePlans", [""; 0]),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// Frontline service plans with their counters (beta).
    pub async fn frontline(&self) -> Result<Vec<FrontLineServicePlan>> {
        self.client
            .list_with(
                ApiVersion::Beta,
                &virtual_endpoint("frontLineServicePlans", [""; 0]),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// One frontline service plan (beta).
    pub async fn frontline_get(&self, id: &str) -> Result<FrontLineServicePlan> {
        self.client
            .get_with(
                ApiVersion::Beta,
                &virtual_endpoint("frontLineServicePlans", [id]),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .await
    }

    /// Legacy shared-use plan (beta, deprecated); `None` when Graph no longer has it.
    pub async fn shared_use_get(&self, id: &str) -> Result<Option<SharedUseServicePlan>> {
        crate::client::none_if_not_found(
            self.client
                .get_with(
                    ApiVersion::Beta,
                    &virtual_endpoint("sharedUseServicePlans", [id]),
                    &Query::new(),
                    prefer_unknown_enums(),
                )
                .await,
        )
    }
}
