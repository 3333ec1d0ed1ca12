//! Restore points over real HTTP (beta `retrieveSnapshots` / `createSnapshot`, `restore`): the
//! schedule of each user's user settings policy and manual restore points, on the virtual clock.

use std::time::Duration;

use crate::common::{Sim, assert_graph_error, start};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const VE: &str = "deviceManagement/virtualEndpoint";

fn filter(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn pc_id(sim: &Sim, upn: &str) -> String {
    let answer = sim
        .get(&format!(
            "beta/{VE}/cloudPCs?$filter={}",
            filter(&format!("userPrincipalName eq '{upn}'"))
        ))
        .await;
    assert_eq!(answer.values().len(), 1, "{}", answer.text);
    answer.values()[0]["id"].as_str().unwrap().to_owned()
}

async fn snapshots(sim: &Sim, pc: &str) -> Vec<Value> {
    let answer = sim
        .get(&format!("beta/{VE}/cloudPCs/{pc}/retrieveSnapshots"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.values().clone()
}

fn created(s: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(s["createdDateTime"].as_str().unwrap(), &Rfc3339).unwrap()
}

fn automatic(list: &[Value]) -> Vec<OffsetDateTime> {
    let mut times: Vec<_> = list
        .iter()
        .filter(|s| s["snapshotType"] == "automatic")
        .map(created)
        .collect();
    times.sort();
    times
}

fn spacing(times: &[OffsetDateTime]) -> Vec<i64> {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).whole_hours())
        .collect()
}

#[tokio::test]
async fn automatic_restore_points_follow_each_users_restore_frequency() {
    let sim = start().await;
    // alice: "restore allowed" policy, every six hours; bob: "no restore", every twelve hours;
    // dave: no user settings policy, the default twelve hours.
    let alice = pc_id(&sim, "alice.smith@contoso.com").await;
    let bob = pc_id(&sim, "bob.jones@contoso.com").await;
    let dave = pc_id(&sim, "dave.brown@contoso.com").await;
    let now = sim.handle.now();

    let a = automatic(&snapshots(&sim, &alice).await);
    assert_eq!(a.len(), 10, "ten short-term restore points are kept");
    assert!(spacing(&a).iter().all(|h| *h == 6), "{a:?}");
    assert!(now - *a.last().unwrap() < time::Duration::hours(6));
    let b = automatic(&snapshots(&sim, &bob).await);
    assert_eq!(b.len(), 10);
    assert!(spacing(&b).iter().all(|h| *h == 12), "{b:?}");
    let d = automatic(&snapshots(&sim, &dave).await);
    assert!(spacing(&d).iter().all(|h| *h == 12), "{d:?}");

    // Shape of one restore point.
    let one = &snapshots(&sim, &alice).await[0];
    assert_eq!(one["cloudPcId"], alice.as_str());
    assert_eq!(one["status"], "ready");
    assert!(
        one["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("CPC_{alice}_"))
    );
    assert!(one["expirationDateTime"].is_string());

    // A day later alice has four new ones (the oldest four dropped), bob two.
    sim.handle.advance(Duration::from_secs(24 * 3600)).await;
    let a2 = automatic(&snapshots(&sim, &alice).await);
    assert_eq!(a2.len(), 10);
    assert_eq!(a2.iter().filter(|t| !a.contains(t)).count(), 4);
    assert_eq!(a2[0], a[4]);
    let b2 = automatic(&snapshots(&sim, &bob).await);
    assert_eq!(b2.iter().filter(|t| !b.contains(t)).count(), 2);

    // bob's policy goes to every four hours: from his next restore point on, four-hourly.
    let settings = sim.get(&format!("beta/{VE}/userSettings")).await;
    let no_restore = settings
        .values()
        .iter()
        .find(|s| s["displayName"] == "cfg - Windows 365 - User Settings - no restore")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = sim
        .patch(
            &format!("beta/{VE}/userSettings/{no_restore}"),
            json!({"restorePointSetting": {"frequencyType": "fourHours", "userRestoreEnabled": false}}),
        )
        .await;
    assert!(patched.status.is_success(), "{}", patched.text);
    sim.handle.advance(Duration::from_secs(24 * 3600)).await;
    let b3 = automatic(&snapshots(&sim, &bob).await);
    let tail = spacing(&b3[b3.len() - 4..]);
    assert!(tail.iter().all(|h| *h == 4), "{b3:?}");
}

#[tokio::test]
async fn a_manual_restore_point_is_ready_after_a_while_and_restore_takes_only_real_ids() {
    let sim = start().await;
    let alice = pc_id(&sim, "alice.smith@contoso.com").await;
    let bob = pc_id(&sim, "bob.jones@contoso.com").await;
    let before = snapshots(&sim, &alice).await.len();

    let answer = sim
        .post(
            &format!("beta/{VE}/cloudPCs/{alice}/createSnapshot"),
            json!({}),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    assert_eq!(snapshots(&sim, &alice).await.len(), before, "not ready yet");
    sim.handle.advance(Duration::from_secs(5 * 60)).await;
    let list = snapshots(&sim, &alice).await;
    let manual: Vec<&Value> = list
        .iter()
        .filter(|s| s["snapshotType"] == "manual")
        .collect();
    assert_eq!(manual.len(), 1, "{list:#?}");
    assert!(manual[0]["expirationDateTime"].is_null());
    let manual_id = manual[0]["id"].as_str().unwrap().to_owned();

    // An invented id, or another Cloud PC's restore point, is refused and nothing changes.
    let restore = format!("v1.0/{VE}/cloudPCs/{alice}/restore");
    let answer = sim
        .post(&restore, json!({"cloudPcSnapshotId": "snapshot-1"}))
        .await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert!(answer.message().contains("snapshot-1"), "{}", answer.text);
    let bobs = snapshots(&sim, &bob).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_graph_error(
        &sim.post(&restore, json!({"cloudPcSnapshotId": bobs})).await,
        400,
        "BadRequest",
    );
    let status = |v: &Value| v["status"].as_str().unwrap_or_default().to_owned();
    let pc = sim.get(&format!("beta/{VE}/cloudPCs/{alice}")).await;
    assert_eq!(status(&pc.body), "provisioned");

    let answer = sim
        .post(&restore, json!({"cloudPcSnapshotId": manual_id}))
        .await;
    assert_eq!(answer.status, 204, "{}", answer.text);
    let pc = sim.get(&format!("beta/{VE}/cloudPCs/{alice}")).await;
    assert_eq!(status(&pc.body), "restoring");
    let list = snapshots(&sim, &alice).await;
    let used = list.iter().find(|s| s["id"] == manual_id.as_str()).unwrap();
    assert!(used["lastRestoredDateTime"].is_string());
    // No restore point is taken while restoring, nor a manual one asked for.
    assert_graph_error(
        &sim.post(
            &format!("beta/{VE}/cloudPCs/{alice}/createSnapshot"),
            json!({}),
        )
        .await,
        400,
        "BadRequest",
    );
    sim.handle.advance(Duration::from_secs(3600)).await;
    let pc = sim.get(&format!("beta/{VE}/cloudPCs/{alice}")).await;
    assert_eq!(status(&pc.body), "provisioned");
}

#[tokio::test]
async fn snapshots_are_beta_only_and_need_the_write_permission() {
    let sim = start().await;
    let alice = pc_id(&sim, "alice.smith@contoso.com").await;
    let answer = sim
        .get(&format!("v1.0/{VE}/cloudPCs/{alice}/retrieveSnapshots"))
        .await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert!(answer.message().contains("retrieveSnapshots"));
    assert_graph_error(
        &sim.get(&format!("beta/{VE}/cloudPCs/nope/retrieveSnapshots"))
            .await,
        404,
        "ResourceNotFound",
    );
    let reader = sim.token_with_roles(&["CloudPC.Read.All"]).await;
    let answer = sim
        .call(
            reqwest::Method::GET,
            &format!("beta/{VE}/cloudPCs/{alice}/retrieveSnapshots"),
            Some(&reader),
            &[],
            None,
        )
        .await;
    assert_graph_error(&answer, 403, "Authorization_RequestDenied");
}
