//! `w365 serve --sandbox` as a user runs it: it starts with nothing installed, prints where it
//! listens and how to sign in; `w365 sandbox token --role …` prints a token on its last line that
//! the API accepts with that role; SIGTERM stops it cleanly (exit 0, the sandbox saved).

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn w365(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_w365"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("W365_SANDBOX_DIR", home.join("sandbox"));
    cmd
}

fn token(home: &std::path::Path, role: &str) -> String {
    let out = w365(home)
        .args(["sandbox", "token", "--role", role])
        .output()
        .expect("sandbox token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    stdout.lines().last().expect("a line").trim().to_owned()
}

#[tokio::test]
async fn serve_sandbox_signs_in_demo_operators_and_stops_on_sigterm() {
    let home = tempfile::tempdir().expect("home");
    // Without a running server, `sandbox token` says what to do.
    let out = w365(home.path())
        .args(["sandbox", "token", "--role", "admin"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("w365 serve --sandbox"));

    let mut child = w365(home.path())
        .args(["serve", "--sandbox", "--port", "0", "--workers", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("utf8");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let mut banner = vec![first];
    for line in lines.by_ref() {
        let line = line.expect("utf8");
        let done = line.starts_with("Stop with Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    let banner = banner.join("\n");
    assert!(
        banner.contains("ada.admin@contoso.com") && banner.contains("w365 sandbox token --role"),
        "{banner}"
    );
    assert!(home.path().join("sandbox/serve.json").exists());

    // The portal: an anonymous visit goes to sign-in, and sign-in to the simulator's page where
    // a demo operator is picked (the first thing a new operator sees).
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let home_page = browser.get(format!("{url}/")).send().await.expect("GET /");
    assert_eq!(home_page.status().as_u16(), 303);
    let location = |r: &reqwest::Response| {
        r.headers()[reqwest::header::LOCATION]
            .to_str()
            .expect("location")
            .to_owned()
    };
    assert_eq!(location(&home_page), "/signin?next=%2F");
    let signin = browser
        .get(format!("{url}{}", location(&home_page)))
        .send()
        .await
        .expect("sign in");
    assert_eq!(signin.status().as_u16(), 303);
    let authorize = url::Url::parse(&location(&signin)).expect("an absolute URL");
    assert!(
        authorize.path().ends_with("/oauth2/v2.0/authorize"),
        "{authorize}"
    );
    assert!(
        authorize
            .query_pairs()
            .any(|(k, v)| k == "code_challenge_method" && v == "S256"),
        "PKCE: {authorize}"
    );
    let picker = browser
        .get(authorize.as_str())
        .send()
        .await
        .expect("the sign-in page");
    assert_eq!(picker.status().as_u16(), 200);
    let picker = picker.text().await.expect("html");
    for op in w365_sim::oidc::DEMO_OPERATORS {
        assert!(
            picker.contains(&format!(
                "<button type=\"submit\">Sign in as {}</button>",
                op.display_name
            )) && picker.contains(op.upn),
            "{} on the sign-in page: {picker}",
            op.display_name
        );
    }

    let http = reqwest::Client::new();
    let reader = token(home.path(), "reader");
    let helpdesk = token(home.path(), "helpdesk");
    let me: Value = http
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(&reader)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["operator"]["role"], "W365.Reader");
    assert_eq!(me["tenants"], json!(["sandbox"]));
    let submit = json!({"operation": "cloudpc.troubleshoot", "tenant": "sandbox", "params": {"cloudPc": "alice.smith@contoso.com"}});
    let refused = http
        .post(format!("{url}/api/v1/jobs"))
        .bearer_auth(&reader)
        .json(&submit)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 403);
    let accepted = http
        .post(format!("{url}/api/v1/jobs"))
        .bearer_auth(&helpdesk)
        .json(&submit)
        .send()
        .await
        .expect("post");
    assert_eq!(accepted.status(), 202);
    let job: Value = accepted.json().await.expect("json");
    // The job runs in the server's worker; its event stream ends with the final state.
    let mut events = http
        .get(format!(
            "{url}/api/v1/jobs/{}/events",
            job["id"].as_str().expect("id")
        ))
        .bearer_auth(&helpdesk)
        .send()
        .await
        .expect("events");
    let mut text = String::new();
    while let Some(chunk) = events.chunk().await.expect("chunk") {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains("event: end") && text.ends_with("\n\n") {
            break;
        }
    }
    assert!(text.contains("event: end"), "{text}");
    drop(events);

    // The CLI as a client: the same exit code as inline (alice already has a licence: 6).
    let run = |args: &[&str], token: &str| {
        let mut cmd = w365(home.path());
        cmd.env("W365_SERVER_TOKEN", token)
            .args(["--sandbox", "--server", url.as_str()])
            .args(args);
        cmd.output().expect("w365 --server")
    };
    let out = run(
        &["-o", "json", "assign", "alice.smith@contoso.com"],
        &helpdesk,
    );
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("the result document");
    assert_eq!(doc["exitCode"], 6, "{doc}");
    let out = run(
        &["assign", "kate.thomas@contoso.com", "--dry-run"],
        &helpdesk,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["assign", "kate.thomas@contoso.com"], &reader);
    assert_eq!(out.status.code(), Some(9), "a Reader is refused");
    let out = run(
        &["assign", "kate.thomas@contoso.com", "--license-group", ""],
        &helpdesk,
    );
    assert_eq!(
        out.status.code(),
        Some(11),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Cloud PC actions too; a destructive one needs --yes, as inline.
    let out = run(
        &["cloudpc", "troubleshoot", "alice.smith@contoso.com"],
        &helpdesk,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["cloudpc", "reboot", "alice.smith@contoso.com"], &helpdesk);
    // The same command inline, on a sandbox of its own (this one is held by the server).
    let other = tempfile::tempdir().expect("tempdir");
    let inline = w365(other.path())
        .args(["--sandbox", "cloudpc", "reboot", "alice.smith@contoso.com"])
        .output()
        .expect("inline");
    assert_eq!(
        out.status.code(),
        inline.status.code(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    // A bulk file as one assign.bulk job: the rows, results file and exit status of an inline
    // run (11: one row names an unknown user; alice is already assigned).
    let file = home.path().join("onboarding.csv");
    std::fs::write(
        &file,
        "user\ngrace.wilson@contoso.com\nhenry.moore@contoso.com\nnobody@contoso.com\nalice.smith@contoso.com\n",
    )
    .expect("bulk file");
    let results = home.path().join("results.csv");
    let (file, results) = (
        file.to_str().expect("path"),
        results.to_str().expect("path"),
    );
    let out = run(
        &["-o", "json", "assign", "--from", file, "--results", results],
        &helpdesk,
    );
    assert_eq!(
        out.status.code(),
        Some(11),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("the bulk document");
    assert_eq!(doc["command"], "assign --from", "{doc}");
    let outcomes: Vec<&str> = doc["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(
        outcomes,
        ["assigned", "assigned", "invalid", "alreadyAssigned"],
        "{doc}"
    );
    let written = std::fs::read_to_string(results).expect("results file");
    assert!(written.contains("henry.moore@contoso.com"), "{written}");
    let out = run(&["assign", "--from", file, "--dry-run"], &helpdesk);
    assert_eq!(out.status.code(), Some(2), "the dry run is inline only");
    // unassign --from is destructive: --yes, as inline; then the rows as inline prints them
    // (alice keeps her licence for the sign-in below).
    let leavers = home.path().join("leavers.csv");
    std::fs::write(
        &leavers,
        "user\ngrace.wilson@contoso.com\nhenry.moore@contoso.com\nnobody@contoso.com\n",
    )
    .expect("bulk file");
    let leavers = leavers.to_str().expect("path");
    let out = run(&["unassign", "--from", leavers], &helpdesk);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--yes"), "{stderr}");
    let out = run(&["unassign", "--from", leavers, "--yes"], &helpdesk);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(11), "{table}");
    assert!(
        table.contains("henry.moore@contoso.com") && table.contains("2 unassigned, 1 invalid"),
        "{table}"
    );

    // Inline on the sandbox the server holds: refused at once, pointing at --server (no wait).
    let held = w365(home.path())
        .args(["--sandbox", "cloudpc", "list"])
        .output()
        .expect("inline on the served sandbox");
    assert_eq!(held.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&held.stderr).contains("--server http://127.0.0.1:"),
        "{}",
        String::from_utf8_lossy(&held.stderr)
    );

    // Without W365_SERVER_TOKEN: the device-code flow, approved on the identity provider's page.
    let mut signin = w365(home.path())
        .args([
            "--sandbox",
            "--server",
            url.as_str(),
            "assign",
            "alice.smith@contoso.com",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("w365 --server");
    let mut err = BufReader::new(signin.stderr.take().expect("stderr")).lines();
    let prompt = err
        .by_ref()
        .map(|l| l.expect("utf8"))
        .find(|l| l.contains("enter the code"))
        .expect("the device-code prompt");
    let words: Vec<&str> = prompt.split_whitespace().collect();
    let page = words
        .iter()
        .find(|w| w.starts_with("http"))
        .expect("the page")
        .to_string();
    let code = words[words.iter().position(|w| *w == "code").expect("code") + 1].to_owned();
    let approved = reqwest::Client::new()
        .post(&page)
        .form(&[
            ("user_code", code.as_str()),
            ("login_hint", "hank.helpdesk@contoso.com"),
        ])
        .send()
        .await
        .expect("approve");
    assert_eq!(approved.status(), 200);
    let _rest: Vec<String> = err.map_while(Result::ok).collect();
    assert_eq!(signin.wait().expect("wait").code(), Some(6));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "SIGTERM stops it cleanly: {exit:?}");
    assert!(
        !home.path().join("sandbox/serve.json").exists(),
        "the run file is removed"
    );
    assert!(
        home.path().join("sandbox/state.json").exists(),
        "the sandbox state is saved"
    );
}

/// A `w365 serve --sandbox` process with its stderr (the log) collected.
struct Served {
    child: std::process::Child,
    url: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Starts it on any free port (the environment of [`w365`]: the default log level) and reads
    /// its banner.
    fn start(home: &std::path::Path, workers: &str) -> Self {
        let mut child = w365(home)
            .args(["serve", "--sandbox", "--port", "0", "--workers", workers])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        let mut readers = vec![std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log").push(line);
            }
        })];
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut url = None;
        for line in lines.by_ref() {
            let line = line.expect("utf8");
            if url.is_none() {
                url = line
                    .split_whitespace()
                    .find(|w| w.starts_with("http://127.0.0.1:"))
                    .map(str::to_owned);
            }
            if line.starts_with("Stop with Ctrl-C") {
                break;
            }
        }
        // The rest of stdout is drained so that the server never blocks on a full pipe.
        readers.push(std::thread::spawn(
            move || for _ in lines.map_while(Result::ok) {},
        ));
        Self {
            child,
            url: url.expect("the banner names the URL"),
            log,
            readers,
        }
    }

    /// SIGTERM; waits for the exit. Its status and everything it logged.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        for r in self.readers.drain(..) {
            r.join().expect("reader");
        }
        let log = self.log.lock().expect("log").join("\n");
        (exit, log)
    }
}

#[tokio::test]
async fn serve_logs_each_request_with_its_request_id_and_no_token_or_cookie() {
    let home = tempfile::tempdir().expect("home");
    let served = Served::start(home.path(), "0");
    let url = served.url.clone();
    let helpdesk = token(home.path(), "helpdesk");
    let http = reqwest::Client::new();
    let request_id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    // Signed in, with a cookie and a secret in the query string.
    let cookie = "w365_session=cookie-value-that-must-not-be-logged";
    let me = http
        .get(format!(
            "{url}/api/v1/me?access_token=query-secret-never-logged"
        ))
        .bearer_auth(&helpdesk)
        .header("Cookie", cookie)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let me_id = request_id(&me);
    // A forged token (401) and an unknown route (404): answers below 5xx are logged too.
    let forged = "eyJhbGciOiJub25lIn0.forged-token-never-logged.";
    let refused = http
        .get(format!("{url}/api/v1/tenants"))
        .bearer_auth(forged)
        .send()
        .await
        .expect("tenants");
    assert_eq!(refused.status(), 401);
    let refused_id = request_id(&refused);
    let missing = http
        .get(format!("{url}/api/v1/nothing-here"))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);
    let missing_id = request_id(&missing);

    let (exit, log) = served.stop();
    assert!(exit.success(), "{exit:?}\n{log}");
    for (id, path, status) in [
        (&me_id, "/api/v1/me", 200),
        (&refused_id, "/api/v1/tenants", 401),
        (&missing_id, "/api/v1/nothing-here", 404),
    ] {
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(id.as_str())).collect();
        assert_eq!(lines.len(), 1, "one line for request {id}:\n{log}");
        let line = lines[0];
        assert!(
            line.contains("answered")
                && line.contains(&format!("path={path}"))
                && line.contains(&format!("status={status}")),
            "{line}"
        );
        assert!(
            !line.contains('\u{1b}'),
            "no terminal colours in a log: {line:?}"
        );
    }
    for secret in [
        helpdesk.as_str(),
        forged,
        "cookie-value-that-must-not-be-logged",
        "query-secret-never-logged",
        "Bearer",
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}

#[tokio::test]
async fn sigterm_hands_a_running_job_back_and_the_next_start_finishes_it() {
    use w365_jobs::{BudgetGrant, JobState, TenantLimits};
    let home = tempfile::tempdir().expect("home");
    let dir = home.path().join("sandbox");
    std::fs::create_dir_all(&dir).expect("sandbox dir");
    let store = w365_jobs::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("jobs.db").display()
    ))
    .await
    .expect("the sandbox's job database");
    // The sandbox tenant's Graph write budget: one write an hour, and it is taken. The job plans
    // (reads), then its first directory write waits for the budget: it is running, for an hour,
    // when the server is stopped; no sleep, no race with the Cloud PC lifecycle.
    store
        .set_tenant_limits(
            "sandbox",
            TenantLimits {
                max_running: 10,
                write_capacity: 1,
                write_refill_per_hour: 1,
            },
        )
        .await
        .expect("limits");
    assert_eq!(
        store.take_write_budget("sandbox", 1).await.expect("take"),
        BudgetGrant::Granted
    );

    let served = Served::start(home.path(), "1");
    let url = served.url.clone();
    let helpdesk = token(home.path(), "helpdesk");
    let http = reqwest::Client::new();
    let accepted = http
        .post(format!("{url}/api/v1/jobs"))
        .bearer_auth(&helpdesk)
        .json(&json!({"operation": "assign", "tenant": "sandbox",
            "params": {"user": "megan.bowen@contoso.com", "notify": true}}))
        .send()
        .await
        .expect("submit");
    assert_eq!(accepted.status(), 202);
    let job: Value = accepted.json().await.expect("json");
    let id = job["id"].as_str().expect("id").to_owned();
    let job_state = |http: reqwest::Client, url: String, token: String, id: String| async move {
        let job: Value = http
            .get(format!("{url}/api/v1/jobs/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("job")
            .json()
            .await
            .expect("json");
        job["state"].as_str().unwrap_or_default().to_owned()
    };
    let started = std::time::Instant::now();
    loop {
        let state = job_state(http.clone(), url.clone(), helpdesk.clone(), id.clone()).await;
        if state == "running" {
            break;
        }
        assert!(
            state == "available" && started.elapsed() < std::time::Duration::from_secs(30),
            "the job should be running: {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let (exit, log) = served.stop();
    assert!(exit.success(), "SIGTERM stops it cleanly: {exit:?}\n{log}");
    let job_id: w365_jobs::JobId = id.parse().expect("job id");
    let job = store.get(job_id).await.expect("get").expect("the job");
    assert_eq!(job.state, JobState::Available, "handed back: {job:?}");
    assert_eq!(job.lease_owner, None, "{job:?}");
    assert!(job.finished_at.is_none() && job.error.is_none(), "{job:?}");
    let lines = store.log(job_id, 0).await.expect("log");
    assert!(
        lines
            .iter()
            .any(|l| l.message.contains("released by its worker (shutdown)")),
        "{lines:?}"
    );

    // The budget back to the default: the next start takes the job and finishes it.
    store
        .set_tenant_limits("sandbox", TenantLimits::GRAPH_DEFAULT)
        .await
        .expect("limits");
    let served = Served::start(home.path(), "1");
    let (url, helpdesk) = (served.url.clone(), token(home.path(), "helpdesk"));
    let started = std::time::Instant::now();
    loop {
        let state = job_state(http.clone(), url.clone(), helpdesk.clone(), id.clone()).await;
        if state == "succeeded" {
            break;
        }
        assert!(
            !matches!(state.as_str(), "failed" | "cancelled")
                && started.elapsed() < std::time::Duration::from_secs(60),
            "the job should finish after the restart: {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (exit, log) = served.stop();
    assert!(exit.success(), "{exit:?}\n{log}");
}
