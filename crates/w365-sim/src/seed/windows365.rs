//! The Windows 365 half of the contoso demo tenant (`windows365.json`): provisioning policies named
//! like the runbook's groups and assigned to them, a Frontline policy with its own group and plan
//! (3 seats, one free), the two user settings policies, and existing Cloud PCs in several states
//! (provisioned, provisionedWithWarnings, failed, inGracePeriod, Frontline).
//!
//! Users and groups come from the directory seed (resolved by UPN / display name); the groups
//! listed in the file's `groups` are created here. The seeded Cloud PCs agree with the seeded
//! licences and memberships, so nothing changes on the first tick except that licensed users
//! without a policy show `notProvisioned` at once.

use serde::Deserialize;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::SeedError;
use crate::lifecycle::{SeededStatus, run_due, seed_cloud_pc};
use crate::state::directory::Group;
use crate::state::view::TenantDirectoryView;
use crate::state::{DirectoryTimings, TenantState};

const WINDOWS365: &str = include_str!("windows365.json");
const PATH: &str = "windows365.json";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct File {
    #[serde(rename = "_about", default)]
    _about: Option<String>,
    #[serde(default)]
    frontline_plans: Vec<FrontlineSeed>,
    #[serde(default)]
    groups: Vec<GroupSeed>,
    #[serde(default)]
    provisioning_policies: Vec<PolicySeed>,
    #[serde(default)]
    user_settings: Vec<SettingSeed>,
    #[serde(default)]
    cloud_pcs: Vec<CloudPcSeed>,
    /// Azure network connections (Graph create bodies); their health checks have run.
    #[serde(default)]
    network_connections: Vec<Value>,
    /// Custom images (Graph create bodies); their uploads have finished.
    #[serde(default)]
    device_images: Vec<Value>,
    /// The organization settings (a Graph update body).
    #[serde(default)]
    organization_settings: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FrontlineSeed {
    service_plan_id: String,
    total_count: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GroupSeed {
    display_name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AssignmentSeed {
    group: String,
    #[serde(default)]
    service_plan_id: Option<String>,
    #[serde(default)]
    allotment_display_name: Option<String>,
    #[serde(default)]
    allotment_licenses_count: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PolicySeed {
    /// A `cloudPcProvisioningPolicy` POST body.
    policy: Value,
    #[serde(default)]
    assignments: Vec<AssignmentSeed>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingSeed {
    /// A `cloudPcUserSetting` POST body.
    setting: Value,
    #[serde(default)]
    assignments: Vec<AssignmentSeed>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
enum StatusSeed {
    Provisioned,
    ProvisionedWithWarnings,
    Failed,
    InGracePeriod,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CloudPcSeed {
    user: String,
    policy: String,
    service_plan_id: String,
    status: StatusSeed,
    provisioned_days_ago: u32,
    #[serde(default)]
    grace_since_hours: Option<u32>,
}

fn invalid(message: impl Into<String>) -> SeedError {
    SeedError::Invalid {
        path: PATH.to_owned(),
        message: message.into(),
    }
}

fn group_id(tenant: &TenantState, name: &str) -> Result<String, SeedError> {
    match tenant.directory.groups_named(name) {
        [one] => Ok(one.clone()),
        [] => Err(invalid(format!("no group named {name:?}"))),
        _ => Err(invalid(format!("several groups are named {name:?}"))),
    }
}

fn user_id(tenant: &TenantState, upn: &str) -> Result<String, SeedError> {
    tenant
        .directory
        .user_id_by_upn(upn)
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("no user {upn:?}")))
}

fn assign_body(tenant: &TenantState, assignments: &[AssignmentSeed]) -> Result<Value, SeedError> {
    let mut list = Vec::new();
    for a in assignments {
        let mut target = serde_json::json!({ "groupId": group_id(tenant, &a.group)? });
        if let Some(p) = &a.service_plan_id {
            target["servicePlanId"] = Value::from(p.clone());
        }
        if let Some(n) = &a.allotment_display_name {
            target["allotmentDisplayName"] = Value::from(n.clone());
        }
        if let Some(c) = a.allotment_licenses_count {
            target["allotmentLicensesCount"] = Value::from(c);
        }
        list.push(serde_json::json!({ "target": target }));
    }
    Ok(serde_json::json!({ "assignments": list }))
}

/// Adds the Windows 365 objects of the contoso demo tenant to a tenant built from `contoso.json`.
pub fn seed_contoso(tenant: &mut TenantState, now: OffsetDateTime) -> Result<(), SeedError> {
    let file: File = serde_json::from_str(WINDOWS365).map_err(|source| SeedError::Parse {
        path: PATH.to_owned(),
        source,
    })?;
    let w365_err =
        |what: &str, e: crate::state::windows365::Windows365Error| invalid(format!("{what}: {e}"));

    for plan in &file.frontline_plans {
        tenant
            .w365
            .set_frontline_plan(&plan.service_plan_id, plan.total_count)
            .map_err(|e| w365_err("frontline plan", e))?;
    }

    // Groups of this file: created, members added with no replication lag.
    let timings = tenant.timings;
    tenant.timings = DirectoryTimings {
        replication_lag: std::time::Duration::ZERO,
        license_processing: std::time::Duration::ZERO,
    };
    let built = (|| {
        for g in &file.groups {
            let id = tenant.ids.next_id();
            let mut group = Group::new_security(id.clone(), &g.display_name);
            group.description.clone_from(&g.description);
            group.mail_nickname = Some(
                g.display_name
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect(),
            );
            group.created_date_time = Some(now);
            tenant
                .directory
                .insert_group(group)
                .map_err(|e| invalid(e.to_string()))?;
            for upn in &g.members {
                let member = user_id(tenant, upn)?;
                tenant
                    .add_member(&id, &member, now)
                    .map_err(|e| invalid(e.to_string()))?;
            }
        }
        tenant.tick(now);
        Ok(())
    })();
    tenant.timings = timings;
    built?;

    let created = now - Duration::days(365);
    for body in &file.network_connections {
        tenant
            .w365
            .create_network_connection(body.clone(), created)
            .map_err(|e| w365_err("network connection", e))?;
    }
    for body in &file.device_images {
        tenant
            .w365
            .create_device_image(body.clone(), created)
            .map_err(|e| w365_err("device image", e))?;
    }
    // Their health checks and uploads finished long ago.
    tenant.w365.run_infrastructure(now);
    if let Some(body) = &file.organization_settings {
        tenant
            .w365
            .update_organization_settings(body.clone())
            .map_err(|e| w365_err("organization settings", e))?;
    }
    for p in &file.provisioning_policies {
        let name = p
            .policy
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_owned();
        let id = tenant
            .w365
            .create_provisioning_policy(p.policy.clone(), created)
            .map_err(|e| w365_err(&name, e))?
            .id
            .clone();
        let body = assign_body(tenant, &p.assignments)?;
        let view = TenantDirectoryView::new(&tenant.directory, &tenant.licensing);
        tenant
            .w365
            .assign_provisioning_policy(&id, body, &view, created)
            .map_err(|e| w365_err(&name, e))?;
    }
    for s in &file.user_settings {
        let name = s
            .setting
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)")
            .to_owned();
        let id = tenant
            .w365
            .create_user_setting(s.setting.clone(), created)
            .map_err(|e| w365_err(&name, e))?
            .id
            .clone();
        let body = assign_body(tenant, &s.assignments)?;
        let view = TenantDirectoryView::new(&tenant.directory, &tenant.licensing);
        tenant
            .w365
            .assign_user_setting(&id, body, &view, created)
            .map_err(|e| w365_err(&name, e))?;
    }
    for pc in &file.cloud_pcs {
        let user = user_id(tenant, &pc.user)?;
        let policy = tenant
            .w365
            .provisioning_policies()
            .iter()
            .find(|p| p.display_name == pc.policy)
            .map(|p| p.id.clone())
            .ok_or_else(|| invalid(format!("no provisioning policy named {:?}", pc.policy)))?;
        let provisioned_at = now - Duration::days(i64::from(pc.provisioned_days_ago));
        let status = match pc.status {
            StatusSeed::Provisioned => SeededStatus::Provisioned,
            StatusSeed::ProvisionedWithWarnings => SeededStatus::ProvisionedWithWarnings,
            StatusSeed::Failed => SeededStatus::Failed,
            StatusSeed::InGracePeriod => SeededStatus::InGracePeriod {
                since: now - Duration::hours(i64::from(pc.grace_since_hours.unwrap_or(0))),
            },
        };
        let view = TenantDirectoryView::new(&tenant.directory, &tenant.licensing);
        seed_cloud_pc(
            &mut tenant.w365,
            &view,
            &user,
            &policy,
            &pc.service_plan_id,
            status,
            provisioned_at,
        )
        .map_err(|e| w365_err(&pc.user, e))?;
    }

    // Settle: licensed users without a policy show notProvisioned from the start.
    let delay = tenant.w365.timings.detection_delay;
    tenant.w365.timings.detection_delay = Duration::ZERO;
    tenant.w365.detections.clear();
    tenant.w365.last_full_scan = None;
    let view = TenantDirectoryView::new(&tenant.directory, &tenant.licensing);
    run_due(&mut tenant.w365, &view, now);
    tenant.w365.timings.detection_delay = delay;
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use crate::state::windows365::{CloudPcStatus, plan_ids};
    use crate::{Seed, Timings, build_store};

    #[test]
    fn contoso_windows365_seed_is_complete_and_steady() {
        let now = datetime!(2026-03-02 08:00 UTC);
        let mut store = build_store(&Seed::Contoso, &Timings::realistic(), now).unwrap();
        let tenant = store.default_tenant().unwrap();
        let w = &tenant.w365;
        let names: Vec<&str> = w
            .provisioning_policies()
            .iter()
            .map(|p| p.display_name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "cfg - Windows 365 - Provisioning - Win11",
                "cfg - Windows 365 - Provisioning - Win10",
                "cfg - Windows 365 - Frontline - Shift A"
            ]
        );
        for p in w.provisioning_policies() {
            let group = tenant.directory.group(&p.assignments[0].group_id).unwrap();
            assert_eq!(
                group.display_name, p.display_name,
                "assigned to the group of the same name"
            );
        }
        for s in w.user_settings() {
            let group = tenant.directory.group(&s.assignments[0].group_id).unwrap();
            assert_eq!(group.display_name, s.display_name);
        }
        let status_of = |upn: &str| {
            let id = tenant.directory.user_id_by_upn(upn).unwrap();
            w.cloud_pcs_of_user(id)
                .iter()
                .map(|c| c.status)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            status_of("alice.smith@contoso.com"),
            [CloudPcStatus::Provisioned]
        );
        assert_eq!(status_of("erin.davis@contoso.com"), [CloudPcStatus::Failed]);
        assert_eq!(
            status_of("grace.wilson@contoso.com"),
            [CloudPcStatus::InGracePeriod]
        );
        assert_eq!(
            status_of("dave.brown@contoso.com"),
            [CloudPcStatus::ProvisionedWithWarnings]
        );
        assert_eq!(
            status_of("noah.lee@contoso.com"),
            [CloudPcStatus::NotProvisioned],
            "licensed, no policy"
        );
        let f = w
            .frontline_plan_counts(plan_ids::FRONTLINE_2C_8GB_128GB)
            .unwrap();
        assert_eq!(
            (f.total_count, f.used_count, f.allotment_licenses_count),
            (3, 1, 3),
            "Kate and Liam's two Cloud PCs use one licence (three per licence, dedicated mode)"
        );
        let before = tenant.w365.cloud_pcs().to_vec();

        store.tick(now + time::Duration::hours(1));
        let after = store.default_tenant().unwrap().w365.cloud_pcs();
        assert_eq!(after, before.as_slice(), "the seeded tenant is steady");
        assert!(
            store
                .default_tenant()
                .unwrap()
                .w365
                .pending_detections()
                .is_empty()
        );
    }
}
