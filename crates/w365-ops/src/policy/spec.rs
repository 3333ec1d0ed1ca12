//! The policy file format: one TOML file per provisioning policy or user settings policy.
//!
//! Every key is the Graph property name in snake_case (`cloudPcNamingTemplate` →
//! `cloud_pc_naming_template`), nested objects are TOML tables, and assignments name their group
//! by display name (`group = "..."`; `group_id` is added only when the name alone is not unique).
//! `kind` says what the file describes. A property left out of a file is not managed: w365
//! neither compares nor changes it (so server defaults never show up as drift). Assignments are
//! always managed: the `[[assignments]]` of a file are the complete set.
//!
//! ```toml
//! kind = "provisioningPolicy"
//! display_name = "cfg - Windows 365 - Provisioning - Win11"
//! description = "Windows 11 Enterprise, Entra joined"
//! provisioning_type = "dedicated"
//! image_type = "gallery"
//! image_id = "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365"
//! image_display_name = "Windows 11 Enterprise + Microsoft 365 Apps 24H2"
//! cloud_pc_naming_template = "CPC-%USERNAME:5%-%RAND:5%"
//! enable_single_sign_on = true
//!
//! [windows_setting]
//! locale = "en-US"
//!
//! [[domain_join_configurations]]
//! domain_join_type = "azureADJoin"
//! region_name = "automatic"
//! region_group = "usEast"
//!
//! [[assignments]]
//! group = "cfg - Windows 365 - Provisioning - Win11"
//! ```
//!
//! Read-only and server-set properties (`id`, `grace_period_in_hours`, `managed_by`, timestamps,
//! `cloud_pc_group_display_name`, ...) are never written to a file and never compared.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use w365_graph::models::{
    CloudPcUserSetting, DomainJoinType, ImageType, ManagedDesktopType, ProvisioningPolicy,
    ProvisioningType, RegionGroup, RestorePointFrequencyType, UserExperienceType,
};

/// What a file (or a plan entry) describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectKind {
    /// `cloudPcProvisioningPolicy`.
    ProvisioningPolicy,
    /// `cloudPcUserSetting`.
    UserSettings,
    /// `cloudPcOrganizationSettings`: one per tenant (see [`super::org_settings`]).
    OrganizationSettings,
    /// `cloudPcOnPremisesConnection` (see [`super::network`]).
    NetworkConnection,
}

impl ObjectKind {
    /// The value of `kind` in a file.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::ProvisioningPolicy => "provisioningPolicy",
            ObjectKind::UserSettings => "userSettings",
            ObjectKind::OrganizationSettings => "organizationSettings",
            ObjectKind::NetworkConnection => "networkConnection",
        }
    }

    /// The folder `export` writes files of this kind to.
    pub fn folder(self) -> &'static str {
        match self {
            ObjectKind::ProvisioningPolicy => "provisioning-policies",
            ObjectKind::UserSettings => "user-settings",
            ObjectKind::OrganizationSettings => "organization-settings",
            ObjectKind::NetworkConnection => "network-connections",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::ProvisioningPolicy => "provisioning policy",
            ObjectKind::UserSettings => "user settings policy",
            ObjectKind::OrganizationSettings => "organization settings",
            ObjectKind::NetworkConnection => "Azure network connection",
        })
    }
}

/// One `[[domain_join_configurations]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DomainJoinSpec {
    /// `azureADJoin` or `hybridAzureADJoin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_join_type: Option<DomainJoinType>,
    /// Azure network connection id (required for hybrid join).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises_connection_id: Option<String>,
    /// An Azure network connection by display name (or id) instead of
    /// `on_premises_connection_id`: resolved to its id when the plan is made (never sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_connection: Option<String>,
    /// Azure region or `automatic` (Microsoft-hosted network only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_name: Option<String>,
    /// Region group, e.g. `europeUnion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_group: Option<RegionGroup>,
    /// Beta: geographic location type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geographic_location_type: Option<String>,
}

/// `[windows_setting]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WindowsSettingSpec {
    /// e.g. `en-US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// `[microsoft_managed_desktop]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ManagedDesktopSpec {
    /// `notManaged`, `premiumManaged`, `standardManaged` or `starterManaged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_type: Option<ManagedDesktopType>,
    /// Profile id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// `[autopatch]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AutopatchSpec {
    /// Windows Autopatch group (effective with `managed_type = "starterManaged"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopatch_group_id: Option<String>,
}

/// `[autopilot_configuration]` (beta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AutopilotSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_preparation_profile_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_timeout_in_minutes: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure_device_access_denied: Option<bool>,
}

/// `[user_settings_persistence_configuration]` (beta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PersistenceSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_settings_persistence_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_settings_persistence_storage_size_category: Option<String>,
}

/// One `[[assignments]]` entry: a group (by name) and, for Frontline policies, the seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AssignmentSpec {
    /// The group's display name.
    pub group: String,
    /// The group's object id; only needed when several groups share the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Frontline: the Frontline service plan id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_plan_id: Option<String>,
    /// Frontline: the allotment's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allotment_display_name: Option<String>,
    /// Frontline: licenses allotted to the group (0–900).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allotment_licenses_count: Option<i32>,
}

/// A provisioning policy as written in a file (every writable property of the resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Required; must not contain `< > & | " ^`.
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `dedicated` (default), `shared`, `sharedByUser`, `sharedByEntraGroup`, `reserve`.
    /// Cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_type: Option<ProvisioningType>,
    /// `gallery` or `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_type: Option<ImageType>,
    /// Gallery: `{publisher}_{offer}_{sku}`; custom: the device image id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_display_name: Option<String>,
    /// An image by display name (or id) instead of `image_type`/`image_id`: a custom image, else
    /// a gallery image; resolved when the plan is made (never sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// e.g. `CPC-%USERNAME:5%-%RAND:5%` (at most 15 characters generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_pc_naming_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_single_sign_on: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_admin_enabled: Option<bool>,
    /// `cloudPc` or `cloudApp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_experience_type: Option<UserExperienceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows_setting: Option<WindowsSettingSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microsoft_managed_desktop: Option<ManagedDesktopSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopatch: Option<AutopatchSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopilot_configuration: Option<AutopilotSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_settings_persistence_configuration: Option<PersistenceSpec>,
    /// By priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_join_configurations: Option<Vec<DomainJoinSpec>>,
    /// The complete set of assignments.
    #[serde(default)]
    pub assignments: Vec<AssignmentSpec>,
}

/// `[restore_point_setting]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RestorePointSpec {
    /// `default`, `fourHours`, `sixHours`, `twelveHours`, `sixteenHours`, `twentyFourHours`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_type: Option<RestorePointFrequencyType>,
    /// Users may restore their Cloud PC themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_restore_enabled: Option<bool>,
}

/// `[notification_setting]` (beta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NotificationSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_prompts_disabled: Option<bool>,
}

/// A user settings policy as written in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UserSettingsSpec {
    /// Required; must not contain `< > & | " ^`.
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_admin_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_point_setting: Option<RestorePointSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_setting: Option<NotificationSpec>,
    /// Beta, kept as given (Graph's camelCase keys inside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_region_disaster_recovery_setting: Option<Value>,
    /// Complete set of assignments (groups only).
    #[serde(default)]
    pub assignments: Vec<AssignmentSpec>,
}

/// A parsed file.
#[allow(clippy::large_enum_variant, reason = "few, short-lived values")]
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Policy(PolicySpec),
    UserSettings(UserSettingsSpec),
}

impl Spec {
    pub fn kind(&self) -> ObjectKind {
        match self {
            Spec::Policy(_) => ObjectKind::ProvisioningPolicy,
            Spec::UserSettings(_) => ObjectKind::UserSettings,
        }
    }

    pub fn display_name(&self) -> &str {
        match self {
            Spec::Policy(p) => &p.display_name,
            Spec::UserSettings(s) => &s.display_name,
        }
    }

    pub fn assignments(&self) -> &[AssignmentSpec] {
        match self {
            Spec::Policy(p) => &p.assignments,
            Spec::UserSettings(s) => &s.assignments,
        }
    }

    /// The managed properties (everything but assignments) as snake_case JSON; unset ones absent.
    pub fn properties(&self) -> Map<String, Value> {
        let value = match self {
            Spec::Policy(p) => serde_json::to_value(p),
            Spec::UserSettings(s) => serde_json::to_value(s),
        };
        let mut map = match value {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        map.remove("assignments");
        map.retain(|_, v| !v.is_null());
        map
    }

    /// Parses a file's text. Errors name the line and the key of the bad value (the file is
    /// parsed once, so the positions are the file's own).
    pub fn from_toml(text: &str) -> Result<Spec, SpecError> {
        let root = toml::de::DeTable::parse(text).map_err(|e| syntax_error(text, &e))?;
        let span = root.span();
        let mut table = root.into_inner();
        let kind = match table.remove("kind").map(|v| v.into_inner()) {
            Some(toml::de::DeValue::String(k)) => k.into_owned(),
            Some(_) | None => return Err(SpecError::Kind { found: None }),
        };
        let de = || toml::de::Deserializer::from(toml::Spanned::new(span.clone(), table.clone()));
        if kind.eq_ignore_ascii_case(ObjectKind::ProvisioningPolicy.as_str()) {
            PolicySpec::deserialize(de())
                .map(Spec::Policy)
                .map_err(|e| syntax_error(text, &e))
        } else if kind.eq_ignore_ascii_case(ObjectKind::UserSettings.as_str()) {
            UserSettingsSpec::deserialize(de())
                .map(Spec::UserSettings)
                .map_err(|e| syntax_error(text, &e))
        } else {
            Err(SpecError::Kind { found: Some(kind) })
        }
    }

    /// The file's text: a comment header, `kind`, then the properties and assignments.
    pub fn to_toml(&self) -> String {
        let body = match self {
            Spec::Policy(p) => toml::to_string(p),
            Spec::UserSettings(s) => toml::to_string(s),
        }
        .unwrap_or_default();
        format!(
            "# w365 {} (edit, then `w365 policy diff DIR` and `w365 policy sync DIR`).\n\
             # Keys are Graph property names in snake_case; a key left out is not managed.\n\
             kind = \"{}\"\n{body}",
            self.kind(),
            self.kind().as_str()
        )
    }
}

/// A file that cannot be read as a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// `line N, key K: message` when the position is known.
    #[error("{}{message}", at(*line, key.as_deref()))]
    Syntax {
        message: String,
        /// 1-based line of the bad value.
        line: Option<usize>,
        /// The key path of the bad value, e.g. `windows_setting.locale`.
        key: Option<String>,
    },
    #[error("{}", kind_message(found.as_deref()))]
    Kind { found: Option<String> },
}

impl SpecError {
    /// The error as `FILE:LINE: KEY: message` (compiler style) when its position is known.
    pub fn located(&self, file: &str) -> String {
        match self {
            SpecError::Syntax {
                message,
                line: Some(line),
                key,
            } => match key {
                Some(key) => format!("{file}:{line}: {key}: {message}"),
                None => format!("{file}:{line}: {message}"),
            },
            other => format!("{file}: {other}"),
        }
    }
}

fn at(line: Option<usize>, key: Option<&str>) -> String {
    match (line, key) {
        (Some(l), Some(k)) => format!("line {l}, {k}: "),
        (Some(l), None) => format!("line {l}: "),
        (None, Some(k)) => format!("{k}: "),
        (None, None) => String::new(),
    }
}

/// Whether a file's `kind` is `kind` (case-insensitive; false when the file does not parse).
pub fn declares_kind(text: &str, kind: ObjectKind) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| {
        t.get("kind")
            .and_then(|k| k.as_str())
            .is_some_and(|k| k.eq_ignore_ascii_case(kind.as_str()))
    })
}

/// Parses a file of a kind that is not a [`Spec`] (`kind` is left out, every other key must be
/// `T`'s); errors name the line and key of the bad value.
pub(crate) fn parse_kind_file<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, SpecError> {
    let root = toml::de::DeTable::parse(text).map_err(|e| syntax_error(text, &e))?;
    let span = root.span();
    let mut table = root.into_inner();
    table.remove("kind");
    T::deserialize(toml::de::Deserializer::from(toml::Spanned::new(
        span, table,
    )))
    .map_err(|e| syntax_error(text, &e))
}

/// A TOML error with the line and key of its position in `text`.
pub(crate) fn syntax_error(text: &str, e: &toml::de::Error) -> SpecError {
    let offset = e.span().map(|s| s.start);
    SpecError::Syntax {
        message: e.message().trim().to_owned(),
        line: offset.map(|o| line_at(text, o)),
        key: offset.and_then(|o| key_at(text, o)),
    }
}

/// The 1-based line of a byte offset.
pub fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The key path (`a.b`, `a[1].b`) whose key or value contains the byte `offset`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(table: &toml::de::DeTable<'_>, prefix: &str, offset: usize) -> Option<String> {
        for (k, v) in table.iter() {
            let path = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            if k.span().contains(&offset) {
                return Some(path);
            }
            if v.span().contains(&offset) || v.span().start == offset {
                return Some(walk_value(v.get_ref(), &path, offset).unwrap_or(path));
            }
            if let Some(inner) = walk_value(v.get_ref(), &path, offset) {
                return Some(inner);
            }
        }
        None
    }
    fn walk_value(value: &toml::de::DeValue<'_>, path: &str, offset: usize) -> Option<String> {
        match value {
            toml::de::DeValue::Table(t) => walk(t, path, offset),
            toml::de::DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let path = format!("{path}[{i}]");
                match walk_value(item.get_ref(), &path, offset) {
                    Some(inner) => Some(inner),
                    None if item.span().contains(&offset) => Some(path),
                    None => None,
                }
            }),
            _ => None,
        }
    }
    let (root, _) = toml::de::DeTable::parse_recoverable(text);
    walk(root.get_ref(), "", offset)
}

/// The 1-based line where the value of `field` (a problem's field: `a`, `a.b`, `a[1]`,
/// `a[1].b`) is written in the policy file `text`; `None` when the file does not set it.
pub fn line_of(text: &str, field: &str) -> Option<usize> {
    let (root, _) = toml::de::DeTable::parse_recoverable(text);
    let mut span: Option<std::ops::Range<usize>> = None;
    let mut table: Option<&toml::de::DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&toml::de::DeValue<'_>> = None;
    for part in field.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let t = match (table, value) {
            (Some(t), _) => t,
            (None, Some(toml::de::DeValue::Table(t))) => t,
            _ => return None,
        };
        let (k, v) = t.iter().find(|(k, _)| k.get_ref() == name)?;
        span = Some(k.span());
        table = None;
        value = Some(v.get_ref());
        if let Some(i) = index {
            let toml::de::DeValue::Array(items) = v.get_ref() else {
                return None;
            };
            let item = items.get(i)?;
            span = Some(item.span());
            value = Some(item.get_ref());
        }
    }
    span.map(|s| line_at(text, s.start))
}

fn kind_message(found: Option<&str>) -> String {
    match found {
        Some(k) => format!(
            "kind = \"{k}\" is not known; use kind = \"provisioningPolicy\", \"userSettings\", \"organizationSettings\" or \"networkConnection\""
        ),
        None => "the file needs a line kind = \"provisioningPolicy\", \"userSettings\", \"organizationSettings\" or \"networkConnection\"".into(),
    }
}

/// snake_case → camelCase for one key (`@odata.type` and keys without `_` are unchanged).
pub fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// camelCase → snake_case for one key.
pub fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn rename_keys(value: Value, f: &dyn Fn(&str) -> String, depth_limit: usize) -> Value {
    match value {
        Value::Object(map) if depth_limit > 0 => Value::Object(
            map.into_iter()
                .map(|(k, v)| (f(&k), rename_keys(v, f, depth_limit - 1)))
                .collect(),
        ),
        Value::Array(items) if depth_limit > 0 => Value::Array(
            items
                .into_iter()
                .map(|v| rename_keys(v, f, depth_limit))
                .collect(),
        ),
        other => other,
    }
}

/// Spec properties (snake_case) → a Graph JSON object (camelCase). The opaque
/// `cross_region_disaster_recovery_setting` keeps its inner keys.
pub fn to_graph(properties: &Map<String, Value>) -> Map<String, Value> {
    properties
        .iter()
        .map(|(k, v)| {
            let v = if k == "cross_region_disaster_recovery_setting" {
                v.clone()
            } else {
                rename_keys(v.clone(), &camel, 8)
            };
            (camel(k), v)
        })
        .collect()
}

/// The writable properties of a provisioning policy, as file keys.
pub const POLICY_KEYS: &[&str] = &[
    "display_name",
    "description",
    "provisioning_type",
    "image_type",
    "image_id",
    "image_display_name",
    "cloud_pc_naming_template",
    "enable_single_sign_on",
    "local_admin_enabled",
    "user_experience_type",
    "windows_setting",
    "microsoft_managed_desktop",
    "autopatch",
    "autopilot_configuration",
    "user_settings_persistence_configuration",
    "domain_join_configurations",
];

/// The writable properties of a user settings policy, as file keys.
pub const USER_SETTINGS_KEYS: &[&str] = &[
    "display_name",
    "local_admin_enabled",
    "reset_enabled",
    "restore_point_setting",
    "notification_setting",
    "cross_region_disaster_recovery_setting",
];

/// Updatable after creation (everything but `provisioning_type`).
pub fn is_updatable(kind: ObjectKind, key: &str) -> bool {
    match kind {
        ObjectKind::ProvisioningPolicy => key != "provisioning_type",
        ObjectKind::UserSettings
        | ObjectKind::OrganizationSettings
        | ObjectKind::NetworkConnection => true,
    }
}

fn some_if<T: Default + PartialEq>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}

/// A tenant policy as a spec (assignments left empty: the caller names the groups). Built field
/// by field from the typed model, so deprecated or unknown properties Graph returns never leak
/// into a file; read-only properties are left out.
pub fn policy_spec_from_graph(p: &ProvisioningPolicy) -> PolicySpec {
    PolicySpec {
        display_name: p.display_name.clone(),
        description: p.description.clone(),
        provisioning_type: p.provisioning_type.clone(),
        image_type: p.image_type.clone(),
        image_id: p.image_id.clone(),
        image_display_name: p.image_display_name.clone(),
        // Exports name the image by id (what Graph stores); a file may use image_name instead.
        image_name: None,
        cloud_pc_naming_template: p.cloud_pc_naming_template.clone(),
        enable_single_sign_on: p.enable_single_sign_on,
        local_admin_enabled: p.local_admin_enabled,
        user_experience_type: p.user_experience_type.clone(),
        windows_setting: p.windows_setting.as_ref().and_then(|w| {
            some_if(WindowsSettingSpec {
                locale: w.locale.clone(),
            })
        }),
        microsoft_managed_desktop: p.microsoft_managed_desktop.as_ref().and_then(|m| {
            some_if(ManagedDesktopSpec {
                managed_type: m.managed_type.clone().or_else(|| m.type_.clone()),
                profile: m.profile.clone(),
            })
        }),
        autopatch: p.autopatch.as_ref().and_then(|a| {
            some_if(AutopatchSpec {
                autopatch_group_id: a.autopatch_group_id.clone(),
            })
        }),
        autopilot_configuration: p.autopilot_configuration.as_ref().and_then(|a| {
            some_if(AutopilotSpec {
                device_preparation_profile_id: a.device_preparation_profile_id.clone(),
                application_timeout_in_minutes: a.application_timeout_in_minutes,
                on_failure_device_access_denied: a.on_failure_device_access_denied,
            })
        }),
        user_settings_persistence_configuration: p
            .user_settings_persistence_configuration
            .as_ref()
            .and_then(|u| {
                some_if(PersistenceSpec {
                    user_settings_persistence_enabled: u.user_settings_persistence_enabled,
                    user_settings_persistence_storage_size_category: u
                        .user_settings_persistence_storage_size_category
                        .clone(),
                })
            }),
        domain_join_configurations: p.domain_join_configurations.as_ref().map(|list| {
            list.iter()
                .map(|d| DomainJoinSpec {
                    domain_join_type: d.domain_join_type.clone().or_else(|| d.type_.clone()),
                    on_premises_connection_id: d.on_premises_connection_id.clone(),
                    network_connection: None,
                    region_name: d.region_name.clone(),
                    region_group: d.region_group.clone(),
                    geographic_location_type: d.geographic_location_type.clone(),
                })
                .collect()
        }),
        assignments: Vec::new(),
    }
}

/// A tenant user settings policy as a spec (assignments left empty). The deprecated
/// `frequencyInHours` duplicates `frequencyType` and is left out.
pub fn user_settings_spec_from_graph(s: &CloudPcUserSetting) -> UserSettingsSpec {
    UserSettingsSpec {
        display_name: s.display_name.clone(),
        local_admin_enabled: s.local_admin_enabled,
        reset_enabled: s.reset_enabled,
        restore_point_setting: s.restore_point_setting.as_ref().and_then(|r| {
            some_if(RestorePointSpec {
                frequency_type: r.frequency_type.clone(),
                user_restore_enabled: r.user_restore_enabled,
            })
        }),
        notification_setting: s.notification_setting.as_ref().and_then(|n| {
            some_if(NotificationSpec {
                restart_prompts_disabled: n.restart_prompts_disabled,
            })
        }),
        cross_region_disaster_recovery_setting: s
            .cross_region_disaster_recovery_setting
            .clone()
            .filter(|v| !v.is_null()),
        assignments: Vec::new(),
    }
}

/// A file name for a display name: lowercase letters, digits and hyphens.
pub fn file_stem(display_name: &str) -> String {
    let mut out = String::new();
    for c in display_name.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-').to_owned();
    if trimmed.is_empty() {
        "policy".to_owned()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WIN11: &str = r#"
kind = "provisioningPolicy"
display_name = "W365 Standard"
provisioning_type = "dedicated"
image_type = "gallery"
image_id = "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365"
image_display_name = "Windows 11"
cloud_pc_naming_template = "CPC-%USERNAME:5%-%RAND:5%"
enable_single_sign_on = true

[windows_setting]
locale = "en-US"

[[domain_join_configurations]]
domain_join_type = "azureADJoin"
region_name = "automatic"
region_group = "europeUnion"

[[assignments]]
group = "cfg - P"
"#;

    #[test]
    fn a_policy_file_parses_and_round_trips() {
        let spec = Spec::from_toml(WIN11).unwrap();
        let Spec::Policy(p) = &spec else {
            panic!("policy expected")
        };
        assert_eq!(p.display_name, "W365 Standard");
        assert_eq!(p.provisioning_type, Some(ProvisioningType::Dedicated));
        assert_eq!(
            p.domain_join_configurations.as_ref().unwrap()[0].region_group,
            Some(RegionGroup::EuropeUnion)
        );
        assert_eq!(p.assignments[0].group, "cfg - P");
        let text = spec.to_toml();
        assert!(text.starts_with("# w365 provisioning policy"));
        assert_eq!(Spec::from_toml(&text).unwrap(), spec);
    }

    #[test]
    fn problems_find_their_line() {
        let text = "kind = \"provisioningPolicy\"\ndisplay_name = \"x\"\ncloud_pc_naming_template = \"A\"\n\n[windows_setting]\nlocale = \"en-US\"\n\n[[assignments]]\ngroup = \"a\"\n\n[[assignments]]\ngroup = \"b\"\nallotment_licenses_count = 9000\n";
        assert_eq!(line_of(text, "cloud_pc_naming_template"), Some(3));
        assert_eq!(line_of(text, "windows_setting.locale"), Some(6));
        assert_eq!(
            line_of(text, "assignments[1].allotment_licenses_count"),
            Some(13)
        );
        assert!(line_of(text, "assignments[1]").is_some_and(|l| (11..=13).contains(&l)));
        assert_eq!(line_of(text, "image_id"), None);
    }

    #[test]
    fn unknown_keys_and_kinds_are_reported() {
        let err =
            Spec::from_toml("kind = \"provisioningPolicy\"\ndisplay_name = \"x\"\nimage = \"y\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("unknown field `image`"), "{err}");
        assert!(err.to_string().starts_with("line 3, image: "), "{err}");
        let err = Spec::from_toml(
            "kind = \"provisioningPolicy\"\ndisplay_name = \"x\"\n\n[windows_setting]\nlocale = 5\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("line 5, windows_setting.locale: invalid type"),
            "{err}"
        );
        let err = Spec::from_toml("display_name = \"x\"\n").unwrap_err();
        assert!(
            err.to_string().contains("kind = \"provisioningPolicy\""),
            "{err}"
        );
        let err = Spec::from_toml("kind = \"policy\"\ndisplay_name = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("\"policy\" is not known"), "{err}");
    }

    #[test]
    fn graph_objects_become_specs_without_read_only_properties() {
        let policy: ProvisioningPolicy = serde_json::from_value(json!({
            "@odata.type": "#microsoft.graph.cloudPcProvisioningPolicy",
            "id": "p1", "displayName": "W365", "description": null, "gracePeriodInHours": 168,
            "managedBy": "windows365", "imageId": "a_b_c", "imageType": "gallery",
            "imageDisplayName": "Win", "provisioningType": "dedicated", "enableSingleSignOn": false,
            "localAdminEnabled": false, "createdDateTime": "2025-01-01T00:00:00Z",
            "domainJoinConfigurations": [{"domainJoinType": "azureADJoin", "type": "azureADJoin",
                "regionName": "automatic", "regionGroup": "default", "onPremisesConnectionId": null}],
            "microsoftManagedDesktop": {"managedType": "notManaged", "type": "notManaged", "profile": null},
            "windowsSetting": {"locale": "en-US"}, "scopeIds": ["0"], "autopatch": null,
            "windowsSettings": {"language": "en-US"}, "onPremisesConnectionId": null,
            "assignments": [{"id": "p1_g", "target": {"groupId": "g"}}]
        }))
        .unwrap();
        let spec = policy_spec_from_graph(&policy);
        assert_eq!(spec.display_name, "W365");
        assert_eq!(spec.description, None);
        assert_eq!(spec.image_id.as_deref(), Some("a_b_c"));
        assert_eq!(
            spec.domain_join_configurations.as_ref().unwrap()[0].region_group,
            Some(RegionGroup::Default)
        );
        assert_eq!(spec.local_admin_enabled, Some(false));
        assert_eq!(
            spec.microsoft_managed_desktop,
            Some(ManagedDesktopSpec {
                managed_type: Some(ManagedDesktopType::NotManaged),
                profile: None
            })
        );
        assert!(spec.assignments.is_empty());
        let props = Spec::Policy(spec).properties();
        for gone in [
            "id",
            "grace_period_in_hours",
            "managed_by",
            "created_date_time",
            "scope_ids",
        ] {
            assert!(!props.contains_key(gone), "{gone}");
        }
        let graph = to_graph(&props);
        assert!(!graph.contains_key("cloudPcNamingTemplate"));
        assert_eq!(graph["enableSingleSignOn"], json!(false));
        assert_eq!(
            graph["domainJoinConfigurations"][0]["domainJoinType"],
            "azureADJoin"
        );
        assert_eq!(graph["windowsSetting"]["locale"], "en-US");
    }

    #[test]
    fn user_settings_round_trip() {
        let s: CloudPcUserSetting = serde_json::from_value(json!({
            "id": "s1", "displayName": "restore", "localAdminEnabled": false, "resetEnabled": true,
            "restorePointSetting": {"frequencyType": "sixHours", "userRestoreEnabled": true, "frequencyInHours": 6},
            "lastModifiedDateTime": "2025-01-01T00:00:00Z"
        }))
        .unwrap();
        let spec = Spec::UserSettings(user_settings_spec_from_graph(&s));
        let text = spec.to_toml();
        assert!(text.contains("[restore_point_setting]"), "{text}");
        assert!(!text.contains("frequency_in_hours"), "{text}");
        assert_eq!(Spec::from_toml(&text).unwrap(), spec);
        let graph = to_graph(&spec.properties());
        assert_eq!(graph["restorePointSetting"]["frequencyType"], "sixHours");
    }

    #[test]
    fn keys_and_file_names() {
        assert_eq!(camel("cloud_pc_naming_template"), "cloudPcNamingTemplate");
        assert_eq!(snake("cloudPcNamingTemplate"), "cloud_pc_naming_template");
        assert_eq!(camel("@odata.type"), "@odata.type");
        assert_eq!(
            file_stem("cfg - Windows 365 - Provisioning - Win11"),
            "cfg-windows-365-provisioning-win11"
        );
        assert_eq!(file_stem("<>"), "policy");
    }
}
