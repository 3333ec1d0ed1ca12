//! Cloud PCs (reference §6.1). [`CloudPc`] is the beta shape (with `status`); [`CloudPcV1`] is the
//! v1.0 shape, which has no status, status details, power state or service plan type.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::null_as_default;

evolvable_enum! {
    /// `cloudPcStatus` (beta), in declaration order. Members after `unknownFutureValue` are only
    /// returned with `Prefer: include-unknown-enum-members`, which the client always sends.
    pub enum CloudPcStatus {
        NotProvisioned = "notProvisioned",
        Provisioning = "provisioning",
        Provisioned = "provisioned",
        InGracePeriod = "inGracePeriod",
        Deprovisioning = "deprovisioning",
        Failed = "failed",
        ProvisionedWithWarnings = "provisionedWithWarnings",
        Resizing = "resizing",
        Restoring = "restoring",
        PendingProvision = "pendingProvision",
        UnknownFutureValue = "unknownFutureValue",
        MovingRegion = "movingRegion",
        ResizePendingLicense = "resizePendingLicense",
        UpdatingSingleSignOn = "updatingSingleSignOn",
        ModifyingSingleSignOn = "modifyingSingleSignOn",
        Preparing = "preparing",
    }
}

impl CloudPcStatus {
    /// Provisioned (with or without warnings): the user can connect.
    pub fn is_usable(&self) -> bool {
        matches!(self, Self::Provisioned | Self::ProvisionedWithWarnings)
    }
}

evolvable_enum! {
    /// `cloudPcServicePlanType`.
    pub enum CloudPcServicePlanType {
        Enterprise = "enterprise",
        Business = "business",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcPowerState`.
    pub enum CloudPcPowerState {
        Running = "running",
        PoweredOff = "poweredOff",
        Unknown = "unknown",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcProductType`.
    pub enum CloudPcProductType {
        Enterprise = "enterprise",
        Frontline = "frontline",
        DevBox = "devBox",
        PowerAutomate = "powerAutomate",
        Business = "business",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcUserAccountType`.
    pub enum CloudPcUserAccountType {
        StandardUser = "standardUser",
        Administrator = "administrator",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcOperatingSystem`.
    pub enum CloudPcOperatingSystem {
        Windows10 = "windows10",
        Windows11 = "windows11",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcProvisioningType` (beta members after the sentinel included; `shared` is deprecated).
    pub enum ProvisioningType {
        Dedicated = "dedicated",
        Shared = "shared",
        UnknownFutureValue = "unknownFutureValue",
        SharedByUser = "sharedByUser",
        SharedByEntraGroup = "sharedByEntraGroup",
        Reserve = "reserve",
    }
}

/// A name/value pair (`statusDetail.additionalInformation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValuePair {
    /// Name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: Option<String>,
}

/// `cloudPcStatusDetail` (also the shape of the deprecated `statusDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcStatusDetail {
    /// e.g. `intuneEnrollFailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human readable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Extra facts, e.g. `retriable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_information: Option<Vec<KeyValuePair>>,
}

macro_rules! cloud_pc_common {
    ($(#[$meta:meta])* pub struct $name:ident { $($extra:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// Cloud PC id (required: an item without it is a decode error naming its path).
            pub id: String,
            /// Display name (change with `rename`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub display_name: Option<String>,
            /// Intune device name (from the naming template).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub managed_device_name: Option<String>,
            /// Intune device id.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub managed_device_id: Option<String>,
            /// Entra device id.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub aad_device_id: Option<String>,
            /// Assigned user.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub user_principal_name: Option<String>,
            /// Service plan GUID.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub service_plan_id: Option<String>,
            /// Service plan friendly name.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub service_plan_name: Option<String>,
            /// Policy that provisioned it.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub provisioning_policy_id: Option<String>,
            /// Its name.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub provisioning_policy_name: Option<String>,
            /// Azure network connection name ("" for Microsoft-hosted).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub on_premises_connection_name: Option<String>,
            /// Image.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub image_display_name: Option<String>,
            /// Licence type.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub provisioning_type: Option<ProvisioningType>,
            /// End of the grace period (meaningful in `inGracePeriod`; display only: an
            /// unreadable value is `None` and listed in `unreadable`).
            #[serde(
                default,
                serialize_with = "time::serde::rfc3339::option::serialize",
                deserialize_with = "super::lenient::grace_period_end_date_time",
                skip_serializing_if = "Option::is_none"
            )]
            pub grace_period_end_date_time: Option<OffsetDateTime>,
            /// Last change (display only, like `grace_period_end_date_time`).
            #[serde(
                default,
                serialize_with = "time::serde::rfc3339::option::serialize",
                deserialize_with = "super::lenient::last_modified_date_time",
                skip_serializing_if = "Option::is_none"
            )]
            pub last_modified_date_time: Option<OffsetDateTime>,
            $($extra)*
            /// Display-only fields whose value Graph sent but w365 could not read (JSON names);
            /// a warning named each. Never sent back.
            #[serde(
                rename = "@w365.unreadable",
                default = "super::lenient::take_unreadable",
                skip_serializing
            )]
            pub unreadable: Vec<String>,
        }
    };
}

cloud_pc_common! {
    /// A Cloud PC as the beta endpoint returns it (the only version with `status`).
    pub struct CloudPc {
        /// Lifecycle status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub status: Option<CloudPcStatus>,
        /// Details for the current status (e.g. why it failed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub status_detail: Option<CloudPcStatusDetail>,
        /// Deprecated predecessor of `statusDetail` (same shape).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub status_details: Option<CloudPcStatusDetail>,
        /// `enterprise` or `business`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub service_plan_type: Option<CloudPcServicePlanType>,
        /// Power state (frontline).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub power_state: Option<CloudPcPowerState>,
        /// Product.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub product_type: Option<CloudPcProductType>,
        /// Local account type.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub user_account_type: Option<CloudPcUserAccountType>,
        /// Windows version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub os_version: Option<CloudPcOperatingSystem>,
        /// When provisioning finished (display only).
        #[serde(
            default,
            serialize_with = "time::serde::rfc3339::option::serialize",
            deserialize_with = "super::lenient::provisioned_date_time",
            skip_serializing_if = "Option::is_none"
        )]
        pub provisioned_date_time: Option<OffsetDateTime>,
        /// Azure region.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub device_region_name: Option<String>,
        /// Disk encryption state.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub disk_encryption_state: Option<String>,
        /// Frontline allotment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub allotment_display_name: Option<String>,
        /// `cloudPc` or `cloudApp`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub user_experience_type: Option<String>,
        /// Role scope tags.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub scope_ids: Option<Vec<String>>,
        /// Connection settings (e.g. single sign-on), kept as JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub connection_setting: Option<serde_json::Value>,
        /// Last sign-in result, kept as JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_login_result: Option<serde_json::Value>,
        /// Last remote action (reboot, resize, ...) and its state, kept as JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_remote_action_result: Option<serde_json::Value>,
        /// Partner agent installation results, kept as JSON.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub partner_agent_install_results: Option<Vec<serde_json::Value>>,
    }
}

cloud_pc_common! {
    /// A Cloud PC as v1.0 returns it: no `status`, status details, power state or plan type
    /// (read status from beta, see [`CloudPc`]).
    pub struct CloudPcV1 {}
}

/// Optional body of `reprovision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReprovisionOptions {
    /// New local account type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_account_type: Option<CloudPcUserAccountType>,
    /// New Windows version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<CloudPcOperatingSystem>,
}
