//! Cloud PC reports (beta only): `POST reports/getRemoteConnectionHistoricalReports`.
//! <https://learn.microsoft.com/en-us/graph/api/cloudpcreports-getremoteconnectionhistoricalreports?view=graph-rest-beta>
//! (application permission `CloudPC.Read.All`). Body `{filter, select, search, groupBy, orderBy,
//! skip, top}`; the `CloudPcId eq '…'` filter is required. The answer is a stream
//! (`application/octet-stream`) holding `{TotalRowCount, Schema:[{Column, PropertyType}],
//! Values:[[…]]}`; times are written without an offset (UTC), as in the documentation's example.
//! The sessions come from [`crate::state::windows365::connections`].
//!
//! Every answer carries an HTTP `Date` header with the simulator's (virtual) time, as Graph sends
//! its own time, so clients can measure "days since" against the service's clock.
//!
//! LIMITATIONS: `filter` supports `and` of `CloudPcId eq '…'` and `SignInDateTime` /
//! `SignOutDateTime` compared (`eq gt ge lt le`) with `datetime'…'`; `or`, `search`, `groupBy` and
//! `orderBy` are refused with 400 (rows come oldest first). Without `top` a page has
//! [`DEFAULT_TOP`] rows (Graph's default is not documented); `top` is capped at [`MAX_TOP`].

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::virtual_endpoint::{CLOUD_PC_READ, api_error};
use crate::http::{ApiError, ApiVersion, AppState, Auth, GraphJson};
use crate::state::windows365::connections::Session;

/// Rows per page without `top`.
pub const DEFAULT_TOP: usize = 50;
/// Largest `top`.
pub const MAX_TOP: usize = 1000;

const COLUMNS: &[(&str, &str)] = &[
    ("SignInDateTime", "DateTime"),
    ("SignOutDateTime", "DateTime"),
    ("UsageInHour", "Double"),
    ("RoundTripTimeInMsP50", "Double"),
    ("AvailableBandwidthInMBpsP50", "Double"),
    ("RemoteSignInTimeInSec", "Double"),
];

/// The routes, relative to the version.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/deviceManagement/virtualEndpoint/reports/getRemoteConnectionHistoricalReports",
        post(historical),
    )
}

/// The body every Cloud PC report takes (`{filter, select, search, groupBy, orderBy, skip, top}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReportInput {
    #[serde(default)]
    pub(crate) filter: Option<String>,
    #[serde(default)]
    pub(crate) select: Option<Vec<String>>,
    #[serde(default)]
    search: Option<String>,
    #[serde(default)]
    group_by: Option<Vec<String>>,
    #[serde(default)]
    order_by: Option<Vec<String>>,
    #[serde(default)]
    skip: Option<i64>,
    #[serde(default)]
    top: Option<i64>,
}

impl ReportInput {
    /// Parses the body; `search`, `groupBy` and `orderBy` are refused (the simulator does not
    /// support them on any report).
    pub(crate) fn parse(body: Value) -> Result<Self, ApiError> {
        let input: Self = serde_json::from_value(body).map_err(ApiError::invalid_body)?;
        if input.search.as_deref().is_some_and(|s| !s.is_empty())
            || input.group_by.as_ref().is_some_and(|g| !g.is_empty())
            || input.order_by.as_ref().is_some_and(|o| !o.is_empty())
        {
            return Err(bad(
                "The simulator does not support search, groupBy or orderBy on this report.",
            ));
        }
        Ok(input)
    }

    /// `(skip, top)`, with `top` defaulted and capped.
    pub(crate) fn window(
        &self,
        default_top: usize,
        max_top: usize,
    ) -> Result<(usize, usize), ApiError> {
        let skip = usize::try_from(self.skip.unwrap_or(0))
            .map_err(|_| bad("skip must not be negative."))?;
        let top = match self.top {
            None => default_top,
            Some(t) => usize::try_from(t)
                .ok()
                .filter(|t| *t > 0)
                .ok_or_else(|| bad("top must be positive."))?
                .min(max_top),
        };
        Ok((skip, top))
    }
}

/// A filter's `and`-ed clauses as `(column, operator, value)` (`or` is refused).
pub(crate) fn and_clauses(text: &str) -> Result<Vec<(&str, &str, &str)>, ApiError> {
    let mut out = Vec::new();
    if text.trim().is_empty() {
        return Ok(out);
    }
    if text.to_ascii_lowercase().contains(" or ") {
        return Err(bad("The simulator supports only 'and' in report filters."));
    }
    let mut rest = text.trim();
    loop {
        let (clause, next) = match rest.to_ascii_lowercase().find(" and ") {
            Some(i) => (&rest[..i], Some(&rest[i + 5..])),
            None => (rest, None),
        };
        let clause = clause.trim().trim_start_matches('(').trim_end_matches(')');
        let mut parts = clause.splitn(3, ' ');
        let (Some(column), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(format!("Invalid filter clause '{clause}'.")));
        };
        out.push((column, op, value.trim()));
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    Ok(out)
}

/// A report answer: the Schema/Values table as a stream (`application/octet-stream`).
pub(crate) fn stream(body: &Value) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn holds(self, a: OffsetDateTime, b: OffsetDateTime) -> bool {
        match self {
            Self::Eq => a == b,
            Self::Gt => a > b,
            Self::Ge => a >= b,
            Self::Lt => a < b,
            Self::Le => a <= b,
        }
    }
}

/// The parsed filter: the Cloud PC and time conditions.
#[derive(Debug, Default)]
struct ReportFilter {
    cloud_pc_id: Option<String>,
    sign_in: Vec<(Op, OffsetDateTime)>,
    sign_out: Vec<(Op, OffsetDateTime)>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("BadRequest", message)
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        let f = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        time::PrimitiveDateTime::parse(text, &f)
            .ok()
            .map(time::PrimitiveDateTime::assume_utc)
    })
}

fn parse_filter(text: &str) -> Result<ReportFilter, ApiError> {
    let mut out = ReportFilter::default();
    for (column, op, value) in and_clauses(text)? {
        let op = match op.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(bad(format!("Unsupported operator '{other}'."))),
        };
        match column {
            c if c.eq_ignore_ascii_case("CloudPcId") => {
                let id = value
                    .strip_prefix('\'')
                    .and_then(|v| v.strip_suffix('\''))
                    .filter(|_| op == Op::Eq)
                    .ok_or_else(|| bad("CloudPcId takes eq with a quoted id."))?;
                out.cloud_pc_id = Some(id.replace("''", "'"));
            }
            c if c.eq_ignore_ascii_case("SignInDateTime")
                || c.eq_ignore_ascii_case("SignOutDateTime") =>
            {
                let t = value
                    .strip_prefix("datetime'")
                    .and_then(|v| v.strip_suffix('\''))
                    .and_then(parse_time)
                    .ok_or_else(|| bad(format!("'{value}' is not a datetime'…' literal.")))?;
                if c.eq_ignore_ascii_case("SignInDateTime") {
                    out.sign_in.push((op, t));
                } else {
                    out.sign_out.push((op, t));
                }
            }
            other => {
                return Err(bad(format!(
                    "The simulator cannot filter this report on '{other}'."
                )));
            }
        }
    }
    Ok(out)
}

/// The HTTP `Date` of a time (IMF-fixdate).
pub fn http_date(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

fn cell(column: &str, s: &Session) -> Value {
    let fmt = |t: OffsetDateTime| {
        let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        Value::String(t.format(&f).unwrap_or_default())
    };
    match column {
        "SignInDateTime" => fmt(s.sign_in),
        "SignOutDateTime" => fmt(s.sign_out),
        "UsageInHour" => json!(s.usage_in_hours()),
        "RoundTripTimeInMsP50" => json!(s.round_trip_ms_p50),
        "AvailableBandwidthInMBpsP50" => json!(s.bandwidth_mbps_p50),
        _ => json!(s.remote_sign_in_secs),
    }
}

async fn historical(
    State(app): State<AppState>,
    auth: Auth,
    version: ApiVersion,
    GraphJson(body): GraphJson<Value>,
) -> Result<Response, ApiError> {
    if version == ApiVersion::V1 {
        return Err(ApiError::unknown_segment(
            "getRemoteConnectionHistoricalReports",
        ));
    }
    auth.require_any(CLOUD_PC_READ)?;
    let input = ReportInput::parse(body)?;
    let filter = parse_filter(input.filter.as_deref().unwrap_or_default())?;
    let cloud_pc_id = filter
        .cloud_pc_id
        .clone()
        .ok_or_else(|| bad("The CloudPcId filter is required for this report."))?;
    let select: Vec<&str> = match &input.select {
        None => COLUMNS.iter().map(|(c, _)| *c).collect(),
        Some(list) => {
            let mut cols = Vec::new();
            for want in list {
                let col = COLUMNS
                    .iter()
                    .find(|(c, _)| c.eq_ignore_ascii_case(want))
                    .ok_or_else(|| bad(format!("Unknown column '{want}'.")))?;
                cols.push(col.0);
            }
            cols
        }
    };
    let (skip, top) = input.window(DEFAULT_TOP, MAX_TOP)?;
    let (sessions, now) = app.with_tenant(auth.tenant_id(), |t, now| {
        let from = OffsetDateTime::UNIX_EPOCH;
        t.w365
            .connection_history(&cloud_pc_id, from, now)
            .map(|s| (s, now))
            .map_err(api_error)
    })?;
    let rows: Vec<&Session> = sessions
        .iter()
        .filter(|s| filter.sign_in.iter().all(|(op, t)| op.holds(s.sign_in, *t)))
        .filter(|s| {
            filter
                .sign_out
                .iter()
                .all(|(op, t)| op.holds(s.sign_out, *t))
        })
        .collect();
    let values: Vec<Value> = rows
        .iter()
        .skip(skip)
        .take(top)
        .map(|s| Value::Array(select.iter().map(|c| cell(c, s)).collect()))
        .collect();
    let schema: Vec<Value> = select
        .iter()
        .map(|c| {
            let kind = COLUMNS
                .iter()
                .find(|(n, _)| n == c)
                .map_or("String", |x| x.1);
            json!({"Column": c, "PropertyType": kind})
        })
        .collect();
    let body = json!({"TotalRowCount": rows.len(), "Schema": schema, "Values": values});
    let mut response = stream(&body);
    if let Ok(v) = HeaderValue::from_str(&http_date(now)) {
        response.headers_mut().insert(header::DATE, v);
    }
    Ok(response)
}
