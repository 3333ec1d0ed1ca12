//! One job: `GET /jobs/{id}` (state, steps, inputs, result, errors with their fix, who asked and
//! when, the log, a summary to copy into the ticket, cancel when allowed), its live log
//! `GET /jobs/{id}/events` (the API's Server-Sent Events, for the session's operator; resumes
//! after `Last-Event-ID`), and `POST /jobs/{id}/cancel`.
//!
//! Without JavaScript the page shows the log so far and a Refresh button (a link to itself); with
//! it, portal.js appends log lines as they come and reloads the page when the job ends.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde_json::Value;
use time::OffsetDateTime;
use w365_jobs::{Job, JobState};

use super::actions::steps_of;
use super::forms::Posted;
use super::layout::{Page, PageError};
use super::session::PortalSession;
use super::users::Badge;
use crate::access::role_for;
use crate::api::jobs::{self, EventsQuery};
use crate::auth::Role;
use crate::middleware::RequestId;
use crate::state::AppState;

/// A job state in words (with a kind for the colour, which only repeats the words).
pub fn state_badge(state: JobState) -> Badge {
    let (text, kind) = match state {
        JobState::Scheduled => ("scheduled", "info"),
        JobState::Available => ("queued", "info"),
        JobState::Running => ("running", "info"),
        JobState::Retryable => ("waiting to retry", "warn"),
        JobState::Parked => ("waiting (parked)", "warn"),
        JobState::Succeeded => ("succeeded", "ok"),
        JobState::Failed => ("failed", "bad"),
        JobState::Cancelled => ("cancelled", "muted"),
    };
    Badge {
        text: text.to_owned(),
        kind,
    }
}

/// A time as `2026-03-02 09:00:00 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

/// The text an operator pastes into the ticket.
fn ticket_summary(job: &Job, steps: &[super::actions::StepView], portal_url: &str) -> String {
    let mut out = format!(
        "w365 job {id}: {op} on {target} ({tenant}) — {state}\n\
         Requested by {by} ({upn}) at {created}\n",
        id = job.id,
        op = job.operation,
        target = job.target.as_deref().unwrap_or("-"),
        tenant = job.tenant,
        state = state_badge(job.state).text,
        by = job.requested_by.display_name,
        upn = job.requested_by.upn,
        created = when(job.created_at),
    );
    if let Some(done) = job.finished_at {
        out.push_str(&format!("Finished at {}\n", when(done)));
    }
    if !steps.is_empty() {
        out.push_str("Steps:\n");
        for s in steps {
            out.push_str(&format!(
                "- {}{}\n",
                s.text,
                s.outcome
                    .as_deref()
                    .map(|o| format!(": {o}"))
                    .unwrap_or_default()
            ));
        }
    }
    if let Some(error) = &job.error {
        out.push_str(&format!("Error: {}\n", plain(&error["message"])));
        if let Some(fix) = error["hint"].as_str() {
            out.push_str(&format!("Fix: {fix}\n"));
        }
    }
    if let Some(reason) = &job.parked_reason {
        out.push_str(&format!(
            "Waiting: {reason} (next check {})\n",
            when(job.scheduled_at)
        ));
    }
    if !portal_url.is_empty() {
        out.push_str(&format!("Details: {portal_url}/jobs/{}\n", job.id));
    }
    out
}

/// Whether `session` may cancel `job` (the API's rule; the server checks again on the post).
fn may_cancel(session: &PortalSession, job: &Job) -> bool {
    let needed =
        w365_ops::spec::operation(&job.operation).map_or(Role::Admin, |s| role_for(s.role));
    !job.state.is_terminal() && session.has(needed.max(Role::Helpdesk))
}

/// `GET /jobs/{id}`.
pub async fn job_page(
    State(app): State<AppState>,
    session: PortalSession,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let job = app.visible_job(&session.principal, &id).await?;
    let log = app
        .store()
        .log(job.id, 0)
        .await
        .map_err(|e| crate::error::ApiError::internal("Could not read the job log", &e))?;
    let last_seq = log.last().map_or(0, |l| l.seq);
    let log: Vec<Value> = log
        .iter()
        .map(|l| {
            serde_json::json!({
                "seq": l.seq, "at": when(l.at), "level": l.level, "message": l.message,
            })
        })
        .collect();
    let steps = job.result.as_ref().map(steps_of).unwrap_or_default();
    let inputs: Vec<(String, String)> = job
        .input
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
        .unwrap_or_default();
    let origin = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            let scheme = if app.hsts() { "https" } else { "http" };
            format!("{scheme}://{h}")
        })
        .unwrap_or_default();
    let summary = ticket_summary(&job, &steps, &origin);
    let cloud_pc = job
        .result
        .as_ref()
        .and_then(|r| find_key(r, "cloudPc"))
        .filter(|v| v.is_object());
    let rows = job
        .result
        .as_ref()
        .map(|r| bulk_rows(&r["rows"]))
        .unwrap_or_default();
    let error = job.error.as_ref().map(|e| {
        context! {
            message => plain(&e["message"]),
            fix => e["hint"].as_str(),
            kind => e["kind"].as_str(),
            problems => e["problems"],
        }
    });
    Ok(Page::new(&session, format!("Job: {}", job.operation)).render(
        "job.html",
        context! {
            job => context! {
                id => job.id.to_string(),
                operation => job.operation,
                summary => w365_ops::spec::operation(&job.operation).map(|s| s.summary.clone()),
                target => job.target,
                // The user page to go back to: only an operation on a user has one (a Cloud PC
                // action's target is the Cloud PC's id).
                user => job.input.get("user").and_then(|u| u.as_str()),
                tenant => job.tenant,
                state => job.state.as_str(),
                badge => state_badge(job.state),
                terminal => job.state.is_terminal(),
                parked_reason => job.parked_reason,
                next_check => (job.state == JobState::Parked || job.state == JobState::Retryable || job.state == JobState::Scheduled)
                    .then(|| when(job.scheduled_at)),
                attempt => job.attempt,
                max_attempts => job.max_attempts,
                requested_by => job.requested_by.display_name,
                requested_upn => job.requested_by.upn,
                created => when(job.created_at),
                started => job.started_at.map(when),
                finished => job.finished_at.map(when),
                cancel_requested => job.cancel_requested_at.is_some(),
                request_id => job.request_id,
            },
            inputs => inputs,
            steps => steps,
            log => log,
            last_seq => last_seq,
            error => error,
            cloud_pc => cloud_pc,
            rows => rows,
            row_counts => outcome_counts(&rows),
            result => job.result.as_ref().map(|r| serde_json::to_string_pretty(r).unwrap_or_default()),
            summary => summary,
            may_cancel => may_cancel(&session, &job),
        },
    ))
}

/// A bulk job's rows (`rows` of its result document), as the page's table shows them: row number,
/// user, outcome with its badge colour, Cloud PC, and what happened or how to fix it.
fn bulk_rows(rows: &Value) -> Vec<Value> {
    let Some(rows) = rows.as_array() else {
        return Vec::new();
    };
    rows.iter()
        .map(|r| {
            use w365_ops::bulk::Outcome;
            let outcome: Option<Outcome> = serde_json::from_value(r["outcome"].clone()).ok();
            // The words are the CLI's (`Outcome::as_str`); the colour says how it went.
            let text = outcome.map_or("unknown", Outcome::as_str);
            let kind = match outcome {
                Some(Outcome::Assigned | Outcome::Unassigned) => "ok",
                Some(Outcome::AlreadyAssigned | Outcome::NothingToDo) => "muted",
                Some(Outcome::Blocked) => "warn",
                Some(Outcome::Invalid | Outcome::Failed) => "bad",
                Some(Outcome::Assign | Outcome::Unassign) | None => "info",
            };
            let mut detail = plain(&r["detail"]);
            if let Some(column) = r["column"].as_str() {
                detail = format!("{column}: {detail}");
            }
            if let Some(fix) = r["fix"].as_str() {
                detail = format!("{detail} Fix: {fix}");
            }
            serde_json::json!({
                "row": r["row"],
                "user": plain(&r["user"]),
                "outcome": text,
                "kind": kind,
                "cloud_pc": r["cloudPc"].as_str(),
                "detail": detail.trim(),
            })
        })
        .collect()
}

/// How many rows ended each way, in the order they first appear.
fn outcome_counts(rows: &[Value]) -> Vec<(String, usize, String)> {
    let mut counts: Vec<(String, usize, String)> = Vec::new();
    for r in rows {
        let outcome = r["outcome"].as_str().unwrap_or_default();
        match counts.iter_mut().find(|(o, _, _)| o == outcome) {
            Some(c) => c.1 += 1,
            None => counts.push((
                outcome.to_owned(),
                1,
                r["kind"].as_str().unwrap_or("info").to_owned(),
            )),
        }
    }
    counts
}

fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m
            .get(key)
            .filter(|x| !x.is_null())
            .or_else(|| m.values().find_map(|c| find_key(c, key))),
        _ => None,
    }
}

/// `GET /jobs/{id}/events`: the API's event stream for the signed-in operator (same checks).
pub async fn events(
    State(app): State<AppState>,
    session: PortalSession,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, PageError> {
    jobs::events(State(app), session.principal, Path(id), headers, Query(q))
        .await
        .map(IntoResponse::into_response)
        .map_err(PageError::from)
}

/// `POST /jobs/{id}/cancel`.
pub async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let session = posted.session;
    let job = jobs::cancel(
        State(app),
        session.principal,
        RequestId(session.request_id),
        Path(id),
    )
    .await?;
    Ok(Redirect::to(&format!("/jobs/{}", job.0.id)).into_response())
}
