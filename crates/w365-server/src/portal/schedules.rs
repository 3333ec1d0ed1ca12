//! Schedules (Admin only; everyone else gets 403): the recurring jobs of the current tenant,
//! a form to create one (operation, its parameters with the tenant's defaults and choices, cron
//! and time zone checked by the job store's cron module) and deletion after a confirmation.
//! Saving and deleting go through the REST handlers (`POST /api/v1/schedules`,
//! `DELETE /api/v1/schedules/{name}`): the same checks and audit records.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use w365_jobs::cron::CronSchedule;
use w365_ops::spec;

use super::filters::when;
use super::forms::Posted;
use super::layout::{Page, PageError};
use super::session::PortalSession;
use crate::api::schedules::{self as api, NewSchedule};
use crate::auth::Role;
use crate::error::{ApiError, Problem};
use crate::middleware::RequestId;
use crate::state::AppState;

/// Field names of the form that are not operation parameters.
const NAME: &str = "schedule_name";
const CRON: &str = "cron";
const TIME_ZONE: &str = "time_zone";
const OPERATION: &str = "operation";
const ENABLED: &str = "enabled";
/// Operation parameters are posted as `p.<name>`.
const PARAM_PREFIX: &str = "p.";

fn admin_only(session: &PortalSession) -> Result<(), PageError> {
    if session.has(Role::Admin) {
        Ok(())
    } else {
        Err(PageError::forbidden(
            "Schedules need the Admin role.",
            "Ask an administrator to create or change a recurring job.",
        ))
    }
}

/// The declared operation `name`, or a page saying to pick one from the list.
fn operation_named(name: &str) -> Result<&'static spec::OperationSpec, PageError> {
    spec::operation(name).ok_or_else(|| {
        PageError::bad_request(
            format!("There is no operation '{name}'."),
            "Pick an operation in the list.",
        )
    })
}

/// One field of the parameters form, from the operation's JSON Schema with the tenant profile
/// applied (defaults, allowed choices).
#[derive(Debug, Serialize)]
struct Field {
    name: String,
    label: String,
    help: String,
    /// `text`, `number`, `checkbox` or `select`.
    widget: &'static str,
    required: bool,
    value: String,
    checked: bool,
    choices: Vec<String>,
    min: Option<i64>,
    max: Option<i64>,
    error: Option<String>,
}

fn fields(
    op: &spec::OperationSpec,
    app: &AppState,
    tenant: &str,
    posted: &Map<String, Value>,
    problems: &[Problem],
) -> (Vec<Field>, Vec<String>) {
    let profile = app.tenant(tenant).map(|t| &t.profile);
    let schema = spec::json_schema_for(op, profile);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut secret = Vec::new();
    for p in &op.params {
        let s = &schema["properties"][&p.name];
        if s["writeOnly"].as_bool() == Some(true) {
            // A secret is never stored, so a recurring job cannot carry one.
            secret.push(p.name.clone());
            continue;
        }
        let current = posted.get(&p.name).or(s.get("default"));
        let as_text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let choices: Vec<String> = s["enum"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let widget = match s["type"].as_str() {
            Some("boolean") => "checkbox",
            Some("integer") => "number",
            _ if !choices.is_empty() => "select",
            _ => "text",
        };
        let error = problems
            .iter()
            .find(|pr| pr.param == format!("params.{}", p.name))
            .map(|pr| format!("{} — {}", pr.message, pr.fix));
        out.push(Field {
            name: format!("{PARAM_PREFIX}{}", p.name),
            label: p.name.clone(),
            help: p.help.clone(),
            widget,
            required: required.contains(&p.name.as_str()),
            value: as_text(current),
            checked: current.and_then(Value::as_bool).unwrap_or(false),
            choices,
            min: s["minimum"].as_i64(),
            max: s["maximum"].as_i64(),
            error,
        });
    }
    (out, secret)
}

/// The parameters posted for `op` as the API takes them: numbers for integers, text otherwise,
/// empty fields left out (the declared default applies). A checkbox is always explicit, true
/// when ticked and false when not (an unticked box is not posted, and leaving it out would let
/// a tenant default of true switch it back on), as on the user page's action forms.
fn params_of(op: &spec::OperationSpec, posted: &Posted) -> Map<String, Value> {
    let schema = spec::json_schema(op);
    let mut out = Map::new();
    for p in &op.params {
        let field = format!("{PARAM_PREFIX}{}", p.name);
        let kind = schema["properties"][&p.name]["type"]
            .as_str()
            .unwrap_or("string");
        let value = match kind {
            "boolean" => Some(Value::Bool(matches!(
                posted.get(&field),
                Some("true" | "on" | "yes")
            ))),
            "integer" => posted.get(&field).map(|v| {
                v.parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(v))
            }),
            _ => posted.get(&field).map(Value::from),
        };
        if let Some(v) = value {
            out.insert(p.name.clone(), v);
        }
    }
    out
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    operation: String,
    saved: String,
    deleted: String,
}

/// What the create form shows again after a refused post.
#[derive(Debug, Default)]
struct Draft {
    name: String,
    cron: String,
    time_zone: String,
    enabled: bool,
    params: Map<String, Value>,
    problems: Vec<Problem>,
}

async fn render(
    app: &AppState,
    session: &PortalSession,
    operation: &str,
    draft: Draft,
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let tenant = session.current_tenant()?.name.clone();
    let all = api::list(State(app.clone()), session.principal.clone())
        .await?
        .0;
    let rows: Vec<_> = all
        .iter()
        .filter(|s| s.job.tenant == tenant)
        .map(|s| {
            context! {
                name => s.name, cron => s.cron, time_zone => s.time_zone,
                operation => s.job.operation, target => s.job.target,
                enabled => s.enabled, next => when(s.next_fire_at),
                by => s.job.requested_by.upn,
            }
        })
        .collect();
    let operations: Vec<_> = spec::operations()
        .iter()
        .map(|s| context! { name => s.name, summary => s.summary })
        .collect();
    let op = spec::operation(operation);
    let (params, secrets) = op
        .map(|op| fields(op, app, &tenant, &draft.params, &draft.problems))
        .unwrap_or_default();
    let problem = |name: &str| {
        draft
            .problems
            .iter()
            .find(|p| p.param == name)
            .map(|p| format!("{} — {}", p.message, p.fix))
    };
    let other: Vec<String> = draft
        .problems
        .iter()
        .filter(|p| {
            !["name", "cron", "timeZone"].contains(&p.param.as_str())
                && !p.param.starts_with("params.")
        })
        .map(|p| format!("{}: {} — {}", p.param, p.message, p.fix))
        .collect();
    Ok(Page::new(session, "Schedules").status(status).render(
        "schedules.html",
        context! {
            schedules => rows, operations => operations,
            operation => op.map(|o| o.name.clone()), summary => op.map(|o| o.summary.clone()),
            params => params, secrets => secrets,
            draft => context! {
                name => draft.name, cron => draft.cron,
                time_zone => if draft.time_zone.is_empty() { "UTC".to_owned() } else { draft.time_zone },
                enabled => draft.enabled || draft.cron.is_empty(),
            },
            errors => context! { name => problem("name"), cron => problem("cron"), time_zone => problem("timeZone"), other => other },
            notice => notice,
        },
    ))
}

/// `GET /schedules?operation=`: the list and the create form (its parameters once an operation
/// is chosen).
pub async fn list(
    State(app): State<AppState>,
    session: PortalSession,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    admin_only(&session)?;
    let operation = q.operation.trim();
    if !operation.is_empty() {
        operation_named(operation)?;
    }
    let notice = match (q.saved.trim(), q.deleted.trim()) {
        (s, _) if !s.is_empty() => Some(format!("Schedule '{s}' saved.")),
        (_, d) if !d.is_empty() => Some(format!("Schedule '{d}' deleted.")),
        _ => None,
    };
    render(
        &app,
        &session,
        operation,
        Draft::default(),
        notice,
        StatusCode::OK,
    )
    .await
}

/// `POST /schedules`: creates (or replaces) a schedule of the current tenant.
pub async fn create(State(app): State<AppState>, posted: Posted) -> Result<Response, PageError> {
    let session = posted.session.clone();
    admin_only(&session)?;
    let tenant = session.current_tenant()?.name.clone();
    let operation = posted.required(OPERATION)?.to_owned();
    let op = operation_named(&operation)?;
    let mut draft = Draft {
        name: posted.get(NAME).unwrap_or_default().to_owned(),
        cron: posted.get(CRON).unwrap_or_default().to_owned(),
        time_zone: posted.get(TIME_ZONE).unwrap_or("UTC").to_owned(),
        enabled: posted.checked(ENABLED),
        params: params_of(op, &posted),
        problems: Vec::new(),
    };
    let valid_name = !draft.name.is_empty()
        && draft.name.len() <= 100
        && draft
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid_name {
        draft.problems.push(Problem {
            param: "name".into(),
            message: format!("'{}' is not a schedule name", draft.name),
            fix: "use 1 to 100 letters, digits, '-', '_' or '.', e.g. nightly-capacity".into(),
        });
    }
    if let Err(e) = CronSchedule::new(&draft.cron, &draft.time_zone) {
        let (param, fix) = if e.contains("time zone") {
            ("timeZone", "use an IANA name such as UTC or Europe/Paris")
        } else {
            (
                "cron",
                "five fields: minute hour day-of-month month day-of-week, e.g. 0 6 * * 1-5",
            )
        };
        draft.problems.push(Problem {
            param: param.into(),
            message: e,
            fix: fix.into(),
        });
    }
    if !draft.problems.is_empty() {
        return render(
            &app,
            &session,
            &operation,
            draft,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let body = NewSchedule {
        name: draft.name.clone(),
        cron: draft.cron.clone(),
        time_zone: draft.time_zone.clone(),
        operation: operation.clone(),
        tenant,
        params: draft.params.clone(),
        enabled: draft.enabled,
    };
    let saved = api::create(
        State(app.clone()),
        session.principal.clone(),
        RequestId(session.request_id.clone()),
        Ok(Json(body)),
    )
    .await;
    match saved {
        Ok(_) => {
            let name: String =
                url::form_urlencoded::byte_serialize(draft.name.as_bytes()).collect();
            Ok(Redirect::to(&format!("/schedules?saved={name}")).into_response())
        }
        Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            problems,
            ..
        }) => {
            draft.problems = problems;
            render(
                &app,
                &session,
                &operation,
                draft,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /schedules/{name}/delete`: says what deleting stops and asks to confirm.
pub async fn confirm_delete(
    State(app): State<AppState>,
    session: PortalSession,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    admin_only(&session)?;
    let found = api::list(State(app), session.principal.clone())
        .await?
        .0
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            PageError::new(
                StatusCode::NOT_FOUND,
                format!("There is no schedule '{name}'."),
                "Go back to the schedules list.",
            )
        })?;
    Ok(Page::new(&session, "Delete a schedule").render(
        "schedule_delete.html",
        context! {
            name => found.name, cron => found.cron, time_zone => found.time_zone,
            operation => found.job.operation, target => found.job.target, next => when(found.next_fire_at),
        },
    ))
}

/// `POST /schedules/{name}/delete`: deletes it when the confirmation box is ticked.
pub async fn delete(
    State(app): State<AppState>,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let session = &posted.session;
    admin_only(session)?;
    if !posted.checked("confirm") {
        return Err(PageError::bad_request(
            format!("The schedule '{name}' was not deleted: the confirmation was not ticked."),
            "Go back, tick 'Yes, delete this schedule' and press Delete.",
        ));
    }
    api::remove(
        State(app),
        session.principal.clone(),
        RequestId(session.request_id.clone()),
        Path(name.clone()),
    )
    .await?;
    let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    Ok(Redirect::to(&format!("/schedules?deleted={name}")).into_response())
}
