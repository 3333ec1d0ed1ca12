//! `kind = "organizationSettings"`: the tenant's Cloud PC organization settings as a file
//! (`organization-settings/organization-settings.toml`). There is one per tenant, so nothing is
//! matched by name, created or deleted: a diff lists the properties of the file that differ from
//! the tenant, and a sync patches only those (through [`crate::org_settings`], Graph v1.0
//! `cloudPcOrganizationSettings`:
//! <https://learn.microsoft.com/en-us/graph/api/cloudpcorganizationsettings-update?view=graph-rest-1.0>).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use w365_graph::Client;
use w365_graph::models::{
    CloudPcOperatingSystem, CloudPcUserAccountType, OrgWindowsSettings, OrganizationSettings,
};

use super::diff::{Change, FieldChange};
use super::spec::{ObjectKind, SpecError};
use crate::error::Result;

/// The name plans and messages use for the settings.
pub const NAME: &str = "organization settings";
/// The file `export` writes (in [`ObjectKind::OrganizationSettings`]'s folder).
pub const FILE_NAME: &str = "organization-settings.toml";

/// `[windows_settings]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgWindowsSettingsSpec {
    /// The language Cloud PCs are provisioned with (`en-US`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// The file's properties (Graph's, in snake_case); a key left out is not managed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSettingsSpec {
    /// Graph `enableMEMAutoEnroll`: enroll new Cloud PCs in Intune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_mem_auto_enroll: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_single_sign_on: Option<bool>,
    /// `windows10` or `windows11`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<CloudPcOperatingSystem>,
    /// `standardUser` or `administrator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_account_type: Option<CloudPcUserAccountType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_settings: Option<OrgWindowsSettingsSpec>,
}

/// The Graph property names of [`crate::org_settings::diff`] and their keys in the file.
const FILE_KEYS: &[(&str, &str)] = &[
    ("enableMEMAutoEnroll", "enable_mem_auto_enroll"),
    ("enableSingleSignOn", "enable_single_sign_on"),
    ("osVersion", "os_version"),
    ("userAccountType", "user_account_type"),
    ("windowsSettings.language", "windows_settings.language"),
];

impl OrgSettingsSpec {
    /// The settings as Graph has them.
    pub fn from_graph(s: &OrganizationSettings) -> Self {
        OrgSettingsSpec {
            enable_mem_auto_enroll: s.enable_mem_auto_enroll,
            enable_single_sign_on: s.enable_single_sign_on,
            os_version: s.os_version.clone(),
            user_account_type: s.user_account_type.clone(),
            windows_settings: s.windows_settings.as_ref().map(|w| OrgWindowsSettingsSpec {
                language: w.language.clone(),
            }),
        }
    }

    /// The Graph object with only the file's properties set.
    pub fn to_graph(&self) -> OrganizationSettings {
        OrganizationSettings {
            id: None,
            enable_mem_auto_enroll: self.enable_mem_auto_enroll,
            enable_single_sign_on: self.enable_single_sign_on,
            os_version: self.os_version.clone(),
            user_account_type: self.user_account_type.clone(),
            windows_settings: self.windows_settings.as_ref().map(|w| OrgWindowsSettings {
                language: w.language.clone(),
            }),
        }
    }

    /// The file's text: a comment header, `kind`, then the properties.
    pub fn to_toml(&self) -> String {
        format!(
            "# w365 {NAME}: one per tenant (edit, then `w365 policy diff DIR` and `w365 policy sync DIR`).\n\
             # Keys are Graph property names in snake_case; a key left out is not managed.\n\
             kind = \"{}\"\n{}",
            ObjectKind::OrganizationSettings.as_str(),
            toml::to_string(self).unwrap_or_default()
        )
    }
}

/// Whether a file's `kind` is `organizationSettings` (any other file is a [`super::Spec`]).
pub fn is_org_settings_file(text: &str) -> bool {
    super::spec::declares_kind(text, ObjectKind::OrganizationSettings)
}

/// Parses an organization settings file; errors name the line and key of the bad value.
pub fn parse(text: &str) -> Result<OrgSettingsSpec, SpecError> {
    super::spec::parse_kind_file(text)
}

/// The change a file asks of the current settings: `None` when every property it sets is in
/// effect; otherwise one update naming the fields that differ, whose patch carries only those.
pub fn plan(desired: &OrgSettingsSpec, current: &OrganizationSettings) -> Option<Change> {
    let (changes, patch) = crate::org_settings::diff(current, &desired.to_graph());
    if changes.is_empty() {
        return None;
    }
    // "true" / "false" back to JSON booleans; enum names and languages stay strings.
    let value = |v: Option<String>| {
        v.map(|s| serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s)))
    };
    let fields = changes
        .into_iter()
        .map(|c| FieldChange {
            field: FILE_KEYS
                .iter()
                .find(|(graph, _)| *graph == c.property)
                .map_or(c.property.clone(), |(_, file)| (*file).to_owned()),
            from: value(c.from),
            to: value(c.to),
        })
        .collect();
    Some(Change::Update {
        object: ObjectKind::OrganizationSettings,
        id: current.id.clone().unwrap_or_default(),
        name: NAME.to_owned(),
        fields,
        patch: serde_json::to_value(&patch).unwrap_or(Value::Null),
    })
}

/// Reads the tenant's settings and plans `desired` against them.
pub async fn plan_against_tenant(
    client: &Client,
    desired: &OrgSettingsSpec,
) -> Result<Option<Change>> {
    Ok(plan(desired, &crate::org_settings::show(client).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_only_differing_fields_are_planned() {
        let current = OrganizationSettings {
            id: Some("org".into()),
            enable_mem_auto_enroll: Some(true),
            enable_single_sign_on: Some(false),
            os_version: Some(CloudPcOperatingSystem::Windows11),
            user_account_type: Some(CloudPcUserAccountType::StandardUser),
            windows_settings: Some(OrgWindowsSettings {
                language: Some("en-US".into()),
            }),
        };
        let spec = OrgSettingsSpec::from_graph(&current);
        let text = spec.to_toml();
        assert!(is_org_settings_file(&text), "{text}");
        assert_eq!(parse(&text).unwrap(), spec);
        assert_eq!(plan(&spec, &current), None);

        let wanted = parse(
            "kind = \"organizationSettings\"\nenable_single_sign_on = true\n\n[windows_settings]\nlanguage = \"de-DE\"\n",
        )
        .unwrap();
        let Some(Change::Update { fields, patch, .. }) = plan(&wanted, &current) else {
            panic!("expected an update");
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            ["enable_single_sign_on", "windows_settings.language"]
        );
        assert_eq!(fields[0].to, Some(Value::Bool(true)));
        assert_eq!(
            patch,
            serde_json::json!({"enableSingleSignOn": true, "windowsSettings": {"language": "de-DE"}})
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let err = parse("kind = \"organizationSettings\"\nos = \"windows11\"\n").unwrap_err();
        assert!(err.to_string().contains("os"), "{err}");
        assert!(!is_org_settings_file("kind = \"userSettings\"\n"));
    }
}
