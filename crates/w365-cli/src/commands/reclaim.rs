//! `w365 reclaim --idle-days N`: take the licence back from Cloud PCs unused for N days (through
//! the plan of `unassign`), showing the monthly cost recovered. Destructive: the CLI's one consent
//! policy applies (`--yes` or a terminal answer; `--dry-run` needs none).

use clap::Args;
use serde::Serialize;
use w365_ops::reclaim::{ReclaimOptions, ReclaimReport};

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::{CsvRecord, Printer, to_csv};
use crate::settings::Settings;

use super::lifecycle::document;

#[derive(Debug, Clone, Args)]
pub struct ReclaimArgs {
    /// A Cloud PC with no connection in the last N days is idle (1-365)
    #[arg(long, value_name = "N")]
    pub idle_days: u32,

    /// Groups with this prefix are Windows 365 licence groups [default: "lic - Windows 365 Enterprise - "]
    #[arg(long, value_name = "PREFIX")]
    pub license_group_prefix: Option<String>,

    /// Also end the grace period: the Cloud PCs and their disks are deleted at once (by default
    /// they stay in their grace period, which can still be undone)
    #[arg(long)]
    pub skip_grace_period: bool,

    /// Do not ask for confirmation (scripts); without a terminal, reclaim needs it
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Do all the reads and print the plan and the cost; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    cloud_pc_id: String,
    display_name: String,
    user_principal_name: String,
    days_since_last_use: String,
    license_group: String,
    sku: String,
    monthly_price: String,
    price_source: String,
    action: String,
}

fn rows(r: &ReclaimReport, human: bool) -> Vec<Row> {
    let mut out: Vec<Row> = r
        .candidates
        .iter()
        .map(|c| Row {
            cloud_pc_id: c.cloud_pc_id.clone(),
            display_name: c.display_name.clone().unwrap_or_default(),
            user_principal_name: c.user.user_principal_name.clone(),
            days_since_last_use: match (c.days_since_last_use, human) {
                (Some(d), _) => d.to_string(),
                (None, true) => format!("none in {} days", r.idle_days),
                (None, false) => String::new(),
            },
            license_group: c.license_group.display_name.clone(),
            sku: c
                .sku
                .as_ref()
                .map(|s| s.sku_part_number.clone())
                .unwrap_or_default(),
            monthly_price: c.monthly_price.map_or_else(
                || {
                    if human {
                        "unknown".into()
                    } else {
                        String::new()
                    }
                },
                |p| format!("{p:.2}"),
            ),
            price_source: c
                .price_source
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            action: "reclaim".into(),
        })
        .collect();
    out.extend(r.excluded.iter().map(|e| Row {
        cloud_pc_id: e.cloud_pc_id.clone(),
        display_name: e.display_name.clone().unwrap_or_default(),
        user_principal_name: e.user_principal_name.clone(),
        days_since_last_use: String::new(),
        license_group: String::new(),
        sku: String::new(),
        monthly_price: String::new(),
        price_source: String::new(),
        action: format!("excluded: {}", e.reason),
    }));
    out
}

fn human(r: &ReclaimReport, target: &str, printer: &Printer) -> String {
    let mut t = printer.table(&[
        "User",
        "Cloud PC",
        "Days since use",
        "Licence group",
        "SKU",
        "Price/month",
        "Action",
    ]);
    for row in rows(r, true) {
        let price = if row.price_source.is_empty() {
            row.monthly_price
        } else {
            format!("{} ({})", row.monthly_price, row.price_source)
        };
        t.add_row(vec![
            row.user_principal_name,
            row.display_name,
            row.days_since_last_use,
            row.license_group,
            row.sku,
            price,
            row.action,
        ]);
    }
    let mut text = format!(
        "{t}\n{} idle Cloud PC(s) on {target} to reclaim ({} excluded); monthly cost recovered: {:.2} {}",
        r.candidates.len(),
        r.excluded.len(),
        r.monthly_cost_recovered,
        r.currency
    );
    if r.unpriced > 0 {
        text.push_str(&format!(
            " (+{} with no known price: set [tenants.NAME.prices])",
            r.unpriced
        ));
    }
    if r.candidates
        .iter()
        .any(|c| c.price_source == Some(w365_ops::reclaim::PriceSource::Default))
    {
        text.push_str(
            "\n\"default\" prices are w365's indicative USD list prices; set [tenants.NAME.prices] for your agreement",
        );
    }
    if r.dry_run {
        text.push_str("\nDry run: nothing was changed.");
    } else if !r.candidates.is_empty() {
        text.push_str(&format!(
            "\nDone: the licences of {} Cloud PC(s) were taken back{}.",
            r.outcomes.len(),
            if r.skip_grace_period {
                " and their grace periods ended"
            } else {
                " (the Cloud PCs are in their grace period)"
            }
        ));
    }
    text
}

pub async fn run(
    settings: &Settings,
    args: &ReclaimArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let profile = target.profile().cloned().unwrap_or_default();
    let mut opts = ReclaimOptions::new(args.idle_days);
    opts.prices = profile.prices.clone();
    if let Some(c) = profile.reclaim.currency.clone() {
        opts.currency = c;
    }
    opts.protected_users = profile.reclaim.protected_users.clone();
    opts.protected_groups = profile.reclaim.protected_groups.clone();
    if let Some(p) = args.license_group_prefix.clone() {
        opts.license_group_prefix = p;
    }
    if let Some(p) = profile.assign.provisioning_group_prefix.clone() {
        opts.provisioning_group_prefix = p;
    }
    if let Some(p) = profile.assign.user_settings_group_prefix.clone() {
        opts.user_settings_group_prefix = p;
    }
    opts.skip_grace_period = args.skip_grace_period;
    opts.dry_run = args.dry_run;
    opts.waits = target.waits();
    opts.validate()?;

    let conn = Connection::open(target).await?;
    let name = conn.target_name.clone();
    let planned = match w365_ops::reclaim::plan(&conn.client, &opts, printer).await {
        Ok(r) => r,
        Err(e) => {
            let _ = conn.close().await;
            return Err(e.into());
        }
    };
    let plan = planned.combined_plan();
    let report = if opts.dry_run || plan.is_empty() {
        planned
    } else {
        let question = format!(
            "reclaim: take the Windows 365 licence back from {} idle Cloud PC(s) on {name}{}",
            planned.candidates.len(),
            if opts.skip_grace_period {
                " and end their grace periods (the Cloud PCs and their disks are deleted)"
            } else {
                " (the Cloud PCs go into their grace period)"
            }
        );
        // The CLI's one consent policy.
        if let Err(e) = crate::consent::require(&question, &plan.to_string(), args.yes) {
            let _ = conn.close().await;
            return Err(e.into());
        }
        match w365_ops::reclaim::execute(&conn.client, planned, opts.waits, printer).await {
            Ok(r) => r,
            Err(f) => {
                let _ = conn.close().await;
                return Err(f.error.into());
            }
        }
    };
    conn.close().await?;
    match printer.format() {
        OutputFormat::Json => printer.json(&document(
            "reclaim",
            &report,
            &name,
            ExitStatus::Success,
            None,
        )),
        OutputFormat::Csv => printer.csv(&to_csv(&rows(&report, false))?),
        OutputFormat::Human | OutputFormat::Wide => printer.result(&human(&report, &name, printer)),
    }
    Ok(ExitStatus::Success)
}

impl CsvRecord for Row {
    const HEADER: &'static [&'static str] = &[
        "cloudPcId",
        "displayName",
        "userPrincipalName",
        "daysSinceLastUse",
        "licenseGroup",
        "sku",
        "monthlyPrice",
        "priceSource",
        "action",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.cloud_pc_id.clone(),
            self.display_name.clone(),
            self.user_principal_name.clone(),
            self.days_since_last_use.clone(),
            self.license_group.clone(),
            self.sku.clone(),
            self.monthly_price.clone(),
            self.price_source.clone(),
            self.action.clone(),
        ]
    }
}
