//! Cloud PC actions (reference §6.2) and the policy `apply` / `applyConfig` actions. Status changes
//! go through the declared transitions of [`crate::lifecycle::transitions`].

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::Windows365State;
use super::catalog::PlanProvisioningType;
use super::cloud_pc::{
    CloudPc, CloudPcStatus, OsVersion, PowerState, ProductType, RemoteActionResult,
    ReprovisionOptions, UserAccountType,
};
use super::error::{Result, Windows365Error};
use super::input::parse_body;
use crate::lifecycle::transitions::{Env, OPERABLE, RENAMABLE, Trigger, find, fire, refusal};
use crate::state::view::DirectoryView;

/// `cloudPcPolicySettingType` of `apply` / `applyConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySetting {
    Region,
    SingleSignOn,
}

impl PolicySetting {
    fn parse(value: Option<&str>) -> Result<Self> {
        match value {
            None | Some("region") => Ok(Self::Region),
            Some("singleSignOn") => Ok(Self::SingleSignOn),
            Some(other) => Err(Windows365Error::invalid(format!(
                "policySettings must be 'region' or 'singleSignOn'; got '{other}'"
            ))),
        }
    }

    fn trigger(self) -> Trigger {
        match self {
            Self::Region => Trigger::ApplyRegion,
            Self::SingleSignOn => Trigger::ApplySingleSignOn,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReprovisionInput {
    #[serde(default)]
    user_account_type: Option<UserAccountType>,
    #[serde(default)]
    os_version: Option<OsVersion>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResizeInput {
    target_service_plan_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RestoreInput {
    cloud_pc_snapshot_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RenameInput {
    display_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApplyInput {
    #[serde(default)]
    policy_settings: Option<String>,
    #[serde(default)]
    reserve_percentage: Option<i64>,
    #[serde(default)]
    is_force_user_logoff_enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApplyConfigInput {
    #[serde(default)]
    cloud_pc_ids: Vec<String>,
    #[serde(default)]
    policy_settings: Option<String>,
}

/// An absent or `null` body counts as `{}`.
fn optional_body(body: Option<Value>) -> Value {
    match body {
        None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
        Some(v) => v,
    }
}

fn require_status(pc: &CloudPc, allowed: &[CloudPcStatus], action: &str) -> Result<()> {
    if allowed.contains(&pc.status) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    let message = format!(
        "{action} is not possible for Cloud PC '{}' in status '{}'; it needs status {}",
        pc.id,
        pc.status.as_str(),
        names.join(" or ")
    );
    if pc.engine.timer.is_some() && pc.status != CloudPcStatus::InGracePeriod {
        Err(Windows365Error::conflict(message))
    } else {
        Err(Windows365Error::invalid_state(message))
    }
}

impl Windows365State {
    fn pc_and_env(&mut self, index: usize) -> (&mut CloudPc, Env<'_>) {
        let Windows365State {
            cloud_pcs,
            timings,
            policies,
            service_plans,
            ids,
            faults,
            ..
        } = self;
        (
            &mut cloud_pcs[index],
            Env {
                timings,
                policies,
                service_plans,
                ids,
                faults,
            },
        )
    }

    fn fire_action(&mut self, index: usize, trigger: Trigger, now: OffsetDateTime) -> Result<()> {
        let (pc, mut env) = self.pc_and_env(index);
        fire(pc, trigger, now, &mut env).map(|_| ())
    }

    fn record_remote_action(&mut self, index: usize, action: &str, now: OffsetDateTime) {
        let pc = &mut self.cloud_pcs[index];
        pc.last_remote_action_result = Some(RemoteActionResult {
            action_name: action.to_owned(),
            action_state: "done".to_owned(),
            start_date_time: now,
            last_updated_date_time: now,
            cloud_pc_id: pc.id.clone(),
            managed_device_id: pc.managed_device_id.clone(),
            status_detail: None,
        });
        pc.last_modified_date_time = now;
    }

    /// `endGracePeriod`: `inGracePeriod` -> `deprovisioning` at once (destructive).
    pub fn end_grace_period(&mut self, id: &str, now: OffsetDateTime) -> Result<()> {
        let index = self.cloud_pc_index(id)?;
        self.fire_action(index, Trigger::EndGracePeriod, now)
    }

    /// `reprovision` (optional body `{userAccountType, osVersion}`): back to `provisioning` from
    /// the Cloud PC's policy as it is now (name and image refreshed; new device name at the end).
    pub fn reprovision_cloud_pc(
        &mut self,
        id: &str,
        body: Option<Value>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let index = self.cloud_pc_index(id)?;
        let input: ReprovisionInput = parse_body(optional_body(body), "reprovision")?;
        let pc = &self.cloud_pcs[index];
        if find(pc.status, Trigger::Reprovision).is_none() {
            return Err(refusal(pc, Trigger::Reprovision));
        }
        let policy = pc
            .provisioning_policy_id
            .as_deref()
            .and_then(|pid| {
                self.policies
                    .iter()
                    .find(|p| p.id.eq_ignore_ascii_case(pid))
            })
            .map(|p| (p.display_name.clone(), p.image_display_name.clone()));
        let pc = &mut self.cloud_pcs[index];
        if let Some((name, image)) = policy {
            pc.provisioning_policy_name = Some(name);
            pc.image_display_name = Some(image);
        }
        pc.engine.reprovision = Some(ReprovisionOptions {
            user_account_type: input.user_account_type,
            os_version: input.os_version,
        });
        self.fire_action(index, Trigger::Reprovision, now)
    }

    /// `resize` `{targetServicePlanId}`: `resizing` when the user holds the target plan's licence,
    /// `resizePendingLicense` until they do otherwise; then `provisioned` on the new plan.
    pub fn resize_cloud_pc(
        &mut self,
        id: &str,
        body: Value,
        dir: &dyn DirectoryView,
        now: OffsetDateTime,
    ) -> Result<()> {
        let index = self.cloud_pc_index(id)?;
        let input: ResizeInput = parse_body(body, "resize")?;
        let target_id = input
            .target_service_plan_id
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                Windows365Error::invalid("the property 'targetServicePlanId' is required")
            })?;
        let pc = &self.cloud_pcs[index];
        if find(pc.status, Trigger::Resize).is_none() {
            return Err(refusal(pc, Trigger::Resize));
        }
        if pc.product_type == ProductType::Frontline {
            return Err(Windows365Error::invalid(
                "Frontline Cloud PCs cannot be resized",
            ));
        }
        let target = self
            .service_plan(&target_id)
            .filter(|p| p.provisioning_type == PlanProvisioningType::Dedicated)
            .ok_or_else(|| {
                Windows365Error::invalid(format!(
                    "'{target_id}' is not a dedicated Windows 365 service plan"
                ))
            })?;
        if target.id.eq_ignore_ascii_case(&pc.service_plan_id) {
            return Err(Windows365Error::invalid(
                "the Cloud PC already has the target service plan",
            ));
        }
        if target.plan_type != pc.service_plan_type {
            return Err(Windows365Error::invalid(format!(
                "a {:?} Cloud PC cannot be resized to a {:?} service plan",
                pc.service_plan_type, target.plan_type
            )));
        }
        let target_id = target.id.clone();
        let licensed = dir
            .active_service_plans(&pc.engine.user_id)
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&target_id));
        self.cloud_pcs[index].engine.resize_target = Some(target_id);
        let trigger = if licensed {
            Trigger::Resize
        } else {
            Trigger::ResizeAwaitingLicense
        };
        self.fire_action(index, trigger, now)
    }

    /// `restore` `{cloudPcSnapshotId}` (one of the Cloud PC's restore points): `restoring`, then
    /// back to the previous status.
    pub fn restore_cloud_pc(&mut self, id: &str, body: Value, now: OffsetDateTime) -> Result<()> {
        let index = self.cloud_pc_index(id)?;
        let input: RestoreInput = parse_body(body, "restore")?;
        let snapshot_id = input
            .cloud_pc_snapshot_id
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                Windows365Error::invalid("the property 'cloudPcSnapshotId' is required")
            })?;
        let pc = &self.cloud_pcs[index];
        if find(pc.status, Trigger::Restore).is_none() {
            return Err(refusal(pc, Trigger::Restore));
        }
        // The id must name one of this Cloud PC's restore points (see `snapshots`).
        self.use_snapshot(index, &snapshot_id, now)?;
        self.fire_action(index, Trigger::Restore, now)
    }

    /// `reboot`: a running Cloud PC only; recorded in `lastRemoteActionResult`.
    pub fn reboot_cloud_pc(&mut self, id: &str, now: OffsetDateTime) -> Result<()> {
        let index = self.cloud_pc_index(id)?;
        let pc = &self.cloud_pcs[index];
        require_status(pc, OPERABLE, "reboot")?;
        if pc.power_state == PowerState::PoweredOff {
            return Err(Windows365Error::invalid_state(format!(
                "the Cloud PC '{}' is powered off",
                pc.id
            )));
        }
        self.record_remote_action(index, "Reboot", now);
        Ok(())
    }

    /// `rename` `{displayName}` (1–64 characters; the device name does not change).
    pub fn rename_cloud_pc(&mut self, id: &str, body: Value, now: OffsetDateTime) -> Result<()> {
        let index = self.cloud_pc_index(id)?;
        let input: RenameInput = parse_body(body, "rename")?;
        let name = input
            .display_name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| Windows365Error::invalid("the property 'displayName' is required"))?;
        if name.chars().count() > 64 {
            return Err(Windows365Error::invalid(
                "the displayName of a Cloud PC is at most 64 characters",
            ));
        }
        require_status(&self.cloud_pcs[index], RENAMABLE, "rename")?;
        let pc = &mut self.cloud_pcs[index];
        pc.display_name = name;
        pc.last_modified_date_time = now;
        Ok(())
    }

    /// `troubleshoot`: a running Cloud PC only; recorded in `lastRemoteActionResult`.
    pub fn troubleshoot_cloud_pc(&mut self, id: &str, now: OffsetDateTime) -> Result<()> {
        let index = self.cloud_pc_index(id)?;
        require_status(&self.cloud_pcs[index], OPERABLE, "troubleshoot")?;
        self.record_remote_action(index, "Troubleshoot", now);
        Ok(())
    }

    fn power(&mut self, id: &str, on: bool, now: OffsetDateTime) -> Result<()> {
        let index = self.cloud_pc_index(id)?;
        let action = if on { "powerOn" } else { "powerOff" };
        let pc = &self.cloud_pcs[index];
        if pc.product_type != ProductType::Frontline {
            return Err(Windows365Error::invalid(format!(
                "{action} applies only to Windows 365 Frontline Cloud PCs"
            )));
        }
        require_status(pc, OPERABLE, action)?;
        self.cloud_pcs[index].power_state = if on {
            PowerState::Running
        } else {
            PowerState::PoweredOff
        };
        self.record_remote_action(index, if on { "PowerOn" } else { "PowerOff" }, now);
        Ok(())
    }

    /// `powerOn` (beta, Frontline only).
    pub fn power_on_cloud_pc(&mut self, id: &str, now: OffsetDateTime) -> Result<()> {
        self.power(id, true, now)
    }

    /// `powerOff` (beta, Frontline only).
    pub fn power_off_cloud_pc(&mut self, id: &str, now: OffsetDateTime) -> Result<()> {
        self.power(id, false, now)
    }

    /// Policy `apply` (beta) `{policySettings: region|singleSignOn}`: the policy's running Cloud PCs
    /// go `movingRegion` / `updatingSingleSignOn` and come back. Others are left alone. Returns how
    /// many Cloud PCs started.
    pub fn apply_provisioning_policy(
        &mut self,
        policy_id: &str,
        body: Option<Value>,
        now: OffsetDateTime,
    ) -> Result<usize> {
        let policy = self.provisioning_policy(policy_id)?.id.clone();
        let input: ApplyInput = parse_body(optional_body(body), "apply")?;
        let setting = PolicySetting::parse(input.policy_settings.as_deref())?;
        if let Some(p) = input.reserve_percentage {
            if !(0..=99).contains(&p) {
                return Err(Windows365Error::invalid(
                    "reservePercentage must be between 0 and 99",
                ));
            }
            if input.is_force_user_logoff_enabled == Some(true) && p != 0 {
                return Err(Windows365Error::invalid(
                    "reservePercentage must be 0 when isForceUserLogoffEnabled is true",
                ));
            }
        }
        let targets: Vec<usize> = self
            .cloud_pcs
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.provisioning_policy_id
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(&policy))
            })
            .filter(|(_, c)| find(c.status, setting.trigger()).is_some())
            .map(|(i, _)| i)
            .collect();
        for &i in &targets {
            self.fire_action(i, setting.trigger(), now)?;
        }
        Ok(targets.len())
    }

    /// `provisioningPolicies/applyConfig` (beta) `{cloudPcIds, policySettings}`: like `apply` for
    /// the listed Cloud PCs; every id must exist and be running, else nothing happens.
    pub fn apply_config(&mut self, body: Value, now: OffsetDateTime) -> Result<()> {
        let input: ApplyConfigInput = parse_body(body, "applyConfig")?;
        let setting = PolicySetting::parse(input.policy_settings.as_deref())?;
        if input.cloud_pc_ids.is_empty() {
            return Err(Windows365Error::invalid(
                "cloudPcIds must list at least one Cloud PC",
            ));
        }
        let mut indices = Vec::new();
        for id in &input.cloud_pc_ids {
            let i = self.cloud_pc_index(id)?;
            if find(self.cloud_pcs[i].status, setting.trigger()).is_none() {
                return Err(refusal(&self.cloud_pcs[i], setting.trigger()));
            }
            if !indices.contains(&i) {
                indices.push(i);
            }
        }
        for i in indices {
            self.fire_action(i, setting.trigger(), now)?;
        }
        Ok(())
    }
}
