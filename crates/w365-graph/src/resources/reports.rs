//! Cloud PC reports (beta only; streams in the Schema/Values table format, see
//! [`crate::models::ReportTable`]):
//! - `POST /beta/deviceManagement/virtualEndpoint/reports/getRemoteConnectionHistoricalReports`
//!   <https://learn.microsoft.com/en-us/graph/api/cloudpcreports-getremoteconnectionhistoricalreports?view=graph-rest-beta>
//!   — application permission `CloudPC.Read.All`; body `{filter, select, top, skip, ...}`, the
//!   `CloudPcId eq '…'` filter is required; the documented example filters
//!   `SignInDateTime gt datetime'…'`.
//!
//! Paging: the stream has no next link; the handler asks page after page with `top`/`skip` until
//! `TotalRowCount` rows came (or a page comes back empty).

use http::header::DATE;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client, decode};
use crate::error::Result;
use crate::models::{ConnectionHistory, RemoteSession, ReportTable};
use crate::odata::Filter;

/// Rows asked for per page.
pub const REPORT_PAGE: u64 = 500;

/// Cloud PC reports.
#[derive(Debug, Clone)]
pub struct CloudPcReportsHandler {
    client: Client,
}

/// Parses an HTTP `Date` (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(text: &str) -> Option<OffsetDateTime> {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(text.trim(), &f)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

impl CloudPcReportsHandler {
    pub(crate) fn new(client: Client) -> Self {
        CloudPcReportsHandler { client }
    }

    /// One page of a report (and the service's `Date`).
    pub(crate) async fn page(
        &self,
        report: &str,
        body: &serde_json::Value,
    ) -> Result<(ReportTable, Option<OffsetDateTime>)> {
        let path = virtual_endpoint("reports", [report]);
        let bytes = crate::client::Client::encode_body(body)?;
        let resp = self
            .client
            .send(
                http::Method::POST,
                ApiVersion::Beta,
                &path,
                None,
                prefer_unknown_enums(),
                Some(bytes),
            )
            .await?;
        let date = resp
            .headers
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(http_date);
        Ok((decode(&format!("POST {path}"), &resp.body)?, date))
    }

    /// Every finished remote session of a Cloud PC that began after `since` (all pages), oldest
    /// first as Graph sends them.
    pub async fn remote_connection_history(
        &self,
        cloud_pc_id: &str,
        since: OffsetDateTime,
    ) -> Result<ConnectionHistory> {
        // The Cloud PC id goes through the OData literal escaping; the time is ours, formatted.
        let since = since
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| crate::Error::invalid_input(format!("the start time: {e}")))?;
        let filter = format!(
            "{} and SignInDateTime gt datetime'{since}'",
            Filter::eq("CloudPcId", cloud_pc_id)
        );
        let mut out = ConnectionHistory::default();
        let mut skip: u64 = 0;
        loop {
            let body = json!({
                "filter": filter,
                "select": ["SignInDateTime", "SignOutDateTime", "UsageInHour"],
                "top": REPORT_PAGE,
                "skip": skip,
            });
            let (table, date) = self
                .page("getRemoteConnectionHistoricalReports", &body)
                .await?;
            out.service_time = out.service_time.or(date);
            let count = table.values.len() as u64;
            for row in &table.values {
                let Some(sign_in) = table.time(row, "SignInDateTime") else {
                    continue;
                };
                out.sessions.push(RemoteSession {
                    sign_in_date_time: sign_in,
                    sign_out_date_time: table.time(row, "SignOutDateTime"),
                    usage_in_hour: table.number(row, "UsageInHour").unwrap_or(0.0),
                });
            }
            skip += count;
            let done = count == 0 || table.total_row_count.is_some_and(|t| skip >= t);
            if done {
                break;
            }
        }
        Ok(out)
    }
}
