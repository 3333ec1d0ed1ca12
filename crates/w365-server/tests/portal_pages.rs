//! The portal's jobs list, capacity dashboard, audit log and schedules over plain HTTP (no
//! browser): content, filters, sorting, pages, exports, roles (403), CSRF.

use crate::common;

use crate::common::portal::{Answer, Portal};
use serde_json::{Value, json};
use w365_jobs::{Identity, NewAuditRecord, NewJob};

fn operator(upn: &str) -> Identity {
    Identity {
        object_id: format!("oid-{upn}"),
        upn: upn.to_owned(),
        display_name: upn.split('@').next().unwrap_or(upn).to_owned(),
    }
}

/// Job links of a jobs page, in the order shown.
fn job_ids(page: &Answer) -> Vec<String> {
    page.body
        .split("<a href=\"/jobs/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The href of the page's "Next" link.
fn next_link(page: &Answer) -> String {
    let before = page.body.split("rel=\"next\"").next().expect("a next link");
    let href = before.rsplit("href=\"").next().expect("its href");
    href.split('"').next().expect("quoted").to_owned()
}

/// Signed in as the demo operator `role`, working on the sandbox tenant.
async fn signed_in(h: &common::Harness, role: &str) -> Portal {
    let mut p = Portal::new(h);
    p.sign_in(role).await;
    let csrf = get(&mut p, "/users").await.csrf();
    let chosen = p
        .post("/tenant", &[("tenant", "sandbox"), ("csrf", &csrf)])
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    p
}

/// A page with the escapes of URLs and quotes undone, for plain assertions.
async fn get(p: &mut Portal, path: &str) -> Answer {
    let mut a = p.get(path).await;
    a.body = a
        .body
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&amp;", "&");
    a
}

#[tokio::test]
async fn jobs_list_filters_sorts_and_pages() {
    let h = common::start().await;
    // 30 jobs in the sandbox (assign for user-NN by two requesters), 1 in the other tenant.
    let mut ids = Vec::new();
    for i in 0..30 {
        let op = if i % 3 == 0 { "unassign" } else { "assign" };
        let requester = if i % 2 == 0 {
            "ada.admin@contoso.com"
        } else {
            "hank.helpdesk@contoso.com"
        };
        let mut job = NewJob::new(op, "sandbox", json!({}), operator(requester));
        job.target = Some(format!("user-{i:02}@contoso.com"));
        let (job, _) = h.store.insert(job).await.expect("insert");
        ids.push(job.id.to_string());
    }
    let mut other = NewJob::new(
        "assign",
        "other",
        json!({}),
        operator("ada.admin@contoso.com"),
    );
    other.target = Some("elsewhere@contoso.com".into());
    let (other, _) = h.store.insert(other).await.expect("insert");

    let mut p = signed_in(&h, "reader").await;
    let page = get(&mut p, "/jobs").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("30 jobs in <strong>sandbox</strong>"),
        "{}",
        page.body
    );
    // Newest first, 25 a page, every row a link to its job page; the state in words.
    let shown = job_ids(&page);
    assert_eq!(shown.len(), 25);
    assert_eq!(shown[0], ids[29]);
    assert!(
        !shown.contains(&other.id.to_string()),
        "only the chosen tenant"
    );
    assert!(
        page.body
            .contains("<span class=\"status status-info\">available</span>")
    );
    assert!(page.body.contains("Page 1 of 2"));
    assert!(page.body.contains("Request id: <code id=\"request-id\">"));
    let next = next_link(&page);
    let page2 = get(&mut p, &next).await;
    assert_eq!(job_ids(&page2).len(), 5);
    assert_eq!(job_ids(&page2).last(), Some(&ids[0]));

    // Filters: operation, requester, user, search, state.
    let page = get(&mut p, "/jobs?operation=unassign").await;
    assert_eq!(job_ids(&page).len(), 10, "{}", page.body);
    let page = get(
        &mut p,
        "/jobs?operator=hank.helpdesk%40contoso.com&operation=assign",
    )
    .await;
    assert_eq!(job_ids(&page).len(), 10);
    let page = get(&mut p, "/jobs?user=user-07%40contoso.com").await;
    assert_eq!(job_ids(&page), vec![ids[7].clone()]);
    let page = get(&mut p, "/jobs?q=USER-1").await;
    assert_eq!(
        job_ids(&page).len(),
        10,
        "search is case-insensitive, on the target too"
    );
    assert_eq!(
        job_ids(&get(&mut p, "/jobs?state=succeeded").await).len(),
        0
    );
    assert!(
        get(&mut p, "/jobs?state=succeeded")
            .await
            .body
            .contains("No job matches these filters.")
    );
    // The time range: today includes them all, a day in the past none.
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        job_ids(&get(&mut p, &format!("/jobs?from={today}&to={today}&q=user-2")).await).len(),
        10
    );
    assert_eq!(job_ids(&get(&mut p, "/jobs?to=2020-01-01").await).len(), 0);

    // Sorting: by user A→Z, then Z→A; the sorted header says so (aria-sort).
    let page = get(&mut p, "/jobs?sort=user&dir=asc").await;
    assert_eq!(job_ids(&page)[0], ids[0]);
    assert!(
        page.body.contains(
            "aria-sort=\"ascending\"><a href=\"/jobs?sort=user&dir=desc&page=1\">User or Cloud PC"
        ),
        "{}",
        page.body
    );
    let page = get(&mut p, "/jobs?sort=user&dir=desc").await;
    assert_eq!(job_ids(&page)[0], ids[29]);
    let page = get(&mut p, "/jobs?sort=created&dir=asc").await;
    assert_eq!(job_ids(&page)[0], ids[0]);

    // Bad input says what to do; another tenant's jobs need it in scope.
    let bad = get(&mut p, "/jobs?from=30.11.2026").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("YYYY-MM-DD"), "{}", bad.body);
    assert_eq!(get(&mut p, "/jobs?state=done").await.status, 400);
    assert_eq!(get(&mut p, "/jobs?tenant=other").await.status, 200);
    let mut scoped = Portal::new(&h);
    scoped.sign_in_as(common::SCOPED_OPERATOR, "/jobs").await;
    let refused = get(&mut scoped, "/jobs?tenant=other").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    h.shutdown().await;
}

/// The "User or Cloud PC" cells of a jobs page, in the order shown.
fn job_users(page: &Answer) -> Vec<String> {
    page.body
        .split("<td data-label=\"User or Cloud PC\">")
        .skip(1)
        .filter_map(|s| s.split("</td>").next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn jobs_list_searches_sorts_and_pages_past_500_jobs() {
    let h = common::start().await;
    // 530 jobs: the oldest for aaron.first, the others for user-NNN in a shuffled order.
    let mut ids = Vec::new();
    for i in 0..530usize {
        let target = if i == 0 {
            "aaron.first@contoso.com".to_owned()
        } else {
            format!("user-{:03}@contoso.com", (i * 7) % 530)
        };
        let mut job = NewJob::new(
            "assign",
            "sandbox",
            json!({}),
            operator("ada.admin@contoso.com"),
        );
        job.target = Some(target);
        ids.push(h.store.insert(job).await.expect("insert").0.id.to_string());
    }
    let mut p = signed_in(&h, "reader").await;
    let page = get(&mut p, "/jobs").await;
    assert!(
        page.body.contains("530 jobs in <strong>sandbox</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Page 1 of 22"), "{}", page.body);

    // Search reaches the oldest job, 529 jobs behind the newest.
    let found = get(&mut p, "/jobs?q=AARON.first").await;
    assert_eq!(job_ids(&found), vec![ids[0].clone()], "{}", found.body);
    assert!(found.body.contains("1 job in <strong>sandbox</strong>"));

    // Sorting covers every job: A to Z starts with the oldest one.
    let asc = get(&mut p, "/jobs?sort=user&dir=asc").await;
    let users = job_users(&asc);
    assert_eq!(users[0], "aaron.first@contoso.com");
    assert_eq!(users[1], "user-001@contoso.com");
    assert_eq!(users[24], "user-024@contoso.com");
    // Z to A: the first page starts at the top, the last page (22: past the old 20) ends with
    // the oldest job.
    let desc = get(&mut p, "/jobs?sort=user&dir=desc").await;
    assert_eq!(job_users(&desc)[0], "user-529@contoso.com");
    let last = get(&mut p, "/jobs?sort=user&dir=desc&page=22").await;
    assert_eq!(last.status, 200, "{}", last.body);
    assert!(last.body.contains("Page 22 of 22"), "{}", last.body);
    assert!(
        !last.body.contains("rel=\"next\""),
        "the last page has no next"
    );
    assert!(last.body.contains("rel=\"prev\""));
    let users = job_users(&last);
    assert_eq!(users.len(), 5, "530 = 21 x 25 + 5");
    assert_eq!(
        users.last().map(String::as_str),
        Some("aaron.first@contoso.com")
    );
    assert_eq!(users[0], "user-004@contoso.com");
    // Newest first, the last page ends with the oldest job; following "Next" gets there.
    let mut page = get(&mut p, "/jobs").await;
    let mut seen = job_ids(&page);
    for _ in 1..22 {
        page = get(&mut p, &next_link(&page)).await;
        seen.extend(job_ids(&page));
    }
    assert!(page.body.contains("Page 22 of 22"));
    assert_eq!(seen.len(), 530);
    assert_eq!(seen, ids.iter().rev().cloned().collect::<Vec<_>>());
    // A page past the end is empty, not an error.
    let past = get(&mut p, "/jobs?page=40").await;
    assert_eq!(past.status, 200);
    assert!(past.body.contains("No job matches these filters."));
    h.shutdown().await;
}

#[tokio::test]
async fn capacity_dashboard_draws_the_capacity_read() {
    let h = common::start().await;
    let report = w365_ops::capacity::capacity(&common::sim_client(&h.sim), &Default::default())
        .await
        .expect("capacity");
    let report = serde_json::to_value(report).unwrap();
    assert!(
        !report["skus"].as_array().unwrap().is_empty(),
        "the sandbox has licences"
    );
    let mut p = signed_in(&h, "reader").await;
    let page = get(&mut p, "/capacity").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("<a href=\"/capacity\" aria-current=\"page\">Capacity</a>")
    );
    // Five charts, each an image with a title and its numbers in words.
    for id in [
        "chart-skus",
        "chart-frontline",
        "chart-status",
        "chart-waiting",
        "chart-grace",
    ] {
        assert!(
            page.body.contains(&format!(
                "<svg id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\""
            )),
            "{id}"
        );
    }
    for sku in report["skus"].as_array().unwrap() {
        let (name, used, free) = (
            sku["skuPartNumber"].as_str().unwrap(),
            &sku["consumed"],
            &sku["free"],
        );
        assert!(
            page.body.contains(&format!("<td data-label=\"SKU\">{name}</td><td data-label=\"Used\">{used}</td><td data-label=\"Free\">{free}")),
            "{name} in the table"
        );
        assert!(
            page.body
                .contains(&format!("{name}: {used} used, {free} free")),
            "{name} in the chart"
        );
    }
    for (status, n) in report["cloudPcsByStatus"].as_object().unwrap() {
        assert!(page.body.contains(&format!(
            "<td data-label=\"Status\">{status}</td><td data-label=\"Cloud PCs\">{n}</td>"
        )));
        assert!(page.body.contains(&format!("{status}: {n} Cloud PCs")));
    }
    assert!(
        page.body
            .contains(&format!("({} in all)", report["cloudPcsTotal"]))
    );
    let waiting = report["usersWithoutCloudPc"].as_array().unwrap().len();
    assert!(page.body.contains(&format!(
        "<span class=\"figure\" id=\"waiting-count\">{waiting}</span>"
    )));
    let grace = report["gracePeriod"].as_array().unwrap().len();
    assert!(page.body.contains(&format!(
        "<span class=\"figure\" id=\"grace-count\">{grace}</span>"
    )));
    // The waiting users and grace periods drawn: a bar per licence group and per end day, the
    // numbers in the chart's words and beside each bar, the figure beside the chart.
    let chart = |id: &str| {
        let start = page
            .body
            .find(&format!("<svg id=\"{id}\""))
            .expect("the chart");
        let end = start + page.body[start..].find("</svg>").expect("its end");
        page.body[start..end].to_owned()
    };
    let mut per_group = std::collections::BTreeMap::<String, usize>::new();
    for u in report["usersWithoutCloudPc"].as_array().unwrap() {
        let group = u["licenseGroup"]["displayName"]
            .as_str()
            .unwrap_or("no licence group");
        *per_group.entry(group.to_owned()).or_default() += 1;
    }
    let waiting_chart = chart("chart-waiting");
    assert!(
        waiting_chart.contains("<title id=\"chart-waiting-title\">Users waiting for a Cloud PC")
    );
    assert_eq!(per_group.values().sum::<usize>(), waiting);
    for (group, n) in &per_group {
        assert!(
            waiting_chart.contains(&format!("{group}: {n} waiting")),
            "{group}: {waiting_chart}"
        );
        assert!(waiting_chart.contains(&format!(">{n} waiting</text>")));
    }
    if per_group.is_empty() {
        assert!(waiting_chart.contains("Nothing to show."));
    } else {
        assert_eq!(
            waiting_chart.matches("class=\"warn\"").count(),
            per_group.len()
        );
    }
    assert!(grace >= 1, "the sandbox has a Cloud PC in its grace period");
    let mut per_day = std::collections::BTreeMap::<String, usize>::new();
    for g in report["gracePeriod"].as_array().unwrap() {
        let day = &g["gracePeriodEndDateTime"].as_str().expect("an end")[..10];
        *per_day.entry(day.to_owned()).or_default() += 1;
    }
    let grace_chart = chart("chart-grace");
    for (day, n) in &per_day {
        assert!(
            grace_chart.contains(&format!("ends {day}: {n} Cloud PCs")),
            "{day}: {grace_chart}"
        );
        assert!(grace_chart.contains(&format!("<title>{n} Cloud PCs</title></rect>")));
    }
    for plan in report["frontlinePlans"].as_array().unwrap() {
        assert!(page.body.contains(&format!(
            "{} (licences)",
            plan["displayName"].as_str().unwrap()
        )));
    }
    // The scoped operator cannot read another tenant's capacity through the picker either.
    let mut scoped = Portal::new(&h);
    scoped
        .sign_in_as(common::SCOPED_OPERATOR, "/capacity")
        .await;
    assert_eq!(get(&mut scoped, "/capacity").await.status, 200);
    h.shutdown().await;
}

async fn audit(h: &common::Harness, n: usize) {
    for i in 0..n {
        h.store
            .audit_append(NewAuditRecord {
                at: None,
                actor: operator(if i % 2 == 0 {
                    "ada.admin@contoso.com"
                } else {
                    "hank.helpdesk@contoso.com"
                }),
                tenant: if i == n - 1 {
                    "other".into()
                } else {
                    "sandbox".into()
                },
                operation: if i % 3 == 0 {
                    "unassign".into()
                } else {
                    "assign".into()
                },
                target: Some(format!("user-{i:02}@contoso.com")),
                input: json!({"user": format!("user-{i:02}@contoso.com")}),
                outcome: if i % 2 == 0 {
                    "submitted".into()
                } else {
                    "refused".into()
                },
                job_id: None,
                request_id: Some(format!("req-{i:02}")),
            })
            .await
            .expect("audit");
    }
}

#[tokio::test]
async fn audit_log_filters_pages_and_exports() {
    let h = common::start().await;
    audit(&h, 61).await; // 60 in the sandbox, the last one in the other tenant
    let mut reader = signed_in(&h, "reader").await;
    let page = get(&mut reader, "/audit").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body.matches("<td data-label=\"#\">").count(),
        50,
        "a page"
    );
    assert!(page.body.contains("<code>req-00</code>"));
    assert!(
        !page.body.contains("id=\"export-csv\""),
        "a Reader sees no export"
    );
    let next = next_link(&page);
    let page2 = get(&mut reader, &next).await;
    assert_eq!(page2.body.matches("<td data-label=\"#\">").count(), 10);
    assert!(page2.body.contains("<code>req-59</code>") && !page2.body.contains("req-60"));
    assert!(!page2.body.contains("rel=\"next\""));
    // Filters: result (across store pages), operator, operation, time.
    let refused = get(&mut reader, "/audit?result=refused").await;
    assert_eq!(refused.body.matches("<td data-label=\"#\">").count(), 30);
    assert!(
        refused
            .body
            .contains("<span class=\"status status-bad\">refused</span>")
    );
    assert!(!refused.body.contains("status-ok\">submitted"));
    let by = get(
        &mut reader,
        "/audit?operator=ada.admin%40contoso.com&operation=unassign",
    )
    .await;
    assert_eq!(
        by.body.matches("<td data-label=\"#\">").count(),
        10,
        "{}",
        by.body
    );
    assert_eq!(
        get(&mut reader, "/audit?to=2020-01-01")
            .await
            .body
            .matches("<td data-label=\"#\">")
            .count(),
        0
    );
    assert!(
        get(&mut reader, "/audit?tenant=other")
            .await
            .body
            .contains("req-60")
    );
    // Export is Admin's (as in the REST API); a Reader posting the link directly is refused.
    assert_eq!(
        get(&mut reader, "/audit/export?format=csv").await.status,
        403
    );

    let mut admin = signed_in(&h, "admin").await;
    let page = get(&mut admin, "/audit?result=refused").await;
    assert!(
        page.body
            .contains("href=\"/audit/export?tenant=sandbox&result=refused&format=csv\""),
        "{}",
        page.body
    );
    let csv = get(
        &mut admin,
        "/audit/export?tenant=sandbox&result=refused&format=csv",
    )
    .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("w365-audit.csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 31, "header + 30 refused");
    assert!(lines[0].starts_with("seq,at,actorObjectId"));
    assert!(lines[1..].iter().all(|l| l.contains(",refused,")));
    let jsonl = get(&mut admin, "/audit/export?tenant=sandbox&format=jsonl").await;
    assert_eq!(jsonl.status, 200);
    let records: Vec<Value> = jsonl
        .body
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(records.len(), 60);
    assert!(
        records
            .iter()
            .all(|r| r["tenant"] == "sandbox" && r["hash"].is_string())
    );
    assert_eq!(
        get(&mut admin, "/audit/export?format=xml").await.status,
        400
    );
    // The scoped operator cannot read the other tenant's log.
    let mut scoped = Portal::new(&h);
    scoped.sign_in_as(common::SCOPED_OPERATOR, "/audit").await;
    assert_eq!(get(&mut scoped, "/audit?tenant=other").await.status, 403);
    h.shutdown().await;
}

#[tokio::test]
async fn schedules_are_for_admins_only() {
    let h = common::start().await;
    for role in ["reader", "helpdesk"] {
        let mut p = signed_in(&h, role).await;
        let jobs = get(&mut p, "/jobs").await;
        assert!(
            jobs.body.contains("<a href=\"/audit\">Audit log</a>"),
            "{role}"
        );
        assert!(
            !jobs.body.contains("href=\"/schedules\""),
            "{role}: no Schedules link"
        );
        let page = get(&mut p, "/schedules").await;
        assert_eq!(page.status, 403, "{role}");
        assert!(page.body.contains("Schedules need the Admin role."));
        // A direct post with a valid CSRF token is refused too, and nothing is saved.
        let csrf = jobs.csrf();
        let posted = p
            .post(
                "/schedules",
                &[
                    ("csrf", &csrf),
                    ("operation", "cloudpc.troubleshoot"),
                    ("schedule_name", "x"),
                    ("cron", "0 6 * * *"),
                    ("time_zone", "UTC"),
                    ("p.cloudPc", "alice.smith@contoso.com"),
                ],
            )
            .await;
        assert_eq!(posted.status, 403, "{role}");
        assert_eq!(
            p.post(
                "/schedules/x/delete",
                &[("csrf", &csrf), ("confirm", "yes")]
            )
            .await
            .status,
            403
        );
        assert_eq!(get(&mut p, "/schedules/x/delete").await.status, 403);
    }
    assert!(h.store.schedule_list().await.unwrap().is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn an_admin_creates_and_deletes_a_schedule() {
    let h = common::start().await;
    let mut p = signed_in(&h, "admin").await;
    let page = get(&mut p, "/schedules").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("<a href=\"/schedules\" aria-current=\"page\">Schedules</a>")
    );
    assert!(page.body.contains("No recurring job in this tenant yet."));
    assert!(
        !page.body.contains("id=\"new-schedule\""),
        "the parameters come after the operation"
    );
    let form = get(&mut p, "/schedules?operation=cloudpc.troubleshoot").await;
    assert!(
        form.body.contains(
            "<label for=\"f-p.cloudPc\">cloudPc <span class=\"req\">(required)</span></label>"
        ),
        "{}",
        form.body
    );
    let csrf = form.csrf();
    let mut fields = vec![
        ("operation", "cloudpc.troubleshoot"),
        ("schedule_name", "weekday-check"),
        ("cron", "0 6 * * 1-5"),
        ("time_zone", "Europe/Paris"),
        ("p.cloudPc", "alice.smith@contoso.com"),
        ("enabled", "true"),
    ];
    // Without the CSRF token: refused, nothing saved.
    assert_eq!(p.post("/schedules", &fields).await.status, 403);
    assert!(h.store.schedule_list().await.unwrap().is_empty());
    // A bad cron expression and time zone: the form again, each problem at its field.
    let mut bad = fields.clone();
    bad[2] = ("cron", "every day");
    bad.push(("csrf", &csrf));
    let refused = p.post("/schedules", &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("id=\"e-cron\""), "{}", refused.body);
    assert!(
        refused.body.contains("value=\"every day\""),
        "what was typed stays"
    );
    bad[2] = ("cron", "0 6 * * 1-5");
    bad[3] = ("time_zone", "Mars/Olympus");
    let refused = p.post("/schedules", &bad).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("id=\"e-time_zone\"") && refused.body.contains("unknown time zone")
    );
    // A missing required parameter: the operation's own validation names it.
    let mut missing: Vec<(&str, &str)> = bad
        .iter()
        .filter(|(k, _)| *k != "p.cloudPc")
        .cloned()
        .collect();
    missing[3] = ("time_zone", "UTC");
    let refused = p.post("/schedules", &missing).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("aria-invalid=\"true\""),
        "{}",
        refused.body
    );
    assert!(h.store.schedule_list().await.unwrap().is_empty());

    fields.push(("csrf", &csrf));
    let saved = p.post("/schedules", &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.location(), "/schedules?saved=weekday-check");
    let list = get(&mut p, &saved.location()).await;
    assert!(
        list.body.contains("Schedule 'weekday-check' saved."),
        "{}",
        list.body
    );
    assert!(
        list.body
            .contains("<td data-label=\"Name\">weekday-check</td>")
    );
    assert!(
        list.body.contains("<code>0 6 * * 1-5</code> Europe/Paris"),
        "{}",
        list.body
    );
    let stored = h.store.schedule_list().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].job.operation, "cloudpc.troubleshoot");
    assert_eq!(stored[0].job.input["cloudPc"], "alice.smith@contoso.com");
    assert_eq!(stored[0].job.requested_by.upn, "ada.admin@contoso.com");

    // Delete: a confirmation page first; without the box ticked nothing happens.
    let confirm = get(&mut p, "/schedules/weekday-check/delete").await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Deleting stops the recurring job"));
    let csrf = confirm.csrf();
    let unticked = p
        .post("/schedules/weekday-check/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(unticked.status, 400);
    assert_eq!(h.store.schedule_list().await.unwrap().len(), 1);
    assert_eq!(
        p.post("/schedules/weekday-check/delete", &[("confirm", "yes")])
            .await
            .status,
        403,
        "CSRF"
    );
    let deleted = p
        .post(
            "/schedules/weekday-check/delete",
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    assert!(h.store.schedule_list().await.unwrap().is_empty());
    assert_eq!(
        get(&mut p, "/schedules/weekday-check/delete").await.status,
        404
    );
    // Both changes are in the audit log, with the portal request's id.
    let log = get(&mut p, "/audit?operation=schedule.delete").await;
    assert!(
        log.body
            .contains("<span class=\"status status-muted\">deleted</span>"),
        "{}",
        log.body
    );
    assert!(
        get(&mut p, "/audit?operation=schedule.upsert")
            .await
            .body
            .contains(">saved</span>")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn an_unticked_schedule_box_overrides_a_tenant_default_of_true() {
    let mut profile = w365_ops::profile::Profile::sandbox();
    profile.assign.notify = Some(true);
    let h = common::start_with(common::Options {
        profile: Some(profile),
        ..Default::default()
    })
    .await;
    let mut p = signed_in(&h, "admin").await;
    let form = get(&mut p, "/schedules?operation=assign").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(
        form.body.contains(
            "<input type=\"checkbox\" id=\"f-p.notify\" name=\"p.notify\" value=\"true\" checked"
        ),
        "the tenant default ticks the box: {}",
        form.body
    );
    let csrf = form.csrf();
    // The operator unticks "notify": the browser sends no p.notify field at all.
    let base = [
        ("csrf", csrf.as_str()),
        ("operation", "assign"),
        ("cron", "0 6 * * 1-5"),
        ("time_zone", "UTC"),
        ("p.user", "alice.smith@contoso.com"),
        ("enabled", "true"),
    ];
    let mut unticked = base.to_vec();
    unticked.push(("schedule_name", "quiet"));
    let saved = p.post("/schedules", &unticked).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let mut ticked = base.to_vec();
    ticked.extend([("schedule_name", "loud"), ("p.notify", "true")]);
    assert_eq!(p.post("/schedules", &ticked).await.status, 303);
    let stored = h.store.schedule_list().await.unwrap();
    let input = |name: &str| {
        stored
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.job.input.clone())
            .expect("saved")
    };
    assert_eq!(
        input("quiet")["notify"],
        json!(false),
        "{:?}",
        input("quiet")
    );
    assert_eq!(input("loud")["notify"], json!(true));
    // A refused post shows the box as the operator left it, not as the default.
    let mut refused = unticked.clone();
    refused.retain(|(k, _)| *k != "schedule_name");
    refused.extend([("schedule_name", "again"), ("cron", "never")]);
    refused.retain(|f| *f != ("cron", "0 6 * * 1-5"));
    let again = p.post("/schedules", &refused).await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(
        again
            .body
            .contains("id=\"f-p.notify\" name=\"p.notify\" value=\"true\" aria-describedby"),
        "{}",
        again.body
    );
    h.shutdown().await;
}
