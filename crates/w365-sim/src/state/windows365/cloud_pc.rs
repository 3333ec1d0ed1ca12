//! The Cloud PC record (`cloudPC`, reference §6.1) as the simulator stores it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::catalog::ServicePlanType;
use super::policy::{ProvisioningType, UserExperienceType};

/// `cloudPcStatus`, in Graph's declaration order. Members after `unknownFutureValue` are masked
/// unless the caller sends `Prefer: include-unknown-enum-members`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CloudPcStatus {
    NotProvisioned,
    Provisioning,
    Provisioned,
    InGracePeriod,
    Deprovisioning,
    Failed,
    ProvisionedWithWarnings,
    Resizing,
    Restoring,
    PendingProvision,
    UnknownFutureValue,
    MovingRegion,
    ResizePendingLicense,
    UpdatingSingleSignOn,
    ModifyingSingleSignOn,
    Preparing,
    RefreshPolicyConfiguration,
    FailoverInProgress,
    FailbackInProgress,
}

impl CloudPcStatus {
    /// Declared after `unknownFutureValue`.
    pub fn is_after_sentinel(self) -> bool {
        (self as u8) > (Self::UnknownFutureValue as u8)
    }

    /// The Graph string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotProvisioned => "notProvisioned",
            Self::Provisioning => "provisioning",
            Self::Provisioned => "provisioned",
            Self::InGracePeriod => "inGracePeriod",
            Self::Deprovisioning => "deprovisioning",
            Self::Failed => "failed",
            Self::ProvisionedWithWarnings => "provisionedWithWarnings",
            Self::Resizing => "resizing",
            Self::Restoring => "restoring",
            Self::PendingProvision => "pendingProvision",
            Self::UnknownFutureValue => "unknownFutureValue",
            Self::MovingRegion => "movingRegion",
            Self::ResizePendingLicense => "resizePendingLicense",
            Self::UpdatingSingleSignOn => "updatingSingleSignOn",
            Self::ModifyingSingleSignOn => "modifyingSingleSignOn",
            Self::Preparing => "preparing",
            Self::RefreshPolicyConfiguration => "refreshPolicyConfiguration",
            Self::FailoverInProgress => "failoverInProgress",
            Self::FailbackInProgress => "failbackInProgress",
        }
    }

    /// The string a client sees: masked to `unknownFutureValue` unless it opted in.
    pub fn wire(self, include_unknown_enum_members: bool) -> &'static str {
        if self.is_after_sentinel() && !include_unknown_enum_members {
            Self::UnknownFutureValue.as_str()
        } else {
            self.as_str()
        }
    }
}

/// `cloudPcOperatingSystem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OsVersion {
    Windows10,
    Windows11,
}

/// `cloudPcUserAccountType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UserAccountType {
    StandardUser,
    Administrator,
}

/// `cloudPcPowerState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PowerState {
    Running,
    PoweredOff,
    Unknown,
}

/// `cloudPcProductType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProductType {
    Enterprise,
    Frontline,
    DevBox,
    PowerAutomate,
    Business,
}

/// `keyValuePair`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValuePair {
    pub name: String,
    pub value: String,
}

/// `cloudPcStatusDetail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetail {
    pub code: String,
    pub message: String,
    pub additional_information: Vec<KeyValuePair>,
}

/// `cloudPcConnectionSetting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSetting {
    pub enable_single_sign_on: bool,
}

/// `cloudPcLoginResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResult {
    #[serde(with = "time::serde::rfc3339::option")]
    pub time: Option<OffsetDateTime>,
}

/// `cloudPcRemoteActionResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteActionResult {
    pub action_name: String,
    /// `actionState`: none, pending, canceled, active, done, failed, notSupported.
    pub action_state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_updated_date_time: OffsetDateTime,
    pub cloud_pc_id: String,
    pub managed_device_id: Option<String>,
    pub status_detail: Option<StatusDetail>,
}

/// Options of a pending `reprovision`, applied when it completes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReprovisionOptions {
    pub user_account_type: Option<UserAccountType>,
    pub os_version: Option<OsVersion>,
}

/// Engine bookkeeping (not part of the Graph resource; stripped from every response).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineData {
    /// The user's object id.
    pub user_id: String,
    /// The assignment (`{policyId}_{groupId}`) that targeted this Cloud PC; Frontline seats are
    /// counted per assignment.
    pub assignment_id: Option<String>,
    /// When the running step ends.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub timer: Option<OffsetDateTime>,
    /// The status to go back to when a temporary one ends (grace, restore, apply).
    #[serde(default)]
    pub resume: Option<CloudPcStatus>,
    /// Target service plan of a resize.
    #[serde(default)]
    pub resize_target: Option<String>,
    /// Options of a running reprovision.
    #[serde(default)]
    pub reprovision: Option<ReprovisionOptions>,
    /// A pooled Cloud PC of a Frontline shared-mode (`sharedByEntraGroup`) assignment: it belongs
    /// to the group, not to a user (`user_id` is empty).
    #[serde(default)]
    pub pooled: bool,
}

/// A Cloud PC with every beta property (v1.0 responses show the documented subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudPc {
    pub id: String,
    pub display_name: String,
    pub managed_device_name: Option<String>,
    pub managed_device_id: Option<String>,
    pub aad_device_id: Option<String>,
    pub user_principal_name: String,
    pub service_plan_id: String,
    pub service_plan_name: String,
    pub service_plan_type: ServicePlanType,
    pub provisioning_policy_id: Option<String>,
    pub provisioning_policy_name: Option<String>,
    pub on_premises_connection_name: String,
    pub image_display_name: Option<String>,
    pub provisioning_type: ProvisioningType,
    #[serde(with = "time::serde::rfc3339::option")]
    pub grace_period_end_date_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified_date_time: OffsetDateTime,
    pub status: CloudPcStatus,
    pub status_detail: Option<StatusDetail>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub provisioned_date_time: Option<OffsetDateTime>,
    pub device_region_name: Option<String>,
    /// `cloudPcDiskEncryptionState`.
    pub disk_encryption_state: Option<String>,
    pub os_version: Option<OsVersion>,
    pub user_account_type: Option<UserAccountType>,
    pub power_state: PowerState,
    pub product_type: ProductType,
    pub allotment_display_name: Option<String>,
    pub connection_setting: Option<ConnectionSetting>,
    pub last_login_result: Option<LoginResult>,
    pub last_remote_action_result: Option<RemoteActionResult>,
    pub partner_agent_install_results: Vec<Value>,
    pub user_experience_type: Option<UserExperienceType>,
    pub scope_ids: Vec<String>,
    #[serde(rename = "_engine")]
    pub engine: EngineData,
}

impl CloudPc {
    /// The user's object id.
    pub fn user_id(&self) -> &str {
        &self.engine.user_id
    }

    /// Whether the Cloud PC occupies a Frontline seat.
    pub fn holds_seat(&self) -> bool {
        self.product_type == ProductType::Frontline && self.status != CloudPcStatus::NotProvisioned
    }

    /// When the running step ends, if one is running.
    pub fn due(&self) -> Option<OffsetDateTime> {
        self.engine.timer
    }

    /// Whether this record stands for the user's licence of `plan` (its own plan, or the target
    /// of a running resize).
    pub fn covers_plan(&self, plan: &str) -> bool {
        self.service_plan_id.eq_ignore_ascii_case(plan)
            || self
                .engine
                .resize_target
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(plan))
    }
}
