//! `/deviceManagement/virtualEndpoint/bulkActions` (beta only) and the per-device action status
//! report `POST reports/getActionStatusReports` (beta only). The model, its lifecycle and its
//! LIMITATIONS: [`crate::state::windows365::bulk_actions`].
//!
//! Graph:
//! - `POST bulkActions` -> 201, application permission `CloudPC.ReadWrite.All`:
//!   <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-post-bulkactions?view=graph-rest-beta>;
//! - `GET bulkActions`, `GET bulkActions/{id}`, `CloudPC.Read.All`:
//!   <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-bulkactions?view=graph-rest-beta>,
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpcbulkaction-get?view=graph-rest-beta>;
//! - `POST reports/getActionStatusReports` `{filter, select, skip, top}` -> a Schema/Values stream,
//!   `CloudPC.Read.All`, at most 100 rows a page (default 25):
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpcreports-getactionstatusreports?view=graph-rest-beta>.
//!
//! LIMITATIONS: the report's `filter` takes `and`-ed `eq` clauses on `BulkActionId`, `CloudPcId`,
//! `ActionState` and `Action` (quoted strings); `search`, `groupBy` and `orderBy` are refused with
//! 400 (rows come in bulk action order, then in the order of `cloudPcIds`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::{BASE, CLOUD_PC_READ, CLOUD_PC_WRITE, api_error};
use crate::http::collection::{self, CollectionSpec};
use crate::http::routes::reports::{ReportInput, and_clauses, stream};
use crate::http::{ApiError, ApiVersion, AppState, Auth, GraphJson, GraphQuery, RequestContext};
use crate::state::windows365::bulk_actions::{self, REPORT_COLUMNS};

const BULK_ACTIONS: CollectionSpec<'static> = CollectionSpec::plain(
    "deviceManagement/virtualEndpoint/bulkActions",
    "microsoft.graph.cloudPcBulkAction",
);

/// Rows of the report without `top` (Graph: "the default limit is 25, with a maximum of 100").
const REPORT_DEFAULT_TOP: usize = 25;
const REPORT_MAX_TOP: usize = 100;

/// The routes, relative to the version.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/bulkActions"), get(list).post(create))
        .route(&format!("{BASE}/bulkActions/{{id}}"), get(get_one))
        .route(
            &format!("{BASE}/reports/getActionStatusReports"),
            post(action_status_report),
        )
}

async fn list(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
) -> Result<Json<Value>, ApiError> {
    version.require_beta("bulkActions")?;
    auth.require_any(CLOUD_PC_READ)?;
    let items = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(t.w365
            .bulk_actions()
            .iter()
            .map(bulk_actions::render)
            .collect())
    })?;
    collection::collection(&ctx, &query, &BULK_ACTIONS, items)
}

async fn get_one(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    version.require_beta("bulkActions")?;
    auth.require_any(CLOUD_PC_READ)?;
    let item = app.with_tenant(auth.tenant_id(), |t, _| {
        t.w365
            .bulk_action(&id)
            .map(bulk_actions::render)
            .map_err(api_error)
    })?;
    collection::entity(&ctx, &query, &BULK_ACTIONS, &item)
}

async fn create(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    ctx: RequestContext,
    query: GraphQuery,
    GraphJson(body): GraphJson<Value>,
) -> Result<impl IntoResponse, ApiError> {
    version.require_beta("bulkActions")?;
    auth.require_any(CLOUD_PC_WRITE)?;
    let app_id = auth.app_id().to_owned();
    let item = app.with_tenant(auth.tenant_id(), |t, now| {
        // App-only callers have no principal name: the app's name stands for the initiator.
        let initiator = t.apps.get(&app_id).map(|a| a.display_name.clone());
        t.w365
            .create_bulk_action(body, initiator, now)
            .map(bulk_actions::render)
            .map_err(api_error)
    })?;
    Ok((
        StatusCode::CREATED,
        collection::entity(&ctx, &query, &BULK_ACTIONS, &item)?,
    ))
}

/// `Column eq 'value' [and ...]` -> `(column, value)` pairs.
fn equalities(text: &str) -> Result<Vec<(&'static str, String)>, ApiError> {
    let mut out = Vec::new();
    for (column, op, value) in and_clauses(text)? {
        let column = ["BulkActionId", "CloudPcId", "ActionState", "Action"]
            .into_iter()
            .find(|c| c.eq_ignore_ascii_case(column))
            .ok_or_else(|| {
                bad(format!(
                    "The simulator cannot filter this report on '{column}'."
                ))
            })?;
        if !op.eq_ignore_ascii_case("eq") {
            return Err(bad(format!("'{column}' takes eq only.")));
        }
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .ok_or_else(|| bad(format!("'{column}' takes a quoted string.")))?;
        out.push((column, value.replace("''", "'")));
    }
    Ok(out)
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("BadRequest", message)
}

fn matches(row: &Map<String, Value>, conditions: &[(&'static str, String)]) -> bool {
    conditions.iter().all(|(column, value)| {
        row.get(*column)
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    })
}

async fn action_status_report(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    GraphJson(body): GraphJson<Value>,
) -> Result<Response, ApiError> {
    version.require_beta("getActionStatusReports")?;
    auth.require_any(CLOUD_PC_READ)?;
    let input = ReportInput::parse(body)?;
    let conditions = equalities(input.filter.as_deref().unwrap_or_default())?;
    let select: Vec<(&str, &str)> = match &input.select {
        None => REPORT_COLUMNS.to_vec(),
        Some(list) => list
            .iter()
            .map(|want| {
                REPORT_COLUMNS
                    .iter()
                    .find(|(c, _)| c.eq_ignore_ascii_case(want))
                    .copied()
                    .ok_or_else(|| bad(format!("Unknown column '{want}'.")))
            })
            .collect::<Result<_, _>>()?,
    };
    let (skip, top) = input.window(REPORT_DEFAULT_TOP, REPORT_MAX_TOP)?;
    let rows = app.with_tenant(auth.tenant_id(), |t, _| {
        Ok(bulk_actions::report_rows(t.w365.bulk_actions()))
    })?;
    let rows: Vec<&Map<String, Value>> = rows.iter().filter(|r| matches(r, &conditions)).collect();
    let values: Vec<Value> = rows
        .iter()
        .skip(skip)
        .take(top)
        .map(|r| {
            Value::Array(
                select
                    .iter()
                    .map(|(c, _)| r.get(*c).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        })
        .collect();
    let schema: Vec<Value> = select
        .iter()
        .map(|(c, kind)| json!({"Column": c, "PropertyType": kind}))
        .collect();
    let body = json!({"TotalRowCount": rows.len(), "Schema": schema, "Values": values});
    Ok(stream(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_filter_takes_anded_equalities() {
        let c = equalities("BulkActionId eq 'a-1' and ActionState eq 'failed'").unwrap();
        assert_eq!(
            c,
            vec![
                ("BulkActionId", "a-1".to_owned()),
                ("ActionState", "failed".to_owned())
            ]
        );
        assert!(equalities("BulkActionId eq 'a' or CloudPcId eq 'b'").is_err());
        assert!(equalities("RequestDateTime gt '2020'").is_err());
        assert!(equalities("CloudPcId gt 'x'").is_err());
    }
}
