//! Jobs: submit (or dry-run), list, read, cancel, and the live event stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use w365_jobs::{Job, JobFilter, JobId, JobSort, JobState, NewAuditRecord, NewJob, Page};
use w365_ops::spec;

use crate::access::role_for;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, Problem};
use crate::middleware::RequestId;
use crate::state::{AppState, Tenant};

/// `POST /api/v1/jobs` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitJob {
    /// An operation name from GET /api/v1/operations (`assign`, `unassign`, ...).
    pub operation: String,
    /// A tenant name from GET /api/v1/tenants (`sandbox` in the sandbox).
    pub tenant: String,
    /// The operation's parameters (camelCase names, as in the operation's schema).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// Only plan: answer with what would change, change nothing, store no job.
    #[serde(default)]
    pub dry_run: bool,
    /// Not before this time (RFC 3339); null: now.
    #[serde(default)]
    pub run_at: Option<String>,
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn problem(param: &str, message: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem {
        param: param.to_owned(),
        message: message.into(),
        fix: fix.into(),
    }
}

fn to_problems(problems: Vec<spec::Problem>) -> Vec<Problem> {
    problems
        .into_iter()
        .map(|p| Problem {
            param: format!("params.{}", p.param),
            message: p.message,
            fix: p.fix,
        })
        .collect()
}

/// Submits a job (202 and the job), or plans it (`dryRun`: 200 and the plan).
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs",
    request_body = SubmitJob,
    params(("Idempotency-Key" = Option<String>, Header, description = "Returns the existing job for this key instead of a second one")),
    responses(
        (status = 202, description = "The job", body = crate::api::docs::JobDoc),
        (status = 200, description = "Dry run: the plan; or the existing job for the Idempotency-Key", body = Object),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 413, description = "The body is larger than 64 MiB", body = crate::error::ErrorBody),
        (status = 422, description = "Every problem with its fix", body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn submit(
    State(app): State<AppState>,
    who: Principal,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    body: Result<Json<SubmitJob>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "The request body is larger than {} MiB, the most a job submission may be.",
                    crate::api::JOB_SUBMISSION_LIMIT / (1024 * 1024)
                ),
            )
            .with_fix(
                "Split the bulk file into smaller files (100,000 rows fit) and submit one job for each.",
            );
        }
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()).with_fix(
            "Send {\"operation\": \"assign\", \"tenant\": \"...\", \"params\": {...}} as JSON.",
        )
    })?;
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .map(|v| {
            v.to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 200)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "The Idempotency-Key header must be 1 to 200 visible characters.",
                        "Use a UUID per logical request.",
                    )
                })
        })
        .transpose()?;
    Ok(
        match submit_job(&app, &who, &request_id, body, key).await? {
            Submitted::Planned(plan) => (StatusCode::OK, Json(plan)).into_response(),
            Submitted::Existing(job) => (StatusCode::OK, Json(job)).into_response(),
            Submitted::Queued(job) => (StatusCode::ACCEPTED, Json(job)).into_response(),
        },
    )
}

/// What [`submit_job`] did.
#[derive(Debug)]
pub enum Submitted {
    /// A dry run: `{"dryRun": true, "operation", "tenant", "input", "plan"}`.
    Planned(Value),
    /// The live job of the same idempotency key (nothing new was stored).
    Existing(Job),
    /// A new job, queued (and audited).
    Queued(Job),
}

/// Submits (or, with `dry_run`, plans) a job for `who`: the operation, tenant, role, parameter,
/// tenant-scope and protected-user checks of `POST /api/v1/jobs`, shared with the portal's forms.
pub async fn submit_job(
    app: &AppState,
    who: &Principal,
    request_id: &str,
    body: SubmitJob,
    key: Option<String>,
) -> Result<Submitted, ApiError> {
    who.require(Role::Reader, "Using w365")?;
    let mut problems = Vec::new();
    let spec = spec::operation(&body.operation);
    if spec.is_none() {
        let names: Vec<&str> = spec::operations().iter().map(|s| s.name.as_str()).collect();
        problems.push(problem(
            "operation",
            format!("there is no operation '{}'", body.operation),
            format!("use one of: {}", names.join(", ")),
        ));
    }
    let tenant = match app.tenant(&body.tenant) {
        Some(t) => Some(t.clone()),
        None => {
            let names: Vec<&str> = app
                .tenants()
                .filter(|t| app.in_scope(who, &t.name))
                .map(|t| t.name.as_str())
                .collect();
            problems.push(problem(
                "tenant",
                format!("there is no tenant '{}'", body.tenant),
                format!("use one of: {}", names.join(", ")),
            ));
            None
        }
    };
    let run_at = match crate::api::parse_time("runAt", body.run_at.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            problems.push(problem("runAt", e.message, e.fix.unwrap_or_default()));
            None
        }
    };
    let (Some(spec), Some(tenant)) = (spec, tenant) else {
        return Err(ApiError::invalid(problems));
    };
    // Scope and role before anything about the parameters is revealed.
    let tenant = app.tenant_for(who, &tenant.name)?;
    if let Err(refusal) = who.require(role_for(spec.role), &format!("Running '{}'", spec.name)) {
        audit_role_refusal(app, who, &tenant.name, spec, &body.params, request_id).await?;
        return Err(refusal);
    }
    let validated = match spec::validate(spec, &body.params, Some(&tenant.profile)) {
        Ok(v) if problems.is_empty() => v,
        Ok(_) => return Err(ApiError::invalid(problems)),
        Err(found) => {
            problems.extend(to_problems(found));
            return Err(ApiError::invalid(problems));
        }
    };
    let target = validated.target();
    let input = validated.redacted();
    app.check_protected(
        who,
        &tenant,
        &spec.name,
        target.as_deref(),
        &input,
        request_id,
    )
    .await?;
    if body.dry_run {
        let (plan, graph_requests) = dry_run(&tenant, &validated, who).await?;
        return Ok(Submitted::Planned(json!({
            "dryRun": true,
            "operation": spec.name,
            "tenant": tenant.name,
            "input": input,
            "plan": plan,
            "graphRequests": graph_requests,
        })));
    }
    let mut new = NewJob::new(&spec.name, &tenant.name, input.clone(), who.identity());
    new.target = target.clone();
    new.idempotency_key = key;
    new.run_at = run_at;
    new.request_id = Some(request_id.to_owned());
    let (job, inserted) = app
        .store()
        .insert(new)
        .await
        .map_err(|e| ApiError::internal("Could not store the job", &e))?;
    if !inserted {
        return Ok(Submitted::Existing(job));
    }
    app.store()
        .audit_append(NewAuditRecord {
            at: None,
            actor: who.identity(),
            tenant: tenant.name.clone(),
            operation: spec.name.clone(),
            target,
            input,
            outcome: "submitted".to_owned(),
            job_id: Some(job.id),
            request_id: Some(request_id.to_owned()),
        })
        .await
        .map_err(|e| ApiError::internal("Could not write the audit record", &e))?;
    app.metrics().submitted();
    Ok(Submitted::Queued(job))
}

/// Records a submission refused for the operator's role (an audit record, like a refusal on a
/// protected user): the operation, its target as given, and the parameters as given with the
/// declared secrets redacted (they were not validated: the role is checked first).
async fn audit_role_refusal(
    app: &AppState,
    who: &Principal,
    tenant: &str,
    spec: &spec::OperationSpec,
    params: &Map<String, Value>,
    request_id: &str,
) -> Result<(), ApiError> {
    let mut input = params.clone();
    for secret in spec.secret_params() {
        if let Some(v) = input.get_mut(&secret.name) {
            *v = Value::String(spec::REDACTED.into());
        }
    }
    let target = ["user", "cloudPc", "policy"]
        .iter()
        .find_map(|name| params.get(*name).and_then(Value::as_str))
        .map(|t| t.trim().to_owned());
    tracing::warn!(operator = %who.upn, operation = %spec.name, "refused: role");
    app.store()
        .audit_append(NewAuditRecord {
            at: None,
            actor: who.identity(),
            tenant: tenant.to_owned(),
            operation: spec.name.clone(),
            target,
            input: Value::Object(input),
            outcome: "refused".to_owned(),
            job_id: None,
            request_id: Some(request_id.to_owned()),
        })
        .await
        .map(|_| ())
        .map_err(|e| ApiError::internal("Could not write the audit record", &e))
}

/// The plan of an operation, read-only, and the Graph requests it took (counted on a client of
/// its own, on the tenant's connections).
async fn dry_run(
    tenant: &Tenant,
    input: &spec::ValidatedInput,
    who: &Principal,
) -> Result<(Value, u64), ApiError> {
    use w365_ops::execute::Silent;
    let client = &tenant.client.scoped(
        concat!("w365/", env!("CARGO_PKG_VERSION"), " (server) dry run"),
        None,
    );
    let fail = |e: &w365_ops::Error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "plan_failed",
            e.to_string(),
        )
        .with_fix(
            e.hint()
                .unwrap_or_else(|| "Check the parameters and the tenant.".to_owned()),
        )
    };
    let value = |v: Result<Value, serde_json::Error>| {
        v.map_err(|e| ApiError::internal("Could not render the plan", &e))
    };
    let plan = match input.operation.as_str() {
        "assign" => {
            let plan = w365_ops::assign::plan(client, &input.assign_options(&who.upn), &Silent)
                .await
                .map_err(|e| fail(&e))?;
            value(serde_json::to_value(plan))
        }
        "unassign" => {
            let plan = w365_ops::unassign::plan(client, &input.unassign_options(), &Silent)
                .await
                .map_err(|e| fail(&e))?;
            value(serde_json::to_value(plan))
        }
        "reprovision" => {
            let mut opts = input.reprovision_options();
            opts.dry_run = true;
            match w365_ops::reprovision::reprovision(client, &opts, &Silent).await {
                Ok(report) => value(serde_json::to_value(report)),
                Err(f) => Err(fail(&f.error)),
            }
        }
        "resize" => {
            let mut opts = input.resize_options(Some(&tenant.profile));
            opts.dry_run = true;
            match w365_ops::resize::resize(client, &opts, &Silent).await {
                Ok(report) => value(serde_json::to_value(report)),
                Err(f) => Err(fail(&f.error)),
            }
        }
        name if w365_ops::policy::job::operation(name).is_some() => {
            let plan = w365_ops::policy::job::plan(client, input)
                .await
                .map_err(|e| fail(&e))?;
            Ok(w365_ops::policy::job::body(Some(&plan), None, true))
        }
        _ => match input.action_options() {
            Some(opts) => {
                let (pc, plan) = w365_ops::cloud_pc::plan_action(client, &opts)
                    .await
                    .map_err(|e| fail(&e))?;
                Ok(json!({
                    "cloudPc": w365_ops::cloud_pc::cloud_pc_ref(&pc),
                    "plan": plan,
                }))
            }
            None => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_dry_run",
                format!("'{}' has no dry run.", input.operation),
            )
            .with_fix("Submit it without dryRun.")),
        },
    }?;
    Ok((plan, client.stats().requests))
}

/// Filters of `GET /api/v1/jobs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// scheduled, available, running, retryable, parked, succeeded, failed, cancelled
    pub state: Option<String>,
    pub operation: Option<String>,
    pub tenant: Option<String>,
    /// The user (UPN) or Cloud PC the job acts on.
    pub user: Option<String>,
    /// The requester's UPN.
    pub requester: Option<String>,
    /// RFC 3339.
    pub created_after: Option<String>,
    /// RFC 3339.
    pub created_before: Option<String>,
    /// Free text: jobs whose operation, user, requester or id contains it (any case).
    pub search: Option<String>,
    /// created (default), operation, user, state, requester
    pub sort: Option<String>,
    /// asc or desc (default: created newest first, the other columns A to Z)
    pub order: Option<String>,
    /// 1..=500 (default 50).
    pub limit: Option<u32>,
    /// Jobs to skip: pages of an order other than newest first (not with cursor).
    pub offset: Option<u32>,
    /// nextCursor of the previous page (newest-first order only).
    pub cursor: Option<String>,
}

fn parse_sort(value: &str) -> Result<JobSort, ApiError> {
    match value {
        "created" => Ok(JobSort::Created),
        "operation" => Ok(JobSort::Operation),
        "user" => Ok(JobSort::Target),
        "state" => Ok(JobSort::State),
        "requester" => Ok(JobSort::Requester),
        _ => Err(ApiError::bad_request(
            format!("'{value}' is not a sort column."),
            "Use one of: created, operation, user, state, requester.",
        )),
    }
}

fn parse_order(value: &str) -> Result<bool, ApiError> {
    match value {
        "asc" => Ok(false),
        "desc" => Ok(true),
        _ => Err(ApiError::bad_request(
            format!("'{value}' is not an order."),
            "Use asc or desc.",
        )),
    }
}

fn parse_state(value: &str) -> Result<JobState, ApiError> {
    serde_json::from_value(Value::from(value)).map_err(|_| {
        ApiError::bad_request(
            format!("'{value}' is not a job state."),
            "Use one of: scheduled, available, running, retryable, parked, succeeded, failed, cancelled.",
        )
    })
}

/// Lists jobs, newest first unless sorted otherwise, searched and paged; only tenants in the
/// caller's scope.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, body = crate::api::docs::JobPageDoc), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn list(
    State(app): State<AppState>,
    who: Principal,
    query: Result<Query<JobQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<Job>>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(
            e.body_text(),
            "See GET /api/v1/openapi.json for the filters.",
        )
    })?;
    let filter = scoped_filter(&app, &who, q)?;
    app.store()
        .list(&filter)
        .await
        .map(Json)
        .map_err(list_error)
}

/// The store error of a job list as the caller's mistake (a bad cursor) or the server's.
pub(crate) fn list_error(e: w365_jobs::Error) -> ApiError {
    match e {
        w365_jobs::Error::Invalid(m) => ApiError::bad_request(
            m,
            "Use the nextCursor of the previous page, unchanged, or offset for other orders.",
        ),
        e => ApiError::internal("Could not list jobs", &e),
    }
}

/// The store filter of a job list query, checked against the caller's role and tenant scope:
/// a scoped operator lists only their tenants (the one they have when they name none).
pub(crate) fn scoped_filter(
    app: &AppState,
    who: &Principal,
    q: JobQuery,
) -> Result<JobFilter, ApiError> {
    who.require(Role::Reader, "Reading jobs")?;
    let scope = app
        .scopes()
        .of(&who.upn, &who.object_id)
        .map(<[String]>::to_vec);
    if let (Some(t), Some(scope)) = (&q.tenant, &scope)
        && !scope.contains(t)
    {
        return Err(ApiError::forbidden(
            format!("The tenant '{t}' is outside your tenant scope."),
            "Ask an administrator to add it to your tenant scope.",
        ));
    }
    if q.cursor.is_some() && q.offset.is_some() {
        return Err(ApiError::bad_request(
            "A list pages by cursor or by offset, not both.",
            "Drop offset to follow nextCursor, or drop cursor.",
        ));
    }
    let mut filter = JobFilter {
        state: q.state.as_deref().map(parse_state).transpose()?,
        operation: q.operation,
        tenant: q.tenant.clone(),
        target: q.user,
        requested_by: q.requester,
        created_after: crate::api::parse_time("createdAfter", q.created_after.as_deref())?,
        created_before: crate::api::parse_time("createdBefore", q.created_before.as_deref())?,
        search: q.search.filter(|s| !s.trim().is_empty()),
        sort: q
            .sort
            .as_deref()
            .map(parse_sort)
            .transpose()?
            .unwrap_or_default(),
        descending: q.order.as_deref().map(parse_order).transpose()?,
        limit: crate::api::page_size(q.limit)?,
        offset: q.offset,
        cursor: q.cursor,
    };
    match (&q.tenant, scope) {
        // A scoped operator without a tenant filter: one query per allowed tenant is not
        // pageable together, so the filter is required.
        (None, Some(scope)) if scope.len() == 1 => {
            filter.tenant = scope.first().cloned();
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "Your tenant scope has several tenants: name one with ?tenant=.",
                "Add ?tenant=<name> to the request.",
            ));
        }
        _ => {}
    }
    Ok(filter)
}

/// One job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = crate::api::docs::JobDoc), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn get_job(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(app.visible_job(&who, &id).await?))
}

/// Cancels a job: at once when queued or parked; a running job stops at its next step boundary.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = crate::api::docs::JobDoc), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn cancel(
    State(app): State<AppState>,
    who: Principal,
    RequestId(request_id): RequestId,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let job = app.visible_job(&who, &id).await?;
    let needed = spec::operation(&job.operation).map_or(Role::Admin, |s| role_for(s.role));
    who.require(needed.max(Role::Helpdesk), "Cancelling this job")?;
    if job.state.is_terminal() {
        return Err(ApiError::conflict(
            format!(
                "The job {} has already finished ({}).",
                job.id,
                job.state.as_str()
            ),
            "Nothing to cancel.",
        ));
    }
    if let Some(tenant) = app.tenant(&job.tenant) {
        app.check_protected(
            &who,
            tenant,
            &job.operation,
            job.target.as_deref(),
            &job.input,
            &request_id,
        )
        .await?;
    }
    let cancelled = app
        .store()
        .cancel(job.id)
        .await
        .map_err(|e| ApiError::internal("Could not cancel the job", &e))?;
    app.store()
        .audit_append(NewAuditRecord {
            at: None,
            actor: who.identity(),
            tenant: job.tenant.clone(),
            operation: job.operation.clone(),
            target: job.target.clone(),
            input: json!({"cancel": job.id.to_string()}),
            outcome: "cancel_requested".to_owned(),
            job_id: Some(job.id),
            request_id: Some(request_id),
        })
        .await
        .map_err(|e| ApiError::internal("Could not write the audit record", &e))?;
    Ok(Json(cancelled))
}

/// Where an event stream resumes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this log sequence number (like the Last-Event-ID header).
    pub after: Option<i64>,
}

struct Tail {
    app: AppState,
    id: JobId,
    after: i64,
    last_state: Option<JobState>,
    events: tokio::sync::broadcast::Receiver<w365_jobs::JobEvent>,
    pending: std::collections::VecDeque<Event>,
    done: bool,
}

/// How long a stream waits for an in-process event before looking again (other processes'
/// workers write to the same database without telling this one).
const POLL: Duration = Duration::from_millis(500);

impl Tail {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((Ok(event), self));
            }
            if self.done {
                return None;
            }
            let store = self.app.store().clone();
            let lines = match store.log(self.id, self.after).await {
                Ok(lines) => lines,
                Err(e) => {
                    tracing::error!(error = %e, "reading the job log failed");
                    self.done = true;
                    self.pending.push_back(
                        Event::default()
                            .event("error")
                            .data("the job log could not be read"),
                    );
                    continue;
                }
            };
            for line in lines {
                self.after = line.seq;
                let data = serde_json::to_string(&line).unwrap_or_default();
                self.pending.push_back(
                    Event::default()
                        .id(line.seq.to_string())
                        .event("log")
                        .data(data),
                );
            }
            let job = match store.get(self.id).await {
                Ok(Some(job)) => job,
                _ => {
                    self.done = true;
                    continue;
                }
            };
            if self.last_state != Some(job.state) {
                self.last_state = Some(job.state);
                let data = json!({"state": job.state, "parkedReason": job.parked_reason, "attempt": job.attempt});
                self.pending.push_back(
                    Event::default()
                        .id(self.after.to_string())
                        .event("state")
                        .data(data.to_string()),
                );
            }
            if job.state.is_terminal() {
                // Lines written just before the final state change are in the log already.
                let rest = store.log(self.id, self.after).await.unwrap_or_default();
                for line in rest {
                    self.after = line.seq;
                    let data = serde_json::to_string(&line).unwrap_or_default();
                    self.pending.push_back(
                        Event::default()
                            .id(line.seq.to_string())
                            .event("log")
                            .data(data),
                    );
                }
                let data = serde_json::to_string(&job).unwrap_or_default();
                self.pending.push_back(
                    Event::default()
                        .id(self.after.to_string())
                        .event("end")
                        .data(data),
                );
                self.done = true;
                continue;
            }
            if !self.pending.is_empty() {
                continue;
            }
            // Wait for this job's next event, or look again after POLL.
            let deadline = tokio::time::sleep(POLL);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = &mut deadline => break,
                    event = self.events.recv() => match event {
                        Ok(w365_jobs::JobEvent::Log { job, .. } | w365_jobs::JobEvent::State { job, .. }) if job == self.id => break,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                            deadline.as_mut().await;
                            break;
                        }
                    },
                }
            }
        }
    }
}

/// Server-Sent Events of a job: `log` events (id = the line's sequence number), `state` events,
/// and a final `end` event carrying the finished job. Resumes after `Last-Event-ID` (or `?after=`).
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path), ("Last-Event-ID" = Option<String>, Header), EventsQuery),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("entra" = [])))]
pub async fn events(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let job = app.visible_job(&who, &id).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(q.after)
        .unwrap_or(0)
        .max(0);
    let tail = Tail {
        events: app.store().subscribe(),
        app,
        id: job.id,
        after,
        last_state: None,
        pending: Default::default(),
        done: false,
    };
    let stream = futures::stream::unfold(tail, Tail::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
