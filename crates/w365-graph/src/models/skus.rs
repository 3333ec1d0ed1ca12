//! `subscribedSku` (reference §4).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::null_as_default;

evolvable_enum! {
    /// `subscribedSku.capabilityStatus`.
    pub enum CapabilityStatus {
        Enabled = "Enabled",
        Warning = "Warning",
        Suspended = "Suspended",
        Deleted = "Deleted",
        LockedOut = "LockedOut",
    }
}

/// Licence counts of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PrepaidUnits {
    /// Assignable units.
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled: i64,
    /// Suspended units.
    #[serde(default, deserialize_with = "null_as_default")]
    pub suspended: i64,
    /// Units in warning state.
    #[serde(default, deserialize_with = "null_as_default")]
    pub warning: i64,
    /// Locked-out units.
    #[serde(default, deserialize_with = "null_as_default")]
    pub locked_out: i64,
}

/// A service plan inside a SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlanInfo {
    /// Service plan GUID (what `cloudPC.servicePlanId` refers to).
    pub service_plan_id: Uuid,
    /// e.g. `CPC_1`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub service_plan_name: String,
    /// e.g. `Success`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_status: Option<String>,
    /// `User` or `Company`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_to: Option<String>,
}

/// A subscription the tenant holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku {
    /// `{tenantId}_{skuId}`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// SKU GUID.
    pub sku_id: Uuid,
    /// e.g. `CPC_E_2C_4GB_128GB`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku_part_number: String,
    /// `User` or `Company`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_to: Option<String>,
    /// Subscription state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_status: Option<CapabilityStatus>,
    /// Units in use.
    #[serde(default, deserialize_with = "null_as_default")]
    pub consumed_units: i64,
    /// Units bought.
    #[serde(default, deserialize_with = "null_as_default")]
    pub prepaid_units: PrepaidUnits,
    /// Plans in the SKU.
    #[serde(default, deserialize_with = "null_as_default")]
    pub service_plans: Vec<ServicePlanInfo>,
    /// Tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Tenant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// Subscriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_ids: Option<Vec<String>>,
}

impl SubscribedSku {
    /// `prepaidUnits.enabled - consumedUnits`, never below zero.
    pub fn available_units(&self) -> i64 {
        (self.prepaid_units.enabled - self.consumed_units).max(0)
    }
}
