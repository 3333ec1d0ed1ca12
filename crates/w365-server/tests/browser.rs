//! The portal in a real browser: headless Chromium driven over WebDriver (chromedriver, through
//! fantoccini). Each test starts the simulator, a temporary SQLite store, a worker and the server
//! in-process on 127.0.0.1:0, then clicks through as a person would.
//!
//! Without /usr/bin/chromium or /usr/bin/chromedriver the tests report themselves skipped, unless
//! W365_REQUIRE_SERVICES=1 (CI), where that is a failure. On a failure the page's screenshot and
//! HTML are saved under target/portal-failures/. With W365_SCREENSHOTS=1 the main pages are saved
//! as docs/screenshots/*.png (the README's pictures).
//!
//! Lifecycle waits never sleep: the simulator's virtual clock is advanced through its admin API;
//! the short pauses between looks only give the browser and the worker time to answer.

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running chromedriver (killed when dropped) and a browser session in a fresh profile.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

/// `None` (the test is skipped) when Chromium or chromedriver is missing, unless required.
async fn browser() -> Option<Browser> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} not installed (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
        if std::env::var("W365_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{why} and W365_REQUIRE_SERVICES=1");
        }
        eprintln!("skipped: {why}");
        return None;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("addr").port()
    };
    let driver = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().expect("profile dir");
    let caps: serde_json::Map<String, Value> = json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }
    })
    .as_object()
    .cloned()
    .expect("capabilities");
    let url = format!("http://127.0.0.1:{port}");
    let mut last = String::new();
    for _ in 0..100 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return Some(Browser {
                    client,
                    _driver: driver,
                    _profile: profile,
                });
            }
            // chromedriver is still starting.
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start a session: {last}");
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// Runs `flow`; when it fails, saves the page's screenshot and HTML, then fails the test.
async fn run<F>(name: &str, b: &Browser, flow: F)
where
    F: std::future::Future<Output = ()>,
{
    let outcome = std::panic::AssertUnwindSafe(flow).catch_unwind().await;
    if let Err(panic) = outcome {
        let dir = target_dir().join("portal-failures");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = b.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
        if let Ok(html) = b.client.source().await {
            let _ = std::fs::write(dir.join(format!("{name}.html")), html);
        }
        eprintln!(
            "saved the page of the failure under {}/{name}.{{png,html}}",
            dir.display()
        );
        // End the browser session (chromedriver alone going away would leave Chromium running).
        let _ = b.client.clone().close().await;
        std::panic::resume_unwind(panic);
    }
}

/// Saves a screenshot for the README when W365_SCREENSHOTS=1.
async fn screenshot(c: &Client, name: &str) {
    if std::env::var("W365_SCREENSHOTS").as_deref() != Ok("1") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).expect("docs/screenshots");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

async fn text(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .expect("text")
}

/// Waits until the element's text passes `ready`: for text a script fills in after an event
/// (the copy button's status is written when the clipboard's promise settles, after the click
/// returns).
async fn text_when(c: &Client, css: &str, ready: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        last = text(c, css).await;
        if ready(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never got the expected text; it says {last:?}");
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn path(c: &Client) -> String {
    let url = c.current_url().await.expect("url");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Signs in on the simulator's sign-in page as the demo operator named `who`.
async fn sign_in(c: &Client, h: &common::Harness, who: &str) {
    c.goto(&h.url("/")).await.expect("open the portal");
    let button = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&format!(
            "//button[contains(., 'Sign in as {who}')]"
        )))
        .await
        .expect("the identity provider's sign-in page");
    button.click().await.expect("pick the operator");
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#request-id"))
        .await
        .expect("back on the portal");
    assert_eq!(path(c).await, "/users", "signed in, on the home page");
}

async fn choose_tenant(c: &Client, tenant: &str) {
    let picker = c
        .find(Locator::Css("#tenant-picker"))
        .await
        .expect("tenant picker");
    picker.select_by_value(tenant).await.expect("pick");
    click(c, "form[action='/tenant'] button").await;
    // The post answers with a redirect and a new page: wait for it (the old page's option keeps
    // its `selected` attribute until then).
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!(
            "#tenant-picker option[value='{tenant}'][selected]"
        )))
        .await
        .expect("the current tenant is shown");
}

/// Waits until the job page says `state`, advancing the simulator's clock meanwhile.
async fn wait_for_job(c: &Client, h: &common::Harness, state: &str) {
    for _ in 0..300 {
        let now = c
            .find(Locator::Css("#job-state"))
            .await
            .ok()
            .map(|e| async move { e.text().await.unwrap_or_default() });
        let now = match now {
            Some(f) => f.await,
            None => String::new(),
        };
        if now.contains(state) {
            return;
        }
        assert!(
            !now.contains("failed"),
            "the job failed: {}",
            c.source().await.unwrap_or_default()
        );
        common::portal::advance_sim_clock(h, 5).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the job never reached '{state}'");
}

/// Waits for the job page (after Run).
async fn on_job_page(c: &Client) {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#log"))
        .await
        .expect("job page");
    assert!(path(c).await.starts_with("/jobs/"));
}

/// Opens a user from the search page.
async fn open_user(c: &Client, query: &str, name: &str) {
    let search = c.find(Locator::Css("#q")).await.expect("search box");
    search.clear().await.expect("clear");
    search.send_keys(query).await.expect("type");
    click(c, "form.search button").await;
    // The page before the search may list the same user: a link found there goes stale when the
    // results page arrives, so find it again until the click lands.
    for attempt in 0.. {
        let link = c
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::LinkText(name))
            .await
            .unwrap_or_else(|e| panic!("no result {name}: {e}"));
        match link.click().await {
            Ok(()) => break,
            Err(e) if attempt < 5 => eprintln!("open the user, again: {e}"),
            Err(e) => panic!("open the user: {e}"),
        }
    }
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&format!("//h1[normalize-space()='{name}']")))
        .await
        .unwrap_or_else(|e| panic!("the page of {name}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpdesk_assigns_and_unassigns_in_the_browser() {
    let Some(b) = browser().await else { return };
    let h = common::start_with(common::Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let c = &b.client;
    run("helpdesk_assigns_and_unassigns", &b, async {
        sign_in(c, &h, "Hank Helpdesk").await;
        assert_eq!(text(c, "#role").await, "Helpdesk");
        choose_tenant(c, "sandbox").await;
        // Search and open the user; the results say their Windows 365 state in words.
        open_user(c, "megan", "Megan Bowen").await;
        assert!(text(c, "#no-cloud-pc").await.contains("no Cloud PC"));
        screenshot(c, "user").await;
        // Assign: the form is generated from the declaration, Check shows the plan first.
        click(c, "#action-assign summary").await;
        let group = c
            .find(Locator::Css("#assign-user-licenseGroup"))
            .await
            .expect("license group field");
        assert!(
            group
                .prop("value")
                .await
                .expect("value")
                .unwrap_or_default()
                .starts_with("lic - Windows 365"),
            "the default is prefilled"
        );
        click(c, "#check-assign-user").await;
        let plan = text(c, "#plan-steps").await;
        assert!(
            plan.contains("add megan.bowen@contoso.com to the"),
            "{plan}"
        );
        assert!(text(c, "#capacity").await.contains("free"));
        screenshot(c, "check").await;
        click(c, "#run").await;
        // The job page: live log until succeeded.
        on_job_page(c).await;
        wait_for_job(c, &h, "succeeded").await;
        let log = text(c, "#log").await;
        assert!(!log.trim().is_empty(), "the log shows what happened");
        assert!(text(c, "#steps").await.contains("done"));
        screenshot(c, "job").await;
        // Copy the summary for the ticket (the clipboard may be refused in a headless browser:
        // then the page says to copy by hand, with the text selected).
        let summary = c
            .find(Locator::Css("#ticket-summary"))
            .await
            .expect("summary")
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default();
        assert!(
            summary.contains("assign on megan.bowen@contoso.com (sandbox) — succeeded"),
            "{summary}"
        );
        assert!(summary.contains("Requested by Hank Helpdesk"));
        click(c, "#copy-summary").await;
        let copied = text_when(c, "#ticket-summary-status", |t| !t.trim().is_empty()).await;
        assert!(
            copied.contains("Copied") || copied.contains("copy it"),
            "{copied}"
        );
        // The Cloud PC shows on the user page once provisioned (virtual time).
        click(c, "a[href='/users/megan.bowen%40contoso.com']").await;
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(pcs) = c.find(Locator::Css("#cloud-pcs")).await
                && pcs
                    .text()
                    .await
                    .unwrap_or_default()
                    .contains("Cloud PC ready")
            {
                ready = true;
                break;
            }
            common::portal::advance_sim_clock(&h, 30).await;
            c.refresh().await.expect("reload");
        }
        assert!(ready, "the Cloud PC is shown as ready");
        screenshot(c, "user-with-cloud-pc").await;
        // Unassign: destructive, so it says what is lost and needs the confirmation.
        click(c, "#action-unassign summary").await;
        click(c, "#check-unassign-user").await;
        assert!(text(c, "#run-form").await.contains("What is lost"));
        click(c, "#run").await;
        assert!(
            c.find(Locator::Css("#run-form")).await.is_ok(),
            "not run without the confirmation"
        );
        assert!(h.store.list(&Default::default()).await.unwrap().items.len() == 1);
        click(c, "#confirm").await;
        click(c, "#run").await;
        on_job_page(c).await;
        wait_for_job(c, &h, "succeeded").await;
        assert!(
            text(c, "h1")
                .await
                .contains("Take a Windows 365 Cloud PC away")
        );
        // A protected user: no action, and the page says why.
        c.goto(&h.url(&format!(
            "/users/{}",
            common::portal::urlencode(w365_sim::oidc::VIP_USER)
        )))
        .await
        .expect("VIP page");
        assert!(text(c, "#no-actions").await.contains("protected user"));
        assert!(
            c.find_all(Locator::Css(".action-form"))
                .await
                .unwrap()
                .is_empty()
        );
        // Phone width: no sideways scrolling, focus visible on keyboard use.
        c.set_window_size(390, 844).await.expect("phone width");
        let overflow = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
                vec![],
            )
            .await
            .expect("measure");
        assert_eq!(
            overflow,
            Value::Bool(true),
            "no horizontal scroll at 390 px"
        );
        c.set_window_size(1280, 900).await.expect("desktop width");
        // Sign out: the signed-out page, then the identity provider's sign-out, which comes back.
        click(c, "#signout").await;
        click(c, "#idp-signout").await;
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::LinkText("Sign in again"))
            .await
            .expect("signed out page");
        assert!(path(c).await.starts_with("/signed-out?idp=1"));
        c.goto(&h.url("/users")).await.expect("open again");
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::XPath("//button[contains(., 'Sign in as')]"))
            .await
            .expect("signed out: the sign-in page again");
    })
    .await;
    let _ = b.client.clone().close().await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_sees_no_action_in_the_browser() {
    let Some(b) = browser().await else { return };
    let h = common::start().await;
    let c = &b.client;
    run("reader_sees_no_action", &b, async {
        sign_in(c, &h, "Rita Reader").await;
        assert_eq!(text(c, "#role").await, "Reader");
        choose_tenant(c, "sandbox").await;
        screenshot(c, "search").await;
        open_user(c, "alice", "Alice Smith").await;
        assert!(text(c, "#no-actions").await.contains("Reader role"));
        assert!(c.find_all(Locator::Css(".action-form")).await.unwrap().is_empty());
        assert!(text(c, "#cloud-pcs").await.contains("Cloud PC"));
        // Keyboard: the first Tab lands on the skip link, and focus is visible.
        let outline = c
            .execute(
                "const a = document.querySelector('.skip'); a.focus(); \
                 return getComputedStyle(a).outlineStyle;",
                vec![],
            )
            .await
            .expect("focus style");
        assert_ne!(outline, Value::from("none"), "visible focus");
        // Every field has a label.
        let unlabelled = c
            .execute(
                "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
                 .filter(e => !(e.labels && e.labels.length)).map(e => e.name);",
                vec![],
            )
            .await
            .expect("labels");
        assert_eq!(unlabelled, json!([]), "fields without a label");
    })
    .await;
    let _ = b.client.clone().close().await;
    h.shutdown().await;
}

/// The names of the page's visible fields that have no label.
async fn unlabelled_fields(c: &Client) -> Value {
    c.execute(
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
         .filter(e => !(e.labels && e.labels.length)).map(e => e.name);",
        vec![],
    )
    .await
    .expect("labels")
}

/// The number of job rows the jobs page shows.
async fn job_rows(c: &Client) -> usize {
    c.find_all(Locator::Css("#jobs tbody tr"))
        .await
        .map(|rows| rows.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_list_and_capacity_dashboard_in_the_browser() {
    let Some(b) = browser().await else { return };
    let h = common::start().await;
    // Six jobs in the sandbox: four assign, two unassign, for users u0..u5.
    for i in 0..6 {
        let op = if i < 4 { "assign" } else { "unassign" };
        let requester = w365_jobs::Identity {
            object_id: "oid-hank".into(),
            upn: "hank.helpdesk@contoso.com".into(),
            display_name: "Hank Helpdesk".into(),
        };
        let mut job = w365_jobs::NewJob::new(op, "sandbox", json!({}), requester);
        job.target = Some(format!("u{i}@contoso.com"));
        h.store.insert(job).await.expect("insert a job");
    }
    let report = w365_ops::capacity::capacity(&common::sim_client(&h.sim), &Default::default())
        .await
        .expect("capacity");
    let c = &b.client;
    run("jobs_list_and_capacity_dashboard", &b, async {
        sign_in(c, &h, "Rita Reader").await;
        choose_tenant(c, "sandbox").await;
        c.find(Locator::LinkText("Jobs"))
            .await
            .expect("Jobs in the navigation")
            .click()
            .await
            .expect("open the jobs list");
        assert!(
            text(c, "#jobs-count")
                .await
                .starts_with("6 jobs in sandbox")
        );
        assert_eq!(job_rows(c).await, 6);
        assert_eq!(unlabelled_fields(c).await, json!([]), "jobs filters");
        // Filter: the unassign jobs only.
        c.find(Locator::Css("#f-operation"))
            .await
            .expect("operation filter")
            .select_by_value("unassign")
            .await
            .expect("pick unassign");
        click(c, "#apply-filters").await;
        for _ in 0..200 {
            if path(c).await.contains("operation=unassign") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            text(c, "#jobs-count")
                .await
                .starts_with("2 jobs in sandbox")
        );
        assert_eq!(job_rows(c).await, 2);
        assert!(text(c, "#jobs").await.contains("u5@contoso.com"));
        // Sort by user, A→Z: u4 first; the header says it is sorted.
        click(c, "th[aria-sort] a[href*='sort=user']").await;
        assert_eq!(
            text(c, "#jobs tbody tr td[data-label='User or Cloud PC']").await,
            "u4@contoso.com"
        );
        let sorted = c
            .find(Locator::Css("th[aria-sort='ascending']"))
            .await
            .expect("sorted column")
            .text()
            .await
            .expect("text");
        assert!(sorted.contains("User or Cloud PC"));
        // Back to every job for the screenshot; a row opens the job page.
        click(c, "a[href='/jobs']").await;
        assert_eq!(job_rows(c).await, 6);
        screenshot(c, "jobs").await;
        click(c, "#jobs tbody tr td[data-label='Job'] a").await;
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("#job-state"))
            .await
            .expect("the job page");

        // The capacity dashboard: charts with their numbers, the same numbers in the tables.
        c.find(Locator::LinkText("Capacity"))
            .await
            .expect("Capacity in the navigation")
            .click()
            .await
            .expect("open the dashboard");
        let skus = text(c, "#skus").await;
        for sku in &report.skus {
            // "NAME used free [a status in words] total"
            let row: Vec<&str> = skus
                .lines()
                .find(|l| l.starts_with(&format!("{} ", sku.sku_part_number)))
                .unwrap_or_else(|| panic!("{} in {skus}", sku.sku_part_number))
                .split_whitespace()
                .collect();
            assert_eq!(
                row[1..3],
                [sku.consumed.to_string(), sku.free.to_string()],
                "{row:?}"
            );
            assert_eq!(
                row.last().copied(),
                Some(sku.total.to_string().as_str()),
                "{row:?}"
            );
        }
        let chart = c
            .find(Locator::Css("#chart-skus"))
            .await
            .expect("the SKU chart");
        let chart_text = chart.text().await.expect("chart text");
        let first = &report.skus[0];
        assert!(
            chart_text.contains(&format!("{} used · {} free", first.consumed, first.free)),
            "{chart_text}"
        );
        assert!(chart.attr("aria-labelledby").await.expect("attr").is_some());
        let statuses = text(c, "#statuses").await;
        for (status, n) in &report.cloud_pcs_by_status {
            assert!(
                statuses.contains(&format!("{status} {n}")),
                "{status} in {statuses}"
            );
        }
        assert_eq!(
            text(c, "#waiting-count").await,
            report.users_without_cloud_pc.len().to_string()
        );
        assert_eq!(
            text(c, "#grace-count").await,
            report.grace_period.len().to_string()
        );
        // The grace periods drawn: a bar per day they end, its number beside it.
        let grace_chart = c
            .find(Locator::Css("#chart-grace"))
            .await
            .expect("the grace period chart")
            .text()
            .await
            .expect("chart text");
        assert!(
            grace_chart.contains(&format!("{} Cloud PCs", report.grace_period.len())),
            "{grace_chart}"
        );
        assert!(
            c.find(Locator::Css("#chart-waiting")).await.is_ok(),
            "the waiting users' chart"
        );
        screenshot(c, "capacity").await;
        // Phone width: nothing wider than the screen.
        c.set_window_size(390, 844).await.expect("phone width");
        let overflow = c
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await
            .expect("widths");
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "the dashboard is wider than a phone: {overflow}"
        );
    })
    .await;
    let _ = b.client.clone().close().await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_and_deletes_a_schedule_in_the_browser() {
    let Some(b) = browser().await else { return };
    let h = common::start().await;
    let c = &b.client;
    run("admin_creates_and_deletes_a_schedule", &b, async {
        sign_in(c, &h, "Ada Admin").await;
        choose_tenant(c, "sandbox").await;
        c.find(Locator::LinkText("Schedules"))
            .await
            .expect("Schedules in an Admin's navigation")
            .click()
            .await
            .expect("open schedules");
        assert!(text(c, "#no-schedules").await.contains("No recurring job"));
        c.find(Locator::Css("#pick-operation"))
            .await
            .expect("operation list")
            .select_by_value("cloudpc.troubleshoot")
            .await
            .expect("pick the operation");
        click(c, "#choose-operation").await;
        assert_eq!(unlabelled_fields(c).await, json!([]), "schedule form");
        for (css, value) in [
            ("#f-schedule_name", "weekday-check"),
            ("#f-cron", "0 6 * * 1-5"),
            ("[id='f-p.cloudPc']", "alice.smith@contoso.com"),
        ] {
            let field = c
                .wait()
                .at_most(Duration::from_secs(20))
                .for_element(Locator::Css(css))
                .await
                .expect(css);
            field.clear().await.expect("clear");
            field.send_keys(value).await.expect("type");
        }
        let tz = c
            .find(Locator::Css("#f-time_zone"))
            .await
            .expect("time zone");
        tz.clear().await.expect("clear");
        tz.send_keys("Europe/Paris").await.expect("type");
        click(c, "#save-schedule").await;
        assert_eq!(text(c, "#notice").await, "Schedule 'weekday-check' saved.");
        let row = text(c, "#schedules").await;
        assert!(
            row.contains("weekday-check")
                && row.contains("cloudpc.troubleshoot")
                && row.contains("Europe/Paris"),
            "{row}"
        );
        assert_eq!(h.store.schedule_list().await.expect("list").len(), 1);
        screenshot(c, "schedules").await;
        // Delete: the confirmation says what stops; the box must be ticked.
        click(c, "a[aria-label='Delete schedule weekday-check']").await;
        assert!(
            text(c, ".alert-warn")
                .await
                .contains("Deleting stops the recurring job cloudpc.troubleshoot")
        );
        click(c, "#f-confirm").await;
        click(c, "#confirm-delete").await;
        assert_eq!(
            text(c, "#notice").await,
            "Schedule 'weekday-check' deleted."
        );
        assert!(text(c, "#no-schedules").await.contains("No recurring job"));
        assert!(h.store.schedule_list().await.expect("list").is_empty());
        // The audit log has both changes, with who made them.
        c.find(Locator::LinkText("Audit log"))
            .await
            .expect("Audit log in the navigation")
            .click()
            .await
            .expect("open the audit log");
        let audit = text(c, "#audit").await;
        assert!(
            audit.contains("schedule.upsert") && audit.contains("schedule.delete"),
            "{audit}"
        );
        assert!(audit.contains("ada.admin@contoso.com"), "{audit}");
        assert_eq!(unlabelled_fields(c).await, json!([]), "audit filters");
        screenshot(c, "audit").await;
    })
    .await;
    let _ = b.client.clone().close().await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_is_refused_on_schedules_in_the_browser() {
    let Some(b) = browser().await else { return };
    let h = common::start().await;
    let c = &b.client;
    run("reader_is_refused_on_schedules", &b, async {
        sign_in(c, &h, "Rita Reader").await;
        assert!(
            c.find(Locator::LinkText("Schedules")).await.is_err(),
            "no Schedules link for a Reader"
        );
        assert!(c.find(Locator::LinkText("Audit log")).await.is_ok());
        c.goto(&h.url("/schedules"))
            .await
            .expect("open schedules directly");
        assert_eq!(text(c, "h1").await, "Not allowed");
        assert!(
            text(c, "[role='alert']")
                .await
                .contains("Schedules need the Admin role.")
        );
        assert!(
            !text(c, "#request-id").await.is_empty(),
            "the request id is on the error page"
        );
    })
    .await;
    let _ = b.client.clone().close().await;
    h.shutdown().await;
}

/// Presses Tab until the focused element is `id` (at most `max` times): the keyboard's way.
async fn tab_to(c: &Client, id: &str, max: usize) -> fantoccini::elements::Element {
    for _ in 0..max {
        let focused = c.active_element().await.expect("the focused element");
        if focused.attr("id").await.expect("id").as_deref() == Some(id) {
            return focused;
        }
        focused
            .send_keys(&fantoccini::key::Key::Tab)
            .await
            .expect("Tab");
    }
    panic!("Tab never reached #{id}");
}

/// The job page's live log as a person watches it: a parked job (assign with notify waits for
/// the Cloud PC) says it is live, and new lines arrive while the simulator's clock moves on,
/// with no reload. Getting there by keyboard only (Tab, Space, Enter); every field of a
/// Helpdesk operator's user page (with the action forms) and of the Check page has a label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_log_grows_without_a_reload_and_the_forms_work_by_keyboard() {
    let Some(b) = browser().await else { return };
    let h = common::start_with(common::Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let c = &b.client;
    run("live_log_grows_without_a_reload", &b, async {
        sign_in(c, &h, "Hank Helpdesk").await;
        choose_tenant(c, "sandbox").await;
        // Labels on the user pages with their action forms (user and Cloud PC actions).
        c.goto(&h.url("/users/alice.smith%40contoso.com"))
            .await
            .expect("alice");
        assert!(text(c, "#cloud-pcs").await.contains("Restore a snapshot"));
        assert_eq!(unlabelled_fields(c).await, json!([]), "alice's page");
        click(c, "a[href='/users']").await;
        open_user(c, "megan", "Megan Bowen").await;
        assert!(c.find(Locator::Css("#form-assign-user")).await.is_ok());
        assert_eq!(unlabelled_fields(c).await, json!([]), "megan's page");
        // Keyboard: open the Assign form from its summary with Enter, Tab to "Notify", tick it
        // with Space, Tab to Check and press Enter.
        c.execute(
            "document.querySelector('#action-assign summary').focus();",
            vec![],
        )
        .await
        .expect("focus the summary");
        c.active_element()
            .await
            .expect("focused")
            .send_keys(&fantoccini::key::Key::Enter)
            .await
            .expect("Enter");
        let opened = c
            .execute(
                "return document.querySelector('#action-assign').open;",
                vec![],
            )
            .await
            .expect("open?");
        assert_eq!(opened, Value::Bool(true), "Enter opens the form");
        let notify = tab_to(c, "assign-user-notify", 30).await;
        notify.send_keys(" ").await.expect("Space");
        assert_eq!(
            notify.prop("checked").await.expect("checked").as_deref(),
            Some("true"),
            "Space ticks the box"
        );
        tab_to(c, "check-assign-user", 30)
            .await
            .send_keys(&fantoccini::key::Key::Enter)
            .await
            .expect("Enter on Check");
        let plan = text(c, "#plan-steps").await;
        assert!(plan.contains("megan.bowen@contoso.com"), "{plan}");
        assert_eq!(unlabelled_fields(c).await, json!([]), "the Check page");
        // Focus starts at the top of the new page: Tab from there reaches Run.
        tab_to(c, "run", 80)
            .await
            .send_keys(&fantoccini::key::Key::Enter)
            .await
            .expect("Enter on Run");
        on_job_page(c).await;

        // The job waits for the Cloud PC: parked, and the page follows it live.
        let live = text_when(c, "#live-status", |t| {
            t.starts_with("Live: the job is parked")
        })
        .await;
        assert!(
            live.contains("(waiting for "),
            "says what it waits for: {live}"
        );
        // Mark this document: a reload would lose the mark.
        c.execute("window.w365NoReload = true;", vec![])
            .await
            .expect("mark the page");
        let before = text(c, "#log").await;
        let lines_before = before.lines().count();
        let mut grown = String::new();
        for _ in 0..60 {
            common::portal::advance_sim_clock(&h, 1).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = text(c, "#log").await;
            if now.lines().count() > lines_before {
                grown = now;
                break;
            }
        }
        assert!(
            !grown.is_empty(),
            "no new line arrived while the clock moved: {before}"
        );
        assert!(grown.starts_with(before.trim_end()), "lines are appended");
        let same_page = c
            .execute("return window.w365NoReload === true;", vec![])
            .await
            .expect("the mark");
        assert_eq!(
            same_page,
            Value::Bool(true),
            "the lines came without a reload"
        );
    })
    .await;
    let _ = b.client.clone().close().await;
    h.shutdown().await;
}
