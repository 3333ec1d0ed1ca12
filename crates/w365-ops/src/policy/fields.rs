//! The properties a policy command takes as flags (`w365 policy create --join-type ...`) or an
//! API job as parameters (`policy.create` with `joinType`), laid over a policy file's (or an empty)
//! spec. One implementation for both entry paths: the CLI fills [`PolicyFields`] from clap, the job
//! handler and the server's dry run from the validated parameters ([`crate::spec`]).

use w365_graph::models::{
    DomainJoinType, ImageType, ManagedDesktopType, ProvisioningType, RegionGroup,
    RestorePointFrequencyType, UserExperienceType,
};

use super::spec::{
    AssignmentSpec, AutopatchSpec, NotificationSpec, PolicySpec, UserSettingsSpec,
    WindowsSettingSpec,
};
use super::validate::clip;

/// `--image-type`.
pub const IMAGE_TYPES: &[&str] = &["gallery", "custom"];
/// `--provisioning-type`.
pub const PROVISIONING_TYPES: &[&str] = &[
    "dedicated",
    "shared",
    "sharedByUser",
    "sharedByEntraGroup",
    "reserve",
];
/// `--join-type`.
pub const JOIN_TYPES: &[&str] = &["azureADJoin", "hybridAzureADJoin"];
/// `--managed-type`.
pub const MANAGED_TYPES: &[&str] = &[
    "notManaged",
    "premiumManaged",
    "standardManaged",
    "starterManaged",
];
/// `--user-experience-type`.
pub const USER_EXPERIENCE_TYPES: &[&str] = &["cloudPc", "cloudApp"];
/// `--restore-frequency` (user settings).
pub const RESTORE_FREQUENCIES: &[&str] = &[
    "default",
    "fourHours",
    "sixHours",
    "twelveHours",
    "sixteenHours",
    "twentyFourHours",
];

/// A value that is not one of a flag's choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadChoice {
    /// The flag without `--` (`join-type`).
    pub flag: &'static str,
    pub value: String,
    pub known: &'static [&'static str],
}

impl std::fmt::Display for BadChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--{} '{}' is not one of: {}",
            self.flag,
            clip(&self.value),
            self.known.join(", ")
        )
    }
}

impl std::error::Error for BadChoice {}

/// The declared spelling of `value` among `known` (case-insensitive).
fn choice(
    flag: &'static str,
    value: &str,
    known: &'static [&'static str],
) -> Result<&'static str, BadChoice> {
    known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(value.trim()))
        .copied()
        .ok_or_else(|| BadChoice {
            flag,
            value: value.to_owned(),
            known,
        })
}

/// A provisioning policy's properties given as flags or parameters (each overrides the file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyFields {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub image_id: Option<String>,
    pub image_display_name: Option<String>,
    pub image_type: Option<String>,
    pub provisioning_type: Option<String>,
    pub naming_template: Option<String>,
    pub join_type: Option<String>,
    pub region_name: Option<String>,
    pub region_group: Option<String>,
    pub on_premises_connection_id: Option<String>,
    pub single_sign_on: Option<bool>,
    pub local_admin: Option<bool>,
    pub locale: Option<String>,
    pub managed_type: Option<String>,
    pub autopatch_group_id: Option<String>,
    pub user_experience_type: Option<String>,
}

impl PolicyFields {
    /// `spec` (a policy file's, or empty) with these values laid over it.
    pub fn apply(&self, mut spec: PolicySpec) -> Result<PolicySpec, BadChoice> {
        if let Some(v) = &self.display_name {
            spec.display_name = v.clone();
        }
        if let Some(v) = &self.description {
            spec.description = Some(v.clone());
        }
        if let Some(v) = &self.image_id {
            spec.image_id = Some(v.clone());
        }
        if let Some(v) = &self.image_display_name {
            spec.image_display_name = Some(v.clone());
        }
        if let Some(v) = &self.image_type {
            spec.image_type = Some(ImageType::from_wire(choice("image-type", v, IMAGE_TYPES)?));
        }
        if let Some(v) = &self.provisioning_type {
            spec.provisioning_type = Some(ProvisioningType::from_wire(choice(
                "provisioning-type",
                v,
                PROVISIONING_TYPES,
            )?));
        }
        if let Some(v) = &self.naming_template {
            spec.cloud_pc_naming_template = Some(v.clone());
        }
        if self.join_type.is_some()
            || self.region_name.is_some()
            || self.region_group.is_some()
            || self.on_premises_connection_id.is_some()
        {
            let mut dj = spec
                .domain_join_configurations
                .as_ref()
                .and_then(|l| l.first().cloned())
                .unwrap_or_default();
            if let Some(v) = &self.join_type {
                dj.domain_join_type = Some(DomainJoinType::from_wire(choice(
                    "join-type",
                    v,
                    JOIN_TYPES,
                )?));
            }
            if let Some(v) = &self.region_name {
                dj.region_name = Some(v.clone());
            }
            if let Some(v) = &self.region_group {
                dj.region_group = Some(RegionGroup::from_wire(v));
            }
            if let Some(v) = &self.on_premises_connection_id {
                dj.on_premises_connection_id = Some(v.clone());
            }
            spec.domain_join_configurations = Some(vec![dj]);
        }
        if let Some(v) = self.single_sign_on {
            spec.enable_single_sign_on = Some(v);
        }
        if let Some(v) = self.local_admin {
            spec.local_admin_enabled = Some(v);
        }
        if let Some(v) = &self.locale {
            spec.windows_setting = Some(WindowsSettingSpec {
                locale: Some(v.clone()),
            });
        }
        if let Some(v) = &self.managed_type {
            let t = ManagedDesktopType::from_wire(choice("managed-type", v, MANAGED_TYPES)?);
            let mut m = spec.microsoft_managed_desktop.clone().unwrap_or_default();
            m.managed_type = Some(t);
            spec.microsoft_managed_desktop = Some(m);
        }
        if let Some(v) = &self.autopatch_group_id {
            spec.autopatch = Some(AutopatchSpec {
                autopatch_group_id: Some(v.clone()),
            });
        }
        if let Some(v) = &self.user_experience_type {
            spec.user_experience_type = Some(UserExperienceType::from_wire(choice(
                "user-experience-type",
                v,
                USER_EXPERIENCE_TYPES,
            )?));
        }
        Ok(spec)
    }
}

/// A user settings policy's properties given as flags or parameters (each overrides the file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSettingsFields {
    pub display_name: Option<String>,
    pub local_admin: Option<bool>,
    pub reset: Option<bool>,
    pub restore_frequency: Option<String>,
    pub user_restore: Option<bool>,
    pub restart_prompts_disabled: Option<bool>,
}

impl UserSettingsFields {
    /// `spec` (a policy file's, or empty) with these values laid over it.
    pub fn apply(&self, mut spec: UserSettingsSpec) -> Result<UserSettingsSpec, BadChoice> {
        if let Some(v) = &self.display_name {
            spec.display_name = v.clone();
        }
        if let Some(v) = self.local_admin {
            spec.local_admin_enabled = Some(v);
        }
        if let Some(v) = self.reset {
            spec.reset_enabled = Some(v);
        }
        if self.restore_frequency.is_some() || self.user_restore.is_some() {
            let mut rps = spec.restore_point_setting.clone().unwrap_or_default();
            if let Some(v) = &self.restore_frequency {
                rps.frequency_type = Some(RestorePointFrequencyType::from_wire(choice(
                    "restore-frequency",
                    v,
                    RESTORE_FREQUENCIES,
                )?));
            }
            if let Some(v) = self.user_restore {
                rps.user_restore_enabled = Some(v);
            }
            spec.restore_point_setting = Some(rps);
        }
        if let Some(v) = self.restart_prompts_disabled {
            spec.notification_setting = Some(NotificationSpec {
                restart_prompts_disabled: Some(v),
            });
        }
        Ok(spec)
    }
}

/// The Frontline target of the assignments given with `--group` (`--service-plan`,
/// `--allotment-name`, `--allotment-count`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontline {
    pub service_plan: Option<String>,
    pub allotment_name: Option<String>,
    pub allotment_count: Option<i32>,
}

/// Assignment specs for groups given by name or id, with the Frontline target.
pub fn assignment_specs(groups: &[String], frontline: &Frontline) -> Vec<AssignmentSpec> {
    groups
        .iter()
        .map(|g| {
            let is_id = super::tenant::looks_like_guid(g);
            AssignmentSpec {
                group: if is_id { String::new() } else { g.clone() },
                group_id: is_id.then(|| g.clone()),
                service_plan_id: frontline.service_plan.clone(),
                allotment_display_name: frontline.allotment_name.clone(),
                allotment_licenses_count: frontline.allotment_count,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_take_the_declared_spelling_and_refuse_the_rest_naming_the_flag() {
        let fields = PolicyFields {
            join_type: Some("AZUREADJOIN".into()),
            region_name: Some("westeurope".into()),
            ..Default::default()
        };
        let spec = fields.apply(PolicySpec::default()).unwrap();
        let configurations = spec.domain_join_configurations.unwrap();
        let dj = &configurations[0];
        assert_eq!(dj.domain_join_type, Some(DomainJoinType::AzureAdJoin));
        assert_eq!(dj.region_name.as_deref(), Some("westeurope"));
        let bad = PolicyFields {
            managed_type: Some("fully".into()),
            ..Default::default()
        }
        .apply(PolicySpec::default())
        .unwrap_err();
        assert_eq!(bad.flag, "managed-type");
        assert!(bad.to_string().contains("starterManaged"), "{bad}");
        let bad = UserSettingsFields {
            restore_frequency: Some("hourly".into()),
            ..Default::default()
        }
        .apply(UserSettingsSpec::default())
        .unwrap_err();
        assert_eq!(bad.flag, "restore-frequency");
    }
}
