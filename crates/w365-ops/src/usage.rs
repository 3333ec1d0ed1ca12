//! `usage [--days N]`: per Cloud PC, the last connection, the hours connected over the period and
//! the days since last use, from the beta remote connection report
//! (`reports/getRemoteConnectionHistoricalReports`, `CloudPC.Read.All`; see
//! `w365_graph::resources::CloudPcReportsHandler`). Reads only.
//!
//! "Now" is the service's clock (the report's HTTP `Date`), so a tenant whose clock differs from
//! this machine's (the sandbox runs fast) still gets the right period and ages.

use serde::Serialize;
use time::{Duration, OffsetDateTime};
use w365_graph::Client;
use w365_graph::models::{CloudPc, ConnectionHistory};

use crate::cloud_pc::{exists, status_name};
use crate::error::{Error, GraphContext, Result};
use crate::execute::permissions;

/// Longest period the report is asked for.
pub const MAX_DAYS: u32 = 365;

/// Usage of one Cloud PC over the period.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcUsage {
    pub cloud_pc_id: String,
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub status: String,
    pub service_plan_id: Option<String>,
    pub service_plan_name: Option<String>,
    /// End of the newest session in the period (its start when it has no end).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_connection: Option<OffsetDateTime>,
    /// Sessions that began in the period.
    pub sessions: usize,
    /// Hours connected over the period.
    pub hours_connected: f64,
    /// Whole days since the last connection; `None`: no connection in the period (at least
    /// `days` days).
    pub days_since_last_use: Option<i64>,
}

/// What `usage` found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub days: u32,
    /// The service's time the period ends at.
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    pub cloud_pcs: Vec<CloudPcUsage>,
}

fn summarize(
    pc: &CloudPc,
    history: &ConnectionHistory,
    from: OffsetDateTime,
    now: OffsetDateTime,
) -> CloudPcUsage {
    let sessions: Vec<_> = history
        .sessions
        .iter()
        .filter(|s| s.sign_in_date_time > from && s.sign_in_date_time <= now)
        .collect();
    let last = sessions
        .iter()
        .map(|s| s.sign_out_date_time.unwrap_or(s.sign_in_date_time))
        .max();
    CloudPcUsage {
        cloud_pc_id: pc.id.clone(),
        display_name: pc.display_name.clone(),
        user_principal_name: pc.user_principal_name.clone(),
        status: status_name(pc),
        service_plan_id: pc.service_plan_id.clone(),
        service_plan_name: pc.service_plan_name.clone(),
        last_connection: last,
        sessions: sessions.len(),
        // `+ 0.0`: an empty sum of floats is -0.0.
        hours_connected: sessions.iter().map(|s| s.usage_in_hour).sum::<f64>() + 0.0,
        days_since_last_use: last.map(|t| (now - t).whole_days().max(0)),
    }
}

/// Usage of the given Cloud PCs over the last `days` days of the service's clock.
pub async fn usage_of(client: &Client, pcs: &[CloudPc], days: u32) -> Result<UsageReport> {
    if days == 0 || days > MAX_DAYS {
        return Err(Error::InvalidInput {
            reason: format!("--days must be between 1 and {MAX_DAYS}; got {days}"),
        });
    }
    let period = Duration::days(i64::from(days));
    let reports = client.cloud_pc_reports();
    let fetch = |pc: &CloudPc, since: OffsetDateTime| {
        let reports = reports.clone();
        let id = pc.id.clone();
        async move {
            reports
                .remote_connection_history(&id, since)
                .await
                .graph_ctx(
                    || format!("read the connection report of the Cloud PC {id}"),
                    permissions::READ_CLOUD_PCS,
                )
        }
    };
    let mut now = OffsetDateTime::now_utc();
    let mut rows = Vec::new();
    for (i, pc) in pcs.iter().enumerate() {
        let mut history = fetch(pc, now - period).await?;
        if i == 0
            && let Some(service) = history.service_time
        {
            // The period ends at the service's "now"; ask again if it starts earlier than asked.
            let asked_from = now - period;
            now = service;
            if now - period < asked_from {
                history = fetch(pc, now - period).await?;
            }
        }
        rows.push(summarize(pc, &history, now - period, now));
    }
    Ok(UsageReport {
        days,
        as_of: now,
        cloud_pcs: rows,
    })
}

/// `usage`: every Cloud PC (not the `notProvisioned` records), all pages.
pub async fn usage(client: &Client, days: u32) -> Result<UsageReport> {
    let pcs: Vec<CloudPc> = client
        .cloud_pcs()
        .list(None)
        .await
        .graph_ctx(|| "list the Cloud PCs".into(), permissions::READ_CLOUD_PCS)?
        .into_iter()
        .filter(exists)
        .collect();
    usage_of(client, &pcs, days).await
}
