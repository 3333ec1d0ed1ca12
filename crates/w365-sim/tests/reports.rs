//! `reports/getRemoteConnectionHistoricalReports` over real HTTP: the Schema/Values stream, paging
//! with top/skip, the filter, the Date header, errors.

use std::time::Duration;

use crate::common::{assert_graph_error, start};
use serde_json::{Value, json};

const REPORT: &str =
    "deviceManagement/virtualEndpoint/reports/getRemoteConnectionHistoricalReports";

fn filter(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn the_report_pages_with_top_and_skip_and_filters_on_time() {
    let sim = start().await;
    let pcs = sim
        .get(&format!(
            "beta/deviceManagement/virtualEndpoint/cloudPCs?$filter={}",
            filter("status eq 'provisioned'")
        ))
        .await;
    // Find a Cloud PC with history (provisioned 95–120 days ago in the seed, busy or light).
    let mut best: Option<(String, u64)> = None;
    for pc in pcs.values() {
        let id = pc["id"].as_str().unwrap().to_owned();
        let answer = sim
            .post(
                &format!("beta/{REPORT}"),
                json!({"filter": format!("CloudPcId eq '{id}'"), "top": 1}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let total = answer.body["TotalRowCount"].as_u64().unwrap();
        if best.as_ref().is_none_or(|(_, t)| total > *t) {
            best = Some((id, total));
        }
    }
    let (id, total) = best.unwrap();
    assert!(
        total > 60,
        "a busy Cloud PC has months of sessions: {total}"
    );

    let first = sim
        .post(
            &format!("beta/{REPORT}"),
            json!({"filter": format!("CloudPcId eq '{id}'"), "select": ["SignInDateTime", "UsageInHour"]}),
        )
        .await;
    assert_eq!(
        first.headers["content-type"].to_str().unwrap(),
        "application/octet-stream"
    );
    let date = first.headers["date"].to_str().unwrap();
    assert!(date.ends_with(" GMT"), "{date}");
    assert_eq!(
        first.body["Schema"],
        json!([{"Column": "SignInDateTime", "PropertyType": "DateTime"},
               {"Column": "UsageInHour", "PropertyType": "Double"}])
    );
    assert_eq!(
        first.body["Values"].as_array().unwrap().len(),
        50,
        "default page"
    );

    // Every row exactly once across pages.
    let mut rows: Vec<Value> = Vec::new();
    let mut skip = 0;
    loop {
        let page = sim
            .post(
                &format!("beta/{REPORT}"),
                json!({"filter": format!("CloudPcId eq '{id}'"), "top": 40, "skip": skip}),
            )
            .await;
        let values = page.body["Values"].as_array().unwrap().clone();
        if values.is_empty() {
            break;
        }
        skip += values.len();
        rows.extend(values);
    }
    assert_eq!(rows.len() as u64, total);
    let mut sorted = rows.clone();
    sorted.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
    assert_eq!(rows, sorted, "oldest first");

    // A time filter keeps the recent ones; a week later there are more.
    let since = rows[rows.len() - 5][0].as_str().unwrap().to_owned();
    let recent = sim
        .post(
            &format!("beta/{REPORT}"),
            json!({"filter": format!("CloudPcId eq '{id}' and SignInDateTime ge datetime'{since}Z'")}),
        )
        .await;
    assert_eq!(recent.body["TotalRowCount"], 5, "{}", recent.text);
    sim.handle.advance(Duration::from_secs(7 * 24 * 3600)).await;
    let later = sim
        .post(
            &format!("beta/{REPORT}"),
            json!({"filter": format!("CloudPcId eq '{id}' and SignInDateTime ge datetime'{since}Z'")}),
        )
        .await;
    assert!(later.body["TotalRowCount"].as_u64().unwrap() > 5);
}

#[tokio::test]
async fn the_report_refuses_what_it_cannot_answer() {
    let sim = start().await;
    let answer = sim.post(&format!("beta/{REPORT}"), json!({})).await;
    assert_graph_error(&answer, 400, "BadRequest");
    assert!(answer.message().contains("CloudPcId"), "{}", answer.text);
    assert_graph_error(
        &sim.post(
            &format!("beta/{REPORT}"),
            json!({"filter": "CloudPcId eq 'nope'"}),
        )
        .await,
        404,
        "ResourceNotFound",
    );
    assert_graph_error(
        &sim.post(
            &format!("v1.0/{REPORT}"),
            json!({"filter": "CloudPcId eq 'x'"}),
        )
        .await,
        400,
        "BadRequest",
    );
    let none = sim.token_with_roles(&["User.Read.All"]).await;
    let answer = sim
        .call(
            reqwest::Method::POST,
            &format!("beta/{REPORT}"),
            Some(&none),
            &[],
            Some(json!({"filter": "CloudPcId eq 'x'"})),
        )
        .await;
    assert_graph_error(&answer, 403, "Authorization_RequestDenied");
}
