//! `w365 snapshot list|create` (restore points, beta in Graph) and the restore-point choice of
//! `w365 cloudpc restore` (`--snapshot ID`, `--latest`, `--before TIME`).

use clap::{Args, Subcommand};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use w365_graph::models::CloudPcSnapshot;
use w365_ops::cloud_pc::{self, ActionOptions, ActionReport, Failure};
use w365_ops::plan::CloudPcAction;
use w365_ops::snapshots::{self, RestorePointChoice};

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::{Settings, SettingsError};

use super::cloudpc::ActionArgs;
use super::lifecycle::{conclude, document, plan_and_steps};
use crate::output::{CsvRecord, to_csv};

/// `w365 snapshot ...`
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// List a Cloud PC's restore points, newest first (time, type, expiry)
    List {
        /// Cloud PC id, or the principal name of a user with exactly one Cloud PC
        #[arg(value_name = "ID|UPN")]
        target: String,
    },
    /// Take a manual restore point now (it is ready a few minutes later)
    Create {
        /// Cloud PC id, or the principal name of a user with exactly one Cloud PC
        #[arg(value_name = "ID|UPN")]
        target: String,
        /// Resolve the Cloud PC and say what would happen; change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

/// Which restore point `cloudpc restore` uses (exactly one).
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct RestorePointArgs {
    /// This restore point (an id from `w365 snapshot list`)
    #[arg(long, value_name = "SNAPSHOT_ID")]
    pub snapshot: Option<String>,
    /// The newest restore point
    #[arg(long)]
    pub latest: bool,
    /// The newest restore point taken before TIME (RFC 3339, e.g. 2026-11-30T08:00:00Z, or a
    /// date, e.g. 2026-11-30, meaning midnight UTC)
    #[arg(long, value_name = "TIME")]
    pub before: Option<String>,
}

/// Parses `--before`: RFC 3339, or `YYYY-MM-DD` (midnight UTC).
pub(crate) fn parse_time(text: &str) -> Result<OffsetDateTime, SettingsError> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(text, &date_format) {
        return Ok(d.midnight().assume_utc());
    }
    Err(SettingsError::Usage(format!(
        "'{text}' is not a time: use RFC 3339 (2026-11-30T08:00:00Z) or a date (2026-11-30)"
    )))
}

impl RestorePointArgs {
    fn choice(&self) -> Result<RestorePointChoice, SettingsError> {
        match (&self.snapshot, self.latest, &self.before) {
            (Some(id), false, None) if !id.trim().is_empty() => {
                Ok(RestorePointChoice::Id(id.trim().to_owned()))
            }
            (Some(_), false, None) => Err(SettingsError::Usage(
                "--snapshot needs an id; `w365 snapshot list` shows them".into(),
            )),
            (None, true, None) => Ok(RestorePointChoice::Latest),
            (None, false, Some(t)) => Ok(RestorePointChoice::Before(parse_time(t)?)),
            _ => Err(SettingsError::Usage(
                "name exactly one restore point: --snapshot ID, --latest or --before TIME".into(),
            )),
        }
    }
}

fn time_text(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// One row per restore point.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    id: String,
    created_date_time: String,
    snapshot_type: String,
    status: String,
    expiration_date_time: String,
    last_restored_date_time: String,
}

fn row(s: &CloudPcSnapshot) -> Row {
    Row {
        id: s.id.clone(),
        created_date_time: time_text(s.created_date_time),
        snapshot_type: s
            .snapshot_type
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        status: s
            .status
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        expiration_date_time: time_text(s.expiration_date_time),
        last_restored_date_time: time_text(s.last_restored_date_time),
    }
}

pub async fn run(
    settings: &Settings,
    command: &SnapshotCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let conn = Connection::open(target).await?;
    let name = conn.target_name.clone();
    match command {
        SnapshotCommand::List { target } => {
            let result = snapshots::list(&conn.client, target).await;
            conn.close().await?;
            let listing = result?;
            match printer.format() {
                OutputFormat::Json => printer.json(&document(
                    "snapshot list",
                    &serde_json::json!({
                        "cloudPc": listing.cloud_pc,
                        "userPrincipalName": listing.user_principal_name,
                        "count": listing.snapshots.len(),
                        "snapshots": listing.snapshots,
                    }),
                    &name,
                    ExitStatus::Success,
                    None,
                )),
                OutputFormat::Csv => {
                    let rows: Vec<Row> = listing.snapshots.iter().map(row).collect();
                    printer.csv(&to_csv(&rows)?);
                }
                OutputFormat::Human | OutputFormat::Wide => {
                    let mut table =
                        printer.table(&["Id", "Taken", "Type", "Expires", "Last restored"]);
                    for s in &listing.snapshots {
                        let r = row(s);
                        table.add_row(vec![
                            r.id,
                            r.created_date_time,
                            r.snapshot_type,
                            r.expiration_date_time,
                            r.last_restored_date_time,
                        ]);
                    }
                    let pc = listing
                        .cloud_pc
                        .display_name
                        .clone()
                        .unwrap_or_else(|| listing.cloud_pc.id.clone());
                    printer.result(&format!(
                        "{table}\n{} restore point(s) of {pc} ({}) on {name}",
                        listing.snapshots.len(),
                        listing.user_principal_name.as_deref().unwrap_or("no user"),
                    ));
                }
            }
            Ok(ExitStatus::Success)
        }
        SnapshotCommand::Create { target, dry_run } => {
            let result = snapshots::create(&conn.client, target, *dry_run).await;
            conn.close().await?;
            let report = result?;
            let pc = report
                .cloud_pc
                .display_name
                .clone()
                .unwrap_or_else(|| report.cloud_pc.id.clone());
            match printer.format() {
                OutputFormat::Json => printer.json(&document(
                    "snapshot create",
                    &report,
                    &name,
                    ExitStatus::Success,
                    None,
                )),
                _ if report.dry_run => printer.result(&format!(
                    "Dry run: would take a manual restore point of {pc} on {name}; nothing was changed."
                )),
                _ => printer.result(&format!(
                    "Asked {name} for a manual restore point of {pc}; it appears in `w365 snapshot list` when ready (a few minutes)."
                )),
            }
            Ok(ExitStatus::Success)
        }
    }
}

/// What `cloudpc restore` did: the action's report plus the restore point it used.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RestoreReport {
    #[serde(flatten)]
    action: ActionReport,
    restore_point: Option<CloudPcSnapshot>,
}

/// `cloudpc restore ID|UPN (--snapshot ID | --latest | --before TIME)`: resolves the Cloud PC and
/// the restore point (reads only), names both, asks (files changed since are lost), restores.
pub async fn restore(
    settings: &Settings,
    args: &ActionArgs,
    point: &RestorePointArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let choice = point.choice()?;
    let target = settings.target()?;
    let conn = Connection::open(target).await?;
    let resolved: w365_ops::Result<_> = async {
        let pc = cloud_pc::resolve_one(&conn.client, &args.target).await?;
        let snapshot = snapshots::restore_point(&conn.client, &pc, &choice).await?;
        Ok((pc, snapshot))
    }
    .await;
    let (pc, snapshot) = match resolved {
        Ok(found) => found,
        Err(e) => {
            let _ = conn.close().await;
            return Err(e.into());
        }
    };
    let taken = time_text(snapshot.created_date_time);
    let kind = snapshot
        .snapshot_type
        .as_ref()
        .map_or("unknown type", |t| t.as_str());
    let pc_name = cloud_pc::cloud_pc_ref(&pc);
    let user = pc.user_principal_name.as_deref().unwrap_or("no user");
    printer.note(&format!(
        "Restore point for {pc_name} of {user}: {} taken {taken} ({kind})",
        snapshot.id
    ));
    let question = format!(
        "Restore the Cloud PC {pc_name} of {user} to its {kind} restore point of {taken} ({}); every file changed since then is lost",
        snapshot.id
    );
    let opts = ActionOptions {
        target: pc.id.clone(),
        action: CloudPcAction::Restore {
            snapshot_id: snapshot.id.clone(),
        },
        dry_run: args.dry_run,
    };
    // The CLI's one consent policy, as for every Cloud PC action: plan, show, ask (or --yes).
    let mut gate = super::lifecycle::Gate::new(printer, args.yes, question);
    let result =
        cloud_pc::run_action_approved(&conn.client, &opts, printer, &mut |p| gate.approve(p))
            .await
            .map(|action| RestoreReport {
                action,
                restore_point: Some(snapshot.clone()),
            })
            .map_err(|f| Failure {
                report: Box::new(RestoreReport {
                    action: *f.report,
                    restore_point: Some(snapshot.clone()),
                }),
                error: f.error,
            });
    conclude(
        "cloudpc restore",
        conn,
        result,
        gate.refusal,
        printer,
        |r: &RestoreReport, e| {
            let (t, ok) = (&e.target, e.ok);
            let mut lines = Vec::new();
            let point = r
                .restore_point
                .as_ref()
                .map(|s| format!("{} ({})", s.id, time_text(s.created_date_time)))
                .unwrap_or_default();
            if r.action.dry_run {
                lines.push(format!(
                    "Dry run: would restore {pc_name} to the restore point {point}."
                ));
            } else if ok {
                lines.push(format!(
                    "Done on {t}: restoring {pc_name} to the restore point {point}."
                ));
            }
            lines.extend(plan_and_steps(
                r.action.dry_run,
                e,
                &r.action.plan,
                &r.action.steps,
            ));
            lines.join("\n")
        },
    )
    .await
}

impl CsvRecord for Row {
    const HEADER: &'static [&'static str] = &[
        "id",
        "createdDateTime",
        "snapshotType",
        "status",
        "expirationDateTime",
        "lastRestoredDateTime",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.created_date_time.clone(),
            self.snapshot_type.clone(),
            self.status.clone(),
            self.expiration_date_time.clone(),
            self.last_restored_date_time.clone(),
        ]
    }
}
