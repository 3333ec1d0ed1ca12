//! `w365 capacity`: licenses, Frontline seats, Cloud PCs by status, users waiting for a Cloud PC,
//! Cloud PCs in their grace period. Reads only.

use clap::Args;
use w365_ops::capacity::{CapacityOptions, CapacityReport};

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::{CsvRecord, Printer, csv_time, human_time, to_csv};
use crate::settings::Settings;

use super::lifecycle::document;

#[derive(Debug, Clone, Args)]
pub struct CapacityArgs {
    /// Groups whose name starts with this are license groups [default: "lic - Windows 365 Enterprise - "]
    #[arg(long, value_name = "PREFIX")]
    pub license_group_prefix: Option<String>,
}

pub async fn run(
    settings: &Settings,
    args: &CapacityArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let mut opts = CapacityOptions::default();
    if let Some(p) = &args.license_group_prefix {
        opts.license_group_prefix = p.clone();
    }
    let conn = Connection::open(target).await?;
    let name = conn.target_name.clone();
    let result = w365_ops::capacity::capacity(&conn.client, &opts).await;
    conn.close().await?;
    let report = result?;
    match printer.format() {
        OutputFormat::Json => printer.json(&document(
            "capacity",
            &report,
            &name,
            ExitStatus::Success,
            None,
        )),
        OutputFormat::Csv => printer.csv(&to_csv(&csv_rows(&report))?),
        _ => printer.result(&tables(&report, &name, printer)),
    }
    Ok(ExitStatus::Success)
}

/// One CSV for every section: `section,name,id,total,used,free,detail`.
struct CsvRow {
    section: &'static str,
    name: String,
    id: String,
    total: Option<i64>,
    used: Option<i64>,
    free: Option<i64>,
    detail: String,
}

impl CsvRecord for CsvRow {
    const HEADER: &'static [&'static str] =
        &["section", "name", "id", "total", "used", "free", "detail"];

    fn cells(&self) -> Vec<String> {
        let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        vec![
            self.section.to_owned(),
            self.name.clone(),
            self.id.clone(),
            n(self.total),
            n(self.used),
            n(self.free),
            self.detail.clone(),
        ]
    }
}

fn csv_rows(r: &CapacityReport) -> Vec<CsvRow> {
    let mut rows = Vec::new();
    for s in &r.skus {
        rows.push(CsvRow {
            section: "sku",
            name: s.sku_part_number.clone(),
            id: s.sku_id.clone(),
            total: Some(s.total),
            used: Some(s.consumed),
            free: Some(s.free),
            detail: String::new(),
        });
    }
    for p in &r.frontline_plans {
        rows.push(CsvRow {
            section: "frontlinePlan",
            name: p.display_name.clone(),
            id: p.service_plan_id.clone(),
            total: Some(p.total),
            used: Some(p.used),
            free: Some(p.free),
            detail: String::new(),
        });
    }
    for a in &r.frontline_assignments {
        rows.push(CsvRow {
            section: "frontlineAssignment",
            name: a.policy.clone(),
            id: a.group_id.clone(),
            total: Some(a.seats.cloud_pc_capacity),
            used: Some(a.seats.in_use),
            free: Some(a.seats.free),
            detail: format!(
                "{} mode, {} license(s) allotted",
                a.seats.mode.as_str(),
                a.seats.allotted_licenses
            ),
        });
    }
    for (status, n) in &r.cloud_pcs_by_status {
        rows.push(CsvRow {
            section: "cloudPcStatus",
            name: status.clone(),
            id: String::new(),
            total: i64::try_from(*n).ok(),
            used: None,
            free: None,
            detail: String::new(),
        });
    }
    for u in &r.users_without_cloud_pc {
        rows.push(CsvRow {
            section: "userWithoutCloudPc",
            name: u.user_principal_name.clone(),
            id: u.user_id.clone(),
            total: None,
            used: None,
            free: None,
            detail: u.license_group.display_name.clone(),
        });
    }
    for g in &r.grace_period {
        rows.push(CsvRow {
            section: "gracePeriod",
            name: g.user_principal_name.clone().unwrap_or_default(),
            id: g.id.clone(),
            total: None,
            used: None,
            free: None,
            detail: g
                .grace_period_end_date_time
                .map(csv_time)
                .unwrap_or_default(),
        });
    }
    rows
}

fn tables(r: &CapacityReport, target: &str, printer: &Printer) -> String {
    let table = |header: &[&str]| printer.table(header);
    let mut out = vec![format!("Windows 365 capacity of {target}")];
    let mut skus = table(&["Windows 365 SKU", "Total", "Consumed", "Free"]);
    for s in &r.skus {
        skus.add_row(vec![
            s.sku_part_number.clone(),
            s.total.to_string(),
            s.consumed.to_string(),
            s.free.to_string(),
        ]);
    }
    out.push(skus.to_string());
    let mut fl = table(&["Frontline plan", "Licenses", "Used", "Allotted", "Free"]);
    for p in &r.frontline_plans {
        fl.add_row(vec![
            p.display_name.clone(),
            p.total.to_string(),
            p.used.to_string(),
            p.allotted.map_or_else(|| "-".into(), |a| a.to_string()),
            p.free.to_string(),
        ]);
    }
    out.push(fl.to_string());
    if !r.frontline_assignments.is_empty() {
        let mut fa = table(&[
            "Frontline policy",
            "Mode",
            "Licenses",
            "Cloud PCs",
            "In use",
            "Free",
        ]);
        for a in &r.frontline_assignments {
            fa.add_row(vec![
                a.policy.clone(),
                a.seats.mode.as_str().to_owned(),
                a.seats.allotted_licenses.to_string(),
                a.seats.cloud_pc_capacity.to_string(),
                a.seats.in_use.to_string(),
                a.seats.free.to_string(),
            ]);
        }
        out.push(fa.to_string());
    }
    let mut st = table(&["Cloud PC status", "Count"]);
    for (s, n) in &r.cloud_pcs_by_status {
        st.add_row(vec![s.clone(), n.to_string()]);
    }
    st.add_row(vec!["(all)".to_owned(), r.cloud_pcs_total.to_string()]);
    out.push(st.to_string());
    if r.users_without_cloud_pc.is_empty() {
        out.push("Every member of a license group has a Cloud PC.".into());
    } else {
        let mut u = table(&["User without a Cloud PC", "License group", "Status"]);
        for w in &r.users_without_cloud_pc {
            u.add_row(vec![
                w.user_principal_name.clone(),
                w.license_group.display_name.clone(),
                w.status.clone().unwrap_or_else(|| "none".into()),
            ]);
        }
        out.push(u.to_string());
    }
    if r.grace_period.is_empty() {
        out.push("No Cloud PC is in its grace period.".into());
    } else {
        let mut g = table(&["In grace period", "User", "Deleted at"]);
        for p in &r.grace_period {
            g.add_row(vec![
                p.display_name.clone().unwrap_or_else(|| p.id.clone()),
                p.user_principal_name.clone().unwrap_or_default(),
                p.grace_period_end_date_time
                    .map(human_time)
                    .unwrap_or_default(),
            ]);
        }
        out.push(g.to_string());
    }
    out.join("\n")
}
