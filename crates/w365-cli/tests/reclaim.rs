//! `w365 reclaim` against a simulator over HTTP: idle Cloud PCs (from the remote connection
//! report), their cost, the consent policy, protected users, and the licences actually removed.

use w365_testkit::TestSim;

use crate::common;
use crate::common::{Env, json, output_of};

/// Graph writes: the non-GET requests, less the remote connection report (a POST that reads).
fn graph_writes(sim: &TestSim) -> usize {
    common::graph_writes(sim)
        - sim
            .sim()
            .request_log()
            .iter()
            .filter(|r| {
                r.method == "POST" && r.path.ends_with("/getRemoteConnectionHistoricalReports")
            })
            .count()
}

const PROFILE: &str = "\n[tenants.sim.prices]\nCPC_E_2C_4GB_256GB = 45.5\n\
                       [tenants.sim.reclaim]\nprotected_users = [\"alice.smith@contoso.com\"]\n";

fn upns(list: &serde_json::Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c.pointer(key)
                .and_then(|u| u.as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn reclaim_plans_asks_consent_excludes_protected_users_and_takes_licences_back() {
    // Idleness depends on the weekday and the hour (busy Cloud PCs connect on weekdays until
    // 16:30 UTC): pin the clock to a Monday noon, when the last busy session was Friday's.
    let mut cfg = TestSim::manual_config(w365_sim::Seed::Contoso);
    cfg.start_at = Some(time::macros::datetime!(2026-11-30 12:00 UTC));
    let sim = TestSim::start(cfg).await;
    let env = Env::with_assign_defaults(&sim, None, PROFILE);

    // Dry run: the idle Cloud PCs (no connection in 2 days) and what they cost.
    let out = output_of(env.cmd(&["reclaim", "--idle-days", "2", "--dry-run", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["command"], "reclaim");
    assert_eq!(
        upns(&doc["candidates"], "/user/userPrincipalName"),
        [
            "carol.white@contoso.com",
            "dave.brown@contoso.com",
            "irene.taylor@contoso.com"
        ],
        "{doc:#}"
    );
    let excluded = doc["excluded"].as_array().unwrap();
    let alice = excluded
        .iter()
        .find(|e| e["userPrincipalName"] == "alice.smith@contoso.com")
        .expect("alice is idle but protected");
    assert!(alice["reason"].as_str().unwrap().contains("protected"));
    for c in doc["candidates"].as_array().unwrap() {
        match c["sku"]["skuPartNumber"].as_str().unwrap() {
            "CPC_E_2C_4GB_256GB" => {
                assert_eq!(c["monthlyPrice"], 45.5);
                assert_eq!(c["priceSource"], "profile");
            }
            "CPC_E_2C_4GB_128GB" => {
                assert_eq!(c["monthlyPrice"], 31.0);
                assert_eq!(c["priceSource"], "default");
            }
            other => panic!("unexpected SKU {other}: {c:#}"),
        }
        assert!(c["daysSinceLastUse"].is_null(), "{c:#}");
        assert!(!c["plan"].as_array().unwrap().is_empty());
    }
    assert_eq!(doc["monthlyCostRecovered"], 45.5 * 2.0 + 31.0);
    assert_eq!(graph_writes(&sim), 0);

    let out = output_of(env.cmd(&["reclaim", "--idle-days", "2", "--dry-run"])).await;
    out.expect(0);
    assert!(
        out.stdout.contains("monthly cost recovered: 122.00 USD")
            && out.stdout.contains("(default)")
            && out.stdout.contains("excluded: protected user"),
        "{}",
        out.stdout
    );
    let out = output_of(env.cmd(&["reclaim", "--idle-days", "2", "--dry-run", "-o", "csv"])).await;
    out.expect(0);
    assert!(out.stdout.starts_with(
        "cloudPcId,displayName,userPrincipalName,daysSinceLastUse,licenseGroup,sku,monthlyPrice,priceSource,action"
    ));
    assert_eq!(out.stdout.lines().count(), 1 + 3 + excluded.len());

    // No terminal, no --yes: refused, nothing written.
    let out = output_of(env.cmd(&["reclaim", "--idle-days", "2"])).await;
    out.expect(2);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(graph_writes(&sim), 0);

    // With --yes: the three licence-group memberships are removed (alice keeps hers).
    let out = output_of(env.cmd(&["reclaim", "--idle-days", "2", "--yes", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["outcomes"].as_array().unwrap().len(), 3, "{doc:#}");
    let removed: Vec<String> = sim
        .sim()
        .request_log()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("/members/"))
        .map(|r| r.path.clone())
        .collect();
    assert!(removed.len() >= 3, "{removed:?}");
    let alice_id = sim.sim().with_state(|s| {
        s.default_tenant()
            .unwrap()
            .directory
            .user_by_key("alice.smith@contoso.com")
            .unwrap()
            .id
            .clone()
    });
    assert!(
        removed.iter().all(|p| !p.contains(&alice_id)),
        "{removed:?}"
    );

    // Re-running converges: nothing left to take back.
    let out = output_of(env.cmd(&["reclaim", "--idle-days", "2", "--dry-run", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert!(doc["candidates"].as_array().unwrap().is_empty(), "{doc:#}");
}

#[tokio::test]
async fn reclaim_refuses_a_bad_period_and_names_a_missing_permission() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&["reclaim", "--idle-days", "0", "--dry-run"])).await;
    out.expect(11);
    assert!(out.stderr.contains("--idle-days"), "{}", out.stderr);
    // Exactly the README's permissions are enough to take the licences back.
    let env = Env::with_assign_defaults(
        &sim,
        Some(&[
            "User.Read.All",
            "GroupMember.ReadWrite.All",
            "Organization.Read.All",
            "CloudPC.Read.All",
        ]),
        "",
    );
    output_of(env.cmd(&["reclaim", "--idle-days", "2", "--yes"]))
        .await
        .expect(0);
    let out = output_of(env.cmd(&["reclaim", "--idle-days", "2", "--dry-run", "-o", "json"])).await;
    out.expect(0);
    assert!(json(&out)["candidates"].as_array().unwrap().is_empty());
    let env = Env::new(&sim, Some(&["User.Read.All"]));
    let out = output_of(env.cmd(&["reclaim", "--idle-days", "7", "--dry-run"])).await;
    out.expect(9);
    assert!(out.stderr.contains("CloudPC.Read.All"), "{}", out.stderr);
}
