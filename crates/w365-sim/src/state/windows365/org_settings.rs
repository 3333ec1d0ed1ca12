//! The tenant's Cloud PC organization settings (`cloudPcOrganizationSettings`, v1.0): one object
//! per tenant, read with GET and changed with PATCH.
//!
//! - resource: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcorganizationsettings?view=graph-rest-1.0>
//!   (`enableMEMAutoEnroll` default false, `enableSingleSignOn` default false, `osVersion`
//!   windows10 (default) | windows11, `userAccountType` standardUser (default) | administrator,
//!   `windowsSettings.language` default `en-US`);
//! - update: <https://learn.microsoft.com/en-us/graph/api/cloudpcorganizationsettings-update?view=graph-rest-1.0>
//!   (PATCH, 204 No Content).
//!
//! LIMITATIONS: the settings are stored and returned; the simulator's provisioning does not read
//! them (a Cloud PC's OS and account type come from its policy and the seed).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Windows365State;
use super::cloud_pc::{OsVersion, UserAccountType};
use super::error::{Result, Windows365Error};
use super::input::{check_odata_type, parse_body};

/// The organization settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSettings {
    pub id: String,
    pub enable_mem_auto_enroll: bool,
    pub enable_single_sign_on: bool,
    pub os_version: OsVersion,
    pub user_account_type: UserAccountType,
    pub language: String,
}

impl Default for OrganizationSettings {
    fn default() -> Self {
        Self {
            // The one object of a tenant has a fixed id in the simulator.
            id: "a1b2c3d4-0000-4000-8000-0000000000f1".to_owned(),
            enable_mem_auto_enroll: false,
            enable_single_sign_on: false,
            os_version: OsVersion::Windows10,
            user_account_type: UserAccountType::StandardUser,
            language: "en-US".to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WindowsSettingsInput {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsInput {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(rename = "enableMEMAutoEnroll", default)]
    enable_mem_auto_enroll: Option<bool>,
    #[serde(rename = "enableSingleSignOn", default)]
    enable_single_sign_on: Option<bool>,
    #[serde(rename = "osVersion", default)]
    os_version: Option<OsVersion>,
    #[serde(rename = "userAccountType", default)]
    user_account_type: Option<UserAccountType>,
    #[serde(rename = "windowsSettings", default)]
    windows_settings: Option<WindowsSettingsInput>,
    /// Read-only; a client may echo it back.
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<Value>,
}

/// A language tag as Windows uses them (`en-US`, `de-DE`, `zh-Hans-CN`...): letters and digits in
/// `-`-separated parts, the first two or three letters.
fn valid_language(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

impl Windows365State {
    /// The organization settings.
    pub fn organization_settings(&self) -> &OrganizationSettings {
        &self.organization_settings
    }

    /// `PATCH organizationSettings`.
    pub fn update_organization_settings(&mut self, body: Value) -> Result<()> {
        let input: SettingsInput = parse_body(body, "cloudPcOrganizationSettings")?;
        check_odata_type(
            input.odata_type.as_deref(),
            "microsoft.graph.cloudPcOrganizationSettings",
        )?;
        let mut s = self.organization_settings.clone();
        if let Some(v) = input.enable_mem_auto_enroll {
            s.enable_mem_auto_enroll = v;
        }
        if let Some(v) = input.enable_single_sign_on {
            s.enable_single_sign_on = v;
        }
        if let Some(v) = input.os_version {
            s.os_version = v;
        }
        if let Some(v) = input.user_account_type {
            s.user_account_type = v;
        }
        if let Some(w) = input.windows_settings {
            check_odata_type(
                w.odata_type.as_deref(),
                "microsoft.graph.cloudPcWindowsSettings",
            )?;
            if let Some(language) = w.language {
                if !valid_language(&language) {
                    return Err(Windows365Error::invalid(format!(
                        "'{language}' is not a language tag such as en-US or de-DE"
                    )));
                }
                s.language = language;
            }
        }
        self.organization_settings = s;
        Ok(())
    }

    /// Replaces the settings (seeds only).
    pub fn set_organization_settings(&mut self, settings: OrganizationSettings) {
        self.organization_settings = settings;
    }
}

/// A `cloudPcOrganizationSettings` as Graph renders it.
pub fn render(s: &OrganizationSettings) -> Value {
    json!({
        "id": s.id,
        "enableMEMAutoEnroll": s.enable_mem_auto_enroll,
        "enableSingleSignOn": s.enable_single_sign_on,
        "osVersion": match s.os_version {
            OsVersion::Windows10 => "windows10",
            OsVersion::Windows11 => "windows11",
        },
        "userAccountType": match s.user_account_type {
            UserAccountType::StandardUser => "standardUser",
            UserAccountType::Administrator => "administrator",
        },
        "windowsSettings": { "language": s.language },
    })
}
