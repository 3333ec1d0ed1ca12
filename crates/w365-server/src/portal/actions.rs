//! Operation forms, generated from the operations' declarations ([`w365_ops::spec`]) with the
//! tenant's defaults and allowed choices, and the Check → Run flow:
//!
//! - the form posts to `/users/{user}/actions/{op}`: a dry run ("Check") that shows the plan, the
//!   capacity left and warnings, with the same values ready to run;
//! - "Run" posts to `/users/{user}/actions/{op}/run` with an idempotency key (a double click makes
//!   one job) and, for a destructive operation, the explicit confirmation; then the job page.
//!
//! Both go through [`crate::api::jobs::submit_job`]: role, tenant scope, protected users (403 and
//! an audit record) and parameter validation are the API's, on the server.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Serialize;
use serde_json::{Map, Value};
use w365_ops::spec::{self, OperationSpec, ParamKind, ParamSpec};

use super::forms::Posted;
use super::layout::{Page, PageError};
use super::session::{PortalSession, random_token};
use crate::access::role_for;
use crate::api::jobs::{SubmitJob, Submitted, submit_job};
use crate::error::ApiError;
use crate::state::{AppState, Tenant};

/// What a destructive operation takes away, in words (shown next to its confirmation).
pub fn what_is_lost(op: &str) -> Option<&'static str> {
    Some(match op {
        "unassign" => {
            "The user loses this Windows 365 licence. Unless “Keep grace period” is ticked, the Cloud PC \
             is deleted at once with everything on it (files, installed apps, settings); with it, the \
             Cloud PC is deleted when its grace period ends."
        }
        "reprovision" => {
            "The Cloud PC is wiped and created again: everything on it (files, installed apps, \
             settings) is lost, and the user is signed out."
        }
        "resize" => {
            "The Cloud PC restarts with the new size: the user is signed out and unsaved work is lost."
        }
        "cloudpc.reboot" => "The user's session ends: unsaved work is lost.",
        "cloudpc.power-off" => "The user's session ends: unsaved work is lost.",
        "cloudpc.restore" => {
            "Everything changed on the Cloud PC since the snapshot (files, apps, settings) is lost, and \
             the user is signed out."
        }
        "cloudpc.end-grace-period" => {
            "The Cloud PC is deprovisioned and deleted now, with everything on it. This cannot be undone."
        }
        _ => return None,
    })
}

/// One field of a generated form.
#[derive(Debug, Clone, Serialize)]
pub struct FieldView {
    pub name: String,
    pub label: String,
    /// `text`, `email`, `number`, `checkbox`, `select`, `textarea`, `password`.
    pub widget: &'static str,
    pub value: String,
    pub checked: bool,
    pub options: Vec<String>,
    pub required: bool,
    pub help: String,
    pub max_length: Option<usize>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// The problem with the value sent, if any (shown beside the field).
    pub problem: Option<String>,
}

/// A generated form of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    pub op: String,
    pub summary: String,
    pub destructive: bool,
    pub lost: Option<&'static str>,
    /// Where the form posts (the Check).
    pub action: String,
    /// Values the page fixes (the user, the Cloud PC): hidden fields.
    pub fixed: Vec<(String, String)>,
    pub fields: Vec<FieldView>,
    /// An id unique on the page (several Cloud PCs each have their forms).
    pub dom_id: String,
}

/// `provisioning-group` → `Provisioning group`.
fn label(p: &ParamSpec) -> String {
    let words = p.flag.replace('-', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => p.name.clone(),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The form of `spec` for `tenant`: defaults (the tenant's, else the declared ones), allowed
/// choices as selects, `fixed` values as hidden fields, `sent` values (a form coming back) kept.
pub fn form(
    spec: &OperationSpec,
    tenant: &Tenant,
    user: &str,
    fixed: &[(&str, &str)],
    sent: Option<&Map<String, Value>>,
    extra_choices: &[(&str, Vec<String>)],
) -> ActionView {
    let schema = spec::json_schema_for(spec, Some(&tenant.profile));
    let fields = spec
        .params
        .iter()
        .filter(|p| !fixed.iter().any(|(n, _)| *n == p.name))
        .map(|p| {
            let s = &schema["properties"][&p.name];
            let default = s.get("default").cloned().unwrap_or(Value::Null);
            let value = sent.and_then(|m| m.get(&p.name)).unwrap_or(&default);
            let mut options: Vec<String> = s["enum"]
                .as_array()
                .map(|a| a.iter().map(text_of).collect())
                .unwrap_or_default();
            if let Some((_, choices)) = extra_choices.iter().find(|(n, _)| *n == p.name) {
                options = choices.clone();
            }
            let (widget, min, max) = match &p.kind {
                ParamKind::Bool => ("checkbox", None, None),
                ParamKind::Int { min, max } => ("number", Some(*min), Some(*max)),
                ParamKind::Choice { choices } => {
                    options = choices.clone();
                    ("select", None, None)
                }
                ParamKind::Email | ParamKind::User => ("email", None, None),
                ParamKind::Secret => ("password", None, None),
                ParamKind::Text if p.max_length.is_some_and(|m| m > 200) => {
                    ("textarea", None, None)
                }
                _ if !options.is_empty() => ("select", None, None),
                _ => ("text", None, None),
            };
            FieldView {
                name: p.name.clone(),
                label: label(p),
                widget,
                value: if p.kind == ParamKind::Secret {
                    String::new()
                } else {
                    text_of(value)
                },
                checked: value.as_bool().unwrap_or(false),
                options,
                required: p.required,
                help: p.help.clone(),
                max_length: p.max_length,
                min,
                max,
                problem: None,
            }
        })
        .collect();
    let dom_id = format!(
        "{}-{}",
        spec.name.replace('.', "-"),
        fixed
            .iter()
            .find(|(n, _)| *n == "cloudPc")
            .map_or("user", |(_, v)| v)
    );
    ActionView {
        op: spec.name.clone(),
        summary: spec.summary.clone(),
        destructive: spec.destructive,
        lost: if spec.destructive {
            what_is_lost(&spec.name)
        } else {
            None
        },
        action: format!("/users/{}/actions/{}", urlencode(user), spec.name),
        fixed: fixed
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        fields,
        dom_id,
    }
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The operation's parameters from a posted form: checkboxes as booleans, numbers as numbers,
/// empty fields left out (the defaults apply), the user fixed by the page.
fn params_from(spec: &OperationSpec, posted: &Posted, user: &str) -> Map<String, Value> {
    let mut params = Map::new();
    for p in &spec.params {
        if p.name == "user" {
            params.insert("user".into(), Value::from(user));
            continue;
        }
        let value = match &p.kind {
            // A ticked checkbox sends "true"; the Run form repeats the value ("true"/"false").
            ParamKind::Bool => Some(Value::Bool(matches!(
                posted.get(&p.name),
                Some("true" | "on" | "yes")
            ))),
            ParamKind::Int { .. } => posted.get(&p.name).map(|v| {
                v.parse::<i64>()
                    .map_or_else(|_| Value::from(v), Value::from)
            }),
            _ => posted.get(&p.name).map(Value::from),
        };
        if let Some(v) = value {
            params.insert(p.name.clone(), v);
        }
    }
    params
}

fn operation(op: &str) -> Result<&'static OperationSpec, PageError> {
    spec::operation(op).ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            format!("There is no operation '{op}'."),
            "Pick an action on the user's page.",
        )
    })
}

/// A step of a plan or of a job, in words, with its outcome when it ran.
#[derive(Debug, Serialize)]
pub struct StepView {
    pub text: String,
    pub outcome: Option<String>,
    pub detail: Option<String>,
    pub kind: &'static str,
}

/// The steps in `value`, as words: a job's report lists the steps that ran under `steps` (with
/// their outcomes); a plan is an array of steps under `plan`. Both nest; `steps` wins.
pub fn steps_of(value: &Value) -> Vec<StepView> {
    fn walk(v: &Value, key: &str, out: &mut Vec<StepView>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if k == key
                        && let Some(items) = child.as_array()
                    {
                        out.extend(items.iter().map(step_view));
                    } else {
                        walk(child, key, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, key, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, "steps", &mut out);
    if out.is_empty() {
        walk(value, "plan", &mut out);
    }
    out
}

fn step_view(v: &Value) -> StepView {
    let (step, outcome) = match v.get("step") {
        Some(step) => (step, v.get("outcome").and_then(Value::as_str)),
        None => (v, None),
    };
    let text = serde_json::from_value::<w365_ops::plan::Step>(step.clone())
        .map_or_else(|_| step.to_string(), |s| s.to_string());
    let detail = ["detail", "reason", "error"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::to_owned);
    let kind = match outcome {
        Some("done") => "ok",
        Some("alreadyDone") => "muted",
        Some("skipped") => "muted",
        Some("timedOut") => "warn",
        Some("failed") => "bad",
        _ => "info",
    };
    let outcome = outcome.map(|o| match o {
        "alreadyDone" => "already done".to_owned(),
        "timedOut" => "timed out".to_owned(),
        other => other.to_owned(),
    });
    StepView {
        text,
        outcome,
        detail,
        kind,
    }
}

/// Warnings a helpdesk operator must see before running.
fn warnings(op: &str, plan: &Value, existing_pcs: usize) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(cap) = plan.get("capacity").filter(|c| c.is_object()) {
        let name = cap["name"].as_str().unwrap_or("the licence");
        match cap["available"].as_i64() {
            Some(n) if n <= 0 => out.push(format!("No free licence of {name} is left.")),
            Some(1) => out.push(format!("This takes the last free licence of {name}.")),
            _ => {}
        }
    }
    if let Some(blocked) = plan.get("blocked").filter(|b| b.is_object()) {
        out.push(format!(
            "Blocked: {}",
            blocked["detail"]
                .as_str()
                .unwrap_or("no licence or seat is free")
        ));
    }
    if op == "assign" && existing_pcs > 0 {
        out.push(format!(
            "The user already has {existing_pcs} Cloud PC{}.",
            if existing_pcs == 1 { "" } else { "s" }
        ));
    }
    out
}

/// What the check page shows of the capacity.
fn capacity_line(plan: &Value) -> Option<String> {
    let cap = plan.get("capacity").filter(|c| c.is_object())?;
    Some(format!(
        "{}: {} of {} in use, {} free",
        cap["name"].as_str().unwrap_or("licence"),
        cap["used"],
        cap["total"],
        cap["available"]
    ))
}

/// The snapshots of each Cloud PC, for the restore form's select.
async fn snapshot_choices(tenant: &Tenant, cloud_pc: &str) -> Vec<String> {
    let Ok(pc) = w365_ops::cloud_pc::resolve_one(&tenant.client, cloud_pc).await else {
        return Vec::new();
    };
    w365_ops::snapshots::snapshots_of(&tenant.client, &pc)
        .await
        .map(|list| list.into_iter().map(|s| s.id).collect())
        .unwrap_or_default()
}

/// The form of `op` for the user (and Cloud PC), as the page that shows it.
pub async fn action_form(
    tenant: &Tenant,
    op: &'static OperationSpec,
    user: &str,
    cloud_pc: Option<&str>,
    sent: Option<&Map<String, Value>>,
) -> ActionView {
    let mut fixed: Vec<(&str, &str)> = Vec::new();
    if op.param("user").is_some() {
        fixed.push(("user", user));
    }
    if let Some(pc) = cloud_pc.filter(|_| op.param("cloudPc").is_some()) {
        fixed.push(("cloudPc", pc));
    }
    let mut extra = Vec::new();
    if op.name == "cloudpc.restore"
        && let Some(pc) = cloud_pc
    {
        extra.push(("snapshot", snapshot_choices(tenant, pc).await));
    }
    form(op, tenant, user, &fixed, sent, &extra)
}

fn mark_problems(view: &mut ActionView, problems: &[crate::error::Problem]) {
    for p in problems {
        let name = p.param.strip_prefix("params.").unwrap_or(&p.param);
        if let Some(f) = view.fields.iter_mut().find(|f| f.name == name) {
            f.problem = Some(format!("{} — {}", p.message, p.fix));
        }
    }
}

/// Submits the form's operation through the API's checks: a dry run (Check) or a job (Run).
async fn submit_form(
    app: &AppState,
    session: &PortalSession,
    tenant: &Tenant,
    spec: &OperationSpec,
    params: &Map<String, Value>,
    dry_run: bool,
    key: Option<String>,
) -> Result<Submitted, ApiError> {
    let body = SubmitJob {
        operation: spec.name.clone(),
        tenant: tenant.name.clone(),
        params: params.clone(),
        dry_run,
        run_at: None,
    };
    submit_job(app, &session.principal, &session.request_id, body, key).await
}

/// `POST /users/{user}/actions/{op}`: Check (the dry run) and the Run form.
pub async fn check(
    State(app): State<AppState>,
    Path((user, op)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    let session = &posted.session;
    let spec = operation(&op)?;
    let tenant = session.current_tenant()?.clone();
    let params = params_from(spec, &posted, &user);
    let cloud_pc = params
        .get("cloudPc")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let result = submit_form(&app, session, &tenant, spec, &params, true, None).await;
    let mut view = action_form(&tenant, spec, &user, cloud_pc.as_deref(), Some(&params)).await;
    let (plan, problems, status) = match result {
        Ok(Submitted::Planned(plan)) => (Some(plan), Vec::new(), StatusCode::OK),
        Ok(_) => {
            return Err(PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The check queued a job instead of planning one.",
                "Report this with the request id.",
            ));
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            mark_problems(&mut view, &e.problems);
            let mut problems = e.problems.clone();
            if problems.is_empty() {
                problems.push(crate::error::Problem {
                    param: String::new(),
                    message: e.message.clone(),
                    fix: e.fix.clone().unwrap_or_default(),
                });
            }
            (None, problems, e.status)
        }
        Err(e) => return Err(e.into()),
    };
    let existing = if spec.name == "assign" && plan.is_some() {
        w365_ops::cloud_pc::show(&tenant.client, &user)
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    } else {
        0
    };
    let (steps, warnings, capacity) = match &plan {
        Some(p) => (
            steps_of(&p["plan"]),
            warnings(&spec.name, &p["plan"], existing),
            capacity_line(&p["plan"]),
        ),
        None => (Vec::new(), Vec::new(), None),
    };
    let writes = plan.is_some() && !steps.is_empty();
    let run_fields: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "user")
        .map(|(k, v)| (k.clone(), text_of(v)))
        .collect();
    Ok(Page::new(session, format!("Check: {}", spec.summary))
        .status(status)
        .render(
            "action.html",
            context! {
                user => user,
                form => view,
                checked => plan.is_some(),
                steps => steps,
                nothing_to_do => plan.is_some() && !writes,
                warnings => warnings,
                capacity => capacity,
                problems => problems,
                run_action => format!("/users/{}/actions/{}/run", urlencode(&user), spec.name),
                run_fields => run_fields,
                idempotency_key => random_token(),
            },
        ))
}

/// `GET /users/{user}/actions/{op}?cloudPc=`: the form alone (a link target, works without JS).
pub async fn show_form(
    session: PortalSession,
    Path((user, op)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    let spec = operation(&op)?;
    let tenant = session.current_tenant()?.clone();
    session
        .principal
        .require(role_for(spec.role), &format!("Running '{}'", spec.name))?;
    let view = action_form(
        &tenant,
        spec,
        &user,
        q.get("cloudPc").map(String::as_str),
        None,
    )
    .await;
    Ok(Page::new(&session, spec.summary.clone()).render(
        "action.html",
        context! { user => user, form => view, checked => false },
    ))
}

/// `POST /users/{user}/actions/{op}/run`: queues the job (after the explicit confirmation of a
/// destructive operation) and shows it.
pub async fn run(
    State(app): State<AppState>,
    Path((user, op)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, PageError> {
    let session = &posted.session;
    let spec = operation(&op)?;
    let tenant = session.current_tenant()?.clone();
    if spec.destructive && posted.get("confirm") != Some("yes") {
        return Err(PageError::bad_request(
            format!(
                "'{}' was not run: it is destructive and the confirmation was not ticked.",
                spec.name
            ),
            "Go back, read what will be lost, tick the confirmation and press Run again.",
        ));
    }
    let params = params_from(spec, &posted, &user);
    let key = posted
        .get("idempotencyKey")
        .map(|k| format!("portal:{}:{k}", session.principal.object_id));
    let submitted = submit_form(&app, session, &tenant, spec, &params, false, key).await?;
    let job = match submitted {
        Submitted::Queued(job) | Submitted::Existing(job) => job,
        Submitted::Planned(_) => {
            return Err(PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Run planned instead of queueing a job.",
                "Report this with the request id.",
            ));
        }
    };
    Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response())
}
