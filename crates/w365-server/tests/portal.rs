//! The portal over plain HTTP (no browser): sign-in (OIDC code + PKCE against the simulator),
//! sessions, CSRF, sign out, and authorization of direct posts.

use crate::common;

use crate::common::portal::Portal;
use w365_server::portal::session::digest;

#[tokio::test]
async fn anonymous_pages_redirect_to_sign_in() {
    let h = common::start().await;
    let mut p = Portal::new(&h);
    for (path, next) in [("/", "%2F"), ("/users?q=adele", "%2Fusers%3Fq%3Dadele")] {
        let a = p.get(path).await;
        assert_eq!(a.status, 303, "{path}");
        assert_eq!(a.location(), format!("/signin?next={next}"), "{path}");
    }
    // A post without a session goes to sign-in too (and changes nothing).
    let a = p
        .post("/tenant", &[("tenant", "other"), ("csrf", "x")])
        .await;
    assert_eq!(a.status, 303);
    assert!(a.location().starts_with("/signin"), "{}", a.location());
    // A made-up session cookie is no session.
    p.cookies.insert("w365_session".into(), "made-up".into());
    assert_eq!(p.get("/users").await.status, 303);
    h.shutdown().await;
}

#[tokio::test]
async fn sign_in_starts_a_server_side_session() {
    let h = common::start().await;
    let mut p = Portal::new(&h);
    let start = p.get("/signin?next=%2Fusers%3Fq%3Dad").await;
    assert_eq!(start.status, 303);
    let authorize = url::Url::parse(&start.location()).expect("url");
    let q: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q.contains_key("state") && q.contains_key("nonce"));
    assert_eq!(q["redirect_uri"], h.url("/signin/callback"));
    assert!(q["scope"].contains("openid") && q["scope"].contains("access_as_user"));
    let signin_cookie = start.set_cookie("w365_signin").expect("sign-in cookie");
    assert!(signin_cookie.contains("HttpOnly") && signin_cookie.contains("SameSite=Lax"));
    assert!(!signin_cookie.contains("Secure"), "plain http on loopback");

    let mut p = Portal::new(&h);
    let done = p
        .sign_in_as("hank.helpdesk@contoso.com", "/users?q=ad")
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location(),
        "/users?q=ad",
        "back where the operator wanted to go"
    );
    let cookie = done.set_cookie("w365_session").expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert!(
        !done
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap_or("").contains("eyJ")),
        "no token in a cookie"
    );
    // The store keeps the id's digest only.
    let id = p.cookies["w365_session"].clone();
    assert!(h.store.portal_session_get(&id).await.unwrap().is_none());
    let stored = h
        .store
        .portal_session_get(&digest(&id))
        .await
        .unwrap()
        .expect("session");
    assert_eq!(stored.operator.upn, "hank.helpdesk@contoso.com");
    assert_eq!(stored.role.as_deref(), Some("W365.Helpdesk"));

    let page = p.get("/users?q=ad").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Hank Helpdesk"));
    assert!(page.body.contains(">Helpdesk<"), "the role is shown");
    let request_id = page.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        page.body
            .contains(&format!("<code id=\"request-id\">{request_id}</code>")),
        "footer carries the request id"
    );
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains("eyJ"), "no token in the page");
    h.shutdown().await;
}

#[tokio::test]
async fn sign_in_answers_are_checked() {
    let h = common::start().await;
    // No sign-in cookie: refused.
    let mut p = Portal::new(&h);
    let a = p.get("/signin/callback?code=abc&state=xyz").await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("not started in this browser"), "{}", a.body);
    // A state that is not the one sent: refused, and the sign-in cannot be retried with it.
    let mut p = Portal::new(&h);
    let start = p.get("/signin").await;
    assert_eq!(start.status, 303);
    let a = p.get("/signin/callback?code=abc&state=forged").await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("state mismatch"), "{}", a.body);
    assert!(!p.cookies.contains_key("w365_session"));
    // An error from the identity provider is shown with its words.
    let mut p = Portal::new(&h);
    let start = p.get("/signin").await;
    let state: String = url::Url::parse(&start.location())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let a = p
        .get(&format!("/signin/callback?error=access_denied&error_description=The+user+cancelled&state={state}"))
        .await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("The user cancelled"), "{}", a.body);
    // Open redirects are not possible through next.
    let mut p = Portal::new(&h);
    let done = p
        .sign_in_as("hank.helpdesk@contoso.com", "//evil.example/x")
        .await;
    assert_eq!(done.location(), "/");
    h.shutdown().await;
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token() {
    let h = common::start().await;
    let mut p = Portal::new(&h);
    p.sign_in("helpdesk").await;
    let page = p.get("/users").await;
    assert!(
        page.body.contains("id=\"tenant-picker\""),
        "several tenants: a picker"
    );
    let csrf = page.csrf();
    assert!(
        page.body.contains("<option value=\"other\" selected>"),
        "the first tenant"
    );
    let missing = p.post("/tenant", &[("tenant", "sandbox")]).await;
    assert_eq!(missing.status, 403);
    assert!(missing.body.contains("security token"), "{}", missing.body);
    let wrong = p
        .post(
            "/tenant",
            &[("tenant", "sandbox"), ("csrf", "not-the-token")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert!(
        p.get("/users")
            .await
            .body
            .contains("<option value=\"other\" selected>")
    );
    // Another session's token is no good either.
    let mut other = Portal::new(&h);
    other.sign_in("helpdesk").await;
    let foreign = other.get("/users").await.csrf();
    assert_ne!(foreign, csrf);
    assert_eq!(
        p.post("/tenant", &[("tenant", "sandbox"), ("csrf", &foreign)])
            .await
            .status,
        403
    );
    // The right one switches the tenant.
    let ok = p
        .post("/tenant", &[("tenant", "sandbox"), ("csrf", &csrf)])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(
        p.get("/users")
            .await
            .body
            .contains("<option value=\"sandbox\" selected>")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn tenant_scope_limits_the_picker() {
    let h = common::start().await;
    let mut p = Portal::new(&h);
    p.sign_in_as(common::SCOPED_OPERATOR, "/users").await;
    let page = p.get("/users").await;
    assert!(
        !page.body.contains("id=\"tenant-picker\""),
        "one tenant: no picker"
    );
    assert!(
        page.body
            .contains("<strong id=\"current-tenant\">sandbox</strong>")
    );
    let csrf = page.csrf();
    let refused = p
        .post("/tenant", &[("tenant", "other"), ("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("not allowed to work on the tenant"));
    h.shutdown().await;
}

#[tokio::test]
async fn sign_out_ends_the_session_everywhere() {
    let h = common::start().await;
    let mut p = Portal::new(&h);
    p.sign_in("reader").await;
    let id = p.cookies["w365_session"].clone();
    let csrf = p.get("/users").await.csrf();
    let out = p.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/signed-out");
    assert!(
        out.set_cookie("w365_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(
        h.store
            .portal_session_get(&digest(&id))
            .await
            .unwrap()
            .is_none()
    );
    // The signed-out page links to the identity provider's sign-out, which comes back here.
    let page = p.get("/signed-out").await;
    let body = common::portal::html_unescape(&page.body);
    assert!(
        body.contains("/oauth2/v2.0/logout?post_logout_redirect_uri="),
        "{body}"
    );
    // The old cookie no longer works.
    p.cookies.insert("w365_session".into(), id);
    assert_eq!(p.get("/users").await.status, 303);
    let bye = p.get("/signed-out").await;
    assert_eq!(bye.status, 200);
    assert!(bye.body.contains("Sign in again"));
    h.shutdown().await;
}

#[tokio::test]
async fn assets_are_served_with_cache_headers() {
    let h = common::start().await;
    let mut p = Portal::new(&h);
    p.sign_in("reader").await;
    let page = p.get("/users").await;
    let marker = "href=\"/assets/portal.css?v=";
    let start = page.body.find(marker).expect("stylesheet link") + "href=\"".len();
    let end = page.body[start..].find('"').unwrap() + start;
    let css = p.get(&page.body[start..end]).await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        css.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let etag = css.headers["etag"].to_str().unwrap().to_owned();
    let unversioned = p.get("/assets/portal.js").await;
    assert_eq!(unversioned.status, 200);
    assert_eq!(unversioned.headers["cache-control"], "no-cache");
    let again = h
        .http
        .get(h.url("/assets/portal.css"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(p.get("/assets/nope.js").await.status, 404);
    h.shutdown().await;
}

async fn post_form(
    p: &mut Portal,
    path: &str,
    fields: &[(String, String)],
) -> common::portal::Answer {
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    p.post(path, &borrowed).await
}

/// Search → user page → Check → Run → job page (no browser): the forms the browser test clicks.
#[tokio::test]
async fn helpdesk_checks_then_runs_assign_from_the_forms() {
    let h = common::start_with(common::Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let mut p = Portal::new(&h);
    p.sign_in("helpdesk").await;
    let csrf = p.get("/users").await.csrf();
    p.post("/tenant", &[("tenant", "sandbox"), ("csrf", &csrf)])
        .await;
    let found = p.get("/users?q=megan").await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(
        found.body.contains("megan.bowen@contoso.com"),
        "{}",
        found.body
    );
    assert!(found.body.contains("no Windows 365 licence") || found.body.contains("licensed"));
    let user = p.get("/users/megan.bowen%40contoso.com").await;
    assert_eq!(user.status, 200, "{}", user.body);
    assert!(
        user.body.contains("id=\"form-assign-user\""),
        "assign form offered"
    );
    // Check: the plan, nothing changed yet.
    let fields = common::portal::form_fields(&user.body, "form-assign-user");
    let checked = post_form(
        &mut p,
        "/users/megan.bowen%40contoso.com/actions/assign",
        &fields,
    )
    .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked.body.contains("id=\"plan-steps\""),
        "{}",
        checked.body
    );
    assert!(checked.body.contains("add megan.bowen@contoso.com to the"));
    assert!(
        h.store
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "a check stores no job"
    );
    // Run.
    let run_fields = common::portal::form_fields(&checked.body, "run-form");
    let run = post_form(
        &mut p,
        "/users/megan.bowen%40contoso.com/actions/assign/run",
        &run_fields,
    )
    .await;
    assert_eq!(run.status, 303, "{}", run.body);
    let job_path = run.location();
    assert!(job_path.starts_with("/jobs/"));
    // The same Run again (a double click) is the same job.
    let again = post_form(
        &mut p,
        "/users/megan.bowen%40contoso.com/actions/assign/run",
        &run_fields,
    )
    .await;
    assert_eq!(again.location(), job_path);
    let mut page = p.get(&job_path).await;
    for _ in 0..200 {
        if page.body.contains("status-ok\">succeeded") {
            break;
        }
        common::portal::advance_sim_clock(&h, 10).await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = p.get(&job_path).await;
    }
    assert!(page.body.contains("status-ok\">succeeded"), "{}", page.body);
    assert!(page.body.contains("Hank Helpdesk"), "who asked");
    assert!(
        page.body.contains(
            "<a href=\"/users/megan.bowen%40contoso.com\" id=\"open-user\">Open megan.bowen@contoso.com</a>"
        ),
        "back to the user: {}",
        page.body
    );
    assert!(page.body.contains("id=\"ticket-summary\""));
    assert!(page.body.contains("w365 job "), "ticket summary text");
    // The Cloud PC appears on the user page once the simulator has provisioned it.
    let mut user = p.get("/users/megan.bowen%40contoso.com").await;
    for _ in 0..100 {
        if user.body.contains("Cloud PC ready") {
            break;
        }
        common::portal::advance_sim_clock(&h, 30).await;
        user = p.get("/users/megan.bowen%40contoso.com").await;
    }
    assert!(user.body.contains("Cloud PC ready"), "{}", user.body);
    h.shutdown().await;
}

#[tokio::test]
async fn authorization_is_checked_on_every_post() {
    let h = common::start().await;
    // A Reader sees no action and a direct post is refused.
    let mut reader = Portal::new(&h);
    reader.sign_in("reader").await;
    let csrf = reader.get("/users").await.csrf();
    reader
        .post("/tenant", &[("tenant", "sandbox"), ("csrf", &csrf)])
        .await;
    // Frontline assignments reach a user through a group.
    let kate = reader.get("/users/kate.thomas%40contoso.com").await;
    assert!(kate.body.contains("id=\"frontline\""), "{}", kate.body);
    assert!(kate.body.contains("Shift A") && kate.body.contains("Frontline "));
    let page = reader.get("/users/megan.bowen%40contoso.com").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"no-actions\""));
    assert!(
        !page.body.contains("class=\"action-form\""),
        "no form for a Reader"
    );
    let refused = reader
        .post(
            "/users/megan.bowen%40contoso.com/actions/assign/run",
            &[("csrf", &csrf), ("idempotencyKey", "k")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("W365.Helpdesk"), "{}", refused.body);
    let refused = reader
        .post(
            "/users/megan.bowen%40contoso.com/actions/assign",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 403);
    // Helpdesk on a protected user: no action shown; a direct post is refused and audited.
    let mut hd = Portal::new(&h);
    hd.sign_in("helpdesk").await;
    let csrf = hd.get("/users").await.csrf();
    hd.post("/tenant", &[("tenant", "sandbox"), ("csrf", &csrf)])
        .await;
    let vip = format!(
        "/users/{}",
        common::portal::urlencode(w365_sim::oidc::VIP_USER)
    );
    let page = hd.get(&vip).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("protected user"));
    assert!(!page.body.contains("class=\"action-form\""));
    let refused = hd
        .post(
            &format!("{vip}/actions/assign/run"),
            &[("csrf", &csrf), ("idempotencyKey", "k")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("protected user"));
    let audit = h.store.audit_list(&Default::default()).await.unwrap();
    assert!(audit.items.iter().any(|r| r.outcome == "refused"
        && r.actor.upn == "hank.helpdesk@contoso.com"
        && r.target.as_deref() == Some(w365_sim::oidc::VIP_USER)));
    // A destructive run without the confirmation is refused.
    let refused = hd
        .post(
            "/users/megan.bowen%40contoso.com/actions/unassign/run",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("confirmation was not ticked"));
    assert!(
        h.store
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    h.shutdown().await;
}

/// A parked job says what it waits for and when it looks again; its live log streams through the
/// portal (resuming after Last-Event-ID); Cancel is offered and works.
#[tokio::test]
async fn parked_job_page_live_log_and_cancel() {
    let h = common::start_with(common::Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let mut p = Portal::new(&h);
    p.sign_in("helpdesk").await;
    let csrf = p.get("/users").await.csrf();
    p.post("/tenant", &[("tenant", "sandbox"), ("csrf", &csrf)])
        .await;
    // Assign with notify waits for the Cloud PC: the job parks until it is provisioned.
    let checked = p
        .post(
            "/users/megan.bowen%40contoso.com/actions/assign",
            &[("csrf", &csrf), ("notify", "true")],
        )
        .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    let run_fields = common::portal::form_fields(&checked.body, "run-form");
    assert!(run_fields.contains(&("notify".to_owned(), "true".to_owned())));
    let run = post_form(
        &mut p,
        "/users/megan.bowen%40contoso.com/actions/assign/run",
        &run_fields,
    )
    .await;
    let job_path = run.location();
    let mut page = p.get(&job_path).await;
    for _ in 0..200 {
        if page.body.contains("id=\"parked\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = p.get(&job_path).await;
    }
    assert!(page.body.contains("id=\"parked\""), "{}", page.body);
    assert!(page.body.contains("Waiting for:") && page.body.contains("next check at"));
    assert!(
        page.body.contains("id=\"refresh\""),
        "a Refresh button without JavaScript"
    );
    assert!(page.body.contains("id=\"cancel\""), "Helpdesk may cancel");
    // The live log through the portal: the session is enough, Last-Event-ID resumes.
    let events = p
        .http
        .get(h.url(&format!("{job_path}/events")))
        .header(
            "cookie",
            format!("w365_session={}", p.cookies["w365_session"]),
        )
        .header("last-event-id", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status().as_u16(), 200);
    assert!(
        events.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = events.bytes_stream();
    let mut seen = String::new();
    use futures::StreamExt as _;
    while !seen.contains("event: state") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .expect("an event")
            .expect("a chunk")
            .expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!seen.contains("id: 1\n"), "resumed after line 1: {seen}");
    drop(body);
    let anonymous = h
        .http
        .get(h.url(&format!("{job_path}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 303, "no session, no stream");
    // A Reader may look but not cancel.
    let mut reader = Portal::new(&h);
    reader.sign_in("reader").await;
    let seen_by_reader = reader.get(&job_path).await;
    assert_eq!(seen_by_reader.status, 200);
    assert!(!seen_by_reader.body.contains("id=\"cancel\""));
    let reader_csrf = seen_by_reader.csrf();
    let refused = reader
        .post(&format!("{job_path}/cancel"), &[("csrf", &reader_csrf)])
        .await;
    assert_eq!(refused.status, 403);
    // Cancel.
    let cancelled = p
        .post(&format!("{job_path}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(cancelled.status, 303, "{}", cancelled.body);
    let page = p.get(&job_path).await;
    assert!(page.body.contains("cancelled"), "{}", page.body);
    assert!(!page.body.contains("id=\"cancel\""));
    h.shutdown().await;
}

#[tokio::test]
async fn off_loopback_cookies_are_secure() {
    let h = common::start_with(common::Options {
        hsts: true,
        ..Default::default()
    })
    .await;
    let mut p = Portal::new(&h);
    let start = p.get("/signin").await;
    let cookie = start
        .set_cookie("__Host-w365_signin")
        .expect("__Host- cookie");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/") && cookie.contains("HttpOnly")
    );
    h.shutdown().await;
}

/// Signed in as the demo operator `role`, working on the sandbox tenant.
async fn on_sandbox(h: &common::Harness, role: &str) -> Portal {
    let mut p = Portal::new(h);
    p.sign_in(role).await;
    let csrf = p.get("/users").await.csrf();
    let chosen = p
        .post("/tenant", &[("tenant", "sandbox"), ("csrf", &csrf)])
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    p
}

/// The id of the first Cloud PC action form of a page (`form-cloudpc-<op>-<id>`).
fn cloud_pc_id(body: &str) -> String {
    let start = body
        .find("id=\"form-cloudpc-reboot-")
        .expect("a Cloud PC action form")
        + "id=\"form-cloudpc-reboot-".len();
    body[start..].split('"').next().expect("quoted").to_owned()
}

/// Posts the form `form_id` of `page` with `changes` (set or added), to the Check of `op`.
async fn check(
    p: &mut Portal,
    page: &common::portal::Answer,
    user: &str,
    op: &str,
    form_id: &str,
    changes: &[(&str, &str)],
) -> common::portal::Answer {
    let mut fields = common::portal::form_fields(&page.body, form_id);
    for (k, v) in changes {
        fields.retain(|(name, _)| name != k);
        fields.push(((*k).to_owned(), (*v).to_owned()));
    }
    let path = format!("/users/{}/actions/{op}", common::portal::urlencode(user));
    post_form(p, &path, &fields).await
}

/// Presses Run on a Check page (ticking the confirmation of a destructive action): the job's
/// page path.
async fn run(p: &mut Portal, checked: &common::portal::Answer, user: &str, op: &str) -> String {
    assert!(checked.body.contains("id=\"run-form\""), "{}", checked.body);
    let mut fields = common::portal::form_fields(&checked.body, "run-form");
    if checked.body.contains("id=\"confirm\"") {
        fields.push(("confirm".into(), "yes".into()));
    }
    let path = format!(
        "/users/{}/actions/{op}/run",
        common::portal::urlencode(user)
    );
    let ran = post_form(p, &path, &fields).await;
    assert_eq!(ran.status, 303, "{}", ran.body);
    ran.location()
}

/// The job page once it shows `needle` (the simulator's clock advanced meanwhile).
async fn job_page_with(
    h: &common::Harness,
    p: &mut Portal,
    job: &str,
    needle: &str,
) -> common::portal::Answer {
    let mut page = p.get(job).await;
    for _ in 0..200 {
        if page.body.contains(needle) {
            return page;
        }
        common::portal::advance_sim_clock(h, 10).await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = p.get(job).await;
    }
    panic!("{job} never showed {needle}: {}", page.body);
}

/// Check's warnings: the last free licence of a SKU, and a user who already has a Cloud PC.
#[tokio::test]
async fn check_warns_of_the_last_free_licence_and_an_existing_cloud_pc() {
    const LIC_256: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";
    let h = common::start().await;
    let mut p = on_sandbox(&h, "helpdesk").await;
    let megan = p.get("/users/megan.bowen%40contoso.com").await;
    let checked = check(
        &mut p,
        &megan,
        "megan.bowen@contoso.com",
        "assign",
        "form-assign-user",
        &[("licenseGroup", LIC_256)],
    )
    .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked
            .body
            .contains("<strong>Capacity:</strong> CPC_E_2C_4GB_256GB: 3 of 4 in use, 1 free"),
        "{}",
        checked.body
    );
    assert!(checked.body.contains(
        "<span class=\"status status-warn\">warning</span> This takes the last free licence of CPC_E_2C_4GB_256GB."
    ));
    assert!(
        !checked.body.contains("already has"),
        "megan has no Cloud PC"
    );
    assert!(checked.body.contains("id=\"run\""), "Run is offered");
    // With the default licence group there is room: no warning.
    let roomy = check(
        &mut p,
        &megan,
        "megan.bowen@contoso.com",
        "assign",
        "form-assign-user",
        &[],
    )
    .await;
    assert!(roomy.body.contains("id=\"plan-steps\""), "{}", roomy.body);
    assert!(!roomy.body.contains("class=\"alert alert-warn warning\""));
    // Grace Wilson's licence is gone but her Cloud PC is still in its grace period.
    let grace = p.get("/users/grace.wilson%40contoso.com").await;
    let checked = check(
        &mut p,
        &grace,
        "grace.wilson@contoso.com",
        "assign",
        "form-assign-user",
        &[],
    )
    .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked.body.contains(
            "<span class=\"status status-warn\">warning</span> The user already has 1 Cloud PC."
        ),
        "{}",
        checked.body
    );
    assert!(
        h.store
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "a check stores no job"
    );
    h.shutdown().await;
}

/// The user page's Windows 365 facts: the licence and the group it comes from, the groups'
/// roles, the Cloud PC's plan, policy, grace period end and last action; user search pages.
#[tokio::test]
async fn user_page_shows_licence_source_groups_cloud_pc_facts_and_search_pages() {
    let h = common::start_with(common::Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let mut p = on_sandbox(&h, "helpdesk").await;
    let alice = p.get("/users/alice.smith%40contoso.com").await;
    assert_eq!(alice.status, 200, "{}", alice.body);
    let body = common::portal::html_unescape(&alice.body);
    assert!(
        body.contains(
            "<td data-label=\"Licence\">CPC_E_2C_4GB_128GB</td>\n      <td data-label=\"State\"><span class=\"status status-ok\">active</span></td>\n      <td data-label=\"Comes from\">group lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB</td>"
        ),
        "{body}"
    );
    for (group, role) in [
        (
            "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB",
            "licence",
        ),
        ("cfg - Windows 365 - Provisioning - Win11", "provisioning"),
        (
            "cfg - Windows 365 - User Settings - restore allowed",
            "user settings",
        ),
    ] {
        assert!(
            body.contains(&format!(
                "<li>{group} <span class=\"status status-info\">{role} group</span></li>"
            )),
            "{group}: {body}"
        );
    }
    assert!(body.contains("<dt>Plan</dt><dd>Cloud PC Enterprise 2vCPU/4GB/128GB</dd>"));
    assert!(body.contains("<dt>Policy</dt><dd>cfg - Windows 365 - Provisioning - Win11</dd>"));
    assert!(body.contains("<dt>Last action</dt><dd>—</dd>"));
    assert!(!body.contains("Grace period ends"), "alice is licensed");
    // The last action appears once one has run.
    let pc = cloud_pc_id(&alice.body);
    let checked = check(
        &mut p,
        &alice,
        "alice.smith@contoso.com",
        "cloudpc.troubleshoot",
        &format!("form-cloudpc-troubleshoot-{pc}"),
        &[],
    )
    .await;
    let job = run(
        &mut p,
        &checked,
        "alice.smith@contoso.com",
        "cloudpc.troubleshoot",
    )
    .await;
    job_page_with(&h, &mut p, &job, "status-ok\">succeeded").await;
    let alice = p.get("/users/alice.smith%40contoso.com").await;
    let last = alice
        .body
        .split("<dt>Last action</dt><dd>")
        .nth(1)
        .and_then(|s| s.split("</dd>").next())
        .expect("last action");
    assert_eq!(last, "Troubleshoot: done");
    // The grace period's end, in UTC.
    let grace = p.get("/users/grace.wilson%40contoso.com").await;
    let ends = grace
        .body
        .split("<dt>Grace period ends</dt><dd>")
        .nth(1)
        .and_then(|s| s.split("</dd>").next())
        .expect("a grace period end");
    let ends = time::OffsetDateTime::parse(ends, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    assert!(ends > h.sim.now(), "in the future: {ends}");
    assert!(grace.body.contains("Cloud PC in grace period"));

    // Search pages: Next and Previous keep the query, the pages do not overlap.
    let first = p.get("/users?q=").await;
    assert!(first.body.contains("Page 1"), "{}", first.body);
    assert!(!first.body.contains("rel=\"prev\""));
    let users = |body: &str| -> Vec<String> {
        body.split("<td data-label=\"UPN\">")
            .skip(1)
            .filter_map(|s| s.split("</td>").next())
            .map(str::to_owned)
            .collect()
    };
    let next = first
        .body
        .split("rel=\"next\"")
        .next()
        .and_then(|s| s.rsplit("href=\"").next())
        .map(|s| {
            s.split('"')
                .next()
                .unwrap_or_default()
                .replace("&amp;", "&")
        })
        .expect("a next link");
    assert_eq!(next, "/users?q=&page=2");
    let second = p.get(&next).await;
    assert_eq!(second.status, 200);
    assert!(second.body.contains("Page 2"));
    assert!(
        second
            .body
            .contains("href=\"/users?q=&amp;page=1\" rel=\"prev\"")
    );
    let (a, b) = (users(&first.body), users(&second.body));
    assert_eq!(a.len(), 25);
    assert!(!b.is_empty());
    assert!(b.iter().all(|u| !a.contains(u)), "{a:?} / {b:?}");
    let narrowed = p.get("/users?q=gr").await;
    assert!(users(&narrowed.body).contains(&"grace.wilson@contoso.com".to_owned()));
    assert!(!narrowed.body.contains("rel=\"next\""));
    h.shutdown().await;
}

/// Reprovision, Resize and the Cloud PC actions from their forms: Check shows the plan, a
/// destructive one says what is lost and needs the confirmation, Run makes the change; restore
/// offers the Cloud PC's snapshots in a list.
#[tokio::test]
async fn reprovision_resize_and_cloud_pc_action_forms_check_and_run() {
    const LIC_256: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 256 GB";
    const LIC_128: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
    let h = common::start_with(common::Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let mut p = on_sandbox(&h, "helpdesk").await;
    let user = "alice.smith@contoso.com";
    let page = p.get("/users/alice.smith%40contoso.com").await;
    let pc = cloud_pc_id(&page.body);

    // Restore: the snapshots are a list to pick from, not a text field.
    let select = format!(
        "<select id=\"cloudpc-restore-{pc}-snapshot\" name=\"snapshot\" aria-describedby=\"cloudpc-restore-{pc}-snapshot-help\" required>"
    );
    let after = page.body.split(&select).nth(1).expect("a snapshot select");
    let options = after.split("</select>").next().unwrap();
    let snapshots: Vec<&str> = options
        .split("<option value=\"")
        .skip(1)
        .filter_map(|o| o.split('"').next())
        .collect();
    assert!(!snapshots.is_empty(), "{options}");
    assert!(
        snapshots
            .iter()
            .all(|s| s.starts_with(&format!("CPC_{pc}_"))),
        "{snapshots:?}"
    );

    // Rename: not destructive, runs without a confirmation.
    let checked = check(
        &mut p,
        &page,
        user,
        "cloudpc.rename",
        &format!("form-cloudpc-rename-{pc}"),
        &[("name", "Alice's desk")],
    )
    .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(!checked.body.contains("id=\"confirm\""));
    assert!(
        checked.body.contains("id=\"plan-steps\""),
        "{}",
        checked.body
    );
    let job = run(&mut p, &checked, user, "cloudpc.rename").await;
    let done = job_page_with(&h, &mut p, &job, "status-ok\">succeeded").await;
    // A Cloud PC action's target is the Cloud PC, not a user: no link to a user page of that id.
    assert!(!done.body.contains("id=\"open-user\""), "{}", done.body);
    assert!(
        !done.body.contains(&format!("/users/{pc}")),
        "{}",
        done.body
    );
    let mut renamed = p.get("/users/alice.smith%40contoso.com").await;
    for _ in 0..50 {
        if renamed.body.contains("Alice&#x27;s desk") {
            break;
        }
        common::portal::advance_sim_clock(&h, 10).await;
        renamed = p.get("/users/alice.smith%40contoso.com").await;
    }
    assert!(
        renamed
            .body
            .contains("<h4 id=\"pc-1\">Alice&#x27;s desk</h4>"),
        "{}",
        renamed.body
    );
    // A name too long: the Check says so at the field and offers no Run.
    let long = "x".repeat(65);
    let refused = check(
        &mut p,
        &page,
        user,
        "cloudpc.rename",
        &format!("form-cloudpc-rename-{pc}"),
        &[("name", &long)],
    )
    .await;
    assert!(
        !refused.body.contains("id=\"run-form\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"problems\""));

    // Reboot: destructive: what is lost in words, Run only with the box ticked.
    let checked = check(
        &mut p,
        &page,
        user,
        "cloudpc.reboot",
        &format!("form-cloudpc-reboot-{pc}"),
        &[],
    )
    .await;
    assert!(
        checked.body.contains(
            "<strong>What is lost:</strong> The user&#x27;s session ends: unsaved work is lost."
        ),
        "{}",
        checked.body
    );
    assert!(checked.body.contains(
        "<input type=\"checkbox\" id=\"confirm\" name=\"confirm\" value=\"yes\" required>"
    ));
    let unconfirmed = post_form(
        &mut p,
        &format!(
            "/users/{}/actions/cloudpc.reboot/run",
            common::portal::urlencode(user)
        ),
        &common::portal::form_fields(&checked.body, "run-form"),
    )
    .await;
    assert_eq!(unconfirmed.status, 400, "{}", unconfirmed.body);
    let job = run(&mut p, &checked, user, "cloudpc.reboot").await;
    let done = job_page_with(&h, &mut p, &job, "status-ok\">succeeded").await;
    assert!(done.body.contains("reboot the Cloud PC"), "{}", done.body);

    // Troubleshoot: not destructive.
    let checked = check(
        &mut p,
        &page,
        user,
        "cloudpc.troubleshoot",
        &format!("form-cloudpc-troubleshoot-{pc}"),
        &[],
    )
    .await;
    assert!(!checked.body.contains("id=\"confirm\""));
    assert!(
        checked.body.contains("troubleshoot the Cloud PC"),
        "{}",
        checked.body
    );

    // Reprovision: the plan and what is lost.
    let checked = check(
        &mut p,
        &page,
        user,
        "reprovision",
        "form-reprovision-user",
        &[],
    )
    .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked
            .body
            .contains("<strong>What is lost:</strong> The Cloud PC is wiped and created again")
    );
    assert!(
        checked.body.contains("id=\"plan-steps\""),
        "{}",
        checked.body
    );
    assert!(checked.body.contains("reprovision"), "{}", checked.body);
    let job = run(&mut p, &checked, user, "reprovision").await;
    job_page_with(&h, &mut p, &job, "status-ok\">succeeded").await;

    // Resize from the 128 GB group to the 256 GB one (its last free licence), once the
    // reprovisioned Cloud PC is ready again.
    let mut page = p.get("/users/alice.smith%40contoso.com").await;
    for _ in 0..100 {
        if page.body.contains("Cloud PC ready") {
            break;
        }
        common::portal::advance_sim_clock(&h, 30).await;
        page = p.get("/users/alice.smith%40contoso.com").await;
    }
    assert!(page.body.contains("Cloud PC ready"), "{}", page.body);
    let checked = check(
        &mut p,
        &page,
        user,
        "resize",
        "form-resize-user",
        &[("from", LIC_128), ("to", LIC_256)],
    )
    .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked
            .body
            .contains("<strong>What is lost:</strong> The Cloud PC restarts with the new size")
    );
    let steps = checked
        .body
        .split("<ol id=\"plan-steps\">")
        .nth(1)
        .and_then(|s| s.split("</ol>").next())
        .unwrap_or_else(|| panic!("the plan: {}", checked.body));
    assert!(
        steps.contains(LIC_256) && steps.contains(LIC_128),
        "the plan moves the licence: {steps}"
    );
    let job = run(&mut p, &checked, user, "resize").await;
    job_page_with(&h, &mut p, &job, "status-ok\">succeeded").await;
    let after =
        common::portal::html_unescape(&p.get("/users/alice.smith%40contoso.com").await.body);
    assert!(
        after.contains(&format!(
            "<td data-label=\"Comes from\">group {LIC_256}</td>"
        )),
        "{after}"
    );

    // End grace period: for Admins only, on a Cloud PC in its grace period.
    let grace = p.get("/users/grace.wilson%40contoso.com").await;
    assert!(
        !grace.body.contains("form-cloudpc-end-grace-period-"),
        "not for Helpdesk"
    );
    let mut admin = on_sandbox(&h, "admin").await;
    let grace = admin.get("/users/grace.wilson%40contoso.com").await;
    let gpc = cloud_pc_id(&grace.body);
    let checked = check(
        &mut admin,
        &grace,
        "grace.wilson@contoso.com",
        "cloudpc.end-grace-period",
        &format!("form-cloudpc-end-grace-period-{gpc}"),
        &[],
    )
    .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert!(
        checked.body.contains("<strong>What is lost:</strong>"),
        "{}",
        checked.body
    );
    let job = run(
        &mut admin,
        &checked,
        "grace.wilson@contoso.com",
        "cloudpc.end-grace-period",
    )
    .await;
    job_page_with(&h, &mut admin, &job, "status-ok\">succeeded").await;
    h.shutdown().await;
}

/// The job page: the inputs table and the result of a job that succeeded; the error box with
/// its fix of one that failed.
#[tokio::test]
async fn job_page_shows_inputs_result_and_the_error_with_its_fix() {
    let h = common::start_with(common::Options {
        worker: true,
        ..Default::default()
    })
    .await;
    let mut p = on_sandbox(&h, "helpdesk").await;
    let user = "alice.smith@contoso.com";
    let page = p.get("/users/alice.smith%40contoso.com").await;
    let pc = cloud_pc_id(&page.body);
    let form = format!("form-cloudpc-troubleshoot-{pc}");
    let checked = check(&mut p, &page, user, "cloudpc.troubleshoot", &form, &[]).await;
    let job = run(&mut p, &checked, user, "cloudpc.troubleshoot").await;
    let done = job_page_with(&h, &mut p, &job, "status-ok\">succeeded").await;
    assert!(
        done.body.contains(&format!(
            "<table class=\"list\" id=\"inputs\"><tbody>\n<tr><th scope=\"row\">cloudPc</th><td>{pc}</td></tr>"
        )),
        "{}",
        done.body
    );
    assert!(done.body.contains("<summary>Full result (JSON)</summary>"));
    assert!(
        done.body
            .contains(&format!("&quot;id&quot;: &quot;{pc}&quot;")),
        "the result names the Cloud PC"
    );
    assert!(!done.body.contains("id=\"job-error\""));

    // Windows 365 refuses the action: the job fails and says how to fix it.
    h.sim.set_faults(vec![w365_sim::faults::FaultRule {
        method: Some("POST".into()),
        path: Some("/**/troubleshoot".into()),
        tenant: None,
        action: w365_sim::faults::FaultAction::Status {
            status: 403,
            retry_after_secs: None,
            http_date: false,
        },
        trigger: w365_sim::faults::Trigger::Always,
    }]);
    let checked = check(&mut p, &page, user, "cloudpc.troubleshoot", &form, &[]).await;
    let job = run(&mut p, &checked, user, "cloudpc.troubleshoot").await;
    let failed = job_page_with(&h, &mut p, &job, "status-bad\">failed").await;
    let error = failed
        .body
        .split("<div class=\"alert alert-bad\" role=\"alert\" id=\"job-error\">")
        .nth(1)
        .and_then(|s| s.split("</div>").next())
        .unwrap_or_else(|| panic!("an error box: {}", failed.body));
    assert!(error.contains("<p><strong>Error:</strong> "), "{error}");
    assert!(error.contains("<p><strong>Fix:</strong> "), "{error}");
    assert!(failed.body.contains(&format!(
        "<tr><th scope=\"row\">cloudPc</th><td>{pc}</td></tr>"
    )));
    let summary = failed
        .body
        .split("id=\"ticket-summary\"")
        .nth(1)
        .unwrap_or_default();
    assert!(
        summary.contains("Fix: "),
        "the ticket summary carries the fix"
    );
    h.shutdown().await;
}
