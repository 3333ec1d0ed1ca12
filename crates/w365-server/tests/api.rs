//! Every endpoint over real HTTP on 127.0.0.1:0, the OpenAPI document's coverage, the error shape,
//! the request id and the security headers.

use std::collections::BTreeSet;

use crate::common::{Options, start, start_with};
use serde_json::{Value, json};

/// `(path, method)` of every `.route(...)` in src/api/mod.rs.
fn declared_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/api/mod.rs");
    let mut out = BTreeSet::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).expect("a route path").to_owned();
        // The handler part ends at the route call's closing parenthesis (first line starting with `)`
        // or the next `.route`).
        let body = chunk.split("\n        .").next().unwrap_or(chunk);
        for method in ["get", "post", "delete", "put", "patch"] {
            if body.contains(&format!("{method}(")) {
                out.insert((path.clone(), method.to_owned()));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_route_has_an_openapi_entry() {
    let h = start().await;
    let r = h
        .http
        .get(h.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("doc");
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    let routes = declared_routes();
    assert!(
        routes.len() >= 20,
        "the route parser found the routes: {routes:?}"
    );
    let mut missing = Vec::new();
    for (path, method) in &routes {
        if doc["paths"][path][method].is_null() {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "routes without an OpenAPI entry: {missing:?}"
    );
    // And no documented path that is not served.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            assert!(
                routes.contains(&(path.clone(), method.clone())),
                "documented but not routed: {method} {path}"
            );
        }
    }
    assert!(doc["components"]["securitySchemes"]["entra"].is_object());
    h.shutdown().await;
}

#[tokio::test]
async fn errors_have_one_shape_request_ids_and_security_headers() {
    let h = start().await;
    let token = h.token("reader").await;
    // An unknown route: the JSON error shape, with the request id of the header.
    let r = h
        .http
        .get(h.url("/api/v1/nothing"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let id = r.headers()["x-request-id"].to_str().expect("id").to_owned();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("default-src 'self'")
    );
    assert!(
        r.headers().get("strict-transport-security").is_none(),
        "no HSTS on loopback"
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["status"], 404);
    assert_eq!(body["error"]["requestId"], id.as_str());
    // A well-formed incoming request id is kept.
    let r = h
        .http
        .get(h.url("/healthz"))
        .header("x-request-id", "ticket-4711-abc")
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["x-request-id"], "ticket-4711-abc");
    // A bad JSON body is the same shape.
    let r = h
        .http
        .post(h.url("/api/v1/jobs"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "bad_request");
    h.shutdown().await;

    let h = start_with(Options {
        hsts: true,
        ..Options::default()
    })
    .await;
    let r = h.http.get(h.url("/healthz")).send().await.expect("get");
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .expect("hsts")
            .contains("max-age=")
    );
    h.shutdown().await;
}

async fn jobs_submit_validate_dry_run_idempotency_list_get_cancel() {
    let h = start().await;
    let helpdesk = h.token("helpdesk").await;
    let admin = h.token("admin").await;

    // 422 lists every problem with its fix.
    let (status, body) = h
        .post(
            &helpdesk,
            "/api/v1/jobs",
            &json!({"operation": "assign", "tenant": "sandbox",
            "params": {"colour": "blue", "licenseGroup": ""}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let problems = body["error"]["problems"].as_array().expect("problems");
    let params: Vec<&str> = problems
        .iter()
        .filter_map(|p| p["param"].as_str())
        .collect();
    assert!(params.contains(&"params.colour"), "{params:?}");
    assert!(params.contains(&"params.user"), "{params:?}");
    assert!(
        problems
            .iter()
            .all(|p| !p["fix"].as_str().unwrap_or("").is_empty())
    );
    let (status, body) = h
        .post(
            &helpdesk,
            "/api/v1/jobs",
            &json!({"operation": "nope", "tenant": "atlantis"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["problems"].as_array().expect("p").len(), 2);

    // Dry run: the plan, no job.
    let (status, plan) = h
        .post(
            &helpdesk,
            "/api/v1/jobs",
            &json!({"operation": "assign", "tenant": "sandbox",
            "params": {"user": "kate.thomas@contoso.com"}, "dryRun": true}),
        )
        .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["dryRun"], true);
    assert!(plan["plan"].is_object(), "{plan}");
    // The Graph requests its planning took (reads only), counted for this request alone.
    assert!(
        plan["graphRequests"]
            .as_u64()
            .is_some_and(|n| (1..=10).contains(&n)),
        "{plan}"
    );
    assert!(
        h.store
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );

    // Submit with an idempotency key twice: one job.
    let submit = |key: &'static str, user: &'static str| {
        h.http
            .post(h.url("/api/v1/jobs"))
            .bearer_auth(&helpdesk)
            .header("idempotency-key", key)
            .json(&json!({"operation": "assign", "tenant": "sandbox", "params": {"user": user}}))
            .send()
    };
    let first = submit("key-1", "kate.thomas@contoso.com")
        .await
        .expect("post");
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    let again = submit("key-1", "kate.thomas@contoso.com")
        .await
        .expect("post");
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(first["id"], again["id"]);
    let other = submit("key-2", "liam.jackson@contoso.com")
        .await
        .expect("post");
    assert_eq!(other.status(), 202);
    let other: Value = other.json().await.expect("json");
    assert_eq!(first["state"], "available");
    assert_eq!(first["input"]["user"], "kate.thomas@contoso.com");

    // List with filters, paged.
    let (status, all) = h.get(&helpdesk, "/api/v1/jobs").await;
    assert_eq!(status, 200);
    assert_eq!(all["items"].as_array().expect("items").len(), 2);
    let (_, by_user) = h
        .get(&helpdesk, "/api/v1/jobs?user=liam.jackson@contoso.com")
        .await;
    assert_eq!(by_user["items"].as_array().expect("items").len(), 1);
    let (_, by_req) = h
        .get(
            &helpdesk,
            "/api/v1/jobs?requester=ada.admin@contoso.com&operation=assign",
        )
        .await;
    assert!(by_req["items"].as_array().expect("items").is_empty());
    let (_, paged) = h.get(&helpdesk, "/api/v1/jobs?limit=1").await;
    assert_eq!(paged["items"].as_array().expect("items").len(), 1);
    let cursor = paged["nextCursor"].as_str().expect("a next page");
    let (_, page2) = h
        .get(&helpdesk, &format!("/api/v1/jobs?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(page2["items"].as_array().expect("items").len(), 1);
    assert_ne!(page2["items"][0]["id"], paged["items"][0]["id"]);
    assert_eq!(h.get(&helpdesk, "/api/v1/jobs?state=sideways").await.0, 400);
    assert_eq!(
        h.get(&helpdesk, "/api/v1/jobs?createdAfter=yesterday")
            .await
            .0,
        400
    );
    assert_eq!(h.get(&helpdesk, "/api/v1/jobs?limit=0").await.0, 400);
    let (_, available) = h
        .get(
            &helpdesk,
            "/api/v1/jobs?state=available&createdAfter=2000-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(available["items"].as_array().expect("items").len(), 2);
    // Search (any case), sort by user both ways, offset pages.
    let (_, searched) = h.get(&helpdesk, "/api/v1/jobs?search=LIAM.J").await;
    assert_eq!(searched["items"].as_array().expect("items").len(), 1);
    assert_eq!(searched["items"][0]["id"], other["id"]);
    let (_, by_user) = h.get(&helpdesk, "/api/v1/jobs?sort=user&order=asc").await;
    assert_eq!(by_user["items"][0]["id"], first["id"], "kate before liam");
    let (_, by_user) = h
        .get(
            &helpdesk,
            "/api/v1/jobs?sort=user&order=desc&limit=1&offset=1",
        )
        .await;
    assert_eq!(by_user["items"][0]["id"], first["id"]);
    assert!(
        by_user["nextCursor"].is_null(),
        "offset pages have no cursor"
    );
    assert_eq!(h.get(&helpdesk, "/api/v1/jobs?sort=id;drop").await.0, 400);
    assert_eq!(h.get(&helpdesk, "/api/v1/jobs?order=up").await.0, 400);
    assert_eq!(
        h.get(
            &helpdesk,
            &format!("/api/v1/jobs?sort=user&cursor={cursor}")
        )
        .await
        .0,
        400,
        "a cursor pages the newest-first order only"
    );

    // Get, cancel, cancel again (409).
    let id = other["id"].as_str().expect("id");
    let (status, got) = h.get(&helpdesk, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["id"], id);
    assert_eq!(h.get(&helpdesk, "/api/v1/jobs/not-a-uuid").await.0, 400);
    assert_eq!(
        h.get(&helpdesk, &format!("/api/v1/jobs/{}", uuid::Uuid::new_v4()))
            .await
            .0,
        404
    );
    let reader = h.token("reader").await;
    assert_eq!(
        h.post(&reader, &format!("/api/v1/jobs/{id}/cancel"), &json!({}))
            .await
            .0,
        403
    );
    let (status, cancelled) = h
        .post(&helpdesk, &format!("/api/v1/jobs/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(
        h.post(&helpdesk, &format!("/api/v1/jobs/{id}/cancel"), &json!({}))
            .await
            .0,
        409
    );

    // The audit log has the submissions and the cancellation; export is Admin only.
    let (status, audit) = h.get(&reader, "/api/v1/audit?operation=assign").await;
    assert_eq!(status, 200);
    let outcomes: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["outcome"].as_str())
        .collect();
    // The store records the cancellation itself; the server adds who asked for it.
    assert_eq!(&outcomes[..2], &["submitted", "submitted"]);
    assert!(outcomes.contains(&"cancel_requested"), "{outcomes:?}");
    let (_, one_job) = h.get(&reader, &format!("/api/v1/audit?jobId={id}")).await;
    let for_job = one_job["items"].as_array().expect("items");
    assert!(for_job.iter().all(|r| r["jobId"] == id), "{one_job}");
    assert!(
        for_job.iter().any(|r| r["outcome"] == "cancel_requested"
            && r["actor"]["upn"] == "hank.helpdesk@contoso.com")
    );
    assert_eq!(h.get(&reader, "/api/v1/audit/export").await.0, 403);
    let r = h
        .http
        .get(h.url("/api/v1/audit/export"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("export");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/csv")
    );
    let csv = r.text().await.expect("csv");
    assert_eq!(
        csv.lines().count(),
        outcomes.len() + 1,
        "a header and every record:\n{csv}"
    );
    assert!(csv.contains("kate.thomas@contoso.com"));

    // runAt in the future: the job waits, scheduled, until then.
    let at = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .replace_nanosecond(0)
        .expect("whole seconds");
    let at_text = at
        .format(&time::format_description::well_known::Rfc3339)
        .expect("rfc3339");
    let (status, later) = h
        .post(
            &helpdesk,
            "/api/v1/jobs",
            &json!({"operation": "cloudpc.troubleshoot", "tenant": "other",
                    "params": {"cloudPc": "alice.smith@contoso.com"}, "runAt": at_text}),
        )
        .await;
    assert_eq!(status, 202, "{later}");
    assert_eq!(later["state"], "scheduled", "{later}");
    let scheduled_at = time::OffsetDateTime::parse(
        later["scheduledAt"].as_str().expect("scheduledAt"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    assert_eq!(scheduled_at, at, "{later}");
    // A runAt that is not a time: 422, the problem names runAt.
    let (status, bad) = h
        .post(
            &helpdesk,
            "/api/v1/jobs",
            &json!({"operation": "cloudpc.troubleshoot", "tenant": "sandbox",
                    "params": {"cloudPc": "alice.smith@contoso.com"}, "runAt": "tomorrow at noon"}),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let problems = bad["error"]["problems"].as_array().expect("problems");
    assert!(
        problems
            .iter()
            .any(|p| p["param"] == "runAt" && !p["fix"].as_str().unwrap_or("").is_empty()),
        "{bad}"
    );
    // The tenant filter: each tenant's jobs, and only them.
    let (status, other_jobs) = h.get(&helpdesk, "/api/v1/jobs?tenant=other").await;
    assert_eq!(status, 200, "{other_jobs}");
    let other_items = other_jobs["items"].as_array().expect("items");
    assert_eq!(other_items.len(), 1, "{other_jobs}");
    assert_eq!(other_items[0]["id"], later["id"]);
    let (_, sandbox_jobs) = h.get(&helpdesk, "/api/v1/jobs?tenant=sandbox").await;
    let sandbox_items = sandbox_jobs["items"].as_array().expect("items");
    assert_eq!(sandbox_items.len(), 2, "{sandbox_jobs}");
    assert!(
        sandbox_items.iter().all(|j| j["tenant"] == "sandbox"),
        "{sandbox_jobs}"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn reads_operations_users_windows365_capacity_tenants_me() {
    let h = start().await;
    let reader = h.token("reader").await;
    let (status, ops) = h.get(&reader, "/api/v1/operations").await;
    assert_eq!(status, 200);
    let ops = ops["operations"].as_array().expect("ops");
    let assign = ops.iter().find(|o| o["name"] == "assign").expect("assign");
    assert_eq!(assign["role"], "W365.Helpdesk");
    assert_eq!(assign["allowed"], false, "a Reader may not run assign");
    assert!(assign["tenants"]["sandbox"]["properties"]["user"].is_object());
    assert!(assign["tenants"]["other"].is_object());

    let (status, tenants) = h.get(&reader, "/api/v1/tenants").await;
    assert_eq!(status, 200);
    assert_eq!(tenants.as_array().expect("tenants").len(), 2);
    assert_eq!(tenants[1]["hasProtectedGroups"], true);
    let (_, me) = h.get(&reader, "/api/v1/me").await;
    assert_eq!(me["operator"]["upn"], "rita.reader@contoso.com");
    assert_eq!(me["operator"]["role"], "W365.Reader");

    let (status, found) = h
        .get(&reader, "/api/v1/tenants/sandbox/users?search=ali")
        .await;
    assert_eq!(status, 200, "{found}");
    let items = found["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .any(|u| u["userPrincipalName"] == "alice.smith@contoso.com"),
        "{found}"
    );
    let (_, page) = h
        .get(&reader, "/api/v1/tenants/sandbox/users?limit=5")
        .await;
    assert_eq!(page["items"].as_array().expect("items").len(), 5);
    let next = page["nextCursor"].as_str().expect("next");
    let (_, page2) = h
        .get(
            &reader,
            &format!("/api/v1/tenants/sandbox/users?limit=5&cursor={next}"),
        )
        .await;
    assert_ne!(page2["items"][0], page["items"][0]);
    assert_eq!(
        h.get(&reader, "/api/v1/tenants/atlantis/users").await.0,
        404
    );
    // A search with a quote is a literal, not OData syntax.
    assert_eq!(
        h.get(&reader, "/api/v1/tenants/sandbox/users?search=o'b")
            .await
            .0,
        200
    );

    // Alice also holds a licence that is not Windows 365 (Microsoft 365 E3, assigned directly):
    // the seed has Windows 365 SKUs only, so the test adds one as a real tenant has.
    const E3: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";
    let now = h.sim.now();
    h.sim.with_state(|store| {
        use w365_sim::state::licensing::{PrepaidUnits, ServicePlanInfo, SubscribedSku};
        let t = store.default_tenant_mut().expect("tenant");
        t.licensing.skus.push(SubscribedSku {
            sku_id: E3.into(),
            sku_part_number: "SPE_E3".into(),
            applies_to: "User".into(),
            capability_status: "Enabled".into(),
            prepaid_units: PrepaidUnits {
                enabled: 50,
                ..PrepaidUnits::default()
            },
            consumed_units: 0,
            subscription_ids: Vec::new(),
            service_plans: vec![ServicePlanInfo {
                service_plan_id: "efb87545-963c-4e0d-99df-69c6916d9eb0".into(),
                service_plan_name: "EXCHANGE_S_ENTERPRISE".into(),
                provisioning_status: "Success".into(),
                applies_to: "User".into(),
            }],
        });
        t.assign_direct_license("alice.smith@contoso.com", E3, now)
            .expect("E3 for alice");
    });
    let (status, w365) = h
        .get(
            &reader,
            "/api/v1/tenants/sandbox/users/alice.smith@contoso.com/windows365",
        )
        .await;
    assert_eq!(status, 200, "{w365}");
    assert!(!w365["cloudPcs"].as_array().expect("pcs").is_empty());
    let licences = w365["licences"].as_array().expect("licences");
    assert_eq!(licences.len(), 1, "Windows 365 licences only: {w365}");
    assert_eq!(licences[0]["skuPartNumber"], "CPC_E_2C_4GB_128GB");
    assert_eq!(licences[0]["state"], "Active");
    assert_eq!(licences[0]["source"]["kind"], "group");
    assert_eq!(
        licences[0]["source"]["groupName"],
        "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB"
    );
    assert!(
        !w365.to_string().contains(E3) && !w365.to_string().contains("SPE_E3"),
        "the E3 licence is left out: {w365}"
    );
    assert!(!w365["groups"].as_array().expect("groups").is_empty());
    assert_eq!(w365["protected"], false);
    assert_eq!(w365["frontline"], json!([]), "no Frontline for Alice");
    // Kate is in the Frontline Shift A group: the Frontline policy's assignment reaches her.
    let (status, kate) = h
        .get(
            &reader,
            "/api/v1/tenants/sandbox/users/kate.thomas@contoso.com/windows365",
        )
        .await;
    assert_eq!(status, 200, "{kate}");
    let frontline = kate["frontline"].as_array().expect("frontline");
    assert_eq!(frontline.len(), 1, "{kate}");
    assert_eq!(
        frontline[0]["group"],
        "cfg - Windows 365 - Frontline - Shift A"
    );
    assert_eq!(frontline[0]["allotment"], "Shift A");
    assert_eq!(frontline[0]["licences"], 3);
    assert!(
        ["dedicated", "shared"].contains(&frontline[0]["mode"].as_str().unwrap_or_default()),
        "{kate}"
    );
    assert!(
        frontline[0]["policy"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
    assert_eq!(
        kate["licences"],
        json!([]),
        "Frontline licences are not assigned to users"
    );
    // The OpenAPI document describes both fields.
    let (_, doc) = h.get(&reader, "/api/v1/openapi.json").await;
    let schema = &doc["components"]["schemas"]["UserWindows365"]["properties"];
    assert!(
        schema["frontline"].is_object() && schema["licences"].is_object(),
        "{schema}"
    );
    let (_, vip) = h
        .get(
            &reader,
            &format!(
                "/api/v1/tenants/sandbox/users/{}/windows365",
                w365_sim::oidc::VIP_USER
            ),
        )
        .await;
    assert_eq!(vip["protected"], true, "{vip}");
    assert_eq!(
        h.get(
            &reader,
            "/api/v1/tenants/sandbox/users/nobody@contoso.com/windows365"
        )
        .await
        .0,
        404
    );

    let (status, cap) = h.get(&reader, "/api/v1/tenants/sandbox/capacity").await;
    assert_eq!(status, 200, "{cap}");
    assert!(!cap["skus"].as_array().expect("skus").is_empty());
    h.shutdown().await;
}

async fn schedules_health_ready_and_metrics() {
    let h = start().await;
    let admin = h.token("admin").await;
    let helpdesk = h.token("helpdesk").await;
    let schedule = json!({"name": "weekday-capacity-check", "cron": "0 6 * * 1-5", "timeZone": "Europe/Paris",
        "operation": "cloudpc.troubleshoot", "tenant": "sandbox", "params": {"cloudPc": "alice.smith@contoso.com"}});
    assert_eq!(
        h.post(&helpdesk, "/api/v1/schedules", &schedule).await.0,
        403
    );
    let (status, saved) = h.post(&admin, "/api/v1/schedules", &schedule).await;
    assert_eq!(status, 201, "{saved}");
    assert_eq!(saved["name"], "weekday-capacity-check");
    let mut bad = schedule.clone();
    bad["cron"] = json!("every day");
    assert_eq!(h.post(&admin, "/api/v1/schedules", &bad).await.0, 422);
    let (status, list) = h.get(&helpdesk, "/api/v1/schedules").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().expect("list").len(), 1);
    let r = h
        .http
        .delete(h.url("/api/v1/schedules/weekday-capacity-check"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = h
        .http
        .delete(h.url("/api/v1/schedules/weekday-capacity-check"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 404);

    let r = h.http.get(h.url("/healthz")).send().await.expect("healthz");
    assert_eq!(r.status(), 200);
    let r = h.http.get(h.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), 200);
    let ready: Value = r.json().await.expect("json");
    assert_eq!(ready["tenants"]["sandbox"]["ok"], true);

    h.post(&helpdesk, "/api/v1/jobs", &json!({"operation": "assign", "tenant": "sandbox", "params": {"user": "kate.thomas@contoso.com"}})).await;
    h.get(&helpdesk, "/api/v1/tenants/sandbox/capacity").await;
    let text = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains("w365_jobs{state=\"available\"} 1"), "{text}");
    assert!(text.contains("w365_jobs_submitted_total 1"), "{text}");
    let graph = text
        .lines()
        .find(|l| l.starts_with("w365_graph_requests_total{tenant=\"sandbox\"}"))
        .expect("graph requests line");
    let n: u64 = graph
        .rsplit(' ')
        .next()
        .expect("n")
        .parse()
        .expect("number");
    assert!(n > 0, "{graph}");
    assert!(text.contains("w365_graph_throttled_total{tenant=\"sandbox\"}"));

    // Readiness fails when a tenant's Graph does not answer.
    h.sim.set_faults(vec![w365_sim::FaultRule::always(
        w365_sim::faults::FaultAction::Status {
            status: 503,
            retry_after_secs: None,
            http_date: false,
        },
    )]);
    let r = h.http.get(h.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), 503);
    h.shutdown().await;
}

/// The `/metrics` text.
async fn metrics_text(h: &crate::common::Harness) -> String {
    h.http
        .get(h.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// The value of the sample named exactly `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Follows a job until it is finished.
async fn finished(h: &crate::common::Harness, token: &str, id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (status, job) = h.get(token, &format!("/api/v1/jobs/{id}")).await;
        assert_eq!(status, 200, "{job}");
        if matches!(
            job["state"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return job;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "job stuck: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_count_the_job_runs_graph_requests_throttling_and_durations() {
    let mut h = start().await;
    let helpdesk = h.token("helpdesk").await;
    let (status, _) = h.get(&helpdesk, "/api/v1/tenants/sandbox/capacity").await;
    assert_eq!(status, 200);
    let (status, job) = h
        .post(
            &helpdesk,
            "/api/v1/jobs",
            &json!({"operation": "cloudpc.troubleshoot", "tenant": "sandbox",
                    "params": {"cloudPc": "alice.smith@contoso.com"}}),
        )
        .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().expect("id").to_owned();
    let requests = "w365_graph_requests_total{tenant=\"sandbox\"}";
    let throttled = "w365_graph_throttled_total{tenant=\"sandbox\"}";
    let duration = "w365_job_duration_seconds_count{operation=\"cloudpc.troubleshoot\"}";
    let before = metrics_text(&h).await;
    let reads = sample(&before, requests).expect("requests");
    assert!(reads > 0.0, "the API's reads count: {before}");
    assert_eq!(sample(&before, throttled), Some(0.0), "{before}");
    assert_eq!(sample(&before, duration), None, "no job has run: {before}");

    // From here on only the job's run talks to Graph (job reads and /metrics use the store), and
    // its first GET is throttled.
    h.sim.set_faults(vec![w365_sim::FaultRule {
        method: Some("GET".into()),
        path: None,
        tenant: None,
        action: w365_sim::faults::FaultAction::Status {
            status: 429,
            retry_after_secs: Some(0),
            http_date: false,
        },
        trigger: w365_sim::faults::Trigger::FirstN(1),
    }]);
    h.start_worker();
    let job = finished(&h, &helpdesk, &id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert!(
        h.sim.request_log().iter().any(|r| r.status == 429),
        "the simulator throttled a request"
    );

    let after = metrics_text(&h).await;
    let total = sample(&after, requests).expect("requests");
    assert!(
        total > reads,
        "the job's Graph requests are counted ({reads} reads, {total} in all): {after}"
    );
    assert_eq!(sample(&after, throttled), Some(1.0), "{after}");
    assert!(
        sample(&after, "w365_graph_retries_total{tenant=\"sandbox\"}").unwrap_or_default() >= 1.0,
        "{after}"
    );
    assert_eq!(sample(&after, duration), Some(1.0), "{after}");
    let took = sample(
        &after,
        "w365_job_duration_seconds_sum{operation=\"cloudpc.troubleshoot\"}",
    )
    .expect("duration sum");
    assert!(took >= 0.0, "{after}");
    h.shutdown().await;
}

const WIN11: &str = "cfg - Windows 365 - Provisioning - Win11";

/// The group names of the policy `name` in `GET /api/v1/tenants/sandbox/policies`' list `list`,
/// sorted; `None` when there is no such policy.
fn assigned_groups(policies: &Value, list: &str, name: &str) -> Option<Vec<String>> {
    let policy = policies[list]
        .as_array()
        .expect("a list of policies")
        .iter()
        .find(|p| p["displayName"] == name)?;
    let mut groups: Vec<String> = policy["assignments"]
        .as_array()
        .expect("assignments")
        .iter()
        .map(|a| {
            a["group"]["displayName"]
                .as_str()
                .expect("a name")
                .to_owned()
        })
        .collect();
    groups.sort();
    Some(groups)
}

/// Policy management through the API: Readers see the policies with their assignments; the
/// `policy.*` and `user-settings.*` operations are the Admin's (a Helpdesk operator's submission
/// is a 403 and an audit record, and no job); bad parameters are a 422 with every problem; a dry
/// run answers the plan and changes nothing; the Admin's jobs change the simulator's policies
/// through the code of `w365 policy` and `w365 user-settings`.
async fn policy_operations_are_admin_jobs_and_policies_a_read() {
    let h = start_with(Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let reader = h.token("reader").await;
    let helpdesk = h.token("helpdesk").await;
    let admin = h.token("admin").await;
    let (hr, rr, ar) = (&h, &reader, &admin);
    let policies = move || async move {
        let (status, body) = hr.get(rr, "/api/v1/tenants/sandbox/policies").await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let before = policies().await;
    assert_eq!(
        assigned_groups(&before, "provisioningPolicies", WIN11),
        Some(vec![WIN11.to_owned()]),
        "{before}"
    );
    let restore = "cfg - Windows 365 - User Settings - restore allowed";
    assert_eq!(
        assigned_groups(&before, "userSettingsPolicies", restore),
        Some(vec![restore.to_owned()]),
        "{before}"
    );
    let listed = before["provisioningPolicies"].as_array().expect("list");
    assert!(
        listed.iter().any(|p| p["properties"]["provisioning_type"]
            .as_str()
            .is_some_and(|t| t.starts_with("shared"))),
        "the Frontline policy is listed with its properties: {before}"
    );
    assert_eq!(
        h.get(&reader, "/api/v1/tenants/atlantis/policies").await.0,
        404
    );

    // A Helpdesk operator may not: 403, audited, no job.
    let assign = json!({"operation": "policy.assign", "tenant": "sandbox",
        "params": {"policy": WIN11, "group": ["Engineering"]}});
    let (status, body) = h.post(&helpdesk, "/api/v1/jobs", &assign).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("W365.Admin")),
        "{body}"
    );
    let audit = h
        .store
        .audit_list(&w365_jobs::AuditFilter::default())
        .await
        .expect("audit");
    let refused: Vec<_> = audit
        .items
        .iter()
        .filter(|r| r.outcome == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", audit.items);
    assert_eq!(refused[0].operation, "policy.assign");
    assert_eq!(refused[0].target.as_deref(), Some(WIN11));
    assert_eq!(refused[0].actor.upn, "hank.helpdesk@contoso.com");
    assert_eq!(
        refused[0].request_id.as_deref(),
        body["error"]["requestId"].as_str()
    );
    let no_jobs = move || async move {
        hr.store
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty()
    };
    assert!(no_jobs().await, "no job for a refusal");

    // Every problem at once, with its fix.
    let (status, body) = h
        .post(
            &admin,
            "/api/v1/jobs",
            &json!({"operation": "policy.create", "tenant": "sandbox", "params": {
                "joinType": "domainJoin", "group": [], "allotmentCount": -1,
                "file": "kind = \"userSettings\"\ndisplay_name = \"X\"\n"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let problems = body["error"]["problems"].as_array().expect("problems");
    let params: BTreeSet<&str> = problems
        .iter()
        .filter_map(|p| p["param"].as_str())
        .collect();
    assert_eq!(
        params,
        BTreeSet::from([
            "params.joinType",
            "params.group",
            "params.allotmentCount",
            "params.file"
        ]),
        "{body}"
    );
    assert!(
        problems
            .iter()
            .all(|p| !p["fix"].as_str().unwrap_or("").is_empty())
    );

    // The dry run: the plan, nothing changed, no job.
    let mut dry = assign.clone();
    dry["dryRun"] = json!(true);
    let (status, plan) = h.post(&admin, "/api/v1/jobs", &dry).await;
    assert_eq!(status, 200, "{plan}");
    let change = &plan["plan"]["plan"]["changes"][0];
    assert_eq!(change["action"], "assign", "{plan}");
    assert_eq!(change["assignment"]["group"]["displayName"], "Engineering");
    assert_eq!(
        plan["plan"]["plan"]["changes"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        plan["graphRequests"].as_u64().is_some_and(|n| n >= 1),
        "{plan}"
    );
    assert_eq!(
        assigned_groups(&policies().await, "provisioningPolicies", WIN11),
        Some(vec![WIN11.to_owned()]),
        "a dry run changes nothing"
    );
    assert!(no_jobs().await, "a dry run stores no job");

    // The Admin's job: the policy is assigned to Engineering as well (the other group kept).
    let (status, job) = h.post(&admin, "/api/v1/jobs", &assign).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["target"], WIN11);
    let job = finished(&h, &admin, job["id"].as_str().expect("id")).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["command"], "policy assign");
    assert_eq!(job["result"]["ok"], true);
    assert_eq!(job["result"]["results"][0]["change"]["action"], "assign");
    assert_eq!(
        assigned_groups(&policies().await, "provisioningPolicies", WIN11),
        Some(vec!["Engineering".to_owned(), WIN11.to_owned()])
    );

    // A user settings policy from a policy file's text, a parameter over it, assigned; then
    // deleted (refused while assigned, done with unassignFirst).
    let name = "US - From the API";
    let file =
        format!("kind = \"userSettings\"\ndisplay_name = \"{name}\"\nreset_enabled = true\n");
    let run = move |body: Value| async move {
        let (status, job) = hr.post(ar, "/api/v1/jobs", &body).await;
        assert_eq!(status, 202, "{job}");
        finished(hr, ar, job["id"].as_str().expect("id")).await
    };
    let job = run(
        json!({"operation": "user-settings.create", "tenant": "sandbox",
        "params": {"file": file, "localAdmin": true, "group": ["All Staff"]}}),
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["result"]["created"][0]["name"], name, "{job}");
    let after = policies().await;
    assert_eq!(
        assigned_groups(&after, "userSettingsPolicies", name),
        Some(vec!["All Staff".to_owned()]),
        "{after}"
    );
    let created = after["userSettingsPolicies"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["displayName"] == name)
        .expect("created");
    assert_eq!(created["properties"]["reset_enabled"], true, "{created}");
    assert_eq!(
        created["properties"]["local_admin_enabled"], true,
        "{created}"
    );
    let delete = |unassign_first: bool| {
        json!({"operation": "user-settings.delete", "tenant": "sandbox",
            "params": {"policy": name, "unassignFirst": unassign_first}})
    };
    let job = run(delete(false)).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("still assigned")),
        "{job}"
    );
    let job = run(delete(true)).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let actions: Vec<&str> = job["result"]["plan"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["action"].as_str())
        .collect();
    assert_eq!(actions, ["unassign", "delete"]);
    assert_eq!(
        assigned_groups(&policies().await, "userSettingsPolicies", name),
        None,
        "deleted"
    );
    h.shutdown().await;
}

// The job store matters to these: each runs on SQLite and on PostgreSQL.
sqlite_and_postgres!(
    jobs_submit_validate_dry_run_idempotency_list_get_cancel,
    schedules_health_ready_and_metrics,
    policy_operations_are_admin_jobs_and_policies_a_read,
);
