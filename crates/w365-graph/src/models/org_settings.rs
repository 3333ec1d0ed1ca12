//! `cloudPcOrganizationSettings`: one object per tenant (v1.0).
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcorganizationsettings?view=graph-rest-1.0>

use serde::{Deserialize, Serialize};

use super::{CloudPcOperatingSystem, CloudPcUserAccountType};

/// `cloudPcWindowsSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OrgWindowsSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// The organization settings; also the PATCH body (only what is set is sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OrganizationSettings {
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    #[serde(
        rename = "enableMEMAutoEnroll",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_mem_auto_enroll: Option<bool>,
    #[serde(
        rename = "enableSingleSignOn",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_single_sign_on: Option<bool>,
    #[serde(rename = "osVersion", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<CloudPcOperatingSystem>,
    #[serde(
        rename = "userAccountType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub user_account_type: Option<CloudPcUserAccountType>,
    #[serde(
        rename = "windowsSettings",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub windows_settings: Option<OrgWindowsSettings>,
}
