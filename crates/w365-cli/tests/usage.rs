//! `w365 usage` against a simulator over HTTP: the remote connection report of every Cloud PC,
//! compared with the simulator's own connection history.

use w365_testkit::TestSim;

use crate::common::{Env, json, output_of};

#[tokio::test]
async fn usage_matches_the_simulators_connection_history() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, None);
    let out = output_of(env.cmd(&["usage", "--days", "30", "-o", "json"])).await;
    out.expect(0);
    let doc = json(&out);
    assert_eq!(doc["command"], "usage");
    assert_eq!(doc["days"], 30);
    let rows = doc["cloudPcs"].as_array().unwrap();
    let now = sim.sim().now();
    let from = now - time::Duration::days(30);
    let mut idle = 0;
    let mut busy = 0;
    for row in rows {
        let id = row["cloudPcId"].as_str().unwrap();
        let expected = sim.sim().with_state(|s| {
            s.default_tenant()
                .unwrap()
                .w365
                .connection_history(id, from, now)
                .unwrap()
        });
        assert_eq!(row["sessions"], expected.len(), "{row:#}");
        let hours: f64 = expected.iter().map(|s| s.usage_in_hours()).sum();
        assert!((row["hoursConnected"].as_f64().unwrap() - hours).abs() < 1e-6);
        match expected.last() {
            None => {
                assert!(row["daysSinceLastUse"].is_null());
                if row["status"] == "provisioned" {
                    idle += 1;
                }
            }
            Some(last) => {
                assert_eq!(row["daysSinceLastUse"], (now - last.sign_out).whole_days());
                if hours > 100.0 {
                    busy += 1;
                }
            }
        }
    }
    assert!(idle >= 1 && busy >= 1, "some idle, some busy: {doc:#}");

    let out = output_of(env.cmd(&["usage", "-o", "csv"])).await;
    out.expect(0);
    assert!(out.stdout.starts_with(
        "cloudPcId,displayName,userPrincipalName,status,lastConnection,sessions,hoursConnected,daysSinceLastUse"
    ));
    let out = output_of(env.cmd(&["usage"])).await;
    out.expect(0);
    assert!(
        out.stdout.contains("not used in the last 30 days"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn usage_needs_cloudpc_read_all_and_a_sensible_period() {
    let sim = TestSim::contoso().await;
    let env = Env::new(&sim, Some(&["CloudPC.Read.All"]));
    output_of(env.cmd(&["usage", "--days", "7"]))
        .await
        .expect(0);
    let out = output_of(env.cmd(&["usage", "--days", "0"])).await;
    out.expect(11);
    assert!(out.stderr.contains("--days"), "{}", out.stderr);
    let env = Env::new(&sim, Some(&["User.Read.All"]));
    let out = output_of(env.cmd(&["usage"])).await;
    out.expect(9);
    assert!(out.stderr.contains("CloudPC.Read.All"), "{}", out.stderr);
}
