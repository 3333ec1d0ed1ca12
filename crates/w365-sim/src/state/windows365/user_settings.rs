//! User settings policies (`cloudPcUserSetting`, reference §6.7) and their assignments.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::Windows365State;
use super::error::{Result, Windows365Error};
use super::input::{check_odata_type, parse_body, present, required};
use super::policy::{parse_assign_body, validate_display_name};
use crate::state::view::DirectoryView;

/// `cloudPcRestorePointFrequencyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FrequencyType {
    Default,
    FourHours,
    SixHours,
    TwelveHours,
    SixteenHours,
    TwentyFourHours,
}

/// `cloudPcRestorePointSetting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestorePointSetting {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub frequency_type: Option<FrequencyType>,
    #[serde(default)]
    pub user_restore_enabled: Option<bool>,
    /// Deprecated (4, 6, 12, 16 or 24).
    #[serde(default)]
    pub frequency_in_hours: Option<i32>,
}

/// Beta `cloudPcNotificationSetting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationSetting {
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    #[serde(default)]
    pub restart_prompts_disabled: Option<bool>,
}

/// Beta `cloudPcProvisioningSourceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProvisioningSourceType {
    Image,
    Snapshot,
}

/// One group assignment of a user settings policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSettingAssignment {
    /// `{settingId}_{groupId}`.
    pub id: String,
    pub group_id: String,
    /// Global assignment order (the first assigned setting applies to a user in several groups).
    pub sequence: u64,
}

/// A user settings policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSetting {
    pub id: String,
    pub display_name: String,
    pub local_admin_enabled: bool,
    pub reset_enabled: bool,
    pub restore_point_setting: Option<RestorePointSetting>,
    /// Beta `cloudPcCrossRegionDisasterRecoverySetting`, kept as the JSON object sent (it holds an
    /// abstract network setting the simulator does not interpret).
    pub cross_region_disaster_recovery_setting: Option<Value>,
    pub notification_setting: Option<NotificationSetting>,
    pub provisioning_source_type: Option<ProvisioningSourceType>,
    /// Deprecated.
    pub self_service_enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified_date_time: OffsetDateTime,
    /// Returned only with `$expand=assignments`.
    pub assignments: Vec<UserSettingAssignment>,
}

impl UserSetting {
    fn validate(&self) -> Result<()> {
        validate_display_name(&self.display_name)?;
        if let Some(h) = self
            .restore_point_setting
            .as_ref()
            .and_then(|r| r.frequency_in_hours)
            && ![4, 6, 12, 16, 24].contains(&h)
        {
            return Err(Windows365Error::invalid(format!(
                "restorePointSetting.frequencyInHours must be 4, 6, 12, 16 or 24; got {h}"
            )));
        }
        if let Some(v) = &self.cross_region_disaster_recovery_setting
            && !v.is_object()
        {
            return Err(Windows365Error::invalid(
                "crossRegionDisasterRecoverySetting must be an object",
            ));
        }
        Ok(())
    }

    /// Whether users may restore their own Cloud PC.
    pub fn user_restore_enabled(&self) -> bool {
        self.restore_point_setting
            .as_ref()
            .and_then(|r| r.user_restore_enabled)
            .unwrap_or(false)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserSettingInput {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    local_admin_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    reset_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    restore_point_setting: Option<Option<RestorePointSetting>>,
    #[serde(default, deserialize_with = "present")]
    cross_region_disaster_recovery_setting: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    notification_setting: Option<Option<NotificationSetting>>,
    #[serde(default, deserialize_with = "present")]
    provisioning_source_type: Option<Option<ProvisioningSourceType>>,
    #[serde(default, deserialize_with = "present")]
    self_service_enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    created_date_time: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    last_modified_date_time: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    assignments: Option<Option<Value>>,
}

const SETTING_TYPE: &str = "microsoft.graph.cloudPcUserSetting";

impl Windows365State {
    /// All user settings policies, in creation order.
    pub fn user_settings(&self) -> &[UserSetting] {
        &self.user_settings
    }

    /// One user settings policy.
    pub fn user_setting(&self, id: &str) -> Result<&UserSetting> {
        self.user_settings
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcUserSetting", id))
    }

    fn user_setting_index(&self, id: &str) -> Result<usize> {
        self.user_settings
            .iter()
            .position(|s| s.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcUserSetting", id))
    }

    /// The user settings policy that applies to a user: the first assigned one whose group has the
    /// user as a direct member.
    pub fn user_setting_for(&self, dir: &dyn DirectoryView, user_id: &str) -> Option<&UserSetting> {
        self.user_settings
            .iter()
            .flat_map(|s| {
                s.assignments
                    .iter()
                    .map(move |a| (a.sequence, &a.group_id, s))
            })
            .filter(|(_, g, _)| dir.is_direct_member(g, user_id))
            .min_by_key(|(seq, _, _)| *seq)
            .map(|(_, _, s)| s)
    }

    /// `POST userSettings`.
    pub fn create_user_setting(
        &mut self,
        body: Value,
        now: OffsetDateTime,
    ) -> Result<&UserSetting> {
        let input: UserSettingInput = parse_body(body, "cloudPcUserSetting")?;
        check_odata_type(input.odata_type.as_deref(), SETTING_TYPE)?;
        if input.assignments.is_some() {
            return Err(Windows365Error::invalid(
                "assignments cannot be created with the setting; use the assign action",
            ));
        }
        let setting = UserSetting {
            id: self.ids.guid(),
            display_name: required(input.display_name, "displayName")?,
            local_admin_enabled: input.local_admin_enabled.flatten().unwrap_or(false),
            reset_enabled: input.reset_enabled.flatten().unwrap_or(false),
            restore_point_setting: Some(input.restore_point_setting.flatten().unwrap_or(
                RestorePointSetting {
                    odata_type: None,
                    frequency_type: Some(FrequencyType::Default),
                    user_restore_enabled: Some(false),
                    frequency_in_hours: None,
                },
            )),
            cross_region_disaster_recovery_setting: input
                .cross_region_disaster_recovery_setting
                .flatten(),
            notification_setting: input.notification_setting.flatten(),
            provisioning_source_type: input.provisioning_source_type.flatten(),
            self_service_enabled: input.self_service_enabled.flatten().unwrap_or(false),
            created_date_time: now,
            last_modified_date_time: now,
            assignments: Vec::new(),
        };
        setting.validate()?;
        self.user_settings.push(setting);
        Ok(self.user_settings.last().expect("just pushed"))
    }

    /// `PATCH userSettings/{id}`; read-only properties are refused.
    pub fn update_user_setting(
        &mut self,
        id: &str,
        body: Value,
        now: OffsetDateTime,
    ) -> Result<()> {
        let idx = self.user_setting_index(id)?;
        let input: UserSettingInput = parse_body(body, "cloudPcUserSetting")?;
        check_odata_type(input.odata_type.as_deref(), SETTING_TYPE)?;
        for (present, name) in [
            (input.id.is_some(), "id"),
            (input.created_date_time.is_some(), "createdDateTime"),
            (
                input.last_modified_date_time.is_some(),
                "lastModifiedDateTime",
            ),
            (input.assignments.is_some(), "assignments"),
        ] {
            if present {
                return Err(Windows365Error::invalid(format!(
                    "the property '{name}' is read-only"
                )));
            }
        }
        let mut s = self.user_settings[idx].clone();
        if let Some(v) = input.display_name {
            s.display_name = required(Some(v), "displayName")?;
        }
        if let Some(v) = input.local_admin_enabled {
            s.local_admin_enabled = v.unwrap_or(false);
        }
        if let Some(v) = input.reset_enabled {
            s.reset_enabled = v.unwrap_or(false);
        }
        if let Some(v) = input.restore_point_setting {
            s.restore_point_setting = v;
        }
        if let Some(v) = input.cross_region_disaster_recovery_setting {
            s.cross_region_disaster_recovery_setting = v;
        }
        if let Some(v) = input.notification_setting {
            s.notification_setting = v;
        }
        if let Some(v) = input.provisioning_source_type {
            s.provisioning_source_type = v;
        }
        if let Some(v) = input.self_service_enabled {
            s.self_service_enabled = v.unwrap_or(false);
        }
        s.validate()?;
        s.last_modified_date_time = now;
        self.user_settings[idx] = s;
        Ok(())
    }

    /// `DELETE userSettings/{id}`.
    pub fn delete_user_setting(&mut self, id: &str) -> Result<()> {
        let idx = self.user_setting_index(id)?;
        self.user_settings.remove(idx);
        Ok(())
    }

    /// `POST userSettings/{id}/assign`: the body is the complete set of group targets.
    pub fn assign_user_setting(
        &mut self,
        id: &str,
        body: Value,
        dir: &dyn DirectoryView,
        now: OffsetDateTime,
    ) -> Result<()> {
        let idx = self.user_setting_index(id)?;
        let setting_id = self.user_settings[idx].id.clone();
        let targets = parse_assign_body(body, &setting_id, dir)?;
        if let Some(t) = targets.iter().find(|t| {
            t.service_plan_id.is_some()
                || t.allotment_licenses_count.is_some()
                || t.allotment_display_name.is_some()
        }) {
            return Err(Windows365Error::invalid(format!(
                "user settings assignments take only a groupId; group '{}'",
                t.group_id
            )));
        }
        let old = std::mem::take(&mut self.user_settings[idx].assignments);
        let mut next = Vec::with_capacity(targets.len());
        for t in targets {
            let sequence = self.assignment_sequence_for(
                old.iter().map(|a| (a.group_id.as_str(), a.sequence)),
                &t.group_id,
            );
            next.push(UserSettingAssignment {
                id: format!("{setting_id}_{}", t.group_id),
                group_id: t.group_id,
                sequence,
            });
        }
        let s = &mut self.user_settings[idx];
        s.assignments = next;
        s.last_modified_date_time = now;
        Ok(())
    }
}
