//! `cloudPcUserSetting` (reference §6.7).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ProvisioningPolicyAssignment;

evolvable_enum! {
    /// `cloudPcRestorePointFrequencyType`.
    pub enum RestorePointFrequencyType {
        Default = "default",
        FourHours = "fourHours",
        SixHours = "sixHours",
        TwelveHours = "twelveHours",
        SixteenHours = "sixteenHours",
        TwentyFourHours = "twentyFourHours",
        UnknownFutureValue = "unknownFutureValue",
    }
}

/// `cloudPcRestorePointSetting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointSetting {
    /// How often restore points are taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_type: Option<RestorePointFrequencyType>,
    /// Deprecated (beta): 4, 6, 12, 16 or 24.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_in_hours: Option<i32>,
    /// Users may restore themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_restore_enabled: Option<bool>,
}

/// `cloudPcNotificationSetting` (beta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSetting {
    /// Suppress restart prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_prompts_disabled: Option<bool>,
}

/// A user settings policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcUserSetting {
    /// `#microsoft.graph.cloudPcUserSetting` (optional).
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    /// Read-only id. Optional: w365-ops also builds request bodies (without id) from this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name.
    #[serde(default)]
    pub display_name: String,
    /// Users are local administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_admin_enabled: Option<bool>,
    /// Users may reset their Cloud PC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_enabled: Option<bool>,
    /// Deprecated (beta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_service_enabled: Option<bool>,
    /// Restore points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_point_setting: Option<RestorePointSetting>,
    /// Beta: cross-region disaster recovery (kept as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_region_disaster_recovery_setting: Option<serde_json::Value>,
    /// Beta: notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_setting: Option<NotificationSetting>,
    /// Beta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_source_type: Option<String>,
    /// Read-only.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<OffsetDateTime>,
    /// Read-only.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified_date_time: Option<OffsetDateTime>,
    /// Only with `$expand=assignments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignments: Option<Vec<ProvisioningPolicyAssignment>>,
}

impl CloudPcUserSetting {
    /// A copy without read-only properties and assignments, suitable as a create body.
    pub fn for_create(&self) -> CloudPcUserSetting {
        CloudPcUserSetting {
            odata_type: Some("#microsoft.graph.cloudPcUserSetting".to_owned()),
            id: None,
            created_date_time: None,
            last_modified_date_time: None,
            assignments: None,
            ..self.clone()
        }
    }
}

/// `PATCH` body for a user setting; `None` fields are not sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcUserSettingUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Local admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_admin_enabled: Option<bool>,
    /// Reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_enabled: Option<bool>,
    /// Restore points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_point_setting: Option<RestorePointSetting>,
    /// Beta: notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_setting: Option<NotificationSetting>,
    /// Beta: disaster recovery (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_region_disaster_recovery_setting: Option<serde_json::Value>,
}
