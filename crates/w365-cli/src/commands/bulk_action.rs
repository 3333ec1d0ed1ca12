//! `w365 bulk-action create|list|show` (Graph beta `bulkActions`): one action over many Cloud
//! PCs, chosen by id / user, by provisioning policy or by group; `show` gives each Cloud PC's
//! state from the action status report. `create` plans first (reads only), prints the plan, and
//! asks for consent when the action is destructive (the CLI's one consent policy).

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use w365_graph::models::{BulkActionDevice, CloudPcBulkAction};
use w365_ops::bulk_actions::{self, BulkKind, BulkPlan, BulkTarget, TimeRange};

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::consent;
use crate::exit::ExitStatus;
use crate::output::{CsvRecord, Printer, csv_time, human_time, to_csv};
use crate::settings::{Settings, SettingsError};

use super::lifecycle::document;
use super::snapshot::parse_time;

/// `w365 bulk-action ...`
#[derive(Debug, Subcommand)]
pub enum BulkActionCommand {
    /// Run one action over many Cloud PCs (the service runs it device by device)
    Create(CreateArgs),
    /// List the bulk actions, newest first, with their device counts
    List,
    /// One bulk action and the state of each of its Cloud PCs
    Show {
        /// The bulk action's id (from `w365 bulk-action list`)
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// The actions (Graph's `cloudPcBulk*` types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Action {
    /// Restart (cloudPcBulkRestart): sessions end
    Reboot,
    /// Recreate the Cloud PCs (cloudPcBulkReprovision): everything on them is lost
    Reprovision,
    /// Back to a restore point (cloudPcBulkRestore; --restore-point): later changes are lost
    Restore,
    /// Check and repair (cloudPcBulkTroubleshoot)
    Troubleshoot,
    /// Start Frontline Cloud PCs (cloudPcBulkPowerOn)
    PowerOn,
    /// Stop Frontline Cloud PCs (cloudPcBulkPowerOff): sessions end
    PowerOff,
    /// Change the size (cloudPcBulkResize; --target-service-plan)
    Resize,
}

/// `restoreTimeRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Range {
    Before,
    After,
    BeforeOrAfter,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("targets").required(true).args(["cloud_pc", "policy", "group"])))]
pub struct CreateArgs {
    /// The action
    #[arg(long, value_enum)]
    pub action: Action,
    /// Cloud PC ids, or principal names of users with exactly one Cloud PC (repeat or comma-separate)
    #[arg(long = "cloud-pc", value_name = "ID|UPN", value_delimiter = ',', num_args = 1..)]
    pub cloud_pc: Vec<String>,
    /// Every Cloud PC of this provisioning policy (name or id)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["cloud_pc", "group"])]
    pub policy: Option<String>,
    /// Every Cloud PC of the direct members of this group (name or id)
    #[arg(long, value_name = "NAME", conflicts_with_all = ["cloud_pc", "policy"])]
    pub group: Option<String>,
    /// The bulk action's name (default: "w365 <action> of N Cloud PC(s)")
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// restore: the time of the restore points (RFC 3339 or a date)
    #[arg(long, value_name = "TIME")]
    pub restore_point: Option<String>,
    /// restore: the restore point before, after, or nearest to --restore-point
    #[arg(long, value_enum, default_value_t = Range::Before)]
    pub time_range: Range,
    /// resize: the service plan id to resize to
    #[arg(long, value_name = "ID")]
    pub target_service_plan: Option<String>,
    /// Do not ask for confirmation (scripts); without a terminal, destructive actions need it
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Resolve the Cloud PCs and print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

impl CreateArgs {
    fn kind(&self) -> Result<BulkKind, SettingsError> {
        let only = |flag: &str, wanted: Action| {
            Err(SettingsError::Usage(format!(
                "{flag} is only for --action {}",
                wanted
                    .to_possible_value()
                    .map_or_else(String::new, |v| v.get_name().to_owned())
            )))
        };
        if self.action != Action::Restore && self.restore_point.is_some() {
            return only("--restore-point", Action::Restore);
        }
        if self.action != Action::Resize && self.target_service_plan.is_some() {
            return only("--target-service-plan", Action::Resize);
        }
        Ok(match self.action {
            Action::Reboot => BulkKind::Reboot,
            Action::Reprovision => BulkKind::Reprovision,
            Action::Troubleshoot => BulkKind::Troubleshoot,
            Action::PowerOn => BulkKind::PowerOn,
            Action::PowerOff => BulkKind::PowerOff,
            Action::Resize => BulkKind::Resize {
                target_service_plan_id: self
                    .target_service_plan
                    .clone()
                    .filter(|t| !t.trim().is_empty())
                    .ok_or_else(|| {
                        SettingsError::Usage(
                            "--action resize needs --target-service-plan ID (`w365 capacity` shows the plans)".into(),
                        )
                    })?,
            },
            Action::Restore => BulkKind::Restore {
                restore_point: parse_time(self.restore_point.as_deref().ok_or_else(|| {
                    SettingsError::Usage(
                        "--action restore needs --restore-point TIME (the restore point before it is used; --time-range changes that)".into(),
                    )
                })?)?,
                time_range: match self.time_range {
                    Range::Before => TimeRange::Before,
                    Range::After => TimeRange::After,
                    Range::BeforeOrAfter => TimeRange::BeforeOrAfter,
                },
            },
        })
    }

    fn target(&self) -> BulkTarget {
        match (&self.policy, &self.group) {
            (Some(p), _) => BulkTarget::Policy(p.clone()),
            (None, Some(g)) => BulkTarget::Group(g.clone()),
            (None, None) => BulkTarget::CloudPcs(self.cloud_pc.clone()),
        }
    }
}

fn plan_text(plan: &BulkPlan) -> String {
    let mut lines = vec![format!(
        "  {} ({}) '{}' over {}:",
        plan.action.name(),
        plan.action.type_name(),
        plan.display_name,
        plan.selection
    )];
    for pc in &plan.cloud_pcs {
        lines.push(format!(
            "    - {pc} of {}",
            pc.user_principal_name.as_deref().unwrap_or("no user")
        ));
    }
    lines.join("\n")
}

/// What `create` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateReport<'a> {
    dry_run: bool,
    plan: &'a BulkPlan,
    bulk_action: Option<CloudPcBulkAction>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListRow {
    id: String,
    display_name: String,
    action: String,
    status: String,
    created_date_time: String,
    cloud_pcs: usize,
    successful: u32,
    failed: u32,
    in_progress: u32,
    pending: u32,
    not_supported: u32,
}

fn list_row(a: &CloudPcBulkAction, human: bool) -> ListRow {
    let s = a.action_summary.unwrap_or_default();
    ListRow {
        id: a.id.clone(),
        display_name: a.display_name.clone().unwrap_or_default(),
        action: a.type_name().to_owned(),
        status: a
            .status
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        created_date_time: a
            .created_date_time
            .map(|t| if human { human_time(t) } else { csv_time(t) })
            .unwrap_or_default(),
        cloud_pcs: a.cloud_pc_ids.len(),
        successful: s.successful_count,
        failed: s.failed_count,
        in_progress: s.in_progress_count,
        pending: s.pending_count,
        not_supported: s.not_supported_count,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceRow {
    cloud_pc_id: String,
    display_name: String,
    user_principal_name: String,
    state: String,
    last_updated: String,
    error: String,
}

fn device_row(d: &BulkActionDevice, human: bool) -> DeviceRow {
    DeviceRow {
        cloud_pc_id: d.cloud_pc_id.clone(),
        display_name: d.device_display_name.clone().unwrap_or_default(),
        user_principal_name: d.owner_user_principal_name.clone().unwrap_or_default(),
        state: d.action_state.clone().unwrap_or_default(),
        last_updated: d
            .last_updated_date_time
            .map(|t| if human { human_time(t) } else { csv_time(t) })
            .unwrap_or_default(),
        error: d.error_message.clone().unwrap_or_default(),
    }
}

pub async fn run(
    settings: &Settings,
    command: &BulkActionCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    match command {
        BulkActionCommand::Create(args) => create(settings, args, printer).await,
        BulkActionCommand::List => list(settings, printer).await,
        BulkActionCommand::Show { id } => show(settings, id, printer).await,
    }
}

async fn create(
    settings: &Settings,
    args: &CreateArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let kind = args.kind()?;
    let target = settings.target()?;
    let conn = Connection::open(target).await?;
    let name = conn.target_name.clone();
    let planned = bulk_actions::plan(&conn.client, kind, &args.target(), args.name.clone()).await;
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => {
            let _ = conn.close().await;
            return Err(e.into());
        }
    };
    let text = plan_text(&plan);
    if !args.dry_run && plan.destructive {
        let question = format!(
            "{} {} Cloud PC(s) on {name}: {}",
            plan.action.name(),
            plan.cloud_pcs.len(),
            plan.action.consequence()
        );
        printer.finish();
        if let Err(refusal) = consent::require(&question, &text, args.yes) {
            let _ = conn.close().await;
            return Err(refusal.into());
        }
    }
    let created = if args.dry_run {
        None
    } else {
        let result = bulk_actions::create(&conn.client, &plan).await;
        match result {
            Ok(a) => Some(a),
            Err(e) => {
                let _ = conn.close().await;
                return Err(e.into());
            }
        }
    };
    conn.close().await?;
    let report = CreateReport {
        dry_run: args.dry_run,
        plan: &plan,
        bulk_action: created,
    };
    match (printer.format(), &report.bulk_action) {
        (OutputFormat::Json, _) => printer.json(&document(
            "bulk-action create",
            &report,
            &name,
            ExitStatus::Success,
            None,
        )),
        (_, None) => printer.result(&format!(
            "Plan (dry run: nothing was changed):\n{text}"
        )),
        (_, Some(a)) => printer.result(&format!(
            "Started on {name}: bulk action {} ({}) over {} Cloud PC(s).\n{text}\nFollow it with `w365 bulk-action show {}`.",
            a.id,
            a.type_name(),
            plan.cloud_pcs.len(),
            a.id
        )),
    }
    Ok(ExitStatus::Success)
}

async fn list(settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let conn = Connection::open(target).await?;
    let name = conn.target_name.clone();
    let result = bulk_actions::list(&conn.client).await;
    conn.close().await?;
    let all = result?;
    match printer.format() {
        OutputFormat::Json => printer.json(&document(
            "bulk-action list",
            &serde_json::json!({ "count": all.len(), "bulkActions": all }),
            &name,
            ExitStatus::Success,
            None,
        )),
        OutputFormat::Csv => {
            let rows: Vec<ListRow> = all.iter().map(|a| list_row(a, false)).collect();
            printer.csv(&to_csv(&rows)?);
        }
        OutputFormat::Human | OutputFormat::Wide => {
            let mut table = printer.table(&[
                "Id", "Name", "Action", "Status", "Created", "Done", "Failed", "Running",
            ]);
            for a in &all {
                let r = list_row(a, true);
                table.add_row(vec![
                    r.id,
                    r.display_name,
                    r.action,
                    r.status,
                    r.created_date_time,
                    format!("{}/{}", r.successful, r.cloud_pcs),
                    (r.failed + r.not_supported).to_string(),
                    (r.in_progress + r.pending).to_string(),
                ]);
            }
            printer.result(&format!("{table}\n{} bulk action(s) on {name}", all.len()));
        }
    }
    Ok(ExitStatus::Success)
}

async fn show(settings: &Settings, id: &str, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let conn = Connection::open(target).await?;
    let name = conn.target_name.clone();
    let result = bulk_actions::show(&conn.client, id).await;
    conn.close().await?;
    let details = result?;
    match printer.format() {
        OutputFormat::Json => printer.json(&document(
            "bulk-action show",
            &details,
            &name,
            ExitStatus::Success,
            None,
        )),
        OutputFormat::Csv => {
            let rows: Vec<DeviceRow> = details
                .devices
                .iter()
                .map(|d| device_row(d, false))
                .collect();
            printer.csv(&to_csv(&rows)?);
        }
        OutputFormat::Human | OutputFormat::Wide => {
            let a = list_row(&details.bulk_action, true);
            let mut table = printer.table(&["Cloud PC", "User", "State", "Last updated", "Error"]);
            for d in &details.devices {
                let r = device_row(d, true);
                let pc = if r.display_name.is_empty() {
                    r.cloud_pc_id
                } else {
                    format!("{} ({})", r.display_name, r.cloud_pc_id)
                };
                table.add_row(vec![
                    pc,
                    r.user_principal_name,
                    r.state,
                    r.last_updated,
                    r.error,
                ]);
            }
            printer.result(&format!(
                "Bulk action {} '{}' ({}) on {name}: {}, created {}\n{} done, {} failed, {} not supported, {} running, {} pending\n{table}",
                a.id,
                a.display_name,
                a.action,
                a.status,
                a.created_date_time,
                a.successful,
                a.failed,
                a.not_supported,
                a.in_progress,
                a.pending
            ));
        }
    }
    Ok(ExitStatus::Success)
}

impl CsvRecord for ListRow {
    const HEADER: &'static [&'static str] = &[
        "id",
        "displayName",
        "action",
        "status",
        "createdDateTime",
        "cloudPcs",
        "successfulCount",
        "failedCount",
        "inProgressCount",
        "pendingCount",
        "notSupportedCount",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.display_name.clone(),
            self.action.clone(),
            self.status.clone(),
            self.created_date_time.clone(),
            self.cloud_pcs.to_string(),
            self.successful.to_string(),
            self.failed.to_string(),
            self.in_progress.to_string(),
            self.pending.to_string(),
            self.not_supported.to_string(),
        ]
    }
}

impl CsvRecord for DeviceRow {
    const HEADER: &'static [&'static str] = &[
        "cloudPcId",
        "displayName",
        "userPrincipalName",
        "actionState",
        "lastUpdatedDateTime",
        "errorMessage",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.cloud_pc_id.clone(),
            self.display_name.clone(),
            self.user_principal_name.clone(),
            self.state.clone(),
            self.last_updated.clone(),
            self.error.clone(),
        ]
    }
}
