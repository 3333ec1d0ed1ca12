//! Audit events, bulk actions and supported regions over real HTTP, on the virtual clock.

use std::time::Duration;

use crate::common::{Sim, assert_graph_error, start};
use reqwest::Method;
use serde_json::{Value, json};

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

async fn audit_events(sim: &Sim) -> Vec<Value> {
    let mut all = Vec::new();
    let mut url = format!("v1.0/{VE}/auditEvents?$top=2");
    loop {
        let answer = sim.get(&url).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        all.extend(answer.values().iter().cloned());
        match answer.body["@odata.nextLink"].as_str() {
            Some(next) => {
                url = next
                    .trim_start_matches(sim.handle.base_url().as_str())
                    .to_owned()
            }
            None => break,
        }
    }
    all
}

#[tokio::test]
async fn every_windows365_change_is_an_audit_event_with_actor_and_resource() {
    let sim = start().await;
    assert!(
        audit_events(&sim).await.is_empty(),
        "a fresh tenant has none"
    );
    let alice = pc_id(&sim, "alice.smith@contoso.com").await;

    let created = sim
        .post(
            &format!("v1.0/{VE}/userSettings"),
            json!({"displayName": "audit me", "localAdminEnabled": false}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let setting = created.body["id"].as_str().unwrap().to_owned();
    let patched = sim
        .patch(
            &format!("v1.0/{VE}/userSettings/{setting}"),
            json!({"localAdminEnabled": true}),
        )
        .await;
    assert_eq!(patched.status, 204, "{}", patched.text);
    let rebooted = sim
        .call(
            Method::POST,
            &format!("v1.0/{VE}/cloudPCs/{alice}/reboot"),
            Some(&sim.token),
            &[("client-request-id", "corr-42")],
            None,
        )
        .await;
    assert_eq!(rebooted.status, 204, "{}", rebooted.text);
    let deleted = sim
        .delete(&format!("v1.0/{VE}/userSettings/{setting}"))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    // Reads and refused changes are not recorded.
    let refused = sim
        .post(&format!("v1.0/{VE}/cloudPCs/no-such-pc/reboot"), json!({}))
        .await;
    assert_eq!(refused.status, 404, "{}", refused.text);

    let events = audit_events(&sim).await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["activityType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Create UserSetting",
            "Update UserSetting",
            "Reboot CloudPC",
            "Delete UserSetting"
        ],
        "paged to the end, oldest first"
    );
    let create = &events[0];
    assert_eq!(create["activityOperationType"], "create");
    assert_eq!(create["activityResult"], "success");
    assert_eq!(create["category"], "cloudPC");
    assert_eq!(create["resources"][0]["resourceId"], setting.as_str());
    assert_eq!(create["resources"][0]["displayName"], "audit me");
    assert!(
        create["actor"]["applicationId"]
            .as_str()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(
        create["actor"]["userPermissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "CloudPC.ReadWrite.All"),
        "{create}"
    );
    let update = &events[1];
    assert_eq!(update["activityOperationType"], "patch");
    assert_eq!(
        update["resources"][0]["modifiedProperties"][0],
        json!({"@odata.type": "microsoft.graph.cloudPcAuditProperty", "displayName": "localAdminEnabled", "oldValue": null, "newValue": "true"})
    );
    assert_eq!(events[2]["correlationId"], "corr-42");
    assert_eq!(events[2]["resources"][0]["resourceId"], alice.as_str());
    assert_eq!(events[3]["activityOperationType"], "delete");
    assert_eq!(
        events[3]["resources"][0]["displayName"], "audit me",
        "the name from before the delete"
    );

    // $filter on type and time, get by id, the activity types.
    let since = events[2]["activityDateTime"].as_str().unwrap();
    let filtered = sim
        .get(&format!(
            "v1.0/{VE}/auditEvents?$filter={}",
            filter(&format!(
                "activityDateTime ge {since} and activityType eq 'Reboot CloudPC'"
            ))
        ))
        .await;
    assert_eq!(filtered.values().len(), 1, "{}", filtered.text);
    let id = events[0]["id"].as_str().unwrap();
    let one = sim.get(&format!("v1.0/{VE}/auditEvents/{id}")).await;
    assert_eq!(one.body["activityType"], "Create UserSetting");
    let types = sim
        .get(&format!("v1.0/{VE}/auditEvents/getAuditActivityTypes"))
        .await;
    assert_eq!(types.values().len(), 4, "{}", types.text);

    // Without a Windows 365 permission: 403.
    let token = sim.token_with_roles(&["User.Read.All"]).await;
    let denied = sim
        .call(
            Method::GET,
            &format!("v1.0/{VE}/auditEvents"),
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_graph_error(&denied, 403, "Authorization_RequestDenied");
}

async fn bulk(sim: &Sim, body: Value) -> Value {
    let answer = sim.post(&format!("beta/{VE}/bulkActions"), body).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body
}

async fn report(sim: &Sim, bulk_id: &str) -> Vec<(String, String)> {
    let answer = sim
        .post(
            &format!("beta/{VE}/reports/getActionStatusReports"),
            json!({
                "filter": format!("BulkActionId eq '{bulk_id}'"),
                "select": ["CloudPcId", "ActionState"],
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["Values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_owned(),
                r[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn bulk_restart_runs_each_device_on_the_virtual_clock_with_per_device_outcomes() {
    let sim = start().await;
    let alice = pc_id(&sim, "alice.smith@contoso.com").await;
    let erin = pc_id(&sim, "erin.davis@contoso.com").await; // failed: cannot restart
    let created = bulk(
        &sim,
        json!({
            "@odata.type": "#microsoft.graph.cloudPcBulkRestart",
            "displayName": "restart two",
            "cloudPcIds": [alice, erin, "does-not-exist"],
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["@odata.type"],
        "#microsoft.graph.cloudPcBulkRestart"
    );
    assert_eq!(created["status"], "pending");
    assert_eq!(created["actionSummary"]["pendingCount"], 3);

    sim.handle.advance(Duration::from_secs(60)).await;
    let states = report(&sim, &id).await;
    assert_eq!(
        states,
        [
            (alice.clone(), "active".to_owned()),
            (erin.clone(), "failed".to_owned()),
            ("does-not-exist".to_owned(), "failed".to_owned()),
        ]
    );
    let running = sim.get(&format!("beta/{VE}/bulkActions/{id}")).await;
    assert_eq!(running.body["status"], "pending");
    assert_eq!(running.body["actionSummary"]["inProgressCount"], 1);

    sim.handle.advance(Duration::from_secs(5 * 60)).await;
    let done = sim.get(&format!("beta/{VE}/bulkActions/{id}")).await;
    assert_eq!(
        done.body["actionSummary"]["successfulCount"], 1,
        "{}",
        done.text
    );
    assert_eq!(done.body["actionSummary"]["failedCount"], 2);
    assert_eq!(done.body["status"], "failed");
    let pc = sim.get(&format!("beta/{VE}/cloudPCs/{alice}")).await;
    assert_eq!(pc.body["lastRemoteActionResult"]["actionName"], "Reboot");
    // The failed device's row names the single action's Graph error.
    let rows = sim
        .post(
            &format!("beta/{VE}/reports/getActionStatusReports"),
            json!({"filter": format!("BulkActionId eq '{id}' and CloudPcId eq '{erin}'")}),
        )
        .await;
    let row = &rows.body["Values"][0];
    let message = row.as_array().unwrap().last().unwrap().as_str().unwrap();
    assert!(message.contains("reboot is not possible"), "{message}");

    // Listing, v1.0 refusal, creation errors, permissions.
    let list = sim.get(&format!("beta/{VE}/bulkActions")).await;
    assert_eq!(list.values().len(), 1);
    let v1 = sim.get(&format!("v1.0/{VE}/bulkActions")).await;
    assert_graph_error(&v1, 400, "BadRequest");
    let abstract_type = sim
        .post(
            &format!("beta/{VE}/bulkActions"),
            json!({"displayName": "x", "cloudPcIds": [alice]}),
        )
        .await;
    assert_graph_error(&abstract_type, 400, "BadRequest");
    let reader = sim.token_with_roles(&["CloudPC.Read.All"]).await;
    let denied = sim
        .call(
            Method::POST,
            &format!("beta/{VE}/bulkActions"),
            Some(&reader),
            &[],
            Some(json!({"@odata.type": "#microsoft.graph.cloudPcBulkRestart", "displayName": "x", "cloudPcIds": [alice]})),
        )
        .await;
    assert_graph_error(&denied, 403, "Authorization_RequestDenied");
    // The bulk action itself is an audit event.
    let events = audit_events(&sim).await;
    assert!(
        events
            .iter()
            .any(|e| e["activityType"] == "Create BulkAction"
                && e["resources"][0]["displayName"] == "restart two"),
        "{events:?}"
    );
}

#[tokio::test]
async fn bulk_reprovision_stays_active_until_the_cloud_pc_is_provisioned_again() {
    let sim = start().await;
    let bob = pc_id(&sim, "bob.jones@contoso.com").await;
    let kate = pc_id(&sim, "kate.thomas@contoso.com").await;
    let created = bulk(
        &sim,
        json!({
            "@odata.type": "#microsoft.graph.cloudPcBulkReprovision",
            "displayName": "rebuild bob",
            "cloudPcIds": [bob],
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    sim.handle.advance(Duration::from_secs(60)).await;
    let pc = sim.get(&format!("beta/{VE}/cloudPCs/{bob}")).await;
    assert_eq!(pc.body["status"], "provisioning");
    assert_eq!(report(&sim, &id).await[0].1, "active");
    sim.handle.advance(Duration::from_secs(6 * 3600)).await;
    let pc = sim.get(&format!("beta/{VE}/cloudPCs/{bob}")).await;
    assert_eq!(pc.body["status"], "provisioned");
    assert_eq!(report(&sim, &id).await[0].1, "done");
    let done = sim.get(&format!("beta/{VE}/bulkActions/{id}")).await;
    assert_eq!(done.body["status"], "succeeded");

    // Power actions: Frontline only; others are "not supported".
    let power = bulk(
        &sim,
        json!({
            "@odata.type": "#microsoft.graph.cloudPcBulkPowerOff",
            "displayName": "power off",
            "cloudPcIds": [kate, bob],
        }),
    )
    .await;
    let pid = power["id"].as_str().unwrap().to_owned();
    sim.handle.advance(Duration::from_secs(10 * 60)).await;
    let states = report(&sim, &pid).await;
    assert_eq!(states[0].1, "done");
    assert_eq!(states[1].1, "notSupported");
    let pc = sim.get(&format!("beta/{VE}/cloudPCs/{kate}")).await;
    assert_eq!(pc.body["powerState"], "poweredOff");
}

#[tokio::test]
async fn bulk_restore_picks_each_cloud_pcs_restore_point_before_the_time() {
    let sim = start().await;
    let alice = pc_id(&sim, "alice.smith@contoso.com").await;
    let at = sim.handle.now() - time::Duration::hours(7);
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let created = bulk(
        &sim,
        json!({
            "@odata.type": "#microsoft.graph.cloudPcBulkRestore",
            "displayName": "restore alice",
            "cloudPcIds": [alice],
            "restorePointDateTime": at,
            "timeRange": "before",
        }),
    )
    .await;
    assert_eq!(created["timeRange"], "before");
    let id = created["id"].as_str().unwrap().to_owned();
    sim.handle.advance(Duration::from_secs(60)).await;
    let pc = sim.get(&format!("beta/{VE}/cloudPCs/{alice}")).await;
    assert_eq!(pc.body["status"], "restoring", "{}", pc.text);
    assert_eq!(report(&sim, &id).await[0].1, "active");
    sim.handle.advance(Duration::from_secs(3 * 3600)).await;
    assert_eq!(report(&sim, &id).await[0].1, "done");
}

#[tokio::test]
async fn supported_regions_are_a_beta_collection_with_region_groups() {
    let sim = start().await;
    let answer = sim.get(&format!("beta/{VE}/supportedRegions")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let west = answer
        .values()
        .iter()
        .find(|r| r["displayName"] == "westeurope")
        .expect("westeurope");
    assert_eq!(west["regionGroup"], "europeUnion");
    assert_eq!(west["regionStatus"], "available");
    assert_eq!(west["supportedSolution"], "windows365");
    let v1 = sim.get(&format!("v1.0/{VE}/supportedRegions")).await;
    assert_graph_error(&v1, 400, "BadRequest");
    let token = sim.token_with_roles(&["User.Read.All"]).await;
    let denied = sim
        .call(
            Method::GET,
            &format!("beta/{VE}/supportedRegions"),
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_graph_error(&denied, 403, "Authorization_RequestDenied");
}

#[tokio::test]
async fn changes_inside_a_batch_are_audit_events_too() {
    let sim = start().await;
    let alice = pc_id(&sim, "alice.smith@contoso.com").await;
    let answer = sim
        .post(
            "v1.0/$batch",
            json!({"requests": [
                {"id": "1", "method": "POST", "url": format!("/{VE}/cloudPCs/{alice}/troubleshoot")},
                {"id": "2", "method": "GET", "url": format!("/{VE}/cloudPCs/{alice}")},
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let events = audit_events(&sim).await;
    assert_eq!(events.len(), 1, "the GET is not a change: {events:?}");
    assert_eq!(events[0]["activityType"], "Troubleshoot CloudPC");
    assert_eq!(events[0]["resources"][0]["resourceId"], alice.as_str());
}
