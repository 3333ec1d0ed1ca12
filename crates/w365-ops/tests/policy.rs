//! Policy operations against the simulator over HTTP (contoso seed, one simulator per test).

use std::path::Path;

use w365_graph::Client;
use w365_graph::models::{PolicySettingType, ProvisioningPolicy, ProvisioningType};
use w365_ops::execute::Silent;
use w365_ops::policy::diff::Change;
use w365_ops::policy::ops::{self, ListFilter};
use w365_ops::policy::spec::{AssignmentSpec, ObjectKind, PolicySpec, Spec, UserSettingsSpec};
use w365_ops::policy::{ExecReport, PolicyPlan, execute};
use w365_ops::{Error, ErrorKind};
use w365_testkit::TestSim;

const WIN11: &str = "cfg - Windows 365 - Provisioning - Win11";
const WIN10: &str = "cfg - Windows 365 - Provisioning - Win10";
const SHIFT_A: &str = "cfg - Windows 365 - Frontline - Shift A";
const FRONTLINE_PLAN: &str = "057efbfe-a95d-4263-acb0-12b4a31fed8d";
const P: ObjectKind = ObjectKind::ProvisioningPolicy;
const U: ObjectKind = ObjectKind::UserSettings;

async fn run(client: &Client, plan: &PolicyPlan) -> ExecReport {
    let mut report = ExecReport::default();
    execute(client, plan, &Silent, &mut report)
        .await
        .unwrap_or_else(|e| {
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            panic!("{e}: {cause:?}\n{plan}")
        });
    report
}

fn new_policy(name: &str) -> PolicySpec {
    PolicySpec {
        display_name: name.into(),
        image_type: Some(w365_graph::models::ImageType::Gallery),
        image_id: Some("microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365".into()),
        image_display_name: Some("Windows 11".into()),
        cloud_pc_naming_template: Some("NEW-%RAND:5%".into()),
        ..PolicySpec::default()
    }
}

fn group(name: &str) -> AssignmentSpec {
    AssignmentSpec {
        group: name.into(),
        ..AssignmentSpec::default()
    }
}

fn writes(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("virtualEndpoint"))
        .count()
}

async fn group_names(client: &Client, kind: ObjectKind, name: &str) -> Vec<String> {
    let mut names: Vec<String> = ops::show(client, kind, name)
        .await
        .unwrap()
        .assignments
        .into_iter()
        .map(|a| a.group.display_name)
        .collect();
    names.sort_by_key(|n| n.to_lowercase());
    names
}

#[tokio::test]
async fn list_and_show_with_assignments_and_filters() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let all = ops::list(&client, P, &ListFilter::default()).await.unwrap();
    assert_eq!(all.len(), 3);
    let shared = ops::list(
        &client,
        P,
        &ListFilter {
            provisioning_type: Some(ProvisioningType::Shared),
            name_starts_with: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!(
        shared[0].assignments[0].service_plan_id.as_deref(),
        Some(FRONTLINE_PLAN)
    );
    assert_eq!(shared[0].assignments[0].allotment_licenses_count, Some(3));
    let by_prefix = ops::list(
        &client,
        P,
        &ListFilter {
            provisioning_type: None,
            name_starts_with: Some("CFG - WINDOWS 365 - PROVISIONING".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(by_prefix.len(), 2);
    let d = ops::show(&client, P, WIN11).await.unwrap();
    assert_eq!(d.assignments[0].group.display_name, WIN11);
    assert_eq!(
        d.properties["cloud_pc_naming_template"],
        "CPC-%USERNAME:5%-%RAND:5%"
    );
    assert!(d.read_only.get("gracePeriodInHours").is_some());
    let by_id = ops::show(&client, P, &d.id).await.unwrap();
    assert_eq!(by_id.display_name, WIN11);
    let err = ops::show(&client, P, "no such policy").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let us = ops::list(&client, U, &ListFilter::default()).await.unwrap();
    assert_eq!(us.len(), 2);
}

#[tokio::test]
async fn create_validates_before_sending_and_then_creates_with_assignments() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let mut bad = new_policy("Bad");
    bad.cloud_pc_naming_template = Some("CONTOSO-%USERNAME:5%-%RAND:5%".into());
    bad.image_id = Some("windows11".into());
    bad.domain_join_configurations = Some(vec![w365_ops::policy::spec::DomainJoinSpec {
        domain_join_type: Some(w365_graph::models::DomainJoinType::HybridAzureAdJoin),
        ..Default::default()
    }]);
    bad.image_display_name = None;
    let err = ops::plan_create(&client, Spec::Policy(bad))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    let text = err.to_string();
    assert!(
        text.contains("4 problems found, nothing was sent"),
        "{text}"
    );
    assert!(text.contains("can generate 19 characters"), "{text}");
    assert!(text.contains("the limit is 15"), "{text}");
    assert!(text.contains("{publisher}_{offer}_{sku}"), "{text}");
    assert!(text.contains("needs an Azure network connection"), "{text}");
    assert!(
        text.contains("the required property image_display_name is missing"),
        "{text}"
    );
    assert_eq!(writes(&sim), 0);

    let mut spec = new_policy("W365 New");
    spec.assignments = vec![group("Engineering")];
    let plan = ops::plan_create(&client, Spec::Policy(spec.clone()))
        .await
        .unwrap();
    assert_eq!(plan.len(), 2, "{plan}");
    assert_eq!(writes(&sim), 0, "planning only reads");
    let report = run(&client, &plan).await;
    assert_eq!(report.created.len(), 1);
    assert_eq!(
        group_names(&client, P, "W365 New").await,
        vec!["Engineering"]
    );
    let err = ops::plan_create(&client, Spec::Policy(spec))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[tokio::test]
async fn update_changes_only_given_properties_and_refuses_a_type_change() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let change = PolicySpec {
        description: Some("new text".into()),
        enable_single_sign_on: Some(true),
        ..PolicySpec::default()
    };
    let plan = ops::plan_update(&client, WIN11, Spec::Policy(change.clone()))
        .await
        .unwrap();
    assert_eq!(plan.len(), 1, "only the description differs: {plan}");
    let Change::Update { fields, .. } = &plan.changes[0] else {
        panic!("{plan}")
    };
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].field, "description");
    run(&client, &plan).await;
    let d = ops::show(&client, P, WIN11).await.unwrap();
    assert_eq!(d.properties["description"], "new text");
    assert!(
        ops::plan_update(&client, WIN11, Spec::Policy(change))
            .await
            .unwrap()
            .is_empty()
    );

    let err = ops::plan_update(
        &client,
        WIN11,
        Spec::Policy(PolicySpec {
            provisioning_type: Some(ProvisioningType::Shared),
            ..PolicySpec::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(
        err.to_string()
            .contains("cannot change from dedicated to shared"),
        "{err}"
    );
    assert!(err.to_string().contains("immutable"), "{err}");

    let err = ops::plan_update(
        &client,
        WIN11,
        Spec::Policy(PolicySpec {
            cloud_pc_naming_template: Some("%USERNAME:12%-%RAND:5%".into()),
            ..PolicySpec::default()
        }),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("can generate 18 characters"),
        "{err}"
    );
}

#[tokio::test]
async fn assign_and_unassign_keep_the_other_assignments() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let plan = ops::plan_assign(&client, P, WIN11, &[group("Engineering")], false)
        .await
        .unwrap();
    assert_eq!(plan.len(), 1);
    run(&client, &plan).await;
    assert_eq!(
        group_names(&client, P, WIN11).await,
        vec![WIN11, "Engineering"]
    );
    // Assigning again needs nothing.
    assert!(
        ops::plan_assign(&client, P, WIN11, &[group("Engineering")], false)
            .await
            .unwrap()
            .is_empty()
    );

    // Someone else assigns a group between planning and execution: it survives.
    let plan = ops::plan_assign(&client, P, WIN11, &[group("All Staff")], false)
        .await
        .unwrap();
    let other = ops::plan_assign(
        &client,
        P,
        WIN11,
        &[group("Marketing (Microsoft 365)")],
        false,
    )
    .await
    .unwrap();
    run(&client, &other).await;
    run(&client, &plan).await;
    assert_eq!(
        group_names(&client, P, WIN11).await,
        vec![
            "All Staff",
            WIN11,
            "Engineering",
            "Marketing (Microsoft 365)"
        ]
    );

    let plan = ops::plan_unassign(&client, P, WIN11, &["Engineering".into()])
        .await
        .unwrap();
    assert_eq!(plan.len(), 1);
    run(&client, &plan).await;
    assert_eq!(
        group_names(&client, P, WIN11).await,
        vec!["All Staff", WIN11, "Marketing (Microsoft 365)"]
    );
    assert!(
        ops::plan_unassign(&client, P, WIN11, &["Engineering".into()])
            .await
            .unwrap()
            .is_empty()
    );

    // --replace: exactly this set.
    let plan = ops::plan_assign(&client, P, WIN11, &[group(WIN11)], true)
        .await
        .unwrap();
    assert_eq!(plan.len(), 2, "{plan}");
    run(&client, &plan).await;
    assert_eq!(group_names(&client, P, WIN11).await, vec![WIN11]);
}

#[tokio::test]
async fn frontline_assignments_carry_plan_and_allotment() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let err = ops::plan_assign(&client, P, SHIFT_A, &[group("Engineering")], false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a service plan"), "{err}");
    let err = ops::plan_assign(
        &client,
        P,
        WIN11,
        &[AssignmentSpec {
            allotment_licenses_count: Some(1),
            ..group("Engineering")
        }],
        false,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("only assignments of Frontline"),
        "{err}"
    );
    // Move one seat from Shift A's allotment to a new group: the existing one is changed, not lost.
    let shrink = AssignmentSpec {
        service_plan_id: Some(FRONTLINE_PLAN.into()),
        allotment_display_name: Some("Shift A".into()),
        allotment_licenses_count: Some(2),
        ..group(SHIFT_A)
    };
    let add = AssignmentSpec {
        service_plan_id: Some(FRONTLINE_PLAN.into()),
        allotment_display_name: Some("Engineering".into()),
        allotment_licenses_count: Some(1),
        ..group("Engineering")
    };
    let plan = ops::plan_assign(&client, P, SHIFT_A, &[shrink, add], false)
        .await
        .unwrap();
    assert_eq!(plan.len(), 2, "{plan}");
    assert!(plan.to_string().contains("3 licenses) → ("), "{plan}");
    run(&client, &plan).await;
    let d = ops::show(&client, P, SHIFT_A).await.unwrap();
    let counts: Vec<(String, Option<i32>)> = d
        .assignments
        .iter()
        .map(|a| (a.group.display_name.clone(), a.allotment_licenses_count))
        .collect();
    assert_eq!(
        counts,
        vec![
            (SHIFT_A.to_owned(), Some(2)),
            ("Engineering".to_owned(), Some(1))
        ]
    );
}

#[tokio::test]
async fn delete_is_refused_while_assigned_unless_unassign_first() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let err = ops::plan_delete(&client, P, WIN10, false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(
        err.to_string()
            .contains(&format!("still assigned to 1 group ('{WIN10}')")),
        "{err}"
    );
    assert!(err.to_string().contains("--unassign-first"), "{err}");
    let plan = ops::plan_delete(&client, P, WIN10, true).await.unwrap();
    assert!(
        matches!(
            plan.changes.as_slice(),
            [Change::Unassign { .. }, Change::Delete { .. }]
        ),
        "{plan}"
    );
    run(&client, &plan).await;
    let err = ops::show(&client, P, WIN10).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // Deleting what is already gone converges.
    let report = run(
        &client,
        &PolicyPlan {
            changes: vec![plan.changes[1].clone()],
            unmanaged: vec![],
        },
    )
    .await;
    assert_eq!(report.changes[0].outcome.label(), "already done");
}

#[tokio::test]
async fn ambiguous_policy_and_group_names_are_refused_with_ids() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let twin = ProvisioningPolicy {
        display_name: "Twin".into(),
        image_type: Some(w365_graph::models::ImageType::Gallery),
        image_id: Some("a_b_c".into()),
        image_display_name: Some("x".into()),
        ..ProvisioningPolicy::default()
    };
    let a = client
        .provisioning_policies()
        .create(&twin)
        .await
        .unwrap()
        .id
        .unwrap();
    let b = client
        .provisioning_policies()
        .create(&twin)
        .await
        .unwrap()
        .id
        .unwrap();
    let err = ops::show(&client, P, "twin").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Ambiguous);
    let Error::AmbiguousName { ids, count, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*count, 2);
    assert!(ids.contains(&a) && ids.contains(&b));
    assert!(err.hint().unwrap().contains("ids instead of the name"));
    // The id still works.
    assert_eq!(ops::show(&client, P, &a).await.unwrap().id, a);
    // Two groups are named Sales.
    let err = ops::plan_assign(&client, P, WIN11, &[group("Sales")], false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Ambiguous);
    assert!(
        err.to_string()
            .contains("the group name 'Sales' is ambiguous: 2 objects"),
        "{err}"
    );
}

#[tokio::test]
async fn apply_and_apply_config() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let plan = ops::plan_apply(&client, WIN11, PolicySettingType::SingleSignOn)
        .await
        .unwrap();
    run(&client, &plan).await;
    // The single sign-on update runs on the Cloud PCs first.
    sim.advance(std::time::Duration::from_secs(6 * 3600)).await;
    let pcs = client.cloud_pcs().list(None).await.unwrap();
    let ids: Vec<String> = pcs.iter().take(2).map(|p| p.id.clone()).collect();
    let plan = ops::plan_apply_config(&client, &ids, PolicySettingType::Region)
        .await
        .unwrap();
    assert!(plan.to_string().contains("to 2 Cloud PCs"), "{plan}");
    run(&client, &plan).await;
    let err = ops::plan_apply_config(
        &client,
        &["00000000-0000-0000-0000-000000000000".into()],
        PolicySettingType::Region,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let posted: Vec<String> = sim
        .sim()
        .request_log()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path.clone())
        .collect();
    assert!(posted.iter().any(|p| p.ends_with("/apply")), "{posted:?}");
    assert!(
        posted
            .iter()
            .any(|p| p.ends_with("/provisioningPolicies/applyConfig")),
        "{posted:?}"
    );
}

#[tokio::test]
async fn user_settings_create_update_assign_unassign_delete() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let spec = UserSettingsSpec {
        display_name: "Admins".into(),
        local_admin_enabled: Some(true),
        assignments: vec![group("Engineering")],
        ..UserSettingsSpec::default()
    };
    run(
        &client,
        &ops::plan_create(&client, Spec::UserSettings(spec))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(group_names(&client, U, "Admins").await, vec!["Engineering"]);
    let plan = ops::plan_update(
        &client,
        "Admins",
        Spec::UserSettings(UserSettingsSpec {
            reset_enabled: Some(true),
            ..UserSettingsSpec::default()
        }),
    )
    .await
    .unwrap();
    run(&client, &plan).await;
    assert_eq!(
        ops::show(&client, U, "admins").await.unwrap().properties["reset_enabled"],
        true
    );
    run(
        &client,
        &ops::plan_assign(&client, U, "Admins", &[group("All Staff")], false)
            .await
            .unwrap(),
    )
    .await;
    run(
        &client,
        &ops::plan_unassign(&client, U, "Admins", &["Engineering".into()])
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(group_names(&client, U, "Admins").await, vec!["All Staff"]);
    assert!(ops::plan_delete(&client, U, "Admins", false).await.is_err());
    run(
        &client,
        &ops::plan_delete(&client, U, "Admins", true).await.unwrap(),
    )
    .await;
    assert_eq!(
        ops::list(&client, U, &ListFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(from),
        "{from} not in {}:\n{text}",
        path.display()
    );
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[tokio::test]
async fn export_diff_edit_sync_converges() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let dir = tempfile::tempdir().unwrap();
    let report = ops::export(&client, dir.path()).await.unwrap();
    // Five policies, the organization settings and one network connection.
    assert_eq!(report.files.len(), 7);
    assert!(report.stale.is_empty());
    let win11 = dir
        .path()
        .join("provisioning-policies/cfg-windows-365-provisioning-win11.toml");
    let text = std::fs::read_to_string(&win11).unwrap();
    assert!(text.contains("kind = \"provisioningPolicy\""), "{text}");
    assert!(text.contains(&format!("group = \"{WIN11}\"")), "{text}");
    assert!(!text.contains("grace_period"), "{text}");
    assert!(!text.contains("group_id"), "{text}");

    // Export, then diff: nothing.
    let plan = ops::plan_sync(&client, dir.path(), false).await.unwrap();
    assert!(plan.is_empty(), "{plan}");
    assert!(plan.unmanaged.is_empty());

    // Edit: one property, one more group; a new user settings file; remove the Win10 file.
    edit(
        &win11,
        "enable_single_sign_on = true",
        "enable_single_sign_on = false",
    );
    edit(
        &win11,
        &format!("group = \"{WIN11}\""),
        &format!("group = \"{WIN11}\"\n\n[[assignments]]\ngroup = \"Engineering\""),
    );
    std::fs::write(
        dir.path().join("user-settings/new.toml"),
        "kind = \"userSettings\"\ndisplay_name = \"New settings\"\nreset_enabled = true\n\n[[assignments]]\ngroup = \"All Staff\"\n",
    )
    .unwrap();
    std::fs::remove_file(
        dir.path()
            .join("provisioning-policies/cfg-windows-365-provisioning-win10.toml"),
    )
    .unwrap();

    let plan = ops::plan_sync(&client, dir.path(), false).await.unwrap();
    let summary: Vec<String> = plan
        .changes
        .iter()
        .map(|c| format!("{} {}", c.verb(), c.object().unwrap().1))
        .collect();
    assert_eq!(
        summary,
        vec![
            format!("update {WIN11}"),
            "create New settings".to_owned(),
            format!("assign {WIN11}"),
            "assign New settings".to_owned(),
        ],
        "{plan}"
    );
    let Change::Update { fields, .. } = &plan.changes[0] else {
        panic!()
    };
    assert_eq!(fields.len(), 1);
    assert_eq!(
        fields[0].to_string(),
        "~ enable_single_sign_on: true → false"
    );
    assert_eq!(plan.unmanaged.len(), 1, "Win10 is not in the files");
    assert_eq!(writes(&sim), 0, "diff changes nothing");

    // With --prune Win10 is unassigned and deleted too.
    let plan = ops::plan_sync(&client, dir.path(), true).await.unwrap();
    assert_eq!(plan.len(), 6, "{plan}");
    run(&client, &plan).await;
    let after = ops::plan_sync(&client, dir.path(), true).await.unwrap();
    assert!(after.is_empty(), "{after}");
    assert_eq!(
        group_names(&client, P, WIN11).await,
        vec![WIN11, "Engineering"]
    );

    // A provisioning type change in a file is refused before anything is sent.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("win11.toml"),
        format!(
            "kind = \"provisioningPolicy\"\ndisplay_name = \"{WIN11}\"\nprovisioning_type = \"sharedByUser\"\nimage_type = \"gallery\"\nimage_id = \"a_b_c\"\nimage_display_name = \"W\"\n"
        ),
    )
    .unwrap();
    let before = writes(&sim);
    let err = ops::plan_sync(&client, other.path(), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(
        err.to_string().contains("win11.toml: provisioning_type: the provisioning type cannot change from dedicated to sharedByUser"),
        "{err}"
    );
    assert_eq!(writes(&sim), before);
}

#[tokio::test]
async fn broken_files_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        "kind = \"provisioningPolicy\"\ndisplay_name = \"A\"\nimage = 1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        "kind = \"provisioningPolicy\"\ndisplay_name = \"B\"\nimage_type = \"gallery\"\nimage_id = \"x_y_z\"\nimage_display_name = \"W\"\ncloud_pc_naming_template = \"B-%RAND:3%\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("c.toml"),
        "kind = \"userSettings\"\ndisplay_name = \"S\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("d.toml"),
        "kind = \"userSettings\"\ndisplay_name = \"s\"\n",
    )
    .unwrap();
    let err = ops::load_dir(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("3 problems found"), "{text}");
    assert!(
        text.contains("a.toml:3: image: unknown field `image`"),
        "{text}"
    );
    assert!(
        text.contains("b.toml:6: cloud_pc_naming_template"),
        "{text}"
    );
    assert!(
        text.contains("d.toml: describes the same user settings policy"),
        "{text}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(
        ops::load_dir(empty.path())
            .unwrap_err()
            .to_string()
            .contains("has no policy files")
    );
}

#[cfg(unix)]
#[test]
fn a_directory_link_loop_is_one_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "kind = \"userSettings\"\ndisplay_name = \"S\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("self")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("sub").join("up")).unwrap();
    let err = ops::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.kind(), w365_ops::ErrorKind::Validation);
    let text = err.to_string();
    assert!(
        text.contains("symbolic link to a directory (self, sub/up)"),
        "{text}"
    );
    assert!(text.contains("replace the link"), "{text}");
    assert_eq!(text.matches("problem").count(), 0, "one message: {text}");

    // A link to a file is read like the file.
    let files = tempfile::tempdir().unwrap();
    std::fs::write(
        files.path().join("real.txt"),
        "kind = \"userSettings\"\ndisplay_name = \"T\"\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        files.path().join("real.txt"),
        files.path().join("linked.toml"),
    )
    .unwrap();
    let loaded = ops::load_dir(files.path()).unwrap();
    assert_eq!(loaded.len(), 1);
}

#[tokio::test]
async fn a_read_only_app_is_told_which_permission_it_lacks() {
    let sim = TestSim::contoso().await;
    let client = sim.client_with_roles(&["CloudPC.Read.All", "Group.Read.All"]);
    let plan = ops::plan_assign(&client, P, WIN11, &[group("Engineering")], false)
        .await
        .unwrap();
    let mut report = ExecReport::default();
    let err = execute(&client, &plan, &Silent, &mut report)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permission);
    assert!(
        err.hint().unwrap().contains("CloudPC.ReadWrite.All"),
        "{:?}",
        err.hint()
    );
    assert_eq!(report.changes[0].outcome.label(), "failed");
}

#[tokio::test]
async fn unassign_by_group_id() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let d = ops::show(&client, P, WIN10).await.unwrap();
    let gid = d.assignments[0].group.id.clone();
    let plan = ops::plan_unassign(&client, P, WIN10, &[gid]).await.unwrap();
    assert_eq!(plan.len(), 1);
    run(&client, &plan).await;
    assert!(group_names(&client, P, WIN10).await.is_empty());
}

#[tokio::test]
async fn an_allotment_the_plan_cannot_cover_is_refused_before_anything_is_sent() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    // The plan has three licences, all allotted to Shift A: a new group's one licence does not fit.
    let add = AssignmentSpec {
        service_plan_id: Some(FRONTLINE_PLAN.into()),
        allotment_display_name: Some("Engineering".into()),
        allotment_licenses_count: Some(1),
        ..group("Engineering")
    };
    let before = writes(&sim);
    let err = ops::plan_assign(&client, P, SHIFT_A, std::slice::from_ref(&add), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), w365_ops::ErrorKind::OutOfCapacity, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("1 license(s) requested") && text.contains("0 free"),
        "names requested and free: {text}"
    );
    assert_eq!(writes(&sim), before, "nothing sent");
    // Replacing Shift A's own allotment counts it as freed: 2 + 1 fit in 3.
    let shrink = AssignmentSpec {
        service_plan_id: Some(FRONTLINE_PLAN.into()),
        allotment_display_name: Some("Shift A".into()),
        allotment_licenses_count: Some(2),
        ..group(SHIFT_A)
    };
    ops::plan_assign(&client, P, SHIFT_A, &[shrink, add.clone()], false)
        .await
        .unwrap();
    // Asking for more than the plan has in total is refused too.
    let too_many = AssignmentSpec {
        allotment_licenses_count: Some(4),
        ..add
    };
    let err = ops::plan_assign(&client, P, SHIFT_A, &[too_many], true)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("4 license(s) requested") && err.to_string().contains("3 free"),
        "{err}"
    );
}

#[tokio::test]
async fn shared_by_user_and_shared_by_entra_group_policies_work_end_to_end() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    // Free the plan's licences first (Shift A keeps one).
    let shrink = AssignmentSpec {
        service_plan_id: Some(FRONTLINE_PLAN.into()),
        allotment_display_name: Some("Shift A".into()),
        allotment_licenses_count: Some(1),
        ..group(SHIFT_A)
    };
    let plan = ops::plan_assign(&client, P, SHIFT_A, &[shrink], false)
        .await
        .unwrap();
    run(&client, &plan).await;
    for (name, kind, group_name) in [
        ("Frontline by user", ProvisioningType::SharedByUser, "Sales"),
        (
            "Frontline pool",
            ProvisioningType::SharedByEntraGroup,
            "Engineering",
        ),
    ] {
        let spec = PolicySpec {
            provisioning_type: Some(kind.clone()),
            assignments: vec![AssignmentSpec {
                service_plan_id: Some(FRONTLINE_PLAN.into()),
                allotment_display_name: Some(name.into()),
                allotment_licenses_count: Some(1),
                ..group(group_name)
            }],
            ..new_policy(name)
        };
        let spec = if group_name == "Sales" {
            // "Sales" is ambiguous by name: pass the Americas group's id.
            let id = client.groups().find_by_display_name("Sales").await.unwrap()[0]
                .id
                .clone();
            PolicySpec {
                assignments: vec![AssignmentSpec {
                    group_id: Some(id),
                    ..spec.assignments[0].clone()
                }],
                ..spec
            }
        } else {
            spec
        };
        let plan = ops::plan_create(&client, Spec::Policy(spec)).await.unwrap();
        run(&client, &plan).await;
        let d = ops::show(&client, P, name).await.unwrap();
        assert_eq!(
            d.assignments[0].allotment_licenses_count,
            Some(1),
            "{name}: {d:?}"
        );
        let listed = client
            .provisioning_policies()
            .find_by_display_name(name)
            .await
            .unwrap();
        assert_eq!(listed[0].provisioning_type, Some(kind), "{name}");
    }
    // The plan is now fully allotted (1 + 1 + 1 of 3): a fourth licence is refused.
    let more = AssignmentSpec {
        service_plan_id: Some(FRONTLINE_PLAN.into()),
        allotment_licenses_count: Some(2),
        ..group("Engineering")
    };
    let err = ops::plan_assign(&client, P, "Frontline pool", &[more], false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), w365_ops::ErrorKind::OutOfCapacity, "{err}");
}

#[tokio::test]
async fn sync_refuses_allotments_the_plan_cannot_cover_before_anything_is_sent() {
    let sim = TestSim::contoso().await;
    let client = sim.client();
    let dir = tempfile::tempdir().unwrap();
    ops::export(&client, dir.path()).await.unwrap();
    let shift_a = dir
        .path()
        .join("provisioning-policies/cfg-windows-365-frontline-shift-a.toml");
    edit(
        &shift_a,
        "allotment_licenses_count = 3",
        "allotment_licenses_count = 5",
    );
    let before = writes(&sim);
    let err = ops::plan_sync(&client, dir.path(), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfCapacity, "{err}");
    assert!(
        err.to_string().contains("5 license(s) requested") && err.to_string().contains("3 free"),
        "{err}"
    );
    assert_eq!(writes(&sim), before);
    // Within the plan it is fine.
    edit(
        &shift_a,
        "allotment_licenses_count = 5",
        "allotment_licenses_count = 2",
    );
    let plan = ops::plan_sync(&client, dir.path(), false).await.unwrap();
    assert_eq!(plan.len(), 1, "{plan}");
}
