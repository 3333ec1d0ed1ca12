//! Provisioning policies (reference §6.3/§6.4): every property of the beta
//! `cloudPcProvisioningPolicy`, including deprecated and read-only ones (cross-checked with
//! hashicorp/go-azure-sdk `microsoft-graph/common-types/beta/model_cloudpcprovisioningpolicy.go`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ProvisioningType;

evolvable_enum! {
    /// `cloudPcProvisioningPolicyImageType`.
    pub enum ImageType {
        Gallery = "gallery",
        Custom = "custom",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcDomainJoinType`.
    pub enum DomainJoinType {
        AzureAdJoin = "azureADJoin",
        HybridAzureAdJoin = "hybridAzureADJoin",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcRegionGroup` (v1.0 members; beta adds more, kept as `Other`).
    pub enum RegionGroup {
        Default = "default",
        Australia = "australia",
        Canada = "canada",
        UsCentral = "usCentral",
        UsEast = "usEast",
        UsWest = "usWest",
        France = "france",
        Germany = "germany",
        EuropeUnion = "europeUnion",
        UnitedKingdom = "unitedKingdom",
        Japan = "japan",
        Asia = "asia",
        India = "india",
        SouthAmerica = "southAmerica",
        Euap = "euap",
        UsGovernment = "usGovernment",
        UsGovernmentDod = "usGovernmentDOD",
        Norway = "norway",
        Switzerland = "switzerland",
        SouthKorea = "southKorea",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `microsoftManagedDesktopType`.
    pub enum ManagedDesktopType {
        NotManaged = "notManaged",
        PremiumManaged = "premiumManaged",
        StandardManaged = "standardManaged",
        StarterManaged = "starterManaged",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcManagementService` (read-only `managedBy`).
    pub enum ManagementService {
        Windows365 = "windows365",
        DevBox = "devBox",
        UnknownFutureValue = "unknownFutureValue",
        RpaBox = "rpaBox",
    }
}

evolvable_enum! {
    /// `cloudPcUserExperienceType`.
    pub enum UserExperienceType {
        CloudPc = "cloudPc",
        CloudApp = "cloudApp",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcPolicySettingType` (argument of `apply` / `applyConfig`).
    pub enum PolicySettingType {
        Region = "region",
        SingleSignOn = "singleSignOn",
        UnknownFutureValue = "unknownFutureValue",
    }
}

/// `cloudPcDomainJoinConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DomainJoinConfiguration {
    /// Entra join or hybrid join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_join_type: Option<DomainJoinType>,
    /// Deprecated predecessor of `domainJoinType`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<DomainJoinType>,
    /// Azure network connection id (required for hybrid join).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises_connection_id: Option<String>,
    /// Azure region or `automatic` (Microsoft-hosted network only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_name: Option<String>,
    /// Region group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_group: Option<RegionGroup>,
    /// Beta: geographic location type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geographic_location_type: Option<String>,
}

/// `cloudPcWindowsSetting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WindowsSetting {
    /// e.g. `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// Deprecated `cloudPcWindowsSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WindowsSettings {
    /// e.g. `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// `microsoftManagedDesktop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MicrosoftManagedDesktop {
    /// Management level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_type: Option<ManagedDesktopType>,
    /// Beta (deprecated): same meaning as `managedType`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ManagedDesktopType>,
    /// Profile id.
    #[serde(default)]
    pub profile: Option<String>,
}

/// `cloudPcProvisioningPolicyAutopatch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Autopatch {
    /// Autopatch group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopatch_group_id: Option<String>,
}

/// `cloudPcAutopilotConfiguration` (beta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutopilotConfiguration {
    /// Device preparation profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_preparation_profile_id: Option<String>,
    /// Minutes to wait for applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_timeout_in_minutes: Option<i32>,
    /// Deny access when Autopilot fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure_device_access_denied: Option<bool>,
}

/// `cloudPcUserSettingsPersistenceConfiguration` (beta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserSettingsPersistenceConfiguration {
    /// Whether user settings persist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_settings_persistence_enabled: Option<bool>,
    /// Storage size category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_settings_persistence_storage_size_category: Option<String>,
}

/// `cloudPcManagementGroupAssignmentTarget`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentTarget {
    /// `microsoft.graph.cloudPcManagementGroupAssignmentTarget` (the only concrete target).
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    /// Targeted group.
    #[serde(default)]
    pub group_id: String,
    /// Frontline: the service plan (null for dedicated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_plan_id: Option<String>,
    /// Frontline (beta): allotment name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allotment_display_name: Option<String>,
    /// Frontline (beta): licences allotted to the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allotment_licenses_count: Option<i32>,
}

/// `@odata.type` of a group assignment target.
pub const GROUP_ASSIGNMENT_TARGET: &str = "microsoft.graph.cloudPcManagementGroupAssignmentTarget";

impl AssignmentTarget {
    /// A plain group target (dedicated licences).
    pub fn group(group_id: impl Into<String>) -> Self {
        AssignmentTarget {
            odata_type: Some(GROUP_ASSIGNMENT_TARGET.to_owned()),
            group_id: group_id.into(),
            service_plan_id: None,
            allotment_display_name: None,
            allotment_licenses_count: None,
        }
    }
}

/// `cloudPcProvisioningPolicyAssignment` (also used for user settings assignments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningPolicyAssignment {
    /// `{policyId}_{groupId}`; optional on input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The target.
    pub target: AssignmentTarget,
}

impl ProvisioningPolicyAssignment {
    /// An assignment to a group.
    pub fn group(group_id: impl Into<String>) -> Self {
        ProvisioningPolicyAssignment {
            id: None,
            target: AssignmentTarget::group(group_id),
        }
    }
}

/// `cloudPcProvisioningPolicy` (beta), every property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningPolicy {
    /// `#microsoft.graph.cloudPcProvisioningPolicy` (optional).
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    /// Read-only id. Optional: w365-ops also builds request bodies (without id) from this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Required.
    #[serde(default)]
    pub display_name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Device naming template, e.g. `CPC-%USERNAME:5%-%RAND:5%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_pc_naming_template: Option<String>,
    /// Join configurations by priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_join_configurations: Option<Vec<DomainJoinConfiguration>>,
    /// Deprecated single join configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_join_configuration: Option<DomainJoinConfiguration>,
    /// Deprecated Azure network connection id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises_connection_id: Option<String>,
    /// Single sign-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_single_sign_on: Option<bool>,
    /// Image id (gallery `{publisher}_{offer}_{sku}` or custom image id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// Image name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_display_name: Option<String>,
    /// Gallery or custom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_type: Option<ImageType>,
    /// Licence type; immutable after create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_type: Option<ProvisioningType>,
    /// Windows locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_setting: Option<WindowsSetting>,
    /// Deprecated language setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_settings: Option<WindowsSettings>,
    /// Microsoft Managed Desktop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microsoft_managed_desktop: Option<MicrosoftManagedDesktop>,
    /// Windows Autopatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopatch: Option<Autopatch>,
    /// Beta: Autopilot device preparation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopilot_configuration: Option<AutopilotConfiguration>,
    /// Beta: user settings persistence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_settings_persistence_configuration: Option<UserSettingsPersistenceConfiguration>,
    /// Beta: Cloud PC or Cloud App.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_experience_type: Option<UserExperienceType>,
    /// Local admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_admin_enabled: Option<bool>,
    /// Read-only: hours from losing licence/assignment to deprovisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_in_hours: Option<i32>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_pc_group_display_name: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_resource_url: Option<String>,
    /// Read-only (beta): managing service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<ManagementService>,
    /// Read-only (beta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Read-only (beta).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<OffsetDateTime>,
    /// Read-only (beta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_by: Option<String>,
    /// Read-only (beta).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified_date_time: Option<OffsetDateTime>,
    /// Role scope tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_ids: Option<Vec<String>>,
    /// Only with `$expand=assignments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignments: Option<Vec<ProvisioningPolicyAssignment>>,
}

impl ProvisioningPolicy {
    /// A copy without read-only properties and assignments, suitable as a create body.
    pub fn for_create(&self) -> ProvisioningPolicy {
        ProvisioningPolicy {
            odata_type: Some("#microsoft.graph.cloudPcProvisioningPolicy".to_owned()),
            id: None,
            grace_period_in_hours: None,
            cloud_pc_group_display_name: None,
            alternate_resource_url: None,
            managed_by: None,
            created_by: None,
            created_date_time: None,
            last_modified_by: None,
            last_modified_date_time: None,
            assignments: None,
            ..self.clone()
        }
    }

    /// Groups targeted by the expanded assignments.
    pub fn assigned_group_ids(&self) -> Vec<&str> {
        self.assignments
            .iter()
            .flatten()
            .map(|a| a.target.group_id.as_str())
            .collect()
    }
}

/// `PATCH` body: only the updatable properties; `None` fields are not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningPolicyUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New join configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_join_configurations: Option<Vec<DomainJoinConfiguration>>,
    /// Single sign-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_single_sign_on: Option<bool>,
    /// Image name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_display_name: Option<String>,
    /// Image id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// Image type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_type: Option<ImageType>,
    /// Windows locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_setting: Option<WindowsSetting>,
    /// Naming template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_pc_naming_template: Option<String>,
    /// Microsoft Managed Desktop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microsoft_managed_desktop: Option<MicrosoftManagedDesktop>,
    /// Autopatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopatch: Option<Autopatch>,
    /// Beta: Autopilot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopilot_configuration: Option<AutopilotConfiguration>,
    /// Beta: user settings persistence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_settings_persistence_configuration: Option<UserSettingsPersistenceConfiguration>,
    /// Beta: experience type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_experience_type: Option<UserExperienceType>,
}
