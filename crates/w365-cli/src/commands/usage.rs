//! `w365 usage [--days N]`: per Cloud PC, last connection, hours connected over the period, days
//! since last use (the beta remote connection report). Reads only.

use clap::Args;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use w365_ops::usage::{CloudPcUsage, UsageReport};

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::Settings;

use super::lifecycle::document;
use crate::output::{CsvRecord, to_csv};

#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    /// The period: the last N days (1-365)
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub days: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    cloud_pc_id: String,
    display_name: String,
    user_principal_name: String,
    status: String,
    last_connection: String,
    sessions: usize,
    hours_connected: String,
    days_since_last_use: String,
}

fn row(u: &CloudPcUsage, days: u32, human: bool) -> Row {
    Row {
        cloud_pc_id: u.cloud_pc_id.clone(),
        display_name: u.display_name.clone().unwrap_or_default(),
        user_principal_name: u.user_principal_name.clone().unwrap_or_default(),
        status: u.status.clone(),
        last_connection: u
            .last_connection
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default(),
        sessions: u.sessions,
        hours_connected: format!("{:.1}", u.hours_connected),
        days_since_last_use: match (u.days_since_last_use, human) {
            (Some(d), _) => d.to_string(),
            // No connection in the period: more than `days` (csv leaves it empty).
            (None, true) => format!("none in {days} days"),
            (None, false) => String::new(),
        },
    }
}

fn table(report: &UsageReport, target: &str, printer: &Printer) -> String {
    let hours = format!("Hours ({} d)", report.days);
    let mut t = printer.table(&[
        "User",
        "Cloud PC",
        "Status",
        "Last connection",
        "Sessions",
        &hours,
        "Days since use",
    ]);
    for u in &report.cloud_pcs {
        let r = row(u, report.days, true);
        t.add_row(vec![
            r.user_principal_name,
            r.display_name,
            r.status,
            r.last_connection,
            r.sessions.to_string(),
            r.hours_connected,
            r.days_since_last_use,
        ]);
    }
    let idle = report
        .cloud_pcs
        .iter()
        .filter(|u| u.days_since_last_use.is_none())
        .count();
    format!(
        "{t}\n{} Cloud PC(s) on {target}; {idle} not used in the last {} days (as of {})",
        report.cloud_pcs.len(),
        report.days,
        report.as_of.format(&Rfc3339).unwrap_or_default()
    )
}

pub async fn run(
    settings: &Settings,
    args: &UsageArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let conn = Connection::open(target).await?;
    let name = conn.target_name.clone();
    let result = w365_ops::usage::usage(&conn.client, args.days).await;
    conn.close().await?;
    let report = result?;
    match printer.format() {
        OutputFormat::Json => printer.json(&document(
            "usage",
            &report,
            &name,
            ExitStatus::Success,
            None,
        )),
        OutputFormat::Csv => {
            let rows: Vec<Row> = report
                .cloud_pcs
                .iter()
                .map(|u| row(u, report.days, false))
                .collect();
            printer.csv(&to_csv(&rows)?);
        }
        OutputFormat::Human | OutputFormat::Wide => {
            printer.result(&table(&report, &name, printer))
        }
    }
    Ok(ExitStatus::Success)
}

impl CsvRecord for Row {
    const HEADER: &'static [&'static str] = &[
        "cloudPcId",
        "displayName",
        "userPrincipalName",
        "status",
        "lastConnection",
        "sessions",
        "hoursConnected",
        "daysSinceLastUse",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.cloud_pc_id.clone(),
            self.display_name.clone(),
            self.user_principal_name.clone(),
            self.status.clone(),
            self.last_connection.clone(),
            self.sessions.to_string(),
            self.hours_connected.clone(),
            self.days_since_last_use.clone(),
        ]
    }
}
