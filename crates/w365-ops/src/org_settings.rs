//! `org-settings show|update`: the tenant's Cloud PC organization settings (Graph v1.0
//! `organizationSettings`, see `w365_graph::resources::OrganizationSettingsHandler`). An update
//! plans the properties that differ (reads only) and sends only those; nothing differs, nothing
//! is sent.

use serde::Serialize;
use w365_graph::Client;
use w365_graph::models::{OrgWindowsSettings, OrganizationSettings};

use crate::error::{GraphContext, Result};
use crate::execute::permissions;
use crate::network::Change;

/// The settings.
pub async fn show(client: &Client) -> Result<OrganizationSettings> {
    client.organization_settings().get().await.graph_ctx(
        || "read the organization settings".into(),
        permissions::READ_CLOUD_PCS,
    )
}

/// What an update changes, and the PATCH body carrying only that.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePlan {
    pub current: OrganizationSettings,
    pub changes: Vec<Change>,
    #[serde(skip)]
    pub patch: OrganizationSettings,
}

fn text<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

/// The properties of `wanted` (only those set) that differ from `current`.
pub fn diff(
    current: &OrganizationSettings,
    wanted: &OrganizationSettings,
) -> (Vec<Change>, OrganizationSettings) {
    let mut changes = Vec::new();
    let mut patch = OrganizationSettings::default();
    if let Some(v) = wanted.enable_mem_auto_enroll
        && current.enable_mem_auto_enroll != Some(v)
    {
        changes.push(Change {
            property: "enableMEMAutoEnroll".into(),
            from: text(&current.enable_mem_auto_enroll),
            to: Some(v.to_string()),
        });
        patch.enable_mem_auto_enroll = Some(v);
    }
    if let Some(v) = wanted.enable_single_sign_on
        && current.enable_single_sign_on != Some(v)
    {
        changes.push(Change {
            property: "enableSingleSignOn".into(),
            from: text(&current.enable_single_sign_on),
            to: Some(v.to_string()),
        });
        patch.enable_single_sign_on = Some(v);
    }
    if let Some(v) = &wanted.os_version
        && current.os_version.as_ref() != Some(v)
    {
        changes.push(Change {
            property: "osVersion".into(),
            from: current.os_version.as_ref().map(|o| o.as_str().to_owned()),
            to: Some(v.as_str().to_owned()),
        });
        patch.os_version = Some(v.clone());
    }
    if let Some(v) = &wanted.user_account_type
        && current.user_account_type.as_ref() != Some(v)
    {
        changes.push(Change {
            property: "userAccountType".into(),
            from: current
                .user_account_type
                .as_ref()
                .map(|o| o.as_str().to_owned()),
            to: Some(v.as_str().to_owned()),
        });
        patch.user_account_type = Some(v.clone());
    }
    let now_language = current
        .windows_settings
        .as_ref()
        .and_then(|w| w.language.clone());
    if let Some(v) = wanted
        .windows_settings
        .as_ref()
        .and_then(|w| w.language.clone())
        && !now_language
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(&v))
    {
        changes.push(Change {
            property: "windowsSettings.language".into(),
            from: now_language,
            to: Some(v.clone()),
        });
        patch.windows_settings = Some(OrgWindowsSettings { language: Some(v) });
    }
    (changes, patch)
}

/// Plans `org-settings update` (reads only).
pub async fn plan_update(client: &Client, wanted: &OrganizationSettings) -> Result<UpdatePlan> {
    let current = show(client).await?;
    let (changes, patch) = diff(&current, wanted);
    Ok(UpdatePlan {
        current,
        changes,
        patch,
    })
}

/// Sends the changes of a plan (nothing when there are none).
pub async fn update(client: &Client, plan: &UpdatePlan) -> Result<()> {
    if plan.changes.is_empty() {
        return Ok(());
    }
    client
        .organization_settings()
        .update(&plan.patch)
        .await
        .graph_ctx(
            || "update the organization settings".into(),
            permissions::WRITE_CLOUD_PCS,
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use w365_graph::models::{CloudPcOperatingSystem, CloudPcUserAccountType};

    #[test]
    fn only_properties_that_differ_are_planned_and_sent() {
        let current = OrganizationSettings {
            os_version: Some(CloudPcOperatingSystem::Windows11),
            user_account_type: Some(CloudPcUserAccountType::StandardUser),
            enable_single_sign_on: Some(false),
            windows_settings: Some(OrgWindowsSettings {
                language: Some("en-US".into()),
            }),
            ..OrganizationSettings::default()
        };
        let wanted = OrganizationSettings {
            os_version: Some(CloudPcOperatingSystem::Windows11),
            enable_single_sign_on: Some(true),
            windows_settings: Some(OrgWindowsSettings {
                language: Some("de-DE".into()),
            }),
            ..OrganizationSettings::default()
        };
        let (changes, patch) = diff(&current, &wanted);
        let props: Vec<&str> = changes.iter().map(|c| c.property.as_str()).collect();
        assert_eq!(props, ["enableSingleSignOn", "windowsSettings.language"]);
        let body = serde_json::to_value(&patch).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"enableSingleSignOn": true, "windowsSettings": {"language": "de-DE"}})
        );
        let (none, _) = diff(&current, &current);
        assert!(none.is_empty());
    }
}
