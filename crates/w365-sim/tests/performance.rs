//! The paths the throughput and large-tenant benchmarks time, checked for behaviour only: many
//! concurrent GETs are all answered, and a 100,000-user tenant loads and serves lookups. The time
//! targets (20,000 simple GETs/s on 2 cores; the large tenant loaded in under 2 s) are measured by
//! `cargo run --release -p w365-bench -- sim-throughput` and `-- sim-load` (BENCHMARKS.md): tests
//! assert no wall-clock durations.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use w365_sim::{LargeTenantSpec, Seed, SimConfig};

/// `workers` concurrent loops of `per_worker` GETs each; every answer must be 200.
async fn burst(sim: &common::Sim, path: &str, workers: usize, per_worker: usize) -> usize {
    let url = Arc::new(sim.url(path));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let client = sim.client.clone();
        let url = Arc::clone(&url);
        let done = Arc::clone(&done);
        let token = sim.token.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_worker {
                let response = client
                    .get(url.as_str())
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await.expect("body");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    done.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_simple_gets_are_all_answered() {
    let sim = common::start().await;
    let id = sim.user_id("alice.smith@contoso.com");
    let answered = burst(&sim, &format!("v1.0/users/{id}"), 16, 25).await;
    assert_eq!(answered, 16 * 25);
    let logged = sim
        .handle
        .request_log()
        .iter()
        .filter(|r| r.path.ends_with(id.as_str()) && r.status == 200)
        .count();
    assert_eq!(logged, 16 * 25, "every request reached the routes once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_tenant_loads_and_serves_lookups() {
    let mut cfg = SimConfig::contoso();
    cfg.seed = Seed::Large(LargeTenantSpec::benchmark());
    let sim = common::start_with(cfg).await;
    let user = sim
        .get("v1.0/users/user099999@contoso.com?$select=id,displayName")
        .await;
    assert_eq!(user.status, 200, "{}", user.text);
    let found = sim
        .get("v1.0/users?$filter=userPrincipalName eq 'user054321@contoso.com'&$select=id")
        .await;
    assert_eq!(found.values().len(), 1);
    // A bulk file's lookups: `in` lists, any case, unknown names left out, each user once, in
    // the directory's order; the same through `id in`.
    let listed = sim
        .get(
            "v1.0/users?$filter=userPrincipalName in ('USER054321@contoso.com', \
             'user000007@contoso.com', 'nobody@contoso.com', 'user000007@contoso.com')\
             &$select=id,userPrincipalName",
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let mut upns: Vec<String> = listed
        .values()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_owned())
        .collect();
    let ids: Vec<String> = listed
        .values()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    upns.sort();
    assert_eq!(upns, ["user000007@contoso.com", "user054321@contoso.com"]);
    let by_id = sim
        .get(&format!(
            "v1.0/users?$filter=id in ('{}', '{}')&$select=id",
            ids[1], ids[0]
        ))
        .await;
    let again: Vec<&str> = by_id
        .values()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(again, [ids[0].as_str(), ids[1].as_str()]);
    let group = sim.handle.with_state(|s| {
        s.default_tenant()
            .expect("t")
            .directory
            .groups_named("bench group 0001")[0]
            .clone()
    });
    let page = sim
        .get(&format!("v1.0/groups/{group}/members?$top=999&$select=id"))
        .await;
    assert_eq!(page.values().len(), 999);
    assert!(page.body["@odata.nextLink"].is_string());
}
