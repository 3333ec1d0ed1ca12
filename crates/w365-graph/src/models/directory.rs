//! Users, groups, directory objects and licence assignment state.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::null_as_default;

/// A licence assigned to a user or group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    /// The SKU.
    pub sku_id: Uuid,
    /// Service plans switched off.
    #[serde(default, deserialize_with = "null_as_default")]
    pub disabled_plans: Vec<Uuid>,
}

evolvable_enum! {
    /// `licenseAssignmentState.state`.
    pub enum LicenseAssignmentStatus {
        Active = "Active",
        ActiveWithError = "ActiveWithError",
        Disabled = "Disabled",
        Error = "Error",
    }
}

evolvable_enum! {
    /// `licenseAssignmentState.error`.
    pub enum LicenseAssignmentError {
        None = "None",
        CountViolation = "CountViolation",
        MutuallyExclusiveViolation = "MutuallyExclusiveViolation",
        DependencyViolation = "DependencyViolation",
        ProhibitedInUsageLocationViolation = "ProhibitedInUsageLocationViolation",
        UniquenessViolation = "UniquenessViolation",
    }
}

/// One entry of `user.licenseAssignmentStates` (reference §3.9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseAssignmentState {
    /// The SKU.
    pub sku_id: Uuid,
    /// Service plans switched off.
    #[serde(default, deserialize_with = "null_as_default")]
    pub disabled_plans: Vec<Uuid>,
    /// Group that assigned it; `None` for a direct assignment.
    #[serde(default)]
    pub assigned_by_group: Option<String>,
    /// Processing state.
    pub state: LicenseAssignmentStatus,
    /// Error, `None` (the enum member) when fine.
    #[serde(default)]
    pub error: Option<LicenseAssignmentError>,
    /// Last change.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated_date_time: Option<OffsetDateTime>,
}

impl LicenseAssignmentState {
    /// Active and without error.
    pub fn is_active(&self) -> bool {
        self.state == LicenseAssignmentStatus::Active
            && matches!(self.error, None | Some(LicenseAssignmentError::None))
    }
}

/// A user (`$select`ed properties only are present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id (required: an object without it is a decode error naming its path).
    pub id: String,
    /// UPN.
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_principal_name: String,
    /// Display name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_name: String,
    /// SMTP address; `None` without a mailbox.
    #[serde(default)]
    pub mail: Option<String>,
    /// Only with `$select`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    /// ISO 3166-1 alpha-2; only with `$select`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    /// Only with `$select`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_licenses: Option<Vec<AssignedLicense>>,
    /// Only with `$select`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_assignment_states: Option<Vec<LicenseAssignmentState>>,
}

evolvable_enum! {
    /// `group.licenseProcessingState.state`.
    pub enum LicenseProcessingStatus {
        QueuedForProcessing = "QueuedForProcessing",
        ProcessingInProgress = "ProcessingInProgress",
        ProcessingComplete = "ProcessingComplete",
    }
}

/// `group.licenseProcessingState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseProcessingState {
    /// The state; may be null.
    #[serde(default)]
    pub state: Option<LicenseProcessingStatus>,
}

/// A group (`$select`ed properties only are present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Object id (required: an object without it is a decode error naming its path).
    pub id: String,
    /// Display name (not unique).
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Licences assigned to the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_licenses: Option<Vec<AssignedLicense>>,
    /// Group-based licensing progress; only with `$select`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_processing_state: Option<LicenseProcessingState>,
    /// Security group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_enabled: Option<bool>,
    /// Mail-enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_enabled: Option<bool>,
    /// e.g. `Unified`, `DynamicMembership`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_types: Option<Vec<String>>,
    /// SMTP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// Dynamic membership rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_rule: Option<String>,
}

impl Group {
    /// A dynamic-membership group (manual adds are refused).
    pub fn is_dynamic(&self) -> bool {
        self.group_types.as_ref().is_some_and(|t| {
            t.iter()
                .any(|g| g.eq_ignore_ascii_case("DynamicMembership"))
        })
    }
}

/// A member of a group or an entry of `memberOf` (`@odata.type` tells which kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryObject {
    /// e.g. `#microsoft.graph.user`.
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    /// Object id (required: an object without it is a decode error naming its path).
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// UPN (users).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    /// SMTP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
}

impl DirectoryObject {
    /// `@odata.type` is `#microsoft.graph.user`.
    pub fn is_user(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.user")
    }

    /// `@odata.type` is `#microsoft.graph.group`.
    pub fn is_group(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.group")
    }
}
