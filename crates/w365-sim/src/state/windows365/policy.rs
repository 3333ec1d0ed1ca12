//! Provisioning policies (`cloudPcProvisioningPolicy`, reference §6.3–6.5) and their assignments.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::Windows365State;
use super::error::{Result, Windows365Error};
use super::input::{check_odata_type, parse_body, present, required};
use super::naming::NamingTemplate;
use crate::state::view::DirectoryView;

/// `cloudPcProvisioningPolicyImageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageType {
    Gallery,
    Custom,
}

/// `cloudPcProvisioningType`. `unknownFutureValue` is not accepted on input; the members after it
/// are masked on output unless the caller sends `Prefer: include-unknown-enum-members`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProvisioningType {
    Dedicated,
    /// Frontline (deprecated 2027-04-30 in favour of `sharedByUser`).
    Shared,
    SharedByUser,
    SharedByEntraGroup,
    /// Windows 365 Reserve. Accepted and stored; the simulator provisions nothing for it.
    Reserve,
}

impl ProvisioningType {
    /// Declared after `unknownFutureValue` in the Graph enum.
    pub fn is_after_sentinel(self) -> bool {
        matches!(
            self,
            Self::SharedByUser | Self::SharedByEntraGroup | Self::Reserve
        )
    }

    /// Frontline kinds: assignments carry a `servicePlanId` and seats.
    pub fn is_frontline(self) -> bool {
        matches!(
            self,
            Self::Shared | Self::SharedByUser | Self::SharedByEntraGroup
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dedicated => "dedicated",
            Self::Shared => "shared",
            Self::SharedByUser => "sharedByUser",
            Self::SharedByEntraGroup => "sharedByEntraGroup",
            Self::Reserve => "reserve",
        }
    }
}

/// `cloudPcDomainJoinType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DomainJoinType {
    #[serde(rename = "azureADJoin")]
    AzureAdJoin,
    #[serde(rename = "hybridAzureADJoin")]
    HybridAzureAdJoin,
}

/// `cloudPcDomainJoinConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DomainJoinConfiguration {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub domain_join_type: Option<DomainJoinType>,
    #[serde(default)]
    pub on_premises_connection_id: Option<String>,
    #[serde(default)]
    pub region_name: Option<String>,
    /// `cloudPcRegionGroup`; stored as sent (the beta member list keeps growing).
    #[serde(default)]
    pub region_group: Option<String>,
    #[serde(default)]
    pub geographic_location_type: Option<String>,
    /// Deprecated `type` (same values as `domainJoinType`).
    #[serde(default, rename = "type")]
    pub join_type: Option<DomainJoinType>,
}

impl DomainJoinConfiguration {
    fn effective_type(&self) -> DomainJoinType {
        self.domain_join_type
            .or(self.join_type)
            .unwrap_or(DomainJoinType::AzureAdJoin)
    }
}

/// `cloudPcWindowsSetting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WindowsSetting {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

/// Deprecated `cloudPcWindowsSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WindowsSettings {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
}

/// `microsoftManagedDesktopType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ManagedType {
    NotManaged,
    PremiumManaged,
    StandardManaged,
    StarterManaged,
}

/// `microsoftManagedDesktop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MicrosoftManagedDesktop {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub managed_type: Option<ManagedType>,
    #[serde(default)]
    pub profile: Option<String>,
    /// Beta `type`.
    #[serde(default, rename = "type")]
    pub desktop_type: Option<ManagedType>,
}

/// `cloudPcProvisioningPolicyAutopatch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autopatch {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub autopatch_group_id: Option<String>,
}

/// Beta `cloudPcAutopilotConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutopilotConfiguration {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub device_preparation_profile_id: Option<String>,
    #[serde(default)]
    pub application_timeout_in_minutes: Option<i32>,
    #[serde(default)]
    pub on_failure_device_access_denied: Option<bool>,
}

/// Beta `cloudPcUserSettingsPersistenceConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserSettingsPersistenceConfiguration {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub user_settings_persistence_enabled: Option<bool>,
    #[serde(default)]
    pub user_settings_persistence_storage_size_category: Option<String>,
}

/// `cloudPcUserExperienceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UserExperienceType {
    CloudPc,
    CloudApp,
}

/// One group assignment of a provisioning policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAssignment {
    /// `{policyId}_{groupId}`.
    pub id: String,
    pub group_id: String,
    /// Frontline only.
    pub service_plan_id: Option<String>,
    pub allotment_display_name: Option<String>,
    pub allotment_licenses_count: Option<u32>,
    /// Global assignment order across all policies: a user matched by several policies gets the
    /// policy of the lowest sequence ("first assigned wins").
    pub sequence: u64,
}

/// A provisioning policy with every beta property (deprecated ones accepted and returned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningPolicy {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub cloud_pc_naming_template: Option<String>,
    pub domain_join_configurations: Vec<DomainJoinConfiguration>,
    pub enable_single_sign_on: bool,
    pub image_id: String,
    pub image_display_name: String,
    pub image_type: ImageType,
    pub provisioning_type: ProvisioningType,
    pub windows_setting: Option<WindowsSetting>,
    pub microsoft_managed_desktop: Option<MicrosoftManagedDesktop>,
    pub autopatch: Option<Autopatch>,
    pub grace_period_in_hours: u32,
    pub local_admin_enabled: bool,
    pub cloud_pc_group_display_name: Option<String>,
    pub alternate_resource_url: Option<String>,
    pub managed_by: String,
    pub user_experience_type: Option<UserExperienceType>,
    pub autopilot_configuration: Option<AutopilotConfiguration>,
    pub user_settings_persistence_configuration: Option<UserSettingsPersistenceConfiguration>,
    pub created_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    pub last_modified_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified_date_time: OffsetDateTime,
    pub scope_ids: Vec<String>,
    /// Deprecated single configuration.
    pub domain_join_configuration: Option<DomainJoinConfiguration>,
    /// Deprecated top-level connection id.
    pub on_premises_connection_id: Option<String>,
    /// Deprecated `windowsSettings`.
    pub windows_settings: Option<WindowsSettings>,
    /// Returned only with `$expand=assignments`.
    pub assignments: Vec<PolicyAssignment>,
}

impl ProvisioningPolicy {
    /// The naming template in force (the service default when none was set).
    pub fn naming_template(&self) -> NamingTemplate {
        self.cloud_pc_naming_template
            .as_deref()
            .and_then(|t| NamingTemplate::parse(t).ok())
            .unwrap_or_else(|| {
                NamingTemplate::parse(super::naming::DEFAULT_TEMPLATE)
                    .expect("default template is valid")
            })
    }

    /// The region new Cloud PCs land in (`deviceRegionName`).
    pub fn region_name(&self) -> String {
        self.domain_join_configurations
            .iter()
            .chain(self.domain_join_configuration.iter())
            .find_map(|c| c.region_name.clone())
            .filter(|r| !r.is_empty() && r != "automatic")
            .unwrap_or_else(|| "eastus".to_owned())
    }

    /// Whether the policy joins on-premises AD (hybrid).
    pub fn is_hybrid(&self) -> bool {
        self.domain_join_configurations
            .iter()
            .chain(self.domain_join_configuration.iter())
            .any(|c| c.effective_type() == DomainJoinType::HybridAzureAdJoin)
    }

    fn validate(&self) -> Result<()> {
        validate_display_name(&self.display_name)?;
        if self.image_id.trim().is_empty() {
            return Err(Windows365Error::invalid(
                "the property 'imageId' must not be empty",
            ));
        }
        if self.image_display_name.trim().is_empty() {
            return Err(Windows365Error::invalid(
                "the property 'imageDisplayName' must not be empty",
            ));
        }
        if self.image_type == ImageType::Gallery {
            let parts: Vec<&str> = self.image_id.splitn(3, '_').collect();
            if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
                return Err(Windows365Error::invalid(format!(
                    "the gallery imageId '{}' must have the form {{publisher}}_{{offer}}_{{sku}}",
                    self.image_id
                )));
            }
        }
        if let Some(t) = &self.cloud_pc_naming_template {
            NamingTemplate::parse(t).map_err(Windows365Error::parameter)?;
        }
        for c in self
            .domain_join_configurations
            .iter()
            .chain(self.domain_join_configuration.iter())
        {
            if c.effective_type() == DomainJoinType::HybridAzureAdJoin
                && c.on_premises_connection_id
                    .as_deref()
                    .is_none_or(str::is_empty)
                && self
                    .on_premises_connection_id
                    .as_deref()
                    .is_none_or(str::is_empty)
            {
                return Err(Windows365Error::invalid(
                    "a hybridAzureADJoin domain join configuration needs an onPremisesConnectionId",
                ));
            }
        }
        Ok(())
    }
}

pub(crate) fn validate_display_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Windows365Error::invalid(
            "the property 'displayName' must not be empty",
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '<' | '>' | '&' | '|' | '"' | '^'))
    {
        return Err(Windows365Error::invalid(format!(
            "the displayName must not contain '{c}'"
        )));
    }
    Ok(())
}

/// A `cloudPcProvisioningPolicy` request body (POST or PATCH). Every field remembers whether it was
/// present and whether it was null.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicyInput {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    cloud_pc_naming_template: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    domain_join_configurations: Option<Option<Vec<DomainJoinConfiguration>>>,
    #[serde(default, deserialize_with = "present")]
    enable_single_sign_on: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    image_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    image_display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    image_type: Option<Option<ImageType>>,
    #[serde(default, deserialize_with = "present")]
    provisioning_type: Option<Option<ProvisioningType>>,
    #[serde(default, deserialize_with = "present")]
    windows_setting: Option<Option<WindowsSetting>>,
    #[serde(default, deserialize_with = "present")]
    microsoft_managed_desktop: Option<Option<MicrosoftManagedDesktop>>,
    #[serde(default, deserialize_with = "present")]
    autopatch: Option<Option<Autopatch>>,
    #[serde(default, deserialize_with = "present")]
    local_admin_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    user_experience_type: Option<Option<UserExperienceType>>,
    #[serde(default, deserialize_with = "present")]
    autopilot_configuration: Option<Option<AutopilotConfiguration>>,
    #[serde(default, deserialize_with = "present")]
    user_settings_persistence_configuration: Option<Option<UserSettingsPersistenceConfiguration>>,
    #[serde(default, deserialize_with = "present")]
    scope_ids: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    domain_join_configuration: Option<Option<DomainJoinConfiguration>>,
    #[serde(default, deserialize_with = "present")]
    on_premises_connection_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    windows_settings: Option<Option<WindowsSettings>>,
    // Read-only / server-set: ignored on create, refused on update.
    #[serde(default, deserialize_with = "present")]
    id: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    grace_period_in_hours: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    alternate_resource_url: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    cloud_pc_group_display_name: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    managed_by: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    created_by: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    created_date_time: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    last_modified_by: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    last_modified_date_time: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    assignments: Option<Option<Value>>,
}

impl PolicyInput {
    fn read_only_present(&self) -> Option<&'static str> {
        [
            (self.id.is_some(), "id"),
            (self.grace_period_in_hours.is_some(), "gracePeriodInHours"),
            (
                self.alternate_resource_url.is_some(),
                "alternateResourceUrl",
            ),
            (
                self.cloud_pc_group_display_name.is_some(),
                "cloudPcGroupDisplayName",
            ),
            (self.managed_by.is_some(), "managedBy"),
            (self.created_by.is_some(), "createdBy"),
            (self.created_date_time.is_some(), "createdDateTime"),
            (self.last_modified_by.is_some(), "lastModifiedBy"),
            (
                self.last_modified_date_time.is_some(),
                "lastModifiedDateTime",
            ),
        ]
        .into_iter()
        .find_map(|(present, name)| present.then_some(name))
    }
}

const POLICY_TYPE: &str = "microsoft.graph.cloudPcProvisioningPolicy";
const TARGET_TYPE: &str = "microsoft.graph.cloudPcManagementGroupAssignmentTarget";

/// The `assign` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssignInput {
    assignments: Vec<AssignmentInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssignmentInput {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(default)]
    id: Option<String>,
    target: TargetInput,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TargetInput {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(default)]
    group_id: Option<String>,
    #[serde(default)]
    service_plan_id: Option<String>,
    #[serde(default)]
    allotment_display_name: Option<String>,
    #[serde(default)]
    allotment_licenses_count: Option<i64>,
}

/// Largest Frontline allotment per assignment (observed, reference §6.3).
pub const MAX_ALLOTMENT: u32 = 900;

/// A validated group assignment for `assign` (shared by policies and user settings).
pub(crate) struct GroupTarget {
    pub(crate) group_id: String,
    pub(crate) service_plan_id: Option<String>,
    pub(crate) allotment_display_name: Option<String>,
    pub(crate) allotment_licenses_count: Option<u32>,
}

impl Windows365State {
    /// All provisioning policies, in creation order.
    pub fn provisioning_policies(&self) -> &[ProvisioningPolicy] {
        &self.policies
    }

    /// One provisioning policy.
    pub fn provisioning_policy(&self, id: &str) -> Result<&ProvisioningPolicy> {
        self.policies
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcProvisioningPolicy", id))
    }

    fn policy_index(&self, id: &str) -> Result<usize> {
        self.policies
            .iter()
            .position(|p| p.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcProvisioningPolicy", id))
    }

    /// `POST provisioningPolicies`: validates the body and stores the policy with its server-set
    /// properties (id, gracePeriodInHours, managedBy, ...). Read-only properties in the body are ignored.
    pub fn create_provisioning_policy(
        &mut self,
        body: Value,
        now: OffsetDateTime,
    ) -> Result<&ProvisioningPolicy> {
        let input: PolicyInput = parse_body(body, "cloudPcProvisioningPolicy")?;
        check_odata_type(input.odata_type.as_deref(), POLICY_TYPE)?;
        if input.assignments.is_some() {
            return Err(Windows365Error::invalid(
                "assignments cannot be created with the policy; use the assign action",
            ));
        }
        let domain_join_configuration = input.domain_join_configuration.flatten();
        let mut domain_join_configurations = input
            .domain_join_configurations
            .flatten()
            .unwrap_or_default();
        if domain_join_configurations.is_empty() {
            domain_join_configurations = match &domain_join_configuration {
                Some(single) => vec![single.clone()],
                None => vec![DomainJoinConfiguration {
                    odata_type: None,
                    domain_join_type: Some(DomainJoinType::AzureAdJoin),
                    on_premises_connection_id: None,
                    region_name: Some("automatic".to_owned()),
                    region_group: Some("default".to_owned()),
                    geographic_location_type: None,
                    join_type: None,
                }],
            };
        }
        let windows_settings = input.windows_settings.flatten();
        let windows_setting = input.windows_setting.flatten().or_else(|| {
            windows_settings.as_ref().map(|w| WindowsSetting {
                odata_type: None,
                locale: w.language.clone(),
            })
        });
        let policy = ProvisioningPolicy {
            id: self.ids.guid(),
            display_name: required(input.display_name, "displayName")?,
            description: input.description.flatten(),
            cloud_pc_naming_template: input.cloud_pc_naming_template.flatten(),
            domain_join_configurations,
            enable_single_sign_on: input.enable_single_sign_on.flatten().unwrap_or(false),
            image_id: required(input.image_id, "imageId")?,
            image_display_name: required(input.image_display_name, "imageDisplayName")?,
            image_type: required(input.image_type, "imageType")?,
            provisioning_type: input
                .provisioning_type
                .flatten()
                .unwrap_or(ProvisioningType::Dedicated),
            windows_setting,
            microsoft_managed_desktop: Some(input.microsoft_managed_desktop.flatten().unwrap_or(
                MicrosoftManagedDesktop {
                    odata_type: None,
                    managed_type: Some(ManagedType::NotManaged),
                    profile: None,
                    desktop_type: None,
                },
            )),
            autopatch: input.autopatch.flatten(),
            grace_period_in_hours: self.timings.grace_period_hours,
            local_admin_enabled: input.local_admin_enabled.flatten().unwrap_or(false),
            cloud_pc_group_display_name: None,
            alternate_resource_url: None,
            managed_by: "windows365".to_owned(),
            user_experience_type: Some(
                input
                    .user_experience_type
                    .flatten()
                    .unwrap_or(UserExperienceType::CloudPc),
            ),
            autopilot_configuration: input.autopilot_configuration.flatten(),
            user_settings_persistence_configuration: input
                .user_settings_persistence_configuration
                .flatten(),
            created_by: None,
            created_date_time: now,
            last_modified_by: None,
            last_modified_date_time: now,
            scope_ids: input
                .scope_ids
                .flatten()
                .unwrap_or_else(|| vec!["0".to_owned()]),
            domain_join_configuration,
            on_premises_connection_id: input.on_premises_connection_id.flatten(),
            windows_settings,
            assignments: Vec::new(),
        };
        policy.validate()?;
        self.policies.push(policy);
        Ok(self.policies.last().expect("just pushed"))
    }

    /// `PATCH provisioningPolicies/{id}`: only updatable properties; `provisioningType` is immutable
    /// (400 when it would change) and read-only properties are refused. Existing Cloud PCs are not
    /// touched (reprovision or `apply` picks the changes up).
    pub fn update_provisioning_policy(
        &mut self,
        id: &str,
        body: Value,
        now: OffsetDateTime,
    ) -> Result<()> {
        let idx = self.policy_index(id)?;
        let input: PolicyInput = parse_body(body, "cloudPcProvisioningPolicy")?;
        check_odata_type(input.odata_type.as_deref(), POLICY_TYPE)?;
        if let Some(name) = input.read_only_present() {
            return Err(Windows365Error::invalid(format!(
                "the property '{name}' is read-only"
            )));
        }
        if input.assignments.is_some() {
            return Err(Windows365Error::invalid(
                "assignments are changed with the assign action",
            ));
        }
        let mut p = self.policies[idx].clone();
        if let Some(t) = input.provisioning_type
            && t != Some(p.provisioning_type)
        {
            return Err(Windows365Error::invalid(
                "the property 'provisioningType' cannot be changed after the policy is created",
            ));
        }
        if let Some(v) = input.display_name {
            p.display_name = required(Some(v), "displayName")?;
        }
        if let Some(v) = input.description {
            p.description = v;
        }
        if let Some(v) = input.cloud_pc_naming_template {
            p.cloud_pc_naming_template = v;
        }
        if let Some(v) = input.domain_join_configurations {
            p.domain_join_configurations = v.unwrap_or_default();
        }
        if let Some(v) = input.enable_single_sign_on {
            p.enable_single_sign_on = v.unwrap_or(false);
        }
        if let Some(v) = input.image_id {
            p.image_id = required(Some(v), "imageId")?;
        }
        if let Some(v) = input.image_display_name {
            p.image_display_name = required(Some(v), "imageDisplayName")?;
        }
        if let Some(v) = input.image_type {
            p.image_type = required(Some(v), "imageType")?;
        }
        if let Some(v) = input.windows_setting {
            p.windows_setting = v;
        }
        if let Some(v) = input.microsoft_managed_desktop {
            p.microsoft_managed_desktop = v;
        }
        if let Some(v) = input.autopatch {
            p.autopatch = v;
        }
        if let Some(v) = input.local_admin_enabled {
            p.local_admin_enabled = v.unwrap_or(false);
        }
        if let Some(v) = input.user_experience_type {
            p.user_experience_type = v;
        }
        if let Some(v) = input.autopilot_configuration {
            p.autopilot_configuration = v;
        }
        if let Some(v) = input.user_settings_persistence_configuration {
            p.user_settings_persistence_configuration = v;
        }
        if let Some(v) = input.scope_ids {
            p.scope_ids = v.unwrap_or_default();
        }
        if let Some(v) = input.domain_join_configuration {
            p.domain_join_configuration = v;
        }
        if let Some(v) = input.on_premises_connection_id {
            p.on_premises_connection_id = v;
        }
        if let Some(v) = input.windows_settings {
            p.windows_settings = v;
        }
        if p.domain_join_configurations.is_empty() {
            if let Some(single) = &p.domain_join_configuration {
                p.domain_join_configurations = vec![single.clone()];
            } else {
                return Err(Windows365Error::invalid(
                    "the policy needs at least one domain join configuration",
                ));
            }
        }
        p.validate()?;
        p.last_modified_date_time = now;
        self.policies[idx] = p;
        Ok(())
    }

    /// `DELETE provisioningPolicies/{id}`: refused (400) while the policy is assigned to any group.
    pub fn delete_provisioning_policy(&mut self, id: &str) -> Result<()> {
        let idx = self.policy_index(id)?;
        if !self.policies[idx].assignments.is_empty() {
            return Err(Windows365Error::invalid(format!(
                "the provisioning policy '{}' is assigned to {} group(s); unassign it before deleting it",
                self.policies[idx].display_name,
                self.policies[idx].assignments.len()
            )));
        }
        self.policies.remove(idx);
        Ok(())
    }

    /// `POST provisioningPolicies/{id}/assign`: the body is the complete set (omitted groups are
    /// unassigned, `[]` removes all). Groups already assigned keep their place in the global order.
    /// Dedicated policies take plain group targets; Frontline ones need `servicePlanId` (a Frontline
    /// plan the tenant owns) and an `allotmentLicensesCount` within the plan's free seats.
    pub fn assign_provisioning_policy(
        &mut self,
        id: &str,
        body: Value,
        dir: &dyn DirectoryView,
        now: OffsetDateTime,
    ) -> Result<()> {
        let idx = self.policy_index(id)?;
        let policy_id = self.policies[idx].id.clone();
        let frontline = self.policies[idx].provisioning_type.is_frontline();
        let targets = parse_assign_body(body, &policy_id, dir)?;
        if frontline {
            for t in &targets {
                let plan_id = t.service_plan_id.as_deref().ok_or_else(|| {
                    Windows365Error::invalid(
                        "a Frontline (shared) policy assignment needs target.servicePlanId",
                    )
                })?;
                let plan = self.frontline_plan(plan_id)?;
                let total = plan.total_count;
                let requested = t.allotment_licenses_count.ok_or_else(|| {
                    Windows365Error::invalid("a Frontline (shared) policy assignment needs target.allotmentLicensesCount")
                })?;
                let allotted_elsewhere: u32 = self
                    .policies
                    .iter()
                    .filter(|p| !p.id.eq_ignore_ascii_case(&policy_id))
                    .flat_map(|p| p.assignments.iter())
                    .filter(|a| a.service_plan_id.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(plan_id)))
                    .filter_map(|a| a.allotment_licenses_count)
                    .sum::<u32>()
                    // the other targets of this same body
                    + targets
                        .iter()
                        .filter(|o| !std::ptr::eq(*o, t))
                        .filter(|o| o.service_plan_id.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(plan_id)))
                        .filter_map(|o| o.allotment_licenses_count)
                        .sum::<u32>();
                let free = total.saturating_sub(allotted_elsewhere);
                if requested > free {
                    return Err(Windows365Error::invalid(format!(
                        "allotmentLicensesCount {requested} for group '{}' exceeds the {free} free licence(s) of Frontline plan '{plan_id}' ({total} in total)",
                        t.group_id
                    )));
                }
            }
        } else if let Some(t) = targets
            .iter()
            .find(|t| t.service_plan_id.is_some() || t.allotment_licenses_count.is_some())
        {
            return Err(Windows365Error::invalid(format!(
                "servicePlanId and allotmentLicensesCount apply only to Frontline (shared) policies; group '{}'",
                t.group_id
            )));
        }
        let old = std::mem::take(&mut self.policies[idx].assignments);
        let mut next = Vec::with_capacity(targets.len());
        for t in targets {
            let sequence = self.assignment_sequence_for(
                old.iter().map(|a| (a.group_id.as_str(), a.sequence)),
                &t.group_id,
            );
            next.push(PolicyAssignment {
                id: format!("{policy_id}_{}", t.group_id),
                group_id: t.group_id,
                service_plan_id: t.service_plan_id,
                allotment_display_name: t.allotment_display_name,
                allotment_licenses_count: t.allotment_licenses_count,
                sequence,
            });
        }
        let p = &mut self.policies[idx];
        p.assignments = next;
        p.last_modified_date_time = now;
        Ok(())
    }
}

/// Parses and checks an `assign` body (policies and user settings share it): targets are group
/// assignment targets, groups exist, no group twice, a given id equals `{ownerId}_{groupId}`.
pub(crate) fn parse_assign_body(
    body: Value,
    owner_id: &str,
    dir: &dyn DirectoryView,
) -> Result<Vec<GroupTarget>> {
    let input: AssignInput = parse_body(body, "assign")?;
    let mut out: Vec<GroupTarget> = Vec::with_capacity(input.assignments.len());
    for a in input.assignments {
        check_odata_type(
            a.odata_type.as_deref(),
            "microsoft.graph.cloudPcProvisioningPolicyAssignment",
        )
        .or_else(|_| {
            check_odata_type(
                a.odata_type.as_deref(),
                "microsoft.graph.cloudPcUserSettingAssignment",
            )
        })?;
        check_odata_type(a.target.odata_type.as_deref(), TARGET_TYPE)?;
        let group_id = a
            .target
            .group_id
            .filter(|g| !g.trim().is_empty())
            .ok_or_else(|| Windows365Error::invalid("every assignment target needs a groupId"))?;
        if !dir.group_exists(&group_id) {
            return Err(Windows365Error::invalid(format!(
                "the group '{group_id}' does not exist"
            )));
        }
        if out
            .iter()
            .any(|o| o.group_id.eq_ignore_ascii_case(&group_id))
        {
            return Err(Windows365Error::invalid(format!(
                "the group '{group_id}' is listed twice"
            )));
        }
        if let Some(id) = &a.id {
            let expected = format!("{owner_id}_{group_id}");
            if !id.eq_ignore_ascii_case(&expected) {
                return Err(Windows365Error::invalid(format!(
                    "the assignment id '{id}' does not match '{expected}'"
                )));
            }
        }
        let allotment = match a.target.allotment_licenses_count {
            None => None,
            Some(n) if (0..=i64::from(MAX_ALLOTMENT)).contains(&n) => Some(n as u32),
            Some(n) => {
                return Err(Windows365Error::invalid(format!(
                    "allotmentLicensesCount must be between 0 and {MAX_ALLOTMENT}; got {n}"
                )));
            }
        };
        out.push(GroupTarget {
            group_id,
            service_plan_id: a.target.service_plan_id.filter(|s| !s.is_empty()),
            allotment_display_name: a.target.allotment_display_name,
            allotment_licenses_count: allotment,
        });
    }
    Ok(out)
}
