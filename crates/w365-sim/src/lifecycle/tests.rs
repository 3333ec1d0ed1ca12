//! Every lifecycle transition, on the model, with a fake directory and explicit `now` values.

use serde_json::json;
use time::{Duration, OffsetDateTime, macros::datetime};

use super::fake_dir::FakeDir;
use super::transitions::{TRANSITIONS, Trigger, find};
use super::{NO_SEAT_CODE, next_due, run_due};
use crate::state::windows365::{
    CloudPc, CloudPcStatus, ForcedOutcome, OsVersion, OutcomeKind, PowerState, ProductType,
    ProvisioningType, Render, Timings, UserAccountType, Windows365Error, Windows365State, plan_ids,
    render,
};

const E: &str = plan_ids::ENTERPRISE_2C_4GB_128GB;
const E_BIG: &str = plan_ids::ENTERPRISE_2C_8GB_128GB;
const F: &str = plan_ids::FRONTLINE_2C_8GB_128GB;
const T0: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

struct Fx {
    w: Windows365State,
    dir: FakeDir,
    now: OffsetDateTime,
    t: Timings,
}

impl Fx {
    fn new() -> Self {
        let mut dir = FakeDir::default();
        for (id, upn, name) in [
            ("u-alice", "alice@contoso.com", "Alice Smith"),
            ("u-bob", "bob@contoso.com", "Bob Jones"),
            ("u-carol", "carol@contoso.com", "Carol White"),
            ("u-dave", "dave@contoso.com", "Dave Brown"),
        ] {
            dir.add_user(id, upn, name);
        }
        for g in ["g-win11", "g-win10", "g-front", "g-front-b", "g-settings"] {
            dir.add_group(g);
        }
        let t = Timings::realistic();
        Self {
            w: Windows365State::new(t, 42),
            dir,
            now: T0,
            t,
        }
    }

    fn policy(&mut self, name: &str, group: Option<&str>) -> String {
        let body = json!({
            "displayName": name,
            "imageId": "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365",
            "imageDisplayName": "Windows 11 Enterprise 24H2 + M365",
            "imageType": "gallery",
            "cloudPcNamingTemplate": "CPC-%USERNAME:5%-%RAND:5%",
            "domainJoinConfigurations": [{"domainJoinType": "azureADJoin", "regionName": "westeurope", "regionGroup": "europeUnion"}],
        });
        let id = self
            .w
            .create_provisioning_policy(body, self.now)
            .expect("create")
            .id
            .clone();
        if let Some(g) = group {
            self.assign(&id, &[g]);
        }
        id
    }

    fn assign(&mut self, policy: &str, groups: &[&str]) {
        let assignments: Vec<_> = groups
            .iter()
            .map(|g| json!({"target": {"groupId": g}}))
            .collect();
        self.w
            .assign_provisioning_policy(
                policy,
                json!({ "assignments": assignments }),
                &self.dir,
                self.now,
            )
            .expect("assign");
    }

    fn frontline_policy(&mut self, group: &str, allotment: u32) -> String {
        let body = json!({
            "displayName": "cfg - Windows 365 - Frontline - Shift A",
            "imageId": "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365",
            "imageDisplayName": "Windows 11",
            "imageType": "gallery",
            "provisioningType": "shared",
        });
        let id = self
            .w
            .create_provisioning_policy(body, self.now)
            .expect("create")
            .id
            .clone();
        let assign = json!({"assignments": [{"target": {
            "groupId": group, "servicePlanId": F, "allotmentDisplayName": "Shift A", "allotmentLicensesCount": allotment}}]});
        self.w
            .assign_provisioning_policy(&id, assign, &self.dir, self.now)
            .expect("assign frontline");
        id
    }

    fn tick(&mut self) {
        run_due(&mut self.w, &self.dir, self.now);
    }

    fn run(&mut self, by: Duration) {
        self.now += by;
        self.tick();
    }

    fn pcs(&self, user: &str) -> Vec<&CloudPc> {
        self.w.cloud_pcs_of_user(user)
    }

    fn pc(&self, user: &str) -> &CloudPc {
        let pcs = self.pcs(user);
        assert_eq!(pcs.len(), 1, "{user}: {pcs:#?}");
        pcs[0]
    }

    fn status(&self, user: &str) -> CloudPcStatus {
        self.pc(user).status
    }

    /// Licensed + targeted, then walked to `provisioned`.
    fn provisioned(&mut self, user: &str, group: &str) -> String {
        self.dir.license(user, E);
        self.dir.add_member(group, user);
        self.tick();
        self.run(self.t.detection_delay);
        self.run(self.t.provisioning);
        assert_eq!(self.status(user), CloudPcStatus::Provisioned);
        self.pc(user).id.clone()
    }
}

#[test]
fn transition_table_has_one_row_per_status_and_trigger() {
    for (i, a) in TRANSITIONS.iter().enumerate() {
        for b in &TRANSITIONS[i + 1..] {
            if a.on == b.on {
                assert!(
                    a.from.iter().all(|s| !b.from.contains(s)),
                    "duplicate row for {:?}",
                    a.on
                );
            }
        }
    }
    assert!(find(CloudPcStatus::Provisioned, Trigger::EndGracePeriod).is_none());
    assert!(find(CloudPcStatus::InGracePeriod, Trigger::EndGracePeriod).is_some());
}

#[test]
fn licensed_and_targeted_user_is_detected_then_provisioned() {
    let mut fx = Fx::new();
    let policy = fx.policy("cfg - Windows 365 - Provisioning - Win11", Some("g-win11"));
    fx.dir.license("u-alice", E);
    fx.dir.add_member("g-win11", "u-alice");
    fx.tick();
    assert!(
        fx.pcs("u-alice").is_empty(),
        "nothing before the detection delay"
    );
    assert_eq!(next_due(&fx.w), Some(T0 + fx.t.detection_delay));

    fx.run(fx.t.detection_delay);
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::Provisioning);
    assert_eq!(pc.provisioning_policy_id.as_deref(), Some(policy.as_str()));
    assert_eq!(
        pc.provisioning_policy_name.as_deref(),
        Some("cfg - Windows 365 - Provisioning - Win11")
    );
    assert_eq!(pc.service_plan_id, E);
    assert_eq!(pc.service_plan_name, "Cloud PC Enterprise 2vCPU/4GB/128GB");
    assert_eq!(pc.user_principal_name, "alice@contoso.com");
    assert_eq!(pc.product_type, ProductType::Enterprise);
    assert!(
        pc.managed_device_name.is_none(),
        "no device name before enrolment"
    );
    assert_eq!(next_due(&fx.w), Some(fx.now + fx.t.provisioning));

    fx.run(fx.t.provisioning - Duration::seconds(1));
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Provisioning);
    fx.run(Duration::seconds(1));
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::Provisioned);
    let name = pc.managed_device_name.clone().expect("device name");
    assert!(name.starts_with("CPC-alice-") && name.len() == 15, "{name}");
    assert!(pc.aad_device_id.is_some() && pc.managed_device_id.is_some());
    assert_eq!(pc.provisioned_date_time, Some(fx.now));
    assert_eq!(pc.last_modified_date_time, fx.now);
    assert_eq!(pc.power_state, PowerState::Running);
    assert_eq!(pc.os_version, Some(OsVersion::Windows11));
    assert_eq!(pc.device_region_name.as_deref(), Some("westeurope"));
    assert_eq!(pc.user_account_type, Some(UserAccountType::StandardUser));
    assert!(
        pc.display_name
            .starts_with("cfg - Windows 365 - Provisioning - Win11 - Alice")
    );
    assert!(pc.display_name.chars().count() <= 64);
    assert_eq!(next_due(&fx.w), None);
}

#[test]
fn one_late_tick_plays_chained_steps_at_their_own_times() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.dir.license("u-alice", E);
    fx.dir.add_member("g-win11", "u-alice");
    fx.tick();
    fx.run(Duration::hours(5));
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::Provisioned);
    assert_eq!(
        pc.provisioned_date_time,
        Some(T0 + fx.t.detection_delay + fx.t.provisioning)
    );
}

#[test]
fn licensed_but_untargeted_user_shows_not_provisioned_then_provisions_when_targeted() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.dir.license("u-bob", E);
    fx.tick();
    fx.run(fx.t.detection_delay);
    let record = fx.pc("u-bob").clone();
    assert_eq!(record.status, CloudPcStatus::NotProvisioned);
    assert!(record.provisioning_policy_id.is_none());
    assert_eq!(record.service_plan_id, E);

    fx.dir.add_member("g-win11", "u-bob");
    fx.run(Duration::seconds(1));
    assert_eq!(
        fx.status("u-bob"),
        CloudPcStatus::NotProvisioned,
        "detection delay applies"
    );
    fx.run(fx.t.detection_delay);
    let pc = fx.pc("u-bob");
    assert_eq!(pc.status, CloudPcStatus::Provisioning);
    assert_eq!(pc.id, record.id, "the record becomes the Cloud PC");
}

#[test]
fn not_provisioned_record_disappears_when_the_licence_goes() {
    let mut fx = Fx::new();
    fx.dir.license("u-bob", E);
    fx.tick();
    fx.run(fx.t.detection_delay);
    assert_eq!(fx.status("u-bob"), CloudPcStatus::NotProvisioned);
    fx.dir.unlicense("u-bob", E);
    fx.run(Duration::minutes(1));
    assert!(fx.pcs("u-bob").is_empty());
}

#[test]
fn targeted_but_unlicensed_user_gets_nothing() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.dir.add_member("g-win11", "u-carol");
    fx.tick();
    fx.run(Duration::hours(3));
    assert!(fx.pcs("u-carol").is_empty());
    assert!(fx.w.pending_detections().is_empty());
}

#[test]
fn non_windows365_plans_do_not_count() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.dir.add_member("g-win11", "u-carol");
    fx.dir
        .license("u-carol", "113feb6c-3fe4-4440-bddc-54d774bf0318");
    fx.tick();
    fx.run(Duration::hours(3));
    assert!(fx.pcs("u-carol").is_empty());
}

#[test]
fn losing_and_regaining_the_licence_within_grace_keeps_the_cloud_pc() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    let id = fx.provisioned("u-alice", "g-win11");
    fx.dir.unlicense("u-alice", E);
    fx.run(Duration::minutes(1));
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::InGracePeriod);
    assert_eq!(
        pc.grace_period_end_date_time,
        Some(fx.now + Duration::hours(168))
    );
    assert_eq!(next_due(&fx.w), Some(fx.now + Duration::hours(168)));

    fx.dir.license("u-alice", E);
    fx.run(Duration::hours(24));
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::Provisioned);
    assert_eq!(pc.id, id);
    assert!(pc.grace_period_end_date_time.is_none());
}

#[test]
fn leaving_the_policy_group_starts_grace_and_expiry_deprovisions_and_removes() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    let id = fx.provisioned("u-alice", "g-win11");
    fx.dir.remove_member("g-win11", "u-alice");
    fx.run(Duration::minutes(1));
    assert_eq!(fx.status("u-alice"), CloudPcStatus::InGracePeriod);
    let grace_end = fx
        .pc("u-alice")
        .grace_period_end_date_time
        .expect("grace end");

    fx.now = grace_end - Duration::seconds(1);
    fx.tick();
    assert_eq!(fx.status("u-alice"), CloudPcStatus::InGracePeriod);
    fx.run(Duration::seconds(1));
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::Deprovisioning);
    assert!(pc.grace_period_end_date_time.is_none());
    fx.run(fx.t.deprovisioning);
    // Still licensed, no policy: the service shows notProvisioned again after detection.
    assert!(
        fx.pcs("u-alice").iter().all(|c| c.id != id),
        "the Cloud PC is gone"
    );
    fx.run(fx.t.detection_delay);
    assert_eq!(fx.status("u-alice"), CloudPcStatus::NotProvisioned);
}

#[test]
fn unassigning_the_policy_puts_its_cloud_pcs_in_grace() {
    let mut fx = Fx::new();
    let policy = fx.policy("P", Some("g-win11"));
    fx.provisioned("u-alice", "g-win11");
    fx.assign(&policy, &[]);
    fx.run(Duration::seconds(1));
    assert_eq!(fx.status("u-alice"), CloudPcStatus::InGracePeriod);
    assert!(
        fx.w.delete_provisioning_policy(&policy).is_ok(),
        "unassigned policies can be deleted"
    );
}

#[test]
fn end_grace_period_deprovisions_at_once_and_is_refused_outside_grace() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    let id = fx.provisioned("u-alice", "g-win11");
    let err = fx.w.end_grace_period(&id, fx.now).unwrap_err();
    assert!(
        matches!(err, Windows365Error::InvalidState { .. }),
        "{err:?}"
    );
    assert_eq!(err.status(), 400);

    fx.dir.unlicense("u-alice", E);
    fx.run(Duration::minutes(1));
    fx.w.end_grace_period(&id, fx.now).expect("end grace");
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Deprovisioning);
    fx.run(fx.t.deprovisioning);
    assert!(fx.pcs("u-alice").is_empty());
    assert_eq!(
        fx.w.end_grace_period(&id, fx.now).unwrap_err().status(),
        404
    );
}

#[test]
fn forced_outcomes_fail_or_warn_and_failed_pcs_go_when_unlicensed() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.w.faults
        .force_for_user("ALICE@contoso.com", ForcedOutcome::new(OutcomeKind::Failed));
    fx.w.faults.force_next(ForcedOutcome {
        outcome: OutcomeKind::ProvisionedWithWarnings,
        code: Some("languagePackFailed".to_owned()),
        message: None,
    });
    for u in ["u-alice", "u-bob"] {
        fx.dir.license(u, E);
        fx.dir.add_member("g-win11", u);
    }
    fx.tick();
    fx.run(fx.t.detection_delay + fx.t.provisioning);
    let alice = fx.pc("u-alice");
    assert_eq!(alice.status, CloudPcStatus::Failed);
    assert_eq!(
        alice.status_detail.as_ref().map(|d| d.code.as_str()),
        Some("intuneEnrollFailed")
    );
    assert!(alice.managed_device_name.is_none());
    let bob = fx.pc("u-bob");
    assert_eq!(bob.status, CloudPcStatus::ProvisionedWithWarnings);
    assert_eq!(
        bob.status_detail.as_ref().map(|d| d.code.as_str()),
        Some("languagePackFailed")
    );
    assert!(bob.managed_device_name.is_some());

    // A failed Cloud PC has no grace period.
    fx.dir.unlicense("u-alice", E);
    fx.run(Duration::seconds(1));
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Deprovisioning);
    // provisionedWithWarnings gets one.
    fx.dir.remove_member("g-win11", "u-bob");
    fx.run(Duration::seconds(1));
    assert_eq!(fx.status("u-bob"), CloudPcStatus::InGracePeriod);
    fx.dir.add_member("g-win11", "u-bob");
    fx.run(Duration::seconds(1));
    assert_eq!(
        fx.status("u-bob"),
        CloudPcStatus::ProvisionedWithWarnings,
        "resumes its status"
    );
}

#[test]
fn failure_rate_is_reproducible_with_a_seed() {
    let outcomes = |seed: u64| {
        let mut fx = Fx::new();
        fx.policy("P", Some("g-win11"));
        fx.w.faults.set_rates(0.5, 0.0, seed);
        for u in ["u-alice", "u-bob", "u-carol", "u-dave"] {
            fx.dir.license(u, E);
            fx.dir.add_member("g-win11", u);
        }
        fx.tick();
        fx.run(Duration::hours(2));
        ["u-alice", "u-bob", "u-carol", "u-dave"].map(|u| fx.status(u))
    };
    assert_eq!(outcomes(7), outcomes(7));
    let all: Vec<CloudPcStatus> = (0..8).flat_map(outcomes).collect();
    assert!(all.contains(&CloudPcStatus::Failed) && all.contains(&CloudPcStatus::Provisioned));
}

#[test]
fn reprovision_goes_back_through_provisioning_with_a_new_device_name() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    let id = fx.provisioned("u-alice", "g-win11");
    let old_name = fx.pc("u-alice").managed_device_name.clone();
    fx.w.reprovision_cloud_pc(
        &id,
        Some(json!({"userAccountType": "administrator", "osVersion": "windows10"})),
        fx.now,
    )
    .expect("reprovision");
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::Provisioning);
    assert!(pc.managed_device_name.is_none());
    let err = fx.w.reprovision_cloud_pc(&id, None, fx.now).unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
    fx.run(fx.t.reprovision);
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::Provisioned);
    assert_eq!(pc.id, id);
    assert_ne!(pc.managed_device_name, old_name);
    assert_eq!(pc.user_account_type, Some(UserAccountType::Administrator));
    assert_eq!(pc.os_version, Some(OsVersion::Windows10));
    let bad =
        fx.w.reprovision_cloud_pc(&id, Some(json!({"osVersion": "windows7"})), fx.now)
            .unwrap_err();
    assert_eq!(bad.status(), 400);
}

#[test]
fn failed_cloud_pc_can_be_reprovisioned() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.w.faults
        .force_next(ForcedOutcome::new(OutcomeKind::Failed));
    fx.dir.license("u-alice", E);
    fx.dir.add_member("g-win11", "u-alice");
    fx.tick();
    fx.run(Duration::hours(1));
    let id = fx.pc("u-alice").id.clone();
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Failed);
    fx.w.reprovision_cloud_pc(&id, None, fx.now)
        .expect("reprovision");
    assert!(fx.pc("u-alice").status_detail.is_none());
    fx.run(fx.t.reprovision);
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Provisioned);
}

#[test]
fn resize_with_the_target_licence_goes_resizing_then_provisioned_on_the_new_plan() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    let id = fx.provisioned("u-alice", "g-win11");
    fx.dir.license("u-alice", E_BIG);
    fx.dir.unlicense("u-alice", E);
    fx.w.resize_cloud_pc(&id, json!({"targetServicePlanId": E_BIG}), &fx.dir, fx.now)
        .expect("resize");
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Resizing);
    fx.run(fx.t.resize - Duration::seconds(1));
    assert_eq!(
        fx.status("u-alice"),
        CloudPcStatus::Resizing,
        "a resize does not fall into grace"
    );
    fx.run(Duration::seconds(1));
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::Provisioned);
    assert_eq!(pc.service_plan_id, E_BIG);
    assert_eq!(pc.service_plan_name, "Cloud PC Enterprise 2vCPU/8GB/128GB");
    fx.run(Duration::hours(1));
    assert_eq!(
        fx.pcs("u-alice").len(),
        1,
        "no second Cloud PC for the new licence"
    );
}

#[test]
fn resize_without_the_target_licence_waits_in_resize_pending_license() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    let id = fx.provisioned("u-alice", "g-win11");
    fx.w.resize_cloud_pc(&id, json!({"targetServicePlanId": E_BIG}), &fx.dir, fx.now)
        .expect("resize");
    assert_eq!(fx.status("u-alice"), CloudPcStatus::ResizePendingLicense);
    fx.dir.unlicense("u-alice", E);
    fx.run(Duration::hours(2));
    assert_eq!(
        fx.status("u-alice"),
        CloudPcStatus::ResizePendingLicense,
        "waits, no grace period"
    );
    fx.dir.license("u-alice", E_BIG);
    fx.run(Duration::seconds(1));
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Resizing);
    fx.run(fx.t.resize);
    let pc = fx.pc("u-alice");
    assert_eq!(
        (pc.status, pc.service_plan_id.as_str()),
        (CloudPcStatus::Provisioned, E_BIG)
    );
}

#[test]
fn resize_is_validated() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    let id = fx.provisioned("u-alice", "g-win11");
    let cases = [
        (json!({}), 400),
        (json!({"targetServicePlanId": E}), 400),
        (json!({"targetServicePlanId": F}), 400),
        (
            json!({"targetServicePlanId": plan_ids::BUSINESS_2C_4GB_128GB}),
            400,
        ),
        (
            json!({"targetServicePlanId": "00000000-0000-0000-0000-000000000000"}),
            400,
        ),
        (json!({"targetServicePlanId": E_BIG, "extra": 1}), 400),
    ];
    for (body, status) in cases {
        let err =
            fx.w.resize_cloud_pc(&id, body.clone(), &fx.dir, fx.now)
                .unwrap_err();
        assert_eq!(err.status(), status, "{body}: {err}");
    }
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Provisioned);
    assert_eq!(
        fx.w.resize_cloud_pc(
            "nope",
            json!({"targetServicePlanId": E_BIG}),
            &fx.dir,
            fx.now
        )
        .unwrap_err()
        .status(),
        404
    );
}

#[test]
fn restore_goes_restoring_and_back_to_the_previous_status() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.w.faults
        .force_next(ForcedOutcome::new(OutcomeKind::ProvisionedWithWarnings));
    fx.dir.license("u-alice", E);
    fx.dir.add_member("g-win11", "u-alice");
    fx.tick();
    fx.run(Duration::hours(1));
    let id = fx.pc("u-alice").id.clone();
    assert_eq!(
        fx.w.restore_cloud_pc(&id, json!({}), fx.now)
            .unwrap_err()
            .status(),
        400
    );
    // Only one of the Cloud PC's restore points can be restored.
    assert_eq!(
        fx.w.restore_cloud_pc(
            &id,
            json!({"cloudPcSnapshotId": format!("CPC_{id}_snap")}),
            fx.now
        )
        .unwrap_err()
        .status(),
        400
    );
    fx.w.create_snapshot(&id, None, fx.now)
        .expect("createSnapshot");
    fx.now += crate::state::windows365::snapshots::MANUAL_SNAPSHOT_DELAY;
    fx.w.run_snapshot_schedule(&fx.dir, fx.now);
    let snapshot = fx.w.snapshots_of(&id).unwrap()[0].id.clone();
    fx.w.restore_cloud_pc(&id, json!({"cloudPcSnapshotId": snapshot}), fx.now)
        .expect("restore");
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Restoring);
    assert_eq!(
        fx.w.restore_cloud_pc(&id, json!({"cloudPcSnapshotId": "x"}), fx.now)
            .unwrap_err()
            .status(),
        409
    );
    fx.run(fx.t.restore);
    assert_eq!(fx.status("u-alice"), CloudPcStatus::ProvisionedWithWarnings);
}

#[test]
fn apply_region_and_single_sign_on_move_the_policys_cloud_pcs_and_back() {
    let mut fx = Fx::new();
    let policy = fx.policy("P", Some("g-win11"));
    let id = fx.provisioned("u-alice", "g-win11");
    fx.w.update_provisioning_policy(
        &policy,
        json!({"enableSingleSignOn": true, "domainJoinConfigurations": [{"domainJoinType": "azureADJoin", "regionName": "northeurope"}]}),
        fx.now,
    )
    .expect("update");
    assert_eq!(
        fx.pc("u-alice").device_region_name.as_deref(),
        Some("westeurope"),
        "updates do not touch PCs"
    );

    assert_eq!(
        fx.w.apply_provisioning_policy(&policy, Some(json!({"policySettings": "region"})), fx.now),
        Ok(1)
    );
    assert_eq!(fx.status("u-alice"), CloudPcStatus::MovingRegion);
    assert_eq!(
        fx.w.apply_provisioning_policy(&policy, None, fx.now),
        Ok(0),
        "busy PCs are skipped"
    );
    fx.run(fx.t.move_region);
    let pc = fx.pc("u-alice");
    assert_eq!(
        (pc.status, pc.device_region_name.as_deref()),
        (CloudPcStatus::Provisioned, Some("northeurope"))
    );

    fx.w.apply_provisioning_policy(
        &policy,
        Some(json!({"policySettings": "singleSignOn"})),
        fx.now,
    )
    .expect("apply sso");
    assert_eq!(fx.status("u-alice"), CloudPcStatus::UpdatingSingleSignOn);
    fx.run(fx.t.single_sign_on);
    let pc = fx.pc("u-alice");
    assert_eq!(pc.status, CloudPcStatus::Provisioned);
    assert_eq!(
        pc.connection_setting
            .as_ref()
            .map(|c| c.enable_single_sign_on),
        Some(true)
    );

    let bad =
        fx.w.apply_provisioning_policy(&policy, Some(json!({"policySettings": "colour"})), fx.now);
    assert_eq!(bad.unwrap_err().status(), 400);
    let bad = fx.w.apply_provisioning_policy(
        &policy,
        Some(json!({"reservePercentage": 10, "isForceUserLogoffEnabled": true})),
        fx.now,
    );
    assert_eq!(bad.unwrap_err().status(), 400);
    assert_eq!(
        fx.w.apply_provisioning_policy("nope", None, fx.now)
            .unwrap_err()
            .status(),
        404
    );

    // applyConfig: explicit ids, all or nothing.
    fx.w.apply_config(
        json!({"cloudPcIds": [id], "policySettings": "region"}),
        fx.now,
    )
    .expect("applyConfig");
    assert_eq!(fx.status("u-alice"), CloudPcStatus::MovingRegion);
    let busy =
        fx.w.apply_config(json!({"cloudPcIds": [id]}), fx.now)
            .unwrap_err();
    assert_eq!(busy.status(), 409);
    assert_eq!(
        fx.w.apply_config(json!({"cloudPcIds": []}), fx.now)
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        fx.w.apply_config(json!({"cloudPcIds": ["nope"]}), fx.now)
            .unwrap_err()
            .status(),
        404
    );
}

#[test]
fn first_assigned_policy_wins() {
    let mut fx = Fx::new();
    let win10 = fx.policy("Win10", Some("g-win10"));
    let win11 = fx.policy("Win11", Some("g-win11"));
    fx.dir.license("u-alice", E);
    fx.dir.add_member("g-win11", "u-alice");
    fx.dir.add_member("g-win10", "u-alice");
    // Re-posting the full set keeps the original order.
    fx.assign(&win10, &["g-win10"]);
    fx.tick();
    fx.run(fx.t.detection_delay);
    assert_eq!(
        fx.pc("u-alice").provisioning_policy_id.as_deref(),
        Some(win10.as_str())
    );
    assert_ne!(win10, win11);
}

#[test]
fn user_settings_local_admin_makes_the_user_administrator() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    let s =
        fx.w.create_user_setting(
            json!({"displayName": "admins", "localAdminEnabled": true}),
            fx.now,
        )
        .unwrap()
        .id
        .clone();
    fx.w.assign_user_setting(
        &s,
        json!({"assignments": [{"target": {"groupId": "g-settings"}}]}),
        &fx.dir,
        fx.now,
    )
    .unwrap();
    fx.dir.add_member("g-settings", "u-alice");
    fx.provisioned("u-alice", "g-win11");
    assert_eq!(
        fx.pc("u-alice").user_account_type,
        Some(UserAccountType::Administrator)
    );
}

#[test]
fn frontline_members_take_seats_up_to_the_allotment_and_the_rest_are_told_why() {
    // Dedicated mode: one licence serves up to three Cloud PCs, so an allotment of one licence
    // holds three members' Cloud PCs and the fourth is told why not.
    let mut fx = Fx::new();
    fx.w.set_frontline_plan(F, 3).unwrap();
    fx.frontline_policy("g-front", 1);
    for u in ["u-alice", "u-bob", "u-carol", "u-dave"] {
        fx.dir.add_member("g-front", u);
    }
    fx.tick();
    fx.run(fx.t.detection_delay);
    for u in ["u-alice", "u-bob", "u-carol"] {
        assert_eq!(fx.status(u), CloudPcStatus::Provisioning, "{u}");
    }
    let dave = fx.pc("u-dave");
    assert_eq!(dave.status, CloudPcStatus::NotProvisioned);
    let detail = dave.status_detail.clone().expect("reason");
    assert_eq!(detail.code, NO_SEAT_CODE);
    assert!(detail.message.contains("3/3"), "{}", detail.message);
    let alice = fx.pc("u-alice");
    assert_eq!(alice.product_type, ProductType::Frontline);
    assert_eq!(alice.allotment_display_name.as_deref(), Some("Shift A"));
    assert_eq!(alice.service_plan_id, F);
    let counts = fx.w.frontline_plan_counts(F).unwrap();
    assert_eq!(
        (
            counts.total_count,
            counts.used_count,
            counts.allotment_licenses_count
        ),
        (3, 1, 1),
        "three Cloud PCs use one licence"
    );

    fx.run(fx.t.provisioning);
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Provisioned);
    // Alice leaves: grace (seat still held), then ended: the seat frees and Dave gets it.
    fx.dir.remove_member("g-front", "u-alice");
    fx.run(Duration::seconds(1));
    assert_eq!(fx.status("u-alice"), CloudPcStatus::InGracePeriod);
    assert_eq!(fx.status("u-dave"), CloudPcStatus::NotProvisioned);
    let alice_id = fx.pc("u-alice").id.clone();
    fx.w.end_grace_period(&alice_id, fx.now).unwrap();
    fx.run(fx.t.deprovisioning);
    assert!(fx.pcs("u-alice").is_empty());
    fx.run(fx.t.detection_delay);
    let dave = fx.pc("u-dave");
    assert_eq!(dave.status, CloudPcStatus::Provisioning);
    assert!(dave.status_detail.is_none());
    assert_eq!(fx.w.frontline_plan_counts(F).unwrap().used_count, 1);
}

#[test]
fn frontline_plan_total_caps_seats_across_assignments() {
    let mut fx = Fx::new();
    fx.w.set_frontline_plan(F, 1).unwrap();
    fx.frontline_policy("g-front", 1);
    for u in ["u-alice", "u-bob", "u-carol", "u-dave"] {
        fx.dir.add_member("g-front", u);
    }
    fx.tick();
    fx.run(fx.t.detection_delay);
    assert_eq!(fx.status("u-alice"), CloudPcStatus::Provisioning);
    assert_eq!(fx.status("u-carol"), CloudPcStatus::Provisioning);
    assert_eq!(fx.status("u-dave"), CloudPcStatus::NotProvisioned);
    // The plan is fully allotted: a second policy cannot allot more.
    let err = {
        let body = json!({"displayName": "B", "imageId": "a_b_c", "imageDisplayName": "x", "imageType": "gallery", "provisioningType": "shared"});
        let id =
            fx.w.create_provisioning_policy(body, fx.now)
                .unwrap()
                .id
                .clone();
        let assign = json!({"assignments": [{"target": {"groupId": "g-front-b", "servicePlanId": F, "allotmentLicensesCount": 1}}]});
        fx.w.assign_provisioning_policy(&id, assign, &fx.dir, fx.now)
            .unwrap_err()
    };
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("0 free"), "{err}");
    // Leaving the group removes Dave's notProvisioned record.
    fx.dir.remove_member("g-front", "u-dave");
    fx.run(Duration::seconds(1));
    assert!(fx.pcs("u-dave").is_empty());
}

#[test]
fn frontline_shared_mode_gives_members_no_personal_cloud_pc() {
    let mut fx = Fx::new();
    fx.w.set_frontline_plan(F, 2).unwrap();
    fx.dir.add_group("g-pool");
    let body = json!({"displayName": "Pool", "imageId": "a_b_c", "imageDisplayName": "x", "imageType": "gallery", "provisioningType": "sharedByEntraGroup"});
    let id =
        fx.w.create_provisioning_policy(body, fx.now)
            .unwrap()
            .id
            .clone();
    let assign = json!({"assignments": [{"target": {"groupId": "g-pool", "servicePlanId": F, "allotmentLicensesCount": 2}}]});
    fx.w.assign_provisioning_policy(&id, assign, &fx.dir, fx.now)
        .unwrap();
    fx.dir.add_member("g-pool", "u-alice");
    fx.tick();
    fx.run(Duration::hours(1));
    assert!(fx.pcs("u-alice").is_empty(), "pooled: no personal Cloud PC");
    // One pooled Cloud PC per allotted licence, provisioned, belonging to no user.
    let pooled: Vec<&CloudPc> =
        fx.w.cloud_pcs()
            .iter()
            .filter(|c| c.engine.pooled)
            .collect();
    assert_eq!(pooled.len(), 2, "{pooled:#?}");
    for pc in &pooled {
        assert_eq!(pc.status, CloudPcStatus::Provisioned);
        assert!(pc.engine.user_id.is_empty());
        assert_eq!(pc.provisioning_type, ProvisioningType::SharedByEntraGroup);
        assert_eq!(pc.provisioning_policy_id.as_deref(), Some(id.as_str()));
    }
    let counts = fx.w.frontline_plan_counts(F).unwrap();
    assert_eq!(
        (counts.used_count, counts.allotment_licenses_count),
        (2, 2),
        "a pooled Cloud PC is one licence"
    );
    // The allotment is lowered to one licence: the extra pooled Cloud PC goes at once (no grace).
    let assign = json!({"assignments": [{"target": {"groupId": "g-pool", "servicePlanId": F, "allotmentLicensesCount": 1}}]});
    fx.w.assign_provisioning_policy(&id, assign, &fx.dir, fx.now)
        .unwrap();
    fx.run(Duration::seconds(1));
    let live = |fx: &Fx| {
        fx.w.cloud_pcs()
            .iter()
            .filter(|c| c.engine.pooled && c.status != CloudPcStatus::Deprovisioning)
            .count()
    };
    assert_eq!(live(&fx), 1);
    assert!(
        fx.w.cloud_pcs()
            .iter()
            .all(|c| c.status != CloudPcStatus::InGracePeriod),
        "shared mode has no grace period"
    );
    fx.run(fx.t.deprovisioning);
    assert_eq!(
        fx.w.cloud_pcs().iter().filter(|c| c.engine.pooled).count(),
        1
    );
}

#[test]
fn frontline_power_actions_and_dedicated_refusal() {
    let mut fx = Fx::new();
    fx.w.set_frontline_plan(F, 2).unwrap();
    fx.frontline_policy("g-front", 2);
    fx.dir.add_member("g-front", "u-alice");
    fx.tick();
    fx.run(Duration::hours(1));
    let id = fx.pc("u-alice").id.clone();
    fx.w.power_off_cloud_pc(&id, fx.now).unwrap();
    assert_eq!(fx.pc("u-alice").power_state, PowerState::PoweredOff);
    assert_eq!(
        fx.w.reboot_cloud_pc(&id, fx.now).unwrap_err().status(),
        400,
        "powered off"
    );
    fx.w.power_on_cloud_pc(&id, fx.now).unwrap();
    let pc = fx.pc("u-alice");
    assert_eq!(pc.power_state, PowerState::Running);
    assert_eq!(
        pc.last_remote_action_result
            .as_ref()
            .map(|r| r.action_name.as_str()),
        Some("PowerOn")
    );
    assert_eq!(
        fx.w.resize_cloud_pc(&id, json!({"targetServicePlanId": E_BIG}), &fx.dir, fx.now)
            .unwrap_err()
            .status(),
        400
    );

    fx.policy("P", Some("g-win11"));
    let dedicated = fx.provisioned("u-bob", "g-win11");
    assert_eq!(
        fx.w.power_on_cloud_pc(&dedicated, fx.now)
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        fx.w.power_off_cloud_pc(&dedicated, fx.now)
            .unwrap_err()
            .status(),
        400
    );
}

#[test]
fn reboot_rename_troubleshoot_check_the_status() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.dir.license("u-alice", E);
    fx.dir.add_member("g-win11", "u-alice");
    fx.tick();
    fx.run(fx.t.detection_delay);
    let id = fx.pc("u-alice").id.clone();
    assert_eq!(
        fx.w.reboot_cloud_pc(&id, fx.now).unwrap_err().status(),
        409,
        "still provisioning"
    );
    assert_eq!(
        fx.w.troubleshoot_cloud_pc(&id, fx.now)
            .unwrap_err()
            .status(),
        409
    );
    fx.w.rename_cloud_pc(&id, json!({"displayName": "Alice's PC"}), fx.now)
        .expect("rename while provisioning");
    fx.run(fx.t.provisioning);
    fx.w.reboot_cloud_pc(&id, fx.now).unwrap();
    assert_eq!(
        fx.pc("u-alice")
            .last_remote_action_result
            .as_ref()
            .unwrap()
            .action_name,
        "Reboot"
    );
    fx.w.troubleshoot_cloud_pc(&id, fx.now).unwrap();
    let pc = fx.pc("u-alice");
    assert_eq!(pc.display_name, "Alice's PC");
    assert!(
        pc.managed_device_name
            .as_deref()
            .unwrap()
            .starts_with("CPC-alice"),
        "rename keeps the device name"
    );
    assert_eq!(
        fx.w.rename_cloud_pc(&id, json!({"displayName": ""}), fx.now)
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        fx.w.rename_cloud_pc(&id, json!({"displayName": "x".repeat(65)}), fx.now)
            .unwrap_err()
            .status(),
        400
    );

    fx.dir.unlicense("u-alice", E);
    fx.run(Duration::seconds(1));
    assert_eq!(
        fx.w.reboot_cloud_pc(&id, fx.now).unwrap_err().status(),
        400,
        "in grace"
    );
}

#[test]
fn status_masking_and_versions() {
    let mut fx = Fx::new();
    let policy = fx.policy("P", Some("g-win11"));
    let id = fx.provisioned("u-alice", "g-win11");
    fx.w.apply_provisioning_policy(&policy, None, fx.now)
        .unwrap();
    let pc = fx.w.cloud_pc(&id).unwrap();
    let masked = render::cloud_pc(pc, Render::beta(false));
    assert_eq!(masked["status"], "unknownFutureValue");
    assert_eq!(masked["@odata.type"], "#microsoft.graph.cloudPC");
    assert!(masked.get("_engine").is_none());
    let shown = render::cloud_pc(pc, Render::beta(true));
    assert_eq!(shown["status"], "movingRegion");
    assert_eq!(shown["servicePlanType"], "enterprise");
    let v1 = render::cloud_pc(pc, Render::v1());
    assert!(
        v1.get("status").is_none()
            && v1.get("powerState").is_none()
            && v1.get("statusDetail").is_none()
    );
    assert_eq!(v1["userPrincipalName"], "alice@contoso.com");
    fx.run(fx.t.move_region);
    let pc = fx.w.cloud_pc(&id).unwrap();
    assert_eq!(
        render::cloud_pc(pc, Render::beta(false))["status"],
        "provisioned"
    );
}

#[test]
fn state_survives_a_save_and_load_with_timers_and_generator() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.dir.license("u-alice", E);
    fx.dir.add_member("g-win11", "u-alice");
    fx.tick();
    fx.run(fx.t.detection_delay);
    let saved = serde_json::to_string(&fx.w).unwrap();
    let mut restored: Windows365State = serde_json::from_str(&saved).unwrap();
    assert_eq!(next_due(&restored), next_due(&fx.w));
    let later = fx.now + fx.t.provisioning;
    run_due(&mut restored, &fx.dir, later);
    fx.run(fx.t.provisioning);
    assert_eq!(
        restored.cloud_pcs(),
        fx.w.cloud_pcs(),
        "same names from the same generator"
    );
    assert_eq!(restored.new_id(), fx.w.new_id());
}

#[test]
fn seeded_cloud_pcs_are_built_through_the_transitions() {
    use super::{SeededStatus, seed_cloud_pc};
    let mut fx = Fx::new();
    let policy = fx.policy("P", Some("g-win11"));
    for u in ["u-alice", "u-bob"] {
        fx.dir.license(u, E);
        fx.dir.add_member("g-win11", u);
    }
    let ago = fx.now - Duration::days(10);
    let a = seed_cloud_pc(
        &mut fx.w,
        &fx.dir,
        "u-alice",
        &policy,
        E,
        SeededStatus::Provisioned,
        ago,
    )
    .unwrap();
    let since = fx.now - Duration::hours(2);
    let c = seed_cloud_pc(
        &mut fx.w,
        &fx.dir,
        "u-carol",
        &policy,
        E,
        SeededStatus::InGracePeriod { since },
        ago,
    )
    .unwrap();
    let b = seed_cloud_pc(
        &mut fx.w,
        &fx.dir,
        "u-bob",
        &policy,
        E,
        SeededStatus::Failed,
        ago,
    )
    .unwrap();
    assert!(fx.w.faults.next.is_empty(), "forced outcomes do not leak");
    let alice = fx.w.cloud_pc(&a).unwrap();
    assert_eq!(
        (alice.status, alice.provisioned_date_time),
        (CloudPcStatus::Provisioned, Some(ago))
    );
    assert!(alice.managed_device_name.is_some());
    let carol = fx.w.cloud_pc(&c).unwrap();
    assert_eq!(carol.status, CloudPcStatus::InGracePeriod);
    assert_eq!(
        carol.grace_period_end_date_time,
        Some(since + Duration::hours(168))
    );
    assert_eq!(fx.w.cloud_pc(&b).unwrap().status, CloudPcStatus::Failed);
    // The engine agrees with the seed: nothing changes on the first tick.
    fx.tick();
    assert_eq!(
        fx.w.cloud_pc(&a).unwrap().status,
        CloudPcStatus::Provisioned
    );
    assert_eq!(
        fx.w.cloud_pc(&c).unwrap().status,
        CloudPcStatus::InGracePeriod
    );
    assert_eq!(fx.w.cloud_pc(&b).unwrap().status, CloudPcStatus::Failed);
    assert!(
        seed_cloud_pc(
            &mut fx.w,
            &fx.dir,
            "nobody",
            &policy,
            E,
            SeededStatus::Provisioned,
            ago
        )
        .is_err()
    );
    assert!(
        seed_cloud_pc(
            &mut fx.w,
            &fx.dir,
            "u-dave",
            "nope",
            E,
            SeededStatus::Provisioned,
            ago
        )
        .is_err()
    );
    assert_eq!(fx.w.cloud_pcs().len(), 3);
}

#[test]
fn unreached_licensed_users_are_scanned_once_per_instant() {
    let mut fx = Fx::new();
    fx.policy("P", Some("g-win11"));
    fx.tick();
    fx.dir.license("u-carol", E);
    fx.dir.license("u-alice", E);
    fx.dir.add_member("g-win11", "u-alice");
    fx.tick();
    let waiting: Vec<&str> =
        fx.w.pending_detections()
            .iter()
            .map(|d| d.user_id.as_str())
            .collect();
    assert_eq!(
        waiting,
        ["u-alice"],
        "policy-group members are current at every run"
    );
    fx.run(Duration::seconds(1));
    let mut waiting: Vec<&str> =
        fx.w.pending_detections()
            .iter()
            .map(|d| d.user_id.as_str())
            .collect();
    waiting.sort_unstable();
    assert_eq!(
        waiting,
        ["u-alice", "u-carol"],
        "the next instant scans every user"
    );
}
