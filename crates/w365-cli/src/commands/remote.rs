//! `w365 --server URL <operation> …`: the CLI as a client of `w365 serve`. The same flags are
//! turned into the same parameters, submitted as a job, its live log followed (SSE), and the job's
//! result document printed with the exit code an inline run would have had.
//!
//! Sign-in: `W365_SERVER_TOKEN`, else the device-code flow against the server's identity provider
//! (`GET /api/v1/signin` names it; the sandbox's simulator offers the flow too).

use std::io::Read as _;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use crate::cli::Command;
use crate::commands::lifecycle::Ending;
use crate::commands::summary;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::Settings;

const USER_AGENT: &str = concat!("w365/", env!("CARGO_PKG_VERSION"), " (client)");

/// The job this command would be (operation, parameters, dry run, consent given), or `None` for
/// commands that are not operations.
fn job_of(command: &Command) -> Option<(String, Map<String, Value>, bool, bool)> {
    use crate::commands::cloudpc::CloudpcCommand as C;
    let action =
        |name: &str, a: &crate::commands::cloudpc::ActionArgs, extra: Option<(&str, &str)>| {
            let op = format!("cloudpc.{name}");
            // Consent: --yes for destructive actions, as inline (which asks on a terminal).
            let destructive = w365_ops::spec::operation(&op).is_none_or(|s| s.destructive);
            let consent = a.yes || !destructive;
            Some((
                op,
                crate::ops_spec::action_values(a, extra),
                a.dry_run,
                consent,
            ))
        };
    match command {
        Command::Assign(a) => Some((
            "assign".into(),
            crate::ops_spec::assign_values(a, a.message.clone()),
            a.dry_run,
            true,
        )),
        // Destructive, as inline: a terminal question or --yes.
        Command::Unassign(a) => Some((
            "unassign".into(),
            crate::ops_spec::unassign_values(a),
            a.dry_run,
            a.yes,
        )),
        Command::Reprovision(a) => Some((
            "reprovision".into(),
            crate::ops_spec::reprovision_values(a, a.message.clone()),
            a.dry_run,
            a.yes,
        )),
        Command::Resize(a) => Some((
            "resize".into(),
            crate::ops_spec::resize_values(a),
            a.dry_run,
            a.yes,
        )),
        Command::Cloudpc { command } => match command {
            C::Reboot(a) => action("reboot", a, None),
            C::Rename { action: a, name } => action("rename", a, Some(("name", name.as_str()))),
            // --latest and --before are resolved by the inline command; `dispatch` refuses
            // them with --server before this is reached.
            C::Restore { action: a, point } => point
                .snapshot
                .as_deref()
                .and_then(|id| action("restore", a, Some(("snapshot", id)))),
            C::Troubleshoot(a) => action("troubleshoot", a, None),
            C::EndGracePeriod(a) => action("end-grace-period", a, None),
            C::PowerOn(a) => action("power-on", a, None),
            C::PowerOff(a) => action("power-off", a, None),
            C::List(_) | C::Show { .. } => None,
        },
        _ => None,
    }
}

/// `assign --from FILE` or `unassign --from FILE`: what its bulk job is made of.
struct BulkCommand<'a> {
    /// `assign --from` or `unassign --from`.
    command: &'static str,
    operation: &'static str,
    file: &'a std::path::Path,
    user: &'a str,
    dry_run: bool,
    journal: bool,
    strict: bool,
    results: Option<&'a std::path::Path>,
    /// The flags as API values (every row's defaults).
    values: Map<String, Value>,
    consent: bool,
}

fn bulk_of(command: &Command) -> Option<BulkCommand<'_>> {
    match command {
        Command::Assign(a) => a.from.as_deref().map(|file| BulkCommand {
            command: "assign --from",
            operation: "assign.bulk",
            file,
            user: &a.user,
            dry_run: a.dry_run,
            journal: a.journal.is_some(),
            strict: a.strict,
            results: a.results.as_deref(),
            values: crate::ops_spec::assign_values(a, a.message.clone()),
            consent: true,
        }),
        // Destructive, as inline: a terminal question or --yes.
        Command::Unassign(a) => a.from.as_deref().map(|file| BulkCommand {
            command: "unassign --from",
            operation: "unassign.bulk",
            file,
            user: &a.user,
            dry_run: a.dry_run,
            journal: a.journal.is_some(),
            strict: a.strict,
            results: a.results.as_deref(),
            values: crate::ops_spec::unassign_values(a),
            consent: a.yes,
        }),
        _ => None,
    }
}

/// A bulk file as one job: the file's text (decoded as inline: UTF-8 with or without a BOM, or
/// UTF-16) and the flags as every row's defaults.
fn bulk_job(b: &BulkCommand<'_>) -> anyhow::Result<(String, Map<String, Value>, bool, bool)> {
    let usage = |text: &str| crate::settings::SettingsError::Usage(text.into());
    if !b.user.trim().is_empty() {
        anyhow::bail!(usage("give either a USER or --from FILE, not both"));
    }
    if b.dry_run {
        anyhow::bail!(usage(
            "with --server, --from FILE runs as a job; plan it with --dry-run inline (without --server)"
        ));
    }
    if b.journal {
        anyhow::bail!(usage(
            "with --server the job keeps its own journal: leave out --journal"
        ));
    }
    let shown = b.file.display().to_string();
    let opened = std::fs::File::open(b.file).with_context(|| format!("cannot read {shown}"))?;
    let mut text = String::new();
    w365_ops::bulk::input::decoded(std::io::BufReader::new(opened), &shown)?
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {shown}"))?;
    let mut params = b.values.clone();
    params.remove("user");
    params.insert("rows".into(), text.into());
    params.insert("strict".into(), b.strict.into());
    Ok((b.operation.into(), params, false, b.consent))
}

fn status_of_kind(kind: &str) -> ExitStatus {
    [
        ExitStatus::Unexpected,
        ExitStatus::NotFound,
        ExitStatus::Ambiguous,
        ExitStatus::OutOfCapacity,
        ExitStatus::AlreadyAssigned,
        ExitStatus::ProvisioningFailed,
        ExitStatus::TimedOut,
        ExitStatus::Permission,
        ExitStatus::Unavailable,
        ExitStatus::Refused,
    ]
    .into_iter()
    .find(|s| s.kind() == kind)
    .unwrap_or(ExitStatus::Unexpected)
}

/// Runs `command` on the server; `None` when the command is not an operation.
pub async fn dispatch(
    server: &str,
    settings: &Settings,
    command: &Command,
    printer: &Printer,
) -> anyhow::Result<Option<ExitStatus>> {
    if let Command::Cloudpc {
        command: crate::commands::cloudpc::CloudpcCommand::Restore { point, .. },
    } = command
        && point.snapshot.is_none()
    {
        anyhow::bail!(crate::settings::SettingsError::Usage(
            "with --server, name the restore point with --snapshot ID (`w365 snapshot list` shows them); \
             --latest and --before are picked by the inline command only"
                .into()
        ));
    }
    let bulk = bulk_of(command);
    let policy = match command {
        Command::Policy { command } => crate::ops_spec::policy_job(command).transpose()?,
        Command::UserSettings { command } => {
            crate::ops_spec::user_settings_job(command).transpose()?
        }
        _ => None,
    };
    let job = match (&bulk, &policy) {
        (Some(b), _) => Some(bulk_job(b)?),
        (None, Some((operation, params, change))) => Some((
            (*operation).to_owned(),
            params.clone(),
            change.dry_run,
            change.yes,
        )),
        (None, None) => job_of(command),
    };
    let Some((operation, params, dry_run, consent)) = job else {
        return Ok(None);
    };
    let tenant = if settings.sandbox {
        "sandbox".to_owned()
    } else {
        settings
            .tenant
            .clone()
            .or_else(|| settings.config.default_tenant.clone())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "name the tenant the server should act on: --tenant NAME (or --sandbox)"
                )
            })?
    };
    let base = server.trim_end_matches('/');
    let http = reqwest::Client::builder().user_agent(USER_AGENT).build()?;
    let token = match std::env::var("W365_SERVER_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        Some(t) => t.trim().to_owned(),
        None => device_code(&http, base, printer).await?,
    };
    let command_name = operation.replace('.', " ");
    let signed_in = Server {
        http: &http,
        base,
        token: &token,
        tenant: &tenant,
    };
    if policy.is_some() {
        return run_policy(&signed_in, &operation, &params, dry_run, consent, printer)
            .await
            .map(Some);
    }
    let submit = |dry_run: bool| signed_in.submit(&operation, &params, dry_run);
    // Destructive operations ask first, exactly as inline: the plan (the server's dry run), then
    // a terminal question or --yes; a refusal shows the plan not carried out.
    // A bulk file has no dry run on the server (its plan is made by the job): the question names
    // the file and its rows are shown once the job has run.
    if let (Some(b), false) = (&bulk, consent) {
        let plan = format!(
            "{} {}: every user listed in the file loses their Windows 365 assignment",
            b.command,
            b.file.display()
        );
        if let Err(refusal) = crate::consent::require(
            &format!("run {operation} from {} through {server}", b.file.display()),
            &plan,
            false,
        ) {
            let report = crate::exit::report(&refusal);
            printer.error(&report);
            return Ok(Some(report.exit));
        }
    } else if !dry_run && !consent {
        let (status, body) = submit(true).await?;
        if status != 200 {
            return Ok(Some(refused_by_server(&operation, status, &body, printer)));
        }
        let mut doc = dry_run_document(&params, &body);
        let plan: w365_ops::plan::Plan =
            serde_json::from_value(doc["plan"].clone()).unwrap_or_default();
        let subject = params
            .get("user")
            .or_else(|| params.get("cloudPc"))
            .and_then(Value::as_str)
            .unwrap_or(&tenant);
        if let Err(refusal) = crate::consent::require(
            &format!("run {operation} on {subject} through {server}"),
            &plan.to_string(),
            false,
        ) {
            let report = crate::exit::report(&refusal);
            doc["dryRun"] = json!(false);
            print_outcome(&command_name, &tenant, &doc, Some(&report), printer);
            return Ok(Some(report.exit));
        }
    }
    let (status, body) = submit(dry_run).await?;
    match status {
        200 if dry_run => {
            let doc = dry_run_document(&params, &body);
            printer.json(&body);
            if printer.format() != crate::cli::OutputFormat::Json {
                print_outcome(&command_name, &tenant, &doc, None, printer);
            }
            return Ok(Some(ExitStatus::Success));
        }
        200 | 202 => {}
        _ => return Ok(Some(refused_by_server(&operation, status, &body, printer))),
    }
    let id = body["id"]
        .as_str()
        .context("the server answered without a job id")?
        .to_owned();
    printer.note(&format!("job {id} submitted to {base}; following its log"));
    let job = follow(&http, base, &token, &id, printer).await?;
    let result = job["result"].clone();
    if let (Some(b), true) = (&bulk, result.get("rows").is_some()) {
        // The rows as an inline run prints them, and its exit status.
        return crate::commands::bulk::print_job_result(
            printer, b.results, base, b.command, &result,
        )
        .map(Some);
    }
    let exit = report_job(&job, &id, &result, printer);
    if !result.is_null() && printer.format() != crate::cli::OutputFormat::Json {
        let ending = Ending {
            target: &tenant,
            ok: exit == ExitStatus::Success,
            refused: false,
        };
        if let Some(text) = summary::render(&command_name, &result, &ending) {
            printer.result(&text);
        }
    }
    Ok(Some(exit))
}

/// The server a command runs on, signed in, and the tenant it acts on.
struct Server<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
    tenant: &'a str,
}

impl Server<'_> {
    /// Submits `operation` as a job (or its dry run) and reads the answer: its status, and its
    /// JSON body (`null` when the body is not JSON).
    async fn submit(
        &self,
        operation: &str,
        params: &Map<String, Value>,
        dry_run: bool,
    ) -> anyhow::Result<(u16, Value)> {
        let base = self.base;
        let answer = self
            .http
            .post(format!("{base}/api/v1/jobs"))
            .bearer_auth(self.token)
            .json(&json!({"operation": operation, "tenant": self.tenant, "params": params, "dryRun": dry_run}))
            .send()
            .await
            .with_context(|| format!("the server {base} does not answer"))?;
        let status = answer.status().as_u16();
        Ok((status, answer.json().await.unwrap_or(Value::Null)))
    }
}

/// A policy change (`w365 --server URL policy|user-settings <verb>`), as inline: the plan first
/// (the server's dry run) unless `--yes`; `--dry-run` prints it; a plan with an unassignment, a
/// delete, an apply or a lowered Frontline allotment needs a terminal's yes or `--yes`; then the
/// job, followed to its end, and the same summary and exit code as the inline command.
async fn run_policy(
    server: &Server<'_>,
    operation: &str,
    params: &Map<String, Value>,
    dry_run: bool,
    yes: bool,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    use crate::commands::policy::{Shown, outcome_text, plan_reasons};
    use w365_ops::policy::PolicyPlan;
    let Server {
        http,
        base,
        token,
        tenant,
    } = *server;
    let command_name = operation.replace('.', " ");
    let submit = |dry_run: bool| server.submit(operation, params, dry_run);
    let plan_of = |doc: &Value| -> anyhow::Result<PolicyPlan> {
        serde_json::from_value(doc["plan"].clone())
            .context("the server's plan is not a policy plan")
    };
    if dry_run || !yes {
        let (status, body) = submit(true).await?;
        if status != 200 {
            return Ok(refused_by_server(operation, status, &body, printer));
        }
        let doc = &body["plan"];
        let plan = plan_of(doc)?;
        if dry_run {
            printer.json(&body);
            printer.result(&outcome_text(tenant, &plan, Shown::DryRun));
            return Ok(ExitStatus::Success);
        }
        let reasons = plan_reasons(&plan);
        if !reasons.is_empty() {
            printer.finish();
            let what = format!("{command_name}: {}", reasons.join("; "));
            if let Err(refusal) = crate::consent::require(&what, &plan.to_string(), false) {
                let report = crate::exit::report(&refusal);
                printer.json(&json!({"command": command_name, "tenant": tenant, "ok": false,
                    "dryRun": false, "plan": doc["plan"], "error": {"kind": report.kind, "message": report.message}}));
                printer.error(&report);
                printer.result(&outcome_text(tenant, &plan, Shown::Refused));
                return Ok(report.exit);
            }
        }
    }
    let (status, body) = submit(false).await?;
    if !matches!(status, 200 | 202) {
        return Ok(refused_by_server(operation, status, &body, printer));
    }
    let id = body["id"]
        .as_str()
        .context("the server answered without a job id")?
        .to_owned();
    printer.note(&format!("job {id} submitted to {base}; following its log"));
    let job = follow(http, base, token, &id, printer).await?;
    let result = job["result"].clone();
    let exit = report_job(&job, &id, &result, printer);
    // A plan that could not be made has nothing to show (as inline: only the error).
    if result["plan"].is_object() {
        let plan = plan_of(&result)?;
        let changes = result["results"].as_array().map_or(0, Vec::len);
        let created: Vec<w365_ops::policy::execute::Created> =
            serde_json::from_value(result["created"].clone()).unwrap_or_default();
        let shown = if exit == ExitStatus::Success {
            Shown::Done {
                changes,
                created: &created,
            }
        } else {
            Shown::Stopped { changes }
        };
        printer.result(&outcome_text(tenant, &plan, shown));
    }
    Ok(exit)
}

/// The document a dry run's answer stands for: the plan (assign, unassign: the planning result;
/// reprovision, resize: the dry-run report; Cloud PC actions: the Cloud PC and the plan) with
/// `dryRun`, the Graph requests the server's planning took, and the target as asked.
fn dry_run_document(params: &Map<String, Value>, body: &Value) -> Value {
    let mut doc = match &body["plan"] {
        Value::Object(fields) if fields.contains_key("plan") => fields.clone(),
        Value::Array(_) => Map::from_iter([("plan".to_owned(), body["plan"].clone())]),
        other => Map::from_iter([("plan".to_owned(), other.clone())]),
    };
    doc.insert("dryRun".into(), json!(true));
    if let Some(n) = body.get("graphRequests").filter(|n| n.is_u64()) {
        doc.insert("graphRequests".into(), n.clone());
    }
    if let Some(user) = params.get("user") {
        doc.entry("requestedUser").or_insert_with(|| user.clone());
    }
    if let Some(pc) = params.get("cloudPc") {
        doc.entry("requested").or_insert_with(|| pc.clone());
    }
    Value::Object(doc)
}

/// Prints an outcome as the inline command does: the error on stderr, the summary on stdout.
fn print_outcome(
    command: &str,
    tenant: &str,
    doc: &Value,
    error: Option<&crate::output::ErrorReport>,
    printer: &Printer,
) {
    if let Some(e) = error {
        printer.error(e);
    }
    let refused = error.is_some_and(|e| matches!(e.kind, "consentRequired" | "notConfirmed"));
    let ending = Ending {
        target: tenant,
        ok: error.is_none(),
        refused,
    };
    if let Some(text) = summary::render(command, doc, &ending) {
        printer.result(&text);
    }
}

/// The server refused the submission: its problems on stderr, the exit code they stand for.
fn refused_by_server(operation: &str, status: u16, body: &Value, printer: &Printer) -> ExitStatus {
    let e = &body["error"];
    let mut text = format!(
        "{} ({})",
        e["message"]
            .as_str()
            .unwrap_or("the server refused the job"),
        status
    );
    for p in e["problems"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "\n  {}: {} — {}",
            p["param"].as_str().unwrap_or(""),
            p["message"].as_str().unwrap_or(""),
            p["fix"].as_str().unwrap_or("")
        ));
    }
    if let Some(fix) = e["fix"].as_str() {
        text.push_str(&format!("\n{fix}"));
    }
    eprintln!("error: {text}");
    printer.json(&json!({"command": operation, "ok": false, "error": e}));
    match status {
        401 | 403 => ExitStatus::Permission,
        422 => ExitStatus::Refused,
        404 => ExitStatus::NotFound,
        503 => ExitStatus::Unavailable,
        _ => ExitStatus::Unexpected,
    }
}

/// Reads the job's event stream to its end, printing log lines; resumes after a dropped connection.
async fn follow(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    printer: &Printer,
) -> anyhow::Result<Value> {
    let mut last: Option<String> = None;
    for _attempt in 0..20 {
        let mut request = http
            .get(format!("{base}/api/v1/jobs/{id}/events"))
            .bearer_auth(token);
        if let Some(last) = &last {
            request = request.header("last-event-id", last);
        }
        let Ok(mut response) = request.send().await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        anyhow::ensure!(
            response.status().is_success(),
            "the server refused the job's event stream ({})",
            response.status()
        );
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let (mut event, mut data, mut eid) = ("message", String::new(), None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = if v.trim() == "log" {
                            "log"
                        } else if v.trim() == "end" {
                            "end"
                        } else {
                            "other"
                        };
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        eid = Some(v.trim().to_owned());
                    }
                }
                if eid.is_some() {
                    last = eid;
                }
                match event {
                    "log" => {
                        let line: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                        printer.note(line["message"].as_str().unwrap_or(&data));
                    }
                    "end" => {
                        return serde_json::from_str(&data).context("the final job is not JSON");
                    }
                    _ => {}
                }
            }
        }
    }
    anyhow::bail!(
        "lost the job's event stream; the job {id} goes on on the server (GET {base}/api/v1/jobs/{id})"
    )
}

/// The device-code flow against the server's identity provider; the access token.
async fn device_code(
    http: &reqwest::Client,
    base: &str,
    printer: &Printer,
) -> anyhow::Result<String> {
    let signin: Value = http
        .get(format!("{base}/api/v1/signin"))
        .send()
        .await
        .with_context(|| format!("the server {base} does not answer"))?
        .json()
        .await
        .context("the server did not say how to sign in")?;
    let authority = signin["authority"].as_str().context("no authority")?;
    let client_id = signin["clientId"].as_str().context("no client id")?;
    let scope = signin["scope"].as_str().context("no scope")?;
    let discovery: Value = http
        .get(format!("{authority}/.well-known/openid-configuration"))
        .send()
        .await?
        .json()
        .await?;
    let device_endpoint = discovery["device_authorization_endpoint"]
        .as_str()
        .context("the identity provider has no device-code flow")?;
    let token_endpoint = discovery["token_endpoint"]
        .as_str()
        .context("no token endpoint")?;
    let start: Value = http
        .post(device_endpoint)
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await?
        .json()
        .await?;
    let device = start["device_code"].as_str().with_context(|| {
        format!(
            "the identity provider refused: {}",
            start["error_description"]
        )
    })?;
    eprintln!(
        "{}",
        start["message"]
            .as_str()
            .unwrap_or("Sign in with the code shown.")
    );
    let interval = Duration::from_secs(start["interval"].as_u64().unwrap_or(5).max(1));
    let expires = start["expires_in"].as_u64().unwrap_or(900);
    let deadline = std::time::Instant::now() + Duration::from_secs(expires);
    while std::time::Instant::now() < deadline {
        tokio::time::sleep(interval).await;
        let answer: Value = http
            .post(token_endpoint)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", client_id),
                ("device_code", device),
            ])
            .send()
            .await?
            .json()
            .await?;
        if let Some(token) = answer["access_token"].as_str() {
            printer.note("signed in");
            return Ok(token.to_owned());
        }
        match answer["error"].as_str() {
            Some("authorization_pending" | "slow_down") => {}
            _ => anyhow::bail!(
                "sign-in failed: {}",
                answer["error_description"]
                    .as_str()
                    .unwrap_or("unknown error")
            ),
        }
    }
    anyhow::bail!("the sign-in code expired; run the command again")
}

/// A followed job's exit status, as the inline command's: says the job's final state, prints its
/// result document (for `-o json`) and, when it did not succeed, its error and hint.
fn report_job(job: &Value, id: &str, result: &Value, printer: &Printer) -> ExitStatus {
    let state = job["state"].as_str().unwrap_or("");
    let exit = match state {
        "succeeded" => ExitStatus::Success,
        _ => job["error"]["kind"]
            .as_str()
            .map_or(ExitStatus::Unexpected, status_of_kind),
    };
    printer.note(&format!("job {id} {state}"));
    if !result.is_null() {
        printer.json(result);
    }
    if exit != ExitStatus::Success {
        let e = &job["error"];
        let mut text = format!(
            "error: {}",
            e["message"].as_str().unwrap_or("the job did not succeed")
        );
        if let Some(hint) = e["hint"].as_str() {
            text.push_str(&format!("\nhint: {hint}"));
        }
        eprintln!("{text}");
    }
    exit
}
