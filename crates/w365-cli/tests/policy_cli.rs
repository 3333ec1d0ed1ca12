//! `w365 policy` and `w365 user-settings` against a simulator over HTTP, configured like a real
//! tenant (a config profile with a custom cloud and the secret in an environment variable).

use std::path::{Path, PathBuf};

use w365_graph::models::{ImageType, ProvisioningPolicy};
use w365_testkit::TestSim;

use crate::common::{Env, Output, output_of};

const WIN11: &str = "cfg - Windows 365 - Provisioning - Win11";
const WIN10: &str = "cfg - Windows 365 - Provisioning - Win10";
const SHIFT_A: &str = "cfg - Windows 365 - Frontline - Shift A";
const RESTORE: &str = "cfg - Windows 365 - User Settings - restore allowed";

async fn run(env: &Env, args: &[&str]) -> Output {
    output_of(env.cmd(args)).await
}

fn policies(env: &Env) -> PathBuf {
    env.dir().join("policies")
}

fn writes(sim: &TestSim) -> usize {
    sim.sim()
        .request_log()
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("virtualEndpoint"))
        .count()
}

async fn groups_of(env: &Env, command: &str, name: &str) -> Vec<String> {
    let out = run(env, &[command, "show", name, "-o", "json"]).await;
    out.expect(0);
    let mut names: Vec<String> = out.json()["item"]["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["group"]["displayName"].as_str().unwrap().to_owned())
        .collect();
    names.sort_by_key(|n| n.to_lowercase());
    names
}

#[tokio::test]
async fn list_and_show() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(&env, &["policy", "list"]).await;
    out.expect(0);
    for text in [
        "Naming template",
        WIN11,
        "CPC-%USERNAME:5%-%RAND:5%",
        "Shift A (3)",
        "azureADJoin / westus3",
    ] {
        assert!(out.stdout.contains(text), "{text}:\n{}", out.stdout);
    }
    let out = run(&env, &["policy", "list", "--type", "shared", "-o", "json"]).await;
    let doc = out.expect(0).json();
    assert_eq!(doc["command"], "policy list");
    assert_eq!(doc["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["items"][0]["assignments"][0]["allotmentLicensesCount"],
        3
    );
    let out = run(&env, &["policy", "show", SHIFT_A]).await;
    out.expect(0);
    for text in [
        "Provisioning policy 'cfg - Windows 365 - Frontline - Shift A'",
        "Read-only:",
        "gracePeriodInHours",
        "allotment 'Shift A', 3 licenses",
        "service plan 057efbfe",
    ] {
        assert!(out.stdout.contains(text), "{text}:\n{}", out.stdout);
    }
    let out = run(&env, &["user-settings", "list"]).await;
    out.expect(0);
    assert!(
        out.stdout.contains(RESTORE) && out.stdout.contains("sixHours"),
        "{}",
        out.stdout
    );
    let out = run(&env, &["policy", "show", "nope", "-o", "json"]).await;
    assert_eq!(out.expect(3).json()["error"]["kind"], "notFound");
}

#[tokio::test]
async fn create_refuses_invalid_input_with_fixes_and_sends_nothing() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &env,
        &[
            "policy",
            "create",
            "--display-name",
            "Contoso <Win11>",
            "--image-type",
            "gallery",
            "--image-id",
            "win11",
            "--image-display-name",
            "Windows 11",
            "--naming-template",
            "CONTOSO-%USERNAME:6%-%RAND:4%",
            "--join-type",
            "hybridAzureADJoin",
        ],
    )
    .await;
    out.expect(11);
    for text in [
        "can generate 19 characters",
        "the limit is 15",
        "y must be at least 5",
        "{publisher}_{offer}_{sku}",
        "needs an Azure network connection",
        "--on-premises-connection-id",
        "display_name: 'Contoso <Win11>' contains '<', '>'",
        "nothing was sent",
    ] {
        assert!(out.stderr.contains(text), "{text}:\n{}", out.stderr);
    }
    let out = run(
        &env,
        &["policy", "create", "--display-name", "X", "-o", "json"],
    )
    .await;
    let doc = out.expect(11).json();
    assert_eq!(doc["error"]["kind"], "refusedByValidation");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("image_id is missing"),
        "{doc}"
    );
    let out = run(
        &env,
        &[
            "policy",
            "create",
            "--display-name",
            "X",
            "--image-type",
            "vhd",
        ],
    )
    .await;
    out.expect(2);
    assert_eq!(writes(&sim), 0);

    let args = [
        "policy",
        "create",
        "--display-name",
        "W365 Dev",
        "--image-type",
        "gallery",
        "--image-id",
        "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365",
        "--image-display-name",
        "Windows 11",
        "--naming-template",
        "DEV-%USERNAME:4%-%RAND:5%",
        "--region-name",
        "westeurope",
        "--region-group",
        "europeUnion",
        "--single-sign-on",
        "true",
        "--locale",
        "de-DE",
        "--group",
        "Engineering",
    ];
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let out = run(&env, &dry).await;
    out.expect(0);
    assert!(
        out.stdout.contains("Dry run")
            && out
                .stdout
                .contains("+ cloud_pc_naming_template = \"DEV-%USERNAME:4%-%RAND:5%\""),
        "{}",
        out.stdout
    );
    assert_eq!(writes(&sim), 0);
    let out = run(&env, &args).await;
    out.expect(0);
    assert!(
        out.stdout
            .contains("created provisioning policy 'W365 Dev'"),
        "{}",
        out.stdout
    );
    assert_eq!(
        groups_of(&env, "policy", "W365 Dev").await,
        vec!["Engineering"]
    );
    let doc = run(&env, &["policy", "show", "w365 dev", "-o", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        doc["item"]["properties"]["windows_setting"]["locale"],
        "de-DE"
    );
    assert_eq!(
        doc["item"]["properties"]["domain_join_configurations"][0]["region_name"],
        "westeurope"
    );
}

#[tokio::test]
async fn create_from_a_file_and_update() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let file = env.dir().join("p.toml");
    std::fs::write(
        &file,
        "kind = \"provisioningPolicy\"\ndisplay_name = \"From file\"\nimage_type = \"custom\"\nimage_id = \"img-123\"\n\
         image_display_name = \"Golden\"\nprovisioning_type = \"dedicated\"\n\n[[assignments]]\ngroup = \"All Staff\"\n",
    )
    .unwrap();
    run(
        &env,
        &["policy", "create", "--file", file.to_str().unwrap()],
    )
    .await
    .expect(0);
    assert_eq!(
        groups_of(&env, "policy", "From file").await,
        vec!["All Staff"]
    );
    let out = run(
        &env,
        &[
            "policy",
            "update",
            "From file",
            "--description",
            "golden image",
            "--local-admin",
            "true",
            "-o",
            "json",
        ],
    )
    .await;
    let doc = out.expect(0).json();
    let fields: Vec<&str> = doc["plan"]["changes"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["description", "local_admin_enabled"]);
    assert_eq!(doc["results"][0]["outcome"], "done");
    let out = run(
        &env,
        &[
            "policy",
            "update",
            "From file",
            "--description",
            "golden image",
        ],
    )
    .await;
    out.expect(0);
    assert!(out.stdout.contains("Nothing to do"), "{}", out.stdout);
    let out = run(
        &env,
        &["policy", "update", WIN11, "--provisioning-type", "shared"],
    )
    .await;
    out.expect(11);
    assert!(
        out.stderr
            .contains("cannot change from dedicated to shared")
            && out.stderr.contains("immutable"),
        "{}",
        out.stderr
    );
    let out = run(
        &env,
        &[
            "policy",
            "update",
            WIN11,
            "--naming-template",
            "CPC-%USERNAME:5%",
        ],
    )
    .await;
    out.expect(11);
    assert!(
        out.stderr.contains("has no %RAND:y% token"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn assign_and_unassign_keep_other_assignments() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &env,
        &[
            "policy",
            "assign",
            WIN11,
            "--group",
            "Engineering",
            "--dry-run",
            "-o",
            "json",
        ],
    )
    .await;
    let doc = out.expect(0).json();
    assert_eq!(doc["dryRun"], true);
    assert_eq!(doc["plan"]["changes"][0]["action"], "assign");
    assert_eq!(writes(&sim), 0);
    run(&env, &["policy", "assign", WIN11, "--group", "Engineering"])
        .await
        .expect(0);
    run(&env, &["policy", "assign", WIN11, "--group", "All Staff"])
        .await
        .expect(0);
    assert_eq!(
        groups_of(&env, "policy", WIN11).await,
        vec!["All Staff", WIN11, "Engineering"]
    );
    // Unassigning needs confirmation; without a terminal that means --yes.
    let out = run(
        &env,
        &["policy", "unassign", WIN11, "--group", "Engineering"],
    )
    .await;
    out.expect(2);
    assert!(out.stderr.contains("pass --yes"), "{}", out.stderr);
    run(
        &env,
        &[
            "policy",
            "unassign",
            WIN11,
            "--group",
            "Engineering",
            "--yes",
        ],
    )
    .await
    .expect(0);
    assert_eq!(
        groups_of(&env, "policy", WIN11).await,
        vec!["All Staff", WIN11]
    );
    run(
        &env,
        &[
            "policy",
            "assign",
            WIN11,
            "--group",
            WIN11,
            "--replace",
            "--yes",
        ],
    )
    .await
    .expect(0);
    assert_eq!(groups_of(&env, "policy", WIN11).await, vec![WIN11]);
    // Frontline target.
    let out = run(
        &env,
        &["policy", "assign", SHIFT_A, "--group", "Engineering"],
    )
    .await;
    out.expect(11);
    assert!(
        out.stderr.contains("needs a service plan"),
        "{}",
        out.stderr
    );
    run(
        &env,
        &[
            "policy",
            "assign",
            SHIFT_A,
            "--group",
            SHIFT_A,
            "--service-plan",
            "057efbfe-a95d-4263-acb0-12b4a31fed8d",
            "--allotment-name",
            "Shift A",
            "--allotment-count",
            "2",
        ],
    )
    .await
    .expect(0);
    let doc = run(&env, &["policy", "show", SHIFT_A, "-o", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(doc["item"]["assignments"][0]["allotmentLicensesCount"], 2);
    // Two groups are called Sales.
    let out = run(&env, &["policy", "assign", WIN11, "--group", "Sales"]).await;
    out.expect(4);
    assert!(
        out.stderr
            .contains("the group name 'Sales' is ambiguous: 2 objects"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn delete_while_assigned_and_ambiguous_names() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(&env, &["policy", "delete", WIN10, "--yes"]).await;
    out.expect(11);
    assert!(
        out.stderr.contains("still assigned to 1 group") && out.stderr.contains("--unassign-first"),
        "{}",
        out.stderr
    );
    run(&env, &["policy", "delete", WIN10, "--unassign-first"])
        .await
        .expect(2);
    let out = run(
        &env,
        &[
            "policy",
            "delete",
            WIN10,
            "--unassign-first",
            "--yes",
            "-o",
            "json",
        ],
    )
    .await;
    let doc = out.expect(0).json();
    let actions: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["change"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["unassign", "delete"]);
    run(&env, &["policy", "show", WIN10]).await.expect(3);

    let client = sim.client();
    let twin = ProvisioningPolicy {
        display_name: "Twin".into(),
        image_type: Some(ImageType::Gallery),
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
    let out = run(&env, &["policy", "delete", "Twin", "--yes"]).await;
    out.expect(4);
    assert!(
        out.stderr.contains(&a) && out.stderr.contains(&b),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("pass one of the ids"), "{}", out.stderr);
    run(&env, &["policy", "delete", &a, "--yes"])
        .await
        .expect(0);
    run(&env, &["policy", "show", "Twin"]).await.expect(0);
}

#[tokio::test]
async fn apply_and_apply_config() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &env,
        &[
            "policy",
            "apply",
            WIN10,
            "--setting",
            "single-sign-on",
            "--dry-run",
        ],
    )
    .await;
    out.expect(0);
    assert!(
        out.stdout
            .contains("apply the single sign-on setting of provisioning policy"),
        "{}",
        out.stdout
    );
    assert_eq!(writes(&sim), 0);
    // Applying moves or restarts existing Cloud PCs: it needs consent like any destructive change.
    let out = run(&env, &["policy", "apply", WIN10, "--setting", "region"]).await;
    out.expect(2);
    assert!(out.stderr.contains("pass --yes"), "{}", out.stderr);
    assert_eq!(writes(&sim), 0);
    run(
        &env,
        &["policy", "apply", WIN10, "--setting", "region", "--yes"],
    )
    .await
    .expect(0);
    let pcs = sim.client().cloud_pcs().list(None).await.unwrap();
    let alice = pcs
        .iter()
        .find(|p| p.user_principal_name.as_deref() == Some("alice.smith@contoso.com"))
        .unwrap();
    run(
        &env,
        &[
            "policy",
            "apply-config",
            "--cloud-pc",
            &alice.id,
            "--setting",
            "single-sign-on",
            "--yes",
        ],
    )
    .await
    .expect(0);
    let out = run(
        &env,
        &[
            "policy",
            "apply-config",
            "--cloud-pc",
            "00000000-0000-0000-0000-000000000000",
        ],
    )
    .await;
    out.expect(3);
    let posts: Vec<String> = sim
        .sim()
        .request_log()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path.clone())
        .collect();
    assert!(
        posts.iter().any(|p| p.ends_with("/apply"))
            && posts.iter().any(|p| p.ends_with("/applyConfig")),
        "{posts:?}"
    );
}

#[tokio::test]
async fn user_settings_commands() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = run(
        &env,
        &[
            "user-settings",
            "create",
            "--display-name",
            "Admins",
            "--local-admin",
            "true",
            "--restore-frequency",
            "fourHours",
            "--user-restore",
            "true",
            "--group",
            "Engineering",
        ],
    )
    .await;
    out.expect(0);
    let doc = run(&env, &["user-settings", "show", "admins", "-o", "json"])
        .await
        .expect(0)
        .json();
    assert_eq!(
        doc["item"]["properties"]["restore_point_setting"]["frequency_type"],
        "fourHours"
    );
    run(
        &env,
        &["user-settings", "update", "Admins", "--reset", "true"],
    )
    .await
    .expect(0);
    run(
        &env,
        &["user-settings", "assign", "Admins", "--group", "All Staff"],
    )
    .await
    .expect(0);
    assert_eq!(
        groups_of(&env, "user-settings", "Admins").await,
        vec!["All Staff", "Engineering"]
    );
    run(
        &env,
        &[
            "user-settings",
            "unassign",
            "Admins",
            "--group",
            "Engineering",
            "--yes",
        ],
    )
    .await
    .expect(0);
    assert_eq!(
        groups_of(&env, "user-settings", "Admins").await,
        vec!["All Staff"]
    );
    run(&env, &["user-settings", "delete", "Admins", "--yes"])
        .await
        .expect(11);
    run(
        &env,
        &[
            "user-settings",
            "delete",
            "Admins",
            "--yes",
            "--unassign-first",
        ],
    )
    .await
    .expect(0);
    let out = run(
        &env,
        &[
            "user-settings",
            "create",
            "--display-name",
            "Bad",
            "--restore-frequency",
            "hourly",
        ],
    )
    .await;
    out.expect(2);
    assert!(out.stderr.contains("fourHours"), "{}", out.stderr);
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from}:\n{text}");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[tokio::test]
async fn export_diff_edit_sync() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let dir = policies(&env);
    let dir_s = dir.to_str().unwrap().to_owned();
    let out = run(&env, &["policy", "export", "--dir", &dir_s]).await;
    out.expect(0);
    assert!(
        out.stdout.contains(
            "Exported 5 policies, 1 Azure network connection and the organization settings"
        ),
        "{}",
        out.stdout
    );
    let out = run(&env, &["policy", "diff", &dir_s]).await;
    out.expect(0);
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);

    let restore = dir.join("user-settings/cfg-windows-365-user-settings-restore-allowed.toml");
    edit(
        &restore,
        "frequency_type = \"sixHours\"",
        "frequency_type = \"fourHours\"",
    );
    edit(
        &restore,
        &format!("group = \"{RESTORE}\""),
        "group = \"All Staff\"",
    );
    let out = run(&env, &["policy", "diff", &dir_s, "-o", "json"]).await;
    let doc = out.expect(0).json();
    assert_eq!(doc["inSync"], false);
    let changes = doc["plan"]["changes"].as_array().unwrap();
    let summary: Vec<String> = changes
        .iter()
        .map(|c| match c["action"].as_str().unwrap() {
            "update" => format!(
                "update {}",
                c["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| format!("{}={}", f["field"].as_str().unwrap(), f["to"]))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            a => format!(
                "{a} {}",
                c["assignment"]["group"]["displayName"].as_str().unwrap()
            ),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            "update restore_point_setting.frequency_type=\"fourHours\"".to_owned(),
            "assign All Staff".to_owned(),
            format!("unassign {RESTORE}"),
        ]
    );
    assert_eq!(writes(&sim), 0);
    let out = run(&env, &["policy", "diff", &dir_s]).await;
    assert!(
        out.stdout
            .contains("~ restore_point_setting.frequency_type: \"sixHours\" → \"fourHours\""),
        "{}",
        out.stdout
    );

    let out = run(&env, &["policy", "sync", &dir_s]).await;
    out.expect(2);
    let out = run(&env, &["policy", "sync", &dir_s, "--yes"]).await;
    out.expect(0);
    assert!(
        out.stdout.contains("3 changes carried out") && out.stdout.contains("No differences"),
        "{}",
        out.stdout
    );
    run(&env, &["policy", "diff", &dir_s]).await.expect(0);
    assert_eq!(
        groups_of(&env, "user-settings", RESTORE).await,
        vec!["All Staff"]
    );

    // --prune deletes what no file describes.
    std::fs::remove_file(dir.join("provisioning-policies/cfg-windows-365-provisioning-win10.toml"))
        .unwrap();
    let out = run(&env, &["policy", "diff", &dir_s]).await;
    assert!(out.stdout.contains("not in the files (--prune deletes it): provisioning policy 'cfg - Windows 365 - Provisioning - Win10'"), "{}", out.stdout);
    let out = run(
        &env,
        &["policy", "sync", &dir_s, "--prune", "--yes", "-o", "json"],
    )
    .await;
    let doc = out.expect(0).json();
    assert_eq!(doc["results"].as_array().unwrap().len(), 2);
    assert_eq!(doc["inSyncAfter"], true);
    assert_eq!(doc["ok"], true);
    run(&env, &["policy", "show", WIN10]).await.expect(3);
    let out = run(&env, &["policy", "diff", &dir_s, "--prune"]).await;
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);
}

/// Validation names the file, line and key of a bad policy file value; hints name only flags
/// that exist; long inputs are clipped; forbidden characters are listed once.
#[tokio::test]
async fn policy_file_problems_name_their_line_and_key() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let file = env.dir().join("dev.toml");
    std::fs::write(
        &file,
        "kind = \"provisioningPolicy\"\n\
         display_name = \"W365 Dev\"\n\
         image_type = \"gallery\"\n\
         image_id = \"microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365\"\n\
         image_display_name = \"Windows 11\"\n\
         \n\
         cloud_pc_naming_template = \"CONTOSO-DEVELOPERS-%RAND:5%\"\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let out = run(&env, &["policy", "create", "--file", &path]).await;
    out.expect(11);
    assert!(
        out.stderr
            .contains(&format!("{path}:7: cloud_pc_naming_template: 'CONTOSO-DEVELOPERS-%RAND:5%' can generate 24 characters")),
        "{}",
        out.stderr
    );
    // A flag that overrides the file's value has no line in the file.
    let out = run(
        &env,
        &[
            "policy",
            "create",
            "--file",
            &path,
            "--naming-template",
            "X",
        ],
    )
    .await;
    out.expect(11);
    assert!(
        out.stderr
            .contains("  - cloud_pc_naming_template: 'X' has no %RAND:y%"),
        "{}",
        out.stderr
    );

    // A value of the wrong type: the line and the key.
    std::fs::write(
        &file,
        "kind = \"provisioningPolicy\"\ndisplay_name = \"W365 Dev\"\nenable_single_sign_on = \"yes\"\n",
    )
    .unwrap();
    let out = run(&env, &["policy", "create", "--file", &path]).await;
    out.expect(11);
    assert!(
        out.stderr
            .contains(&format!("{path}:3: enable_single_sign_on: invalid type")),
        "{}",
        out.stderr
    );

    // diff/sync: every file's problems, each with its line.
    let dir = env.dir().join("files");
    std::fs::create_dir_all(dir.join("provisioning-policies")).unwrap();
    std::fs::write(
        dir.join("provisioning-policies/x.toml"),
        "kind = \"provisioningPolicy\"\ndisplay_name = \"X <<&&>> Y\"\nimage_type = \"gallery\"\nimage_id = \"a_b_c\"\nimage_display_name = \"W\"\n\n[[assignments]]\ngroup = \"Engineering\"\nallotment_licenses_count = 3\n",
    )
    .unwrap();
    let out = run(&env, &["policy", "diff", &dir.display().to_string()]).await;
    out.expect(11);
    assert!(
        out.stderr.contains("provisioning-policies/x.toml:2: display_name: 'X <<&&>> Y' contains '<', '&', '>', which"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("provisioning-policies/x.toml:7: assignments[0]:"),
        "{}",
        out.stderr
    );

    // Long inputs are clipped; a missing name points at --display-name (there is no --name).
    let long = format!("CPC-{}-%RAND:5%", "A".repeat(5000));
    let out = run(
        &env,
        &[
            "policy",
            "create",
            "--display-name",
            " ",
            "--image-type",
            "gallery",
            "--image-id",
            "a_b_c",
            "--image-display-name",
            "W",
            "--naming-template",
            &long,
        ],
    )
    .await;
    out.expect(11);
    assert!(out.stderr.len() < 2000, "{}", out.stderr);
    assert!(out.stderr.contains("(5013 characters)"), "{}", out.stderr);
    assert!(out.stderr.contains("--display-name"), "{}", out.stderr);
    assert!(!out.stderr.contains("--name"), "{}", out.stderr);
    assert_eq!(writes(&sim), 0);
}

#[tokio::test]
async fn an_allotment_the_plan_cannot_cover_exits_5_before_anything_is_sent() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let before = writes(&sim);
    let out = run(
        &env,
        &[
            "policy",
            "assign",
            SHIFT_A,
            "--group",
            "Engineering",
            "--service-plan",
            "057efbfe-a95d-4263-acb0-12b4a31fed8d",
            "--allotment-name",
            "Engineering",
            "--allotment-count",
            "2",
        ],
    )
    .await;
    out.expect(5);
    assert!(
        out.stderr.contains("2 license(s) requested") && out.stderr.contains("0 free"),
        "{}",
        out.stderr
    );
    assert_eq!(writes(&sim), before, "nothing sent");
}
