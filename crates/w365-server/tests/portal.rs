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
