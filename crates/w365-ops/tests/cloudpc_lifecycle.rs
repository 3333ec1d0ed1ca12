//! unassign, reprovision, resize, the Cloud PC commands and capacity against the simulator over
//! HTTP: one simulator per test, a manual clock advanced by the test (never a sleep for the
//! lifecycle), the real client-secret credential path.

use std::time::Duration;

use w365_graph::models::{CloudPc, CloudPcStatus};
use w365_ops::capacity::{self, CapacityOptions};
use w365_ops::cloud_pc::{self, ActionOptions, Failure, ListFilter};
use w365_ops::execute::{MailKind, Silent, StepOutcome, Waits};
use w365_ops::plan::{CloudPcAction, GroupRole, Step};
use w365_ops::reprovision::{self, ReprovisionOptions};
use w365_ops::resize::{self, ResizeOptions};
use w365_ops::unassign::{self, UnassignOptions, UnassignPath, UnassignReport};
use w365_ops::{Error, ErrorKind};
use w365_sim::RequestRecord;
use w365_testkit::TestSim;

const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
/// The seed leaves exactly one unit of this SKU free.
const LIC_256: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";
const PROV_WIN11: &str = "cfg - Windows 365 - Provisioning - Win11";
const US_RESTORE: &str = "cfg - Windows 365 - User Settings - restore allowed";
const US_NO_RESTORE: &str = "cfg - Windows 365 - User Settings - no restore";
const FRONTLINE: &str = "cfg - Windows 365 - Frontline - Shift A";
/// CPC_E_2C_4GB_256GB's Windows 365 service plan.
const PLAN_256: &str = "0d143570-9b92-4f57-adb5-e4efcd23b3bb";

fn waits() -> Waits {
    Waits::uniform(Duration::from_millis(5), Duration::from_secs(30))
}

fn is_write(r: &RequestRecord) -> bool {
    let graph = r.path.starts_with("/v1.0/") || r.path.starts_with("/beta/");
    let read_only_post =
        r.path.ends_with("/checkMemberGroups") || r.path.ends_with("/checkMemberObjects");
    graph && r.method != "GET" && !read_only_post
}

fn writes(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| is_write(r))
        .count()
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

fn ok<R>(result: Result<R, Failure<R>>) -> R {
    result.unwrap_or_else(|f| panic!("operation failed: {}", chain(&f.error)))
}

fn expect_err<R: std::fmt::Debug>(result: Result<R, Failure<R>>) -> (R, Error) {
    match result {
        Ok(report) => panic!("expected a failure, got {report:#?}"),
        Err(f) => (*f.report, f.error),
    }
}

async fn member_of(sim: &TestSim, upn: &str) -> Vec<String> {
    let client = sim.client();
    let user = client.users().find_by_upn(upn).await.unwrap().unwrap();
    client
        .users()
        .member_of_groups(&user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.display_name)
        .collect()
}

async fn add_to_group(sim: &TestSim, upn: &str, group: &str) {
    let client = sim.client();
    let user = client.users().find_by_upn(upn).await.unwrap().unwrap();
    let groups = client.groups().find_by_display_name(group).await.unwrap();
    assert_eq!(groups.len(), 1, "{group}");
    client
        .groups()
        .add_member(&groups[0].id, &user.id)
        .await
        .unwrap();
}

async fn cloud_pcs(sim: &TestSim, upn: &str) -> Vec<CloudPc> {
    cloud_pc::list(
        &sim.client(),
        &ListFilter {
            user: Some(upn.into()),
            ..ListFilter::default()
        },
    )
    .await
    .unwrap()
}

/// Advances the virtual clock in steps until `done` holds (at most `hours`).
async fn advance_until<F, Fut>(sim: &TestSim, hours: u64, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..hours * 12 {
        if done().await {
            return;
        }
        sim.advance(Duration::from_secs(300)).await;
    }
    assert!(done().await, "the simulator did not get there in {hours} h");
}

/// Gives the user a second, dedicated Cloud PC on the 256 GB license and waits until it runs.
async fn second_cloud_pc(sim: &TestSim, upn: &str) {
    add_to_group(sim, upn, LIC_256).await;
    advance_until(sim, 3, || async {
        cloud_pcs(sim, upn).await.iter().any(|pc| {
            pc.service_plan_id.as_deref() == Some(PLAN_256)
                && pc.status == Some(CloudPcStatus::Provisioned)
        })
    })
    .await;
}

async fn run_unassign(
    sim: &TestSim,
    o: &UnassignOptions,
) -> Result<UnassignReport, Failure<UnassignReport>> {
    let client = sim.client();
    let _clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
    unassign::unassign(&client, o, &Silent).await
}

fn unassign_opts(upn: &str) -> UnassignOptions {
    let mut o = UnassignOptions::new(upn);
    o.waits = waits();
    o
}

fn removed(report: &UnassignReport) -> Vec<(String, GroupRole)> {
    report
        .steps
        .iter()
        .filter_map(|s| match &s.step {
            Step::RemoveUserFromGroup { group, role, .. } => {
                Some((group.display_name.clone(), *role))
            }
            _ => None,
        })
        .collect()
}

// ---- unassign ---------------------------------------------------------------------------------

#[tokio::test]
async fn unassign_of_the_last_cloud_pc_ends_the_grace_period_and_removes_the_groups() {
    let sim = TestSim::contoso().await;
    let report = ok(run_unassign(&sim, &unassign_opts("alice.smith@contoso.com")).await);
    assert!(matches!(report.path, Some(UnassignPath::Dedicated { .. })));
    assert_eq!(
        removed(&report),
        vec![
            (LIC_128.to_owned(), GroupRole::License),
            (PROV_WIN11.to_owned(), GroupRole::Provisioning),
            (US_RESTORE.to_owned(), GroupRole::UserSettings),
        ]
    );
    assert!(report.groups.remove && report.groups.kept_because.is_empty());
    let end = report
        .steps
        .iter()
        .find(|s| matches!(s.step, Step::EndGracePeriod { .. }))
        .expect("an end-grace-period step");
    assert!(matches!(end.outcome, StepOutcome::Done { .. }), "{end:?}");
    assert_eq!(
        report.cloud_pc.as_ref().and_then(|pc| pc.status.as_deref()),
        Some("deprovisioning")
    );
    let groups = member_of(&sim, "alice.smith@contoso.com").await;
    for g in [LIC_128, PROV_WIN11, US_RESTORE] {
        assert!(!groups.iter().any(|x| x == g), "{g} still in {groups:?}");
    }
    advance_until(&sim, 2, || async {
        cloud_pcs(&sim, "alice.smith@contoso.com").await.is_empty()
    })
    .await;

    // A re-run finds nothing left to do.
    let again = ok(run_unassign(&sim, &unassign_opts("alice.smith@contoso.com")).await);
    assert!(again.plan.is_empty(), "{}", again.plan);
}

#[tokio::test]
async fn unassign_of_a_user_with_a_second_cloud_pc_keeps_the_groups() {
    let sim = TestSim::contoso().await;
    second_cloud_pc(&sim, "alice.smith@contoso.com").await;
    let report = ok(run_unassign(&sim, &unassign_opts("alice.smith@contoso.com")).await);
    assert_eq!(
        removed(&report),
        vec![(LIC_128.to_owned(), GroupRole::License)]
    );
    assert!(!report.groups.remove);
    let why = report.groups.kept_because.join("\n");
    assert!(why.contains(LIC_256), "{why}");
    assert!(why.contains("still has the Cloud PC"), "{why}");
    let groups = member_of(&sim, "alice.smith@contoso.com").await;
    for g in [PROV_WIN11, US_RESTORE, LIC_256] {
        assert!(groups.iter().any(|x| x == g), "{g} missing from {groups:?}");
    }
    // The other Cloud PC keeps running; the unassigned one goes.
    advance_until(&sim, 2, || async {
        let pcs = cloud_pcs(&sim, "alice.smith@contoso.com").await;
        pcs.len() == 1 && pcs[0].service_plan_id.as_deref() == Some(PLAN_256)
    })
    .await;
    let pcs = cloud_pcs(&sim, "alice.smith@contoso.com").await;
    assert_eq!(pcs[0].status, Some(CloudPcStatus::Provisioned));
}

#[tokio::test]
async fn a_remaining_frontline_assignment_keeps_the_groups_unlike_the_runbook() {
    // Kate has a Frontline Cloud PC; give her a dedicated one too, then unassign the dedicated one.
    let sim = TestSim::contoso().await;
    add_to_group(&sim, "kate.thomas@contoso.com", PROV_WIN11).await;
    add_to_group(&sim, "kate.thomas@contoso.com", US_RESTORE).await;
    add_to_group(&sim, "kate.thomas@contoso.com", LIC_128).await;
    advance_until(&sim, 3, || async {
        cloud_pcs(&sim, "kate.thomas@contoso.com").await.len() == 2
    })
    .await;
    let report = ok(run_unassign(&sim, &unassign_opts("kate.thomas@contoso.com")).await);
    assert!(!report.groups.remove);
    let why = report.groups.kept_because.join("\n");
    assert!(why.contains("Frontline assignment"), "{why}");
    let groups = member_of(&sim, "kate.thomas@contoso.com").await;
    for g in [PROV_WIN11, US_RESTORE, FRONTLINE] {
        assert!(groups.iter().any(|x| x == g), "{g} missing from {groups:?}");
    }
}

#[tokio::test]
async fn unassign_of_a_frontline_user_leaves_the_assignment_group_and_ends_the_grace_period() {
    let sim = TestSim::contoso().await;
    let mut o = unassign_opts("kate.thomas@contoso.com");
    o.license_group = FRONTLINE.into();
    let report = ok(run_unassign(&sim, &o).await);
    assert!(
        matches!(&report.path, Some(UnassignPath::Frontline { policy, .. }) if policy.display_name == FRONTLINE)
    );
    assert_eq!(
        removed(&report),
        vec![(FRONTLINE.to_owned(), GroupRole::FrontlineAssignment)]
    );
    assert!(
        report
            .steps
            .iter()
            .any(|s| matches!(s.step, Step::EndGracePeriod { .. })
                && matches!(s.outcome, StepOutcome::Done { .. }))
    );
    advance_until(&sim, 2, || async {
        cloud_pcs(&sim, "kate.thomas@contoso.com").await.is_empty()
    })
    .await;
    // The seat is free again.
    let cap = capacity::capacity(&sim.client(), &CapacityOptions::default())
        .await
        .unwrap();
    assert_eq!(cap.frontline_plans[0].used, 1);
}

#[tokio::test]
async fn keep_grace_period_leaves_the_cloud_pc_in_its_grace_period() {
    let sim = TestSim::contoso().await;
    let mut o = unassign_opts("bob.jones@contoso.com");
    o.skip_grace_period = false;
    o.keep_groups = true;
    let report = ok(run_unassign(&sim, &o).await);
    assert_eq!(
        removed(&report),
        vec![(LIC_128.to_owned(), GroupRole::License)]
    );
    assert_eq!(report.groups.kept_because, vec!["--keep-groups".to_owned()]);
    let groups = member_of(&sim, "bob.jones@contoso.com").await;
    assert!(groups.iter().any(|g| g == US_NO_RESTORE), "{groups:?}");
    advance_until(&sim, 1, || async {
        cloud_pcs(&sim, "bob.jones@contoso.com")
            .await
            .iter()
            .any(|pc| pc.status == Some(CloudPcStatus::InGracePeriod))
    })
    .await;
}

#[tokio::test]
async fn unassign_of_a_failed_cloud_pc_needs_no_grace_period_to_end() {
    // A failed Cloud PC is deprovisioned at once when its license goes (no grace period).
    let sim = TestSim::contoso().await;
    let report = ok(run_unassign(&sim, &unassign_opts("erin.davis@contoso.com")).await);
    let end = report
        .steps
        .iter()
        .find(|s| matches!(s.step, Step::EndGracePeriod { .. }))
        .unwrap();
    assert!(
        matches!(end.outcome, StepOutcome::AlreadyDone { .. }),
        "{end:?}"
    );
    advance_until(&sim, 2, || async {
        cloud_pcs(&sim, "erin.davis@contoso.com").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn unassign_dry_run_plans_and_writes_nothing() {
    let sim = TestSim::contoso().await;
    let mut o = unassign_opts("alice.smith@contoso.com");
    o.dry_run = true;
    let report = ok(run_unassign(&sim, &o).await);
    assert_eq!(report.plan.len(), 4, "{}", report.plan);
    assert!(report.steps.is_empty());
    assert_eq!(writes(&sim), 0);
}

#[tokio::test]
async fn unassign_errors_name_what_is_wrong() {
    let sim = TestSim::contoso().await;
    let (_, err) = expect_err(run_unassign(&sim, &unassign_opts("nobody@contoso.com")).await);
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let mut o = unassign_opts("alice.smith@contoso.com");
    o.license_group = "no such group".into();
    let (_, err) = expect_err(run_unassign(&sim, &o).await);
    assert!(matches!(err, Error::GroupNotFound { .. }), "{err}");
    let (_, err) = expect_err(run_unassign(&sim, &unassign_opts("not-a-upn")).await);
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(writes(&sim), 0);
}

#[tokio::test]
async fn unassign_times_out_distinctly_when_the_grace_period_does_not_come() {
    // Nobody advances the manual clock: the license is never removed by the license engine, so
    // Windows 365 never starts the grace period. The wait is bounded and says so.
    let sim = TestSim::contoso().await;
    let mut o = unassign_opts("alice.smith@contoso.com");
    o.waits = Waits::uniform(Duration::from_millis(5), Duration::from_millis(100));
    let (report, err) = expect_err(unassign::unassign(&sim.client(), &o, &Silent).await);
    assert!(matches!(err, Error::TimedOut { .. }), "{}", chain(&err));
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(matches!(
        report.steps.last().unwrap().outcome,
        StepOutcome::TimedOut { .. }
    ));
    // Running it again once the clock has moved converges.
    let again = ok(run_unassign(&sim, &unassign_opts("alice.smith@contoso.com")).await);
    assert!(
        again
            .steps
            .iter()
            .any(|s| matches!(s.step, Step::EndGracePeriod { .. }))
    );
}

// ---- reprovision ------------------------------------------------------------------------------

#[tokio::test]
async fn reprovision_restarts_the_cloud_pc_and_mails_the_user() {
    let sim = TestSim::contoso().await;
    let mut o = ReprovisionOptions::new("alice.smith@contoso.com");
    o.notify = true;
    o.from_mailbox = Some(w365_ops::assign::SANDBOX_FROM_MAILBOX.into());
    let report = ok(reprovision::reprovision(&sim.client(), &o, &Silent).await);
    assert_eq!(report.steps.len(), 2);
    assert!(matches!(
        &report.steps[0].step,
        Step::RunCloudPcAction {
            action: CloudPcAction::Reprovision,
            ..
        }
    ));
    assert_eq!(report.mails.len(), 1);
    assert_eq!(report.mails[0].kind, MailKind::CloudPcReprovisioning);
    let outbox = sim.sim().outbox();
    assert_eq!(outbox.len(), 1);
    let pcs = cloud_pcs(&sim, "alice.smith@contoso.com").await;
    assert_eq!(pcs[0].status, Some(CloudPcStatus::Provisioning));
}

#[tokio::test]
async fn reprovision_without_a_cloud_pc_is_a_clear_error_and_changes_nothing() {
    let sim = TestSim::contoso().await;
    // Megan has no license at all; Noah is licensed (256 GB) but not targeted (no Cloud PC).
    for (user, group) in [
        ("megan.bowen@contoso.com", LIC_128),
        ("noah.lee@contoso.com", LIC_256),
    ] {
        let mut o = ReprovisionOptions::new(user);
        o.license_group = group.into();
        let (_, err) = expect_err(reprovision::reprovision(&sim.client(), &o, &Silent).await);
        assert!(matches!(err, Error::NoCloudPc { .. }), "{}", chain(&err));
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("nothing to reprovision"), "{err}");
    }
    assert_eq!(writes(&sim), 0);
}

#[tokio::test]
async fn reprovision_needs_a_license_group_with_exactly_one_license() {
    let sim = TestSim::contoso().await;
    sim.sim().with_state(|s| {
        let t = s.default_tenant_mut().unwrap();
        let id = t.directory.groups_named(LIC_128)[0].clone();
        t.directory.group_mut(&id).unwrap().assigned_licenses.push(
            w365_sim::state::licensing::AssignedLicense {
                // CPC_E_2C_8GB_128GB
                sku_id: "e2aebe6c-897d-480f-9d62-fff1381581f7".into(),
                disabled_plans: Vec::new(),
            },
        );
    });
    let o = ReprovisionOptions::new("alice.smith@contoso.com");
    let (_, err) = expect_err(reprovision::reprovision(&sim.client(), &o, &Silent).await);
    assert!(
        matches!(err, Error::LicenseGroupNotSingleLicense { count: 2, .. }),
        "{}",
        chain(&err)
    );
    assert_eq!(writes(&sim), 0);
}

#[tokio::test]
async fn reprovision_dry_run_writes_nothing() {
    let sim = TestSim::contoso().await;
    let mut o = ReprovisionOptions::new("bob.jones@contoso.com");
    o.dry_run = true;
    o.notify = true;
    o.from_mailbox = Some(w365_ops::assign::SANDBOX_FROM_MAILBOX.into());
    let report = ok(reprovision::reprovision(&sim.client(), &o, &Silent).await);
    assert_eq!(report.plan.len(), 2);
    assert_eq!(writes(&sim), 0);
    assert!(sim.sim().outbox().is_empty());
}

// ---- resize -----------------------------------------------------------------------------------

#[tokio::test]
async fn resize_to_the_same_size_is_refused() {
    let sim = TestSim::contoso().await;
    let o = ResizeOptions::new("alice.smith@contoso.com", LIC_128, LIC_128);
    let (_, err) = expect_err(resize::resize(&sim.client(), &o, &Silent).await);
    assert!(matches!(err, Error::SameSize { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(sim.sim().request_log().is_empty());
}

#[tokio::test]
async fn resize_to_a_sku_without_a_free_license_is_refused_before_any_change() {
    let sim = TestSim::contoso().await;
    // Take the last free 256 GB unit.
    add_to_group(&sim, "megan.bowen@contoso.com", LIC_256).await;
    sim.advance(Duration::from_secs(600)).await;
    let before = writes(&sim);
    let o = ResizeOptions::new("alice.smith@contoso.com", LIC_128, LIC_256);
    let (_, err) = expect_err(resize::resize(&sim.client(), &o, &Silent).await);
    assert!(matches!(err, Error::OutOfLicenses { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::OutOfCapacity);
    assert_eq!(writes(&sim), before);
}

#[tokio::test]
async fn resize_ends_with_one_cloud_pc_on_the_new_plan_and_keeps_the_groups() {
    let sim = TestSim::contoso().await;
    let mut o = ResizeOptions::new("alice.smith@contoso.com", LIC_128, LIC_256);
    o.waits = waits();
    o.notify = true;
    o.from_mailbox = Some(w365_ops::assign::SANDBOX_FROM_MAILBOX.into());
    let before = cloud_pcs(&sim, "alice.smith@contoso.com").await;
    assert_eq!(before.len(), 1);
    let report = {
        let client = sim.client();
        let _clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
        ok(resize::resize(&client, &o, &Silent).await)
    };
    for s in &report.steps {
        assert!(matches!(s.outcome, StepOutcome::Done { .. }), "{s:?}");
    }
    let kept: Vec<&str> = report
        .kept_groups
        .iter()
        .map(|g| g.display_name.as_str())
        .collect();
    assert_eq!(kept, vec![PROV_WIN11, US_RESTORE]);
    assert_eq!(report.mails.len(), 1);
    let pcs = cloud_pcs(&sim, "alice.smith@contoso.com").await;
    assert_eq!(pcs.len(), 1, "{pcs:#?}");
    assert_eq!(pcs[0].id, before[0].id, "the same Cloud PC, resized");
    assert_eq!(pcs[0].service_plan_id.as_deref(), Some(PLAN_256));
    assert_eq!(pcs[0].status, Some(CloudPcStatus::Provisioned));
    let groups = member_of(&sim, "alice.smith@contoso.com").await;
    assert!(groups.iter().any(|g| g == LIC_256), "{groups:?}");
    assert!(!groups.iter().any(|g| g == LIC_128), "{groups:?}");
    assert!(groups.iter().any(|g| g == PROV_WIN11), "{groups:?}");
    // Nothing else appears later (no second Cloud PC for the old license).
    sim.advance(Duration::from_secs(3 * 3600)).await;
    assert_eq!(cloud_pcs(&sim, "alice.smith@contoso.com").await.len(), 1);
}

#[tokio::test]
async fn resize_refuses_a_user_without_the_from_group() {
    let sim = TestSim::contoso().await;
    let o = ResizeOptions::new("megan.bowen@contoso.com", LIC_128, LIC_256);
    let (_, err) = expect_err(resize::resize(&sim.client(), &o, &Silent).await);
    assert!(matches!(err, Error::NotInLicenseGroup { .. }), "{err}");
    assert_eq!(writes(&sim), 0);
}

// ---- cloudpc ----------------------------------------------------------------------------------

#[tokio::test]
async fn cloudpc_list_filters_by_user_status_and_policy() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let all = cloud_pc::list(&client, &ListFilter::default())
        .await
        .unwrap();
    let in_sim = sim
        .sim()
        .with_state(|s| s.default_tenant().unwrap().w365.cloud_pcs().len());
    assert_eq!(all.len(), in_sim);
    let grace = cloud_pc::list(
        &client,
        &ListFilter {
            status: Some("InGracePeriod".into()),
            ..ListFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(grace.len(), 1);
    assert_eq!(
        grace[0].user_principal_name.as_deref(),
        Some("grace.wilson@contoso.com")
    );
    let frontline = cloud_pc::list(
        &client,
        &ListFilter {
            policy: Some(FRONTLINE.to_lowercase()),
            ..ListFilter::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(frontline.len(), 2);
    let err = cloud_pc::list(
        &client,
        &ListFilter {
            status: Some("sleeping".into()),
            ..ListFilter::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
}

#[tokio::test]
async fn cloudpc_show_by_upn_and_id_and_unknown_id() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let by_upn = cloud_pc::show(&client, "bob.jones@contoso.com")
        .await
        .unwrap();
    assert_eq!(by_upn.len(), 1);
    let by_id = cloud_pc::show(&client, &by_upn[0].id).await.unwrap();
    assert_eq!(by_id[0].id, by_upn[0].id);
    let err = cloud_pc::show(&client, "00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = cloud_pc::show(&client, "megan.bowen@contoso.com")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoCloudPc { .. }));
}

async fn action(
    sim: &TestSim,
    target: &str,
    action: CloudPcAction,
    dry_run: bool,
) -> Result<cloud_pc::ActionReport, Failure<cloud_pc::ActionReport>> {
    cloud_pc::run_action(
        &sim.client(),
        &ActionOptions {
            target: target.into(),
            action,
            dry_run,
        },
        &Silent,
    )
    .await
}

#[tokio::test]
async fn cloudpc_actions_reach_the_simulator() {
    let sim = TestSim::contoso().await;
    ok(action(&sim, "bob.jones@contoso.com", CloudPcAction::Reboot, false).await);
    ok(action(
        &sim,
        "bob.jones@contoso.com",
        CloudPcAction::Troubleshoot,
        false,
    )
    .await);
    ok(action(
        &sim,
        "bob.jones@contoso.com",
        CloudPcAction::Rename {
            display_name: "Bob's PC".into(),
        },
        false,
    )
    .await);
    let pcs = cloud_pcs(&sim, "bob.jones@contoso.com").await;
    assert_eq!(pcs[0].display_name.as_deref(), Some("Bob's PC"));
    ok(action(
        &sim,
        "bob.jones@contoso.com",
        CloudPcAction::Restore {
            snapshot_id: {
                let pc = &cloud_pcs(&sim, "bob.jones@contoso.com").await[0];
                let client = sim.client();
                let list = w365_ops::snapshots::snapshots_of(&client, pc)
                    .await
                    .unwrap();
                w365_ops::snapshots::choose(
                    pc,
                    &list,
                    &w365_ops::snapshots::RestorePointChoice::Latest,
                )
                .unwrap()
                .id
            },
        },
        false,
    )
    .await);
    assert_eq!(
        cloud_pcs(&sim, "bob.jones@contoso.com").await[0].status,
        Some(CloudPcStatus::Restoring)
    );
    ok(action(
        &sim,
        "kate.thomas@contoso.com",
        CloudPcAction::PowerOff,
        false,
    )
    .await);
    ok(action(
        &sim,
        "kate.thomas@contoso.com",
        CloudPcAction::PowerOn,
        false,
    )
    .await);
    ok(action(
        &sim,
        "grace.wilson@contoso.com",
        CloudPcAction::EndGracePeriod,
        false,
    )
    .await);
    assert_eq!(
        cloud_pcs(&sim, "grace.wilson@contoso.com").await[0].status,
        Some(CloudPcStatus::Deprovisioning)
    );
}

#[tokio::test]
async fn cloudpc_actions_refuse_what_graph_would_refuse_and_dry_run_writes_nothing() {
    let sim = TestSim::contoso().await;
    let (_, err) = expect_err(
        action(
            &sim,
            "alice.smith@contoso.com",
            CloudPcAction::EndGracePeriod,
            false,
        )
        .await,
    );
    assert!(matches!(err, Error::CloudPcNotReady { .. }), "{err}");
    let (_, err) = expect_err(
        action(
            &sim,
            "alice.smith@contoso.com",
            CloudPcAction::PowerOff,
            false,
        )
        .await,
    );
    assert_eq!(err.kind(), ErrorKind::Validation);
    let (_, err) =
        expect_err(action(&sim, "nobody@contoso.com", CloudPcAction::Reboot, false).await);
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let report = ok(action(
        &sim,
        "grace.wilson@contoso.com",
        CloudPcAction::EndGracePeriod,
        true,
    )
    .await);
    assert_eq!(report.plan.len(), 1);
    assert!(report.steps.is_empty());
    assert_eq!(writes(&sim), 0);
}

// ---- capacity ---------------------------------------------------------------------------------

#[tokio::test]
async fn capacity_figures_equal_the_simulators_state() {
    let sim = TestSim::contoso().await;
    // Move things a little first: one more 128 GB license in use.
    add_to_group(&sim, "megan.bowen@contoso.com", LIC_128).await;
    sim.advance(Duration::from_secs(600)).await;
    let report = capacity::capacity(&sim.client(), &CapacityOptions::default())
        .await
        .unwrap();

    let (skus, frontline, by_status, grace) = sim.sim().with_state(|s| {
        let t = s.default_tenant().unwrap();
        let skus: Vec<(String, i64, i64)> = t
            .licensing
            .skus
            .iter()
            .map(|k| {
                (
                    k.sku_part_number.clone(),
                    i64::from(k.prepaid_units.enabled),
                    i64::from(k.consumed_units),
                )
            })
            .collect();
        let frontline: Vec<(String, i64, i64, i64)> = t
            .w365
            .frontline_plans()
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    i64::from(p.total_count),
                    i64::from(p.used_count),
                    i64::from(p.allotment_licenses_count),
                )
            })
            .collect();
        let mut by_status = std::collections::BTreeMap::new();
        let mut grace = Vec::new();
        for pc in t.w365.cloud_pcs() {
            *by_status
                .entry(pc.status.as_str().to_owned())
                .or_insert(0usize) += 1;
            if pc.status.as_str() == "inGracePeriod" {
                grace.push((
                    pc.user_principal_name.clone(),
                    pc.grace_period_end_date_time,
                ));
            }
        }
        (skus, frontline, by_status, grace)
    });
    assert_eq!(report.skus.len(), skus.len());
    for (part, total, consumed) in &skus {
        let got = report
            .skus
            .iter()
            .find(|s| &s.sku_part_number == part)
            .unwrap_or_else(|| panic!("{part} missing"));
        assert_eq!((got.total, got.consumed), (*total, *consumed), "{part}");
        assert_eq!(got.free, (total - consumed).max(0), "{part}");
    }
    let cpc128 = report
        .skus
        .iter()
        .find(|s| s.sku_part_number == "CPC_E_2C_4GB_128GB")
        .unwrap();
    assert_eq!((cpc128.total, cpc128.consumed, cpc128.free), (25, 6, 19));
    assert_eq!(report.frontline_plans.len(), frontline.len());
    for (id, total, used, allotted) in &frontline {
        let got = report
            .frontline_plans
            .iter()
            .find(|p| &p.service_plan_id == id)
            .unwrap();
        // Free licences are those not allotted to any group yet.
        assert_eq!(
            (got.total, got.used, got.allotted, got.free),
            (
                *total,
                *used,
                Some(*allotted),
                (total - allotted.max(used)).max(0)
            )
        );
    }
    // Per assignment: Shift A's three licences give nine Cloud PCs in dedicated mode; Kate and
    // Liam hold two.
    assert_eq!(report.frontline_assignments.len(), 1);
    let shift_a = &report.frontline_assignments[0].seats;
    assert_eq!(
        (
            shift_a.allotted_licenses,
            shift_a.cloud_pc_capacity,
            shift_a.in_use,
            shift_a.free
        ),
        (3, 9, 2, 7)
    );
    assert_eq!(report.cloud_pcs_by_status, by_status);
    assert_eq!(report.grace_period.len(), grace.len());
    assert_eq!(
        report.grace_period[0].user_principal_name.as_deref(),
        Some(grace[0].0.as_str())
    );
    assert_eq!(
        report.grace_period[0].grace_period_end_date_time,
        grace[0].1
    );
    // Megan (just licensed, no provisioning group) and Noah (licensed, not targeted) have none.
    let without: Vec<&str> = report
        .users_without_cloud_pc
        .iter()
        .map(|u| u.user_principal_name.as_str())
        .collect();
    assert!(without.contains(&"megan.bowen@contoso.com"), "{without:?}");
    assert!(without.contains(&"noah.lee@contoso.com"), "{without:?}");
    assert!(!without.contains(&"alice.smith@contoso.com"), "{without:?}");
}
