//! `w365 unassign|reprovision|resize|cloudpc|capacity` against a simulator over HTTP, configured like
//! a real tenant (a config profile with a custom cloud, the secret in an environment variable).

use w365_testkit::TestSim;

use crate::common::{Env, graph_writes, json, run};

const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
const LIC_256: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";

#[tokio::test]
async fn unassign_prints_a_json_document_and_dry_run_writes_nothing() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &sim,
        env.cmd(&["unassign", "alice.smith@contoso.com", "--dry-run"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Dry run"), "{}", out.stdout);
    assert!(out.stdout.contains("end it"), "{}", out.stdout);
    assert_eq!(graph_writes(&sim), 0);

    let out = run(
        &sim,
        env.cmd(&["unassign", "alice.smith@contoso.com", "-o", "json", "--yes"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc = json(&out);
    assert_eq!(doc["command"], "unassign");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["path"]["kind"], "dedicated");
    assert_eq!(doc["groups"]["remove"], true);
    assert_eq!(doc["steps"].as_array().unwrap().len(), 4);
    assert_eq!(doc["cloudPc"]["status"], "deprovisioning");
}

#[tokio::test]
async fn lifecycle_exit_codes_follow_the_architecture() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let cases: &[(&[&str], i32, &str)] = &[
        (&["unassign", "nobody@contoso.com"], 3, "was not found"),
        (
            &["reprovision", "megan.bowen@contoso.com", "--yes"],
            3,
            "nothing to reprovision",
        ),
        (
            &[
                "resize",
                "alice.smith@contoso.com",
                "--from",
                LIC_128,
                "--to",
                LIC_128,
                "--yes",
            ],
            11,
            "same size",
        ),
        (
            &[
                "cloudpc",
                "end-grace-period",
                "alice.smith@contoso.com",
                "--yes",
            ],
            11,
            "grace period",
        ),
        (
            &["cloudpc", "show", "00000000-0000-0000-0000-000000000000"],
            3,
            "Cloud PC",
        ),
        (
            &["cloudpc", "list", "--status", "sleeping"],
            11,
            "unknown Cloud PC status",
        ),
        // Destructive without a terminal and without --yes: refused before anything changes
        // (tests/consent.rs covers every command).
        (
            &["cloudpc", "end-grace-period", "grace.wilson@contoso.com"],
            2,
            "pass --yes",
        ),
        (&["reprovision", "alice.smith@contoso.com"], 2, "pass --yes"),
        (&["resize", "alice.smith@contoso.com"], 2, "--from"),
    ];
    for (args, code, text) in cases {
        let out = run(&sim, env.cmd(args)).await;
        assert_eq!(out.code, *code, "{args:?}\n{}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(text), "{args:?}: {}", out.stderr);
    }
    assert_eq!(graph_writes(&sim), 0);
}

#[tokio::test]
async fn resize_without_a_free_license_exits_5_and_the_happy_path_exits_0() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &sim,
        env.cmd(&[
            "resize",
            "alice.smith@contoso.com",
            "--from",
            LIC_128,
            "--to",
            LIC_256,
            "--yes",
            "-o",
            "json",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let doc = json(&out);
    assert_eq!(doc["command"], "resize");
    assert_eq!(doc["toSku"]["skuPartNumber"], "CPC_E_2C_4GB_256GB");
    // That took the last 256 GB unit: the next resize is out of licenses.
    let out = run(
        &sim,
        env.cmd(&[
            "resize",
            "bob.jones@contoso.com",
            "--from",
            LIC_128,
            "--to",
            LIC_256,
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 5, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("no free"), "{}", out.stderr);
}

#[tokio::test]
async fn reprovision_with_yes_and_notify_sends_the_mail() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &sim,
        env.cmd(&["reprovision", "bob.jones@contoso.com", "--notify", "--yes"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("being reprovisioned"), "{}", out.stdout);
    assert_eq!(sim.sim().outbox().len(), 1);
}

#[tokio::test]
async fn cloudpc_list_json_and_csv_and_actions_with_yes() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(&sim, env.cmd(&["cloudpc", "list", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = json(&out);
    let total = sim
        .sim()
        .with_state(|s| s.default_tenant().unwrap().w365.cloud_pcs().len());
    assert_eq!(doc["count"], total);

    let out = run(
        &sim,
        env.cmd(&["cloudpc", "list", "--status", "inGracePeriod", "-o", "csv"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].starts_with("id,displayName,userPrincipalName,status"));
    assert!(lines[1].contains("grace.wilson@contoso.com"));

    let out = run(
        &sim,
        env.cmd(&[
            "cloudpc",
            "end-grace-period",
            "grace.wilson@contoso.com",
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(
        &sim,
        env.cmd(&[
            "cloudpc",
            "rename",
            "bob.jones@contoso.com",
            "--name",
            "Bob's PC",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "show", "bob.jones@contoso.com", "-o", "json"]),
    )
    .await;
    assert_eq!(json(&out)["cloudPcs"][0]["displayName"], "Bob's PC");
}

#[tokio::test]
async fn capacity_json_and_csv_match_the_simulator() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(&sim, env.cmd(&["capacity", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = json(&out);
    let sku = doc["skus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["skuPartNumber"] == "CPC_E_2C_4GB_256GB")
        .unwrap();
    assert_eq!(
        (&sku["total"], &sku["consumed"], &sku["free"]),
        (&4.into(), &3.into(), &1.into())
    );
    // Shift A's allotment takes all three licences of the plan; in dedicated mode they give nine
    // Cloud PCs, two of them in use.
    assert_eq!(doc["frontlinePlans"][0]["free"], 0);
    assert_eq!(doc["frontlinePlans"][0]["allotted"], 3);
    let seats = &doc["frontlineAssignments"][0]["seats"];
    assert_eq!(
        (
            &seats["mode"],
            &seats["cloudPcCapacity"],
            &seats["inUse"],
            &seats["free"]
        ),
        (&"dedicated".into(), &9.into(), &2.into(), &7.into())
    );
    assert_eq!(
        doc["gracePeriod"][0]["userPrincipalName"],
        "grace.wilson@contoso.com"
    );

    let out = run(&sim, env.cmd(&["capacity", "-o", "csv"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("section,name,id,total,used,free,detail")
    );
    assert!(
        out.stdout.contains("sku,CPC_E_2C_4GB_256GB,"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("gracePeriod,grace.wilson@contoso.com,"));

    let out = run(&sim, env.cmd(&["capacity"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Windows 365 SKU"), "{}", out.stdout);
    assert!(out.stdout.contains("Frontline policy"), "{}", out.stdout);
}

#[tokio::test]
async fn capacity_needs_only_read_permissions() {
    let sim = TestSim::contoso().await;
    let env = Env::new(
        &sim,
        Some(&[
            "Organization.Read.All",
            "GroupMember.Read.All",
            "CloudPC.Read.All",
        ]),
    );
    let out = run(&sim, env.cmd(&["capacity", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let env = Env::new(
        &sim,
        Some(&["Organization.Read.All", "GroupMember.Read.All"]),
    );
    let out = run(&sim, env.cmd(&["capacity"])).await;
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert!(out.stderr.contains("CloudPC.Read.All"), "{}", out.stderr);
}

#[tokio::test]
async fn the_documented_permissions_are_enough() {
    let sim = TestSim::contoso().await;
    // The README's lists: GroupMember.ReadWrite.All (or GroupMember.Read.All where nothing is
    // written) covers the group reads, so Group.Read.All is not needed anywhere.
    let write = [
        "User.Read.All",
        "GroupMember.ReadWrite.All",
        "Organization.Read.All",
        "CloudPC.ReadWrite.All",
    ];
    let env = Env::new(&sim, Some(&write));
    let out = run(
        &sim,
        env.cmd(&["unassign", "alice.smith@contoso.com", "--yes"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(
        &sim,
        env.cmd(&[
            "resize",
            "bob.jones@contoso.com",
            "--from",
            LIC_128,
            "--to",
            LIC_256,
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let env = Env::new(
        &sim,
        Some(&[
            "User.Read.All",
            "GroupMember.Read.All",
            "Organization.Read.All",
            "CloudPC.ReadWrite.All",
        ]),
    );
    let out = run(
        &sim,
        env.cmd(&["reprovision", "dave.brown@contoso.com", "--yes"]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let env = Env::new(&sim, Some(&["CloudPC.Read.All"]));
    let out = run(&sim, env.cmd(&["cloudpc", "list"])).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // Without the write permission an action fails with exit 9 naming it.
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "troubleshoot", "frank.miller@contoso.com"]),
    )
    .await;
    assert_eq!(out.code, 9, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("CloudPC.ReadWrite.All"),
        "{}",
        out.stderr
    );
    // Without GroupMember.ReadWrite.All, unassign fails naming it.
    let env = Env::new(
        &sim,
        Some(&[
            "User.Read.All",
            "GroupMember.Read.All",
            "Organization.Read.All",
            "CloudPC.ReadWrite.All",
        ]),
    );
    let out = run(
        &sim,
        env.cmd(&["unassign", "erin.davis@contoso.com", "--yes"]),
    )
    .await;
    assert_eq!(out.code, 9, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("GroupMember.ReadWrite.All"),
        "{}",
        out.stderr
    );
}

/// The id of the group named `name` (the first when several share it).
async fn group_id(sim: &TestSim, name: &str) -> String {
    sim.client()
        .groups()
        .find_by_display_name(name)
        .await
        .unwrap()
        .first()
        .unwrap_or_else(|| panic!("no group {name}"))
        .id
        .clone()
}

/// Every group option of assign, unassign, reprovision and resize takes an id as well as a name
/// (the way forward from an ambiguous name).
#[tokio::test]
async fn every_group_option_takes_an_id() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    // "Sales" names two groups: refused with their ids, and a hint that ids are accepted.
    let out = run(
        &sim,
        env.cmd(&[
            "assign",
            "megan.bowen@contoso.com",
            "--provisioning-group",
            "Sales",
        ]),
    )
    .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("group ids"), "{}", out.stderr);
    let sales = group_id(&sim, "Sales").await;
    let win11 = group_id(&sim, "cfg - Windows 365 - Provisioning - Win11").await;
    let settings = group_id(&sim, "cfg - Windows 365 - User Settings - restore allowed").await;
    let lic128 = group_id(&sim, LIC_128).await;
    let lic256 = group_id(&sim, LIC_256).await;
    let out = run(
        &sim,
        env.cmd(&[
            "assign",
            "megan.bowen@contoso.com",
            "--provisioning-group",
            &win11,
            "--user-settings-group",
            &settings,
            "--license-group",
            &lic128,
            "-o",
            "json",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(json(&out)["path"]["licenseGroup"]["displayName"], LIC_128);
    let out = run(
        &sim,
        env.cmd(&[
            "assign",
            "henry.moore@contoso.com",
            "--provisioning-group",
            &sales,
            "--dry-run",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(
        &sim,
        env.cmd(&[
            "resize",
            "alice.smith@contoso.com",
            "--from",
            &lic128,
            "--to",
            &lic256,
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(
        &sim,
        env.cmd(&[
            "reprovision",
            "bob.jones@contoso.com",
            "--license-group",
            &lic128,
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(
        &sim,
        env.cmd(&[
            "unassign",
            "dave.brown@contoso.com",
            "--license-group",
            &lic128,
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // An id that is no group is named as an id.
    let out = run(
        &sim,
        env.cmd(&[
            "reprovision",
            "bob.jones@contoso.com",
            "--license-group",
            "00000000-0000-0000-0000-00000000abcd",
            "--yes",
        ]),
    )
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no group has the id '00000000-0000-0000-0000-00000000abcd'"),
        "{}",
        out.stderr
    );
}

/// A user with two Cloud PCs: the way forward is the Cloud PC id, which then works.
#[tokio::test]
async fn a_user_with_two_cloud_pcs_is_told_to_pass_the_cloud_pc_id() {
    let sim = TestSim::contoso().await;
    let second = sim.sim().with_state(|store| {
        let id = store.default_tenant_id().to_owned();
        let t = store.tenant_mut(&id).unwrap();
        let mut pc = t
            .w365
            .cloud_pcs()
            .iter()
            .find(|p| p.user_principal_name == "alice.smith@contoso.com")
            .unwrap()
            .clone();
        pc.id = t.w365.new_id();
        pc.display_name = "Alice's second Cloud PC".into();
        let second = pc.id.clone();
        t.w365.insert_cloud_pc(pc);
        second
    });
    let env = Env::new(&sim, None);
    let out = run(
        &sim,
        env.cmd(&["cloudpc", "reboot", "alice.smith@contoso.com", "--yes"]),
    )
    .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("pass the Cloud PC id"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Entra ID"), "{}", out.stderr);
    assert!(out.stderr.contains(&second), "{}", out.stderr);
    assert_eq!(graph_writes(&sim), 0);
    let out = run(&sim, env.cmd(&["cloudpc", "reboot", &second, "--yes"])).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}
