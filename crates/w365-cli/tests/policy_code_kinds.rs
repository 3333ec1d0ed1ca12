//! Policies as code for the organization settings (`kind = "organizationSettings"`) and the
//! region check of `policy diff|sync`, against a simulator over HTTP: export, edit the file,
//! diff shows the changed fields, sync patches only those, a re-run changes nothing; a region
//! name Windows 365 does not support is refused at plan time with the valid names.

use w365_testkit::TestSim;

use crate::common::{Env, graph_writes, json, output_of};

/// The path of the last PATCH the simulator received.
fn last_patch_path(sim: &TestSim) -> String {
    sim.sim()
        .request_log()
        .into_iter()
        .rfind(|r| r.method == "PATCH")
        .map(|r| r.path)
        .unwrap_or_default()
}

/// `policy export` of the tenant to a new folder.
async fn export(env: &Env) -> std::path::PathBuf {
    let dir = env.dir().join("tenant");
    output_of(env.cmd(&["policy", "export", "--dir", dir.to_str().unwrap()]))
        .await
        .expect(0);
    dir
}

#[tokio::test]
async fn organization_settings_export_edit_diff_sync_converges() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let dir = export(&env).await;
    let dir_s = dir.to_str().unwrap();
    let file = dir.join("organization-settings/organization-settings.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("kind = \"organizationSettings\""), "{text}");
    assert!(text.contains("os_version = \"windows11\""), "{text}");
    // The export as it is: nothing to do.
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    out.expect(0);
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);

    // Edit two fields; keep the others as exported.
    let before = json(&output_of(env.cmd(&["org-settings", "show", "-o", "json"])).await);
    let sso = before["organizationSettings"]["enableSingleSignOn"]
        .as_bool()
        .unwrap_or(false);
    let edited: String = text
        .lines()
        .filter(|l| !l.starts_with("enable_single_sign_on") && !l.starts_with("language"))
        .map(|l| {
            if l == "[windows_settings]" {
                "[windows_settings]\nlanguage = \"de-DE\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let edited = edited.replacen(
        "kind = \"organizationSettings\"",
        &format!(
            "kind = \"organizationSettings\"\nenable_single_sign_on = {}",
            !sso
        ),
        1,
    );
    let edited = if edited.contains("[windows_settings]") {
        edited
    } else {
        format!("{edited}\n[windows_settings]\nlanguage = \"de-DE\"\n")
    };
    std::fs::write(&file, edited).unwrap();

    let writes = graph_writes(&sim);
    let out = output_of(env.cmd(&["policy", "diff", dir_s, "-o", "json"])).await;
    out.expect(0);
    let plan = json(&out);
    let text = plan.to_string();
    assert!(text.contains("organizationSettings"), "{text}");
    assert!(text.contains("enable_single_sign_on"), "{text}");
    assert!(text.contains("windows_settings.language"), "{text}");
    assert!(
        !text.contains("os_version"),
        "unchanged fields are not listed: {text}"
    );
    let human = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    assert!(
        human.stdout.contains("update organization settings"),
        "{}",
        human.stdout
    );
    assert_eq!(graph_writes(&sim), writes, "diff only reads");

    let out = output_of(env.cmd(&["policy", "sync", dir_s, "--yes"])).await;
    out.expect(0);
    assert_eq!(graph_writes(&sim), writes + 1, "one PATCH");
    let patch = last_patch_path(&sim);
    assert!(patch.ends_with("/organizationSettings"), "{}", patch);
    let after = json(&output_of(env.cmd(&["org-settings", "show", "-o", "json"])).await);
    let s = &after["organizationSettings"];
    assert_eq!(s["enableSingleSignOn"], !sso);
    assert_eq!(s["windowsSettings"]["language"], "de-DE");
    assert_eq!(s["osVersion"], before["organizationSettings"]["osVersion"]);

    // Re-run: converged.
    let out = output_of(env.cmd(&["policy", "sync", dir_s, "--yes"])).await;
    out.expect(0);
    assert_eq!(graph_writes(&sim), writes + 1);
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);
}

#[tokio::test]
async fn organization_settings_file_problems_are_refused_with_the_file() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let dir = env.dir().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("org.toml"),
        "kind = \"organizationSettings\"\nos = \"windows11\"\n",
    )
    .unwrap();
    let out = output_of(env.cmd(&["policy", "diff", dir.to_str().unwrap()])).await;
    out.expect(11);
    assert!(out.stderr.contains("org.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("os"), "{}", out.stderr);
    std::fs::write(
        dir.join("org.toml"),
        "kind = \"organizationSettings\"\nos_version = \"windows11\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("again.toml"),
        "kind = \"organizationSettings\"\nenable_single_sign_on = true\n",
    )
    .unwrap();
    let out = output_of(env.cmd(&["policy", "diff", dir.to_str().unwrap()])).await;
    out.expect(11);
    assert!(
        out.stderr.contains("keep one organization settings file"),
        "{}",
        out.stderr
    );
    assert_eq!(graph_writes(&sim), 0);
}

#[tokio::test]
async fn sync_refuses_an_unsupported_region_at_plan_time_with_the_valid_names() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let dir = env.dir().join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    let file = |region: &str| {
        format!(
            "kind = \"provisioningPolicy\"\ndisplay_name = \"Region by file\"\n\
             image_type = \"gallery\"\nimage_id = \"microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365\"\n\
             image_display_name = \"Windows 11\"\nprovisioning_type = \"dedicated\"\n\n\
             [[domain_join_configurations]]\ndomain_join_type = \"azureADJoin\"\nregion_name = \"{region}\"\n"
        )
    };
    std::fs::write(dir.join("region.toml"), file("westeurop")).unwrap();
    let dir_s = dir.to_str().unwrap();
    for args in [
        vec!["policy", "diff", dir_s],
        vec!["policy", "sync", dir_s, "--yes"],
    ] {
        let out = output_of(env.cmd(&args)).await;
        out.expect(11);
        assert!(
            out.stderr
                .contains("'westeurop' is not a supported Windows 365 region"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("region.toml"), "{}", out.stderr);
        assert!(
            out.stderr.contains("westeurope"),
            "the valid names are listed: {}",
            out.stderr
        );
    }
    assert_eq!(graph_writes(&sim), 0, "refused before any write");

    std::fs::write(dir.join("region.toml"), file("westeurope")).unwrap();
    output_of(env.cmd(&["policy", "sync", dir_s, "--yes"]))
        .await
        .expect(0);
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    out.expect(0);
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);
}

const SUBNET: &str = "/subscriptions/5f1c2a9e-7d3b-4c8e-9a61-2b0d4e8f7c13/resourceGroups/contoso-cloudpc/providers/Microsoft.Network/virtualNetworks/contoso-vnet/subnets/cloudpcs-west";

#[tokio::test]
async fn network_connections_as_code_create_update_converge_and_a_used_one_is_not_deleted() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let dir = export(&env).await;
    let dir_s = dir.to_str().unwrap();
    let seeded = dir.join("network-connections/contoso-east-us-network.toml");
    let text = std::fs::read_to_string(&seeded).unwrap();
    assert!(text.contains("kind = \"networkConnection\""), "{text}");
    assert!(
        text.contains("display_name = \"Contoso East US network\""),
        "{text}"
    );
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);

    // A new connection (matched by name) and a changed one.
    std::fs::write(
        dir.join("network-connections/west.toml"),
        format!(
            "kind = \"networkConnection\"\ndisplay_name = \"Contoso West network\"\n\
             connection_type = \"azureADJoin\"\nsubscription_id = \"5f1c2a9e-7d3b-4c8e-9a61-2b0d4e8f7c13\"\n\
             resource_group_id = \"/subscriptions/5f1c2a9e-7d3b-4c8e-9a61-2b0d4e8f7c13/resourceGroups/contoso-cloudpc\"\n\
             virtual_network_id = \"/subscriptions/5f1c2a9e-7d3b-4c8e-9a61-2b0d4e8f7c13/resourceGroups/contoso-cloudpc/providers/Microsoft.Network/virtualNetworks/contoso-vnet\"\n\
             subnet_id = \"{SUBNET}\"\n"
        ),
    )
    .unwrap();
    let writes = graph_writes(&sim);
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    out.expect(0);
    assert!(
        out.stdout
            .contains("create Azure network connection 'Contoso West network'"),
        "{}",
        out.stdout
    );
    assert_eq!(graph_writes(&sim), writes);
    let out = output_of(env.cmd(&["policy", "sync", dir_s, "--yes"])).await;
    out.expect(0);
    let list = json(&output_of(env.cmd(&["network", "list", "-o", "json"])).await);
    let names: Vec<&str> = list["networkConnections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["displayName"].as_str())
        .collect();
    assert!(names.contains(&"Contoso West network"), "{names:?}");
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);
    let writes = graph_writes(&sim);
    output_of(env.cmd(&["policy", "sync", dir_s, "--yes"]))
        .await
        .expect(0);
    assert_eq!(graph_writes(&sim), writes, "a re-run sends nothing");

    // An edit is one PATCH of the connection, showing the field that differs.
    let west = dir.join("network-connections/west.toml");
    let west_text = std::fs::read_to_string(&west).unwrap();
    std::fs::write(
        &west,
        west_text.replace("subnets/cloudpcs-west", "subnets/cloudpcs-west-2"),
    )
    .unwrap();
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    assert!(
        out.stdout
            .contains("update Azure network connection 'Contoso West network'"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("~ subnet_id"), "{}", out.stdout);
    assert!(!out.stdout.contains("display_name"), "{}", out.stdout);
    output_of(env.cmd(&["policy", "sync", dir_s, "--yes"]))
        .await
        .expect(0);
    assert_eq!(graph_writes(&sim), writes + 1);
    let patch = last_patch_path(&sim);
    assert!(patch.contains("onPremisesConnections/"), "{}", patch);
    let out = output_of(env.cmd(&["network", "show", "Contoso West network", "-o", "json"])).await;
    assert!(out.stdout.contains("cloudpcs-west-2"), "{}", out.stdout);
    let out = output_of(env.cmd(&["policy", "diff", dir_s])).await;
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);

    // A policy uses the seeded connection: removing its file and syncing with --prune is refused,
    // naming the policy; nothing is sent.
    std::fs::write(
        dir.join("provisioning-policies/uses-east.toml"),
        "kind = \"provisioningPolicy\"\ndisplay_name = \"Uses East\"\nimage_type = \"gallery\"\n\
         image_id = \"microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365\"\n\
         image_display_name = \"Windows 11\"\nprovisioning_type = \"dedicated\"\n\n\
         [[domain_join_configurations]]\ndomain_join_type = \"azureADJoin\"\n\
         network_connection = \"Contoso East US network\"\n",
    )
    .unwrap();
    output_of(env.cmd(&["policy", "sync", dir_s, "--yes"]))
        .await
        .expect(0);
    std::fs::remove_file(&seeded).unwrap();
    let writes = graph_writes(&sim);
    let out = output_of(env.cmd(&["policy", "sync", dir_s, "--prune", "--yes"])).await;
    out.expect(11);
    assert!(out.stderr.contains("Uses East"), "{}", out.stderr);
    assert!(
        out.stderr.contains("Contoso East US network"),
        "{}",
        out.stderr
    );
    assert_eq!(graph_writes(&sim), writes);

    // Unused, it is deleted with --prune, after consent.
    std::fs::remove_file(dir.join("network-connections/west.toml")).unwrap();
    std::fs::write(&seeded, text).unwrap();
    let out = output_of(env.cmd(&["policy", "sync", dir_s, "--prune"])).await;
    assert_ne!(out.code, 0, "a delete needs consent: {}", out.stdout);
    let out = output_of(env.cmd(&["policy", "sync", dir_s, "--prune", "--yes"])).await;
    out.expect(0);
    let list = json(&output_of(env.cmd(&["network", "list", "-o", "json"])).await);
    assert_eq!(list["count"], 1, "{list}");
}

#[tokio::test]
async fn organization_settings_and_network_connections_as_code_name_the_missing_permission() {
    let sim = TestSim::contoso().await;
    let admin = Env::new(&sim, None);
    let dir = export(&admin).await;
    let dir_s = dir.to_str().unwrap();

    // Without any Cloud PC permission, export and diff stop naming CloudPC.Read.All.
    let none = Env::new(&sim, Some(&["GroupMember.Read.All"]));
    let elsewhere = none.dir().join("export");
    for args in [
        vec!["policy", "export", "--dir", elsewhere.to_str().unwrap()],
        vec!["policy", "diff", dir_s],
    ] {
        let out = output_of(none.cmd(&args)).await;
        out.expect(9);
        assert!(
            out.stderr.contains("CloudPC.Read.All"),
            "{args:?}: {}",
            out.stderr
        );
    }

    // CloudPC.Read.All is enough to export and diff both kinds.
    let reader = Env::new(&sim, Some(&["CloudPC.Read.All", "GroupMember.Read.All"]));
    let exported = reader.dir().join("export");
    output_of(reader.cmd(&["policy", "export", "--dir", exported.to_str().unwrap()]))
        .await
        .expect(0);
    let org = "organization-settings/organization-settings.toml";
    let east = "network-connections/contoso-east-us-network.toml";
    for file in [org, east] {
        assert_eq!(
            std::fs::read_to_string(exported.join(file)).unwrap(),
            std::fs::read_to_string(dir.join(file)).unwrap(),
            "{file}"
        );
    }
    let out = output_of(reader.cmd(&["policy", "diff", dir_s])).await;
    out.expect(0);
    assert!(out.stdout.contains("No differences"), "{}", out.stdout);

    // Sync needs CloudPC.ReadWrite.All: an organization settings edit ...
    let org_text = std::fs::read_to_string(dir.join(org)).unwrap();
    assert!(
        org_text.contains("os_version = \"windows11\""),
        "{org_text}"
    );
    std::fs::write(
        dir.join(org),
        org_text.replace("os_version = \"windows11\"", "os_version = \"windows10\""),
    )
    .unwrap();
    let out = output_of(reader.cmd(&["policy", "sync", dir_s, "--yes"])).await;
    out.expect(9);
    assert!(
        out.stderr.contains("CloudPC.ReadWrite.All"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("organization settings"),
        "{}",
        out.stderr
    );
    std::fs::write(dir.join(org), &org_text).unwrap();

    // ... a new connection ...
    std::fs::write(
        dir.join("network-connections/west.toml"),
        format!(
            "kind = \"networkConnection\"\ndisplay_name = \"Contoso West network\"\n\
             connection_type = \"azureADJoin\"\nsubscription_id = \"5f1c2a9e-7d3b-4c8e-9a61-2b0d4e8f7c13\"\n\
             resource_group_id = \"/subscriptions/5f1c2a9e-7d3b-4c8e-9a61-2b0d4e8f7c13/resourceGroups/contoso-cloudpc\"\n\
             virtual_network_id = \"/subscriptions/5f1c2a9e-7d3b-4c8e-9a61-2b0d4e8f7c13/resourceGroups/contoso-cloudpc/providers/Microsoft.Network/virtualNetworks/contoso-vnet\"\n\
             subnet_id = \"{SUBNET}\"\n"
        ),
    )
    .unwrap();
    let out = output_of(reader.cmd(&["policy", "sync", dir_s, "--yes"])).await;
    out.expect(9);
    assert!(
        out.stderr.contains("CloudPC.ReadWrite.All"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Contoso West network"),
        "{}",
        out.stderr
    );

    // ... and a connection --prune deletes: the seeded one (unused), its file removed, while
    // the file of a second connection (created by the admin) keeps connections managed.
    output_of(admin.cmd(&["policy", "sync", dir_s, "--yes"]))
        .await
        .expect(0);
    std::fs::remove_file(dir.join(east)).unwrap();
    let out = output_of(reader.cmd(&["policy", "sync", dir_s, "--prune", "--yes"])).await;
    out.expect(9);
    assert!(
        out.stderr.contains("CloudPC.ReadWrite.All"),
        "{}",
        out.stderr
    );
    let refused: Vec<(String, String)> = sim
        .sim()
        .request_log()
        .into_iter()
        .filter(|r| r.status == 403)
        .map(|r| (r.method, r.path))
        .collect();
    assert!(
        refused
            .iter()
            .any(|(m, p)| m == "PATCH" && p.ends_with("/organizationSettings")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|(m, p)| m == "POST" && p.ends_with("/onPremisesConnections")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|(m, p)| m == "DELETE" && p.contains("/onPremisesConnections/")),
        "{refused:?}"
    );
    // Nothing the reader tried was changed.
    let org_now = json(&output_of(admin.cmd(&["org-settings", "show", "-o", "json"])).await);
    assert_eq!(org_now["organizationSettings"]["osVersion"], "windows11");
    let list = json(&output_of(admin.cmd(&["network", "list", "-o", "json"])).await);
    assert_eq!(list["count"], 2, "{list}");
}
