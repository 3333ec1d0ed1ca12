//! Service plan catalog and frontline counters (reference §4.1, §6.6).

use serde::{Deserialize, Serialize};

use super::{CloudPcServicePlanType, ProvisioningType, null_as_default};

/// `cloudPcServicePlan` (catalog entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    /// Service plan GUID.
    pub id: String,
    /// e.g. `Cloud PC Enterprise 2vCPU/4GB/128GB`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_name: String,
    /// `enterprise` or `business`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<CloudPcServicePlanType>,
    /// vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v_cpu_count: Option<i32>,
    /// RAM.
    #[serde(rename = "ramInGB", default, skip_serializing_if = "Option::is_none")]
    pub ram_in_gb: Option<i32>,
    /// Disk.
    #[serde(
        rename = "storageInGB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub storage_in_gb: Option<i32>,
    /// Profile disk.
    #[serde(
        rename = "userProfileInGB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub user_profile_in_gb: Option<i32>,
    /// Licence type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_type: Option<ProvisioningType>,
    /// e.g. `windows365`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_solution: Option<String>,
}

/// `cloudPcFrontLineServicePlan` (beta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FrontLineServicePlan {
    /// Service plan GUID.
    pub id: String,
    /// e.g. `2vCPU/8GB/128GB Front-line`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_name: String,
    /// Licences bought.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_count: i32,
    /// Licences in use.
    #[serde(default, deserialize_with = "null_as_default")]
    pub used_count: i32,
    /// Licences allotted to groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allotment_licenses_count: Option<i32>,
}

/// Legacy `cloudPcSharedUseServicePlan` (beta, deprecated; stopped returning data 2024-04-24).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SharedUseServicePlan {
    /// Service plan GUID.
    pub id: String,
    /// Name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_name: String,
    /// Licences bought.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_count: i32,
    /// Licences in use.
    #[serde(default, deserialize_with = "null_as_default")]
    pub used_count: i32,
}
