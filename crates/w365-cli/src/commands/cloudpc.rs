//! `w365 cloudpc list|show|<action>`.

use clap::{Args, Subcommand};
use serde_json::Value;
use w365_graph::models::CloudPc;
use w365_ops::cloud_pc::{self, ActionOptions, ActionReport, ListFilter};
use w365_ops::plan::CloudPcAction;

use super::lifecycle::{Gate, conclude};
use super::summary;
use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::{CsvRecord, Printer, csv_time, envelope, human_time, to_csv};
use crate::settings::Settings;

/// `w365 cloudpc ...`
#[derive(Debug, Subcommand)]
pub enum CloudpcCommand {
    /// List Cloud PCs (all pages), optionally filtered
    List(ListArgs),
    /// Show one Cloud PC by id, or every Cloud PC of a user
    Show {
        /// Cloud PC id or user principal name
        #[arg(value_name = "ID|UPN")]
        target: String,
    },
    /// Restart the Cloud PC (the user's session ends; asks for confirmation)
    Reboot(ActionArgs),
    /// Change the Cloud PC's display name (not its device name)
    Rename {
        #[command(flatten)]
        action: ActionArgs,
        /// The new display name (1-64 characters)
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Restore a restore point: --snapshot ID, --latest or --before TIME (files changed since are
    /// lost; shows the restore point and asks for confirmation)
    ///
    /// Application permission: CloudPC.ReadWrite.All (restore points are listed with the beta
    /// retrieveSnapshots function, which has no read-only permission).
    Restore {
        #[command(flatten)]
        action: ActionArgs,
        #[command(flatten)]
        point: crate::commands::snapshot::RestorePointArgs,
    },
    /// Run the Windows 365 health check
    Troubleshoot(ActionArgs),
    /// End the grace period now: the Cloud PC is deprovisioned and deleted (asks for confirmation)
    EndGracePeriod(ActionArgs),
    /// Power on a Frontline Cloud PC
    PowerOn(ActionArgs),
    /// Power off a Frontline Cloud PC (the user's session ends; asks for confirmation)
    PowerOff(ActionArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this user's Cloud PCs
    #[arg(long, value_name = "UPN")]
    pub user: Option<String>,
    /// Only this status (provisioned, inGracePeriod, failed, ...)
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only Cloud PCs of this provisioning policy (name or id)
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ActionArgs {
    /// Cloud PC id, or the principal name of a user with exactly one Cloud PC
    #[arg(value_name = "ID|UPN")]
    pub target: String,
    /// Do not ask for confirmation (scripts); without a terminal, destructive actions need it
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Resolve the Cloud PC and print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(
    settings: &Settings,
    command: &CloudpcCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let (args, action) = match command {
        CloudpcCommand::List(args) => {
            let filter = ListFilter {
                user: args.user.clone(),
                status: args.status.clone(),
                policy: args.policy.clone(),
            };
            let conn = Connection::open(target).await?;
            let result = cloud_pc::list(&conn.client, &filter).await;
            return print_pcs("cloudpc list", conn, result, printer).await;
        }
        CloudpcCommand::Show { target: key } => {
            let conn = Connection::open(target).await?;
            let result = cloud_pc::show(&conn.client, key).await;
            return print_pcs("cloudpc show", conn, result, printer).await;
        }
        CloudpcCommand::Reboot(a) => (a, CloudPcAction::Reboot),
        CloudpcCommand::Rename { action, name } => (
            action,
            CloudPcAction::Rename {
                display_name: name.clone(),
            },
        ),
        CloudpcCommand::Restore { action, point } => {
            return crate::commands::snapshot::restore(settings, action, point, printer).await;
        }
        CloudpcCommand::Troubleshoot(a) => (a, CloudPcAction::Troubleshoot),
        CloudpcCommand::EndGracePeriod(a) => (a, CloudPcAction::EndGracePeriod),
        CloudpcCommand::PowerOn(a) => (a, CloudPcAction::PowerOn),
        CloudpcCommand::PowerOff(a) => (a, CloudPcAction::PowerOff),
    };
    // The declaration's check (the same the service applies to a job); every problem at once.
    let extra = match &action {
        CloudPcAction::Rename { display_name } => Some(("name", display_name.as_str())),
        CloudPcAction::Restore { snapshot_id } => Some(("snapshot", snapshot_id.as_str())),
        _ => None,
    };
    crate::ops_spec::validate(
        &format!("cloudpc.{}", action_name(&action)),
        &crate::ops_spec::action_values(args, extra),
        &target.profile().cloned().unwrap_or_default(),
    )?;
    let opts = ActionOptions {
        target: args.target.clone(),
        action: action.clone(),
        dry_run: args.dry_run,
    };
    let conn = Connection::open(target).await?;
    // Plan first (reads only: resolve the Cloud PC, check the action), then ask, then act.
    let what = format!("{action} the Cloud PC {}", opts.target);
    let mut gate = Gate::when(printer, args.yes, what, |plan| {
        plan.steps.iter().any(|s| match s {
            w365_ops::Step::RunCloudPcAction { action, .. } => action.is_destructive(),
            _ => true,
        })
    });
    let result =
        cloud_pc::run_action_approved(&conn.client, &opts, printer, &mut |p| gate.approve(p)).await;
    let name = format!("cloudpc {}", action_name(&action));
    conclude(
        &name,
        conn,
        result,
        gate.refusal,
        printer,
        summary::of::<ActionReport>("cloudpc action"),
    )
    .await
}

fn action_name(action: &CloudPcAction) -> &'static str {
    match action {
        CloudPcAction::Reboot => "reboot",
        CloudPcAction::Rename { .. } => "rename",
        CloudPcAction::Restore { .. } => "restore",
        CloudPcAction::Troubleshoot => "troubleshoot",
        CloudPcAction::EndGracePeriod => "end-grace-period",
        CloudPcAction::PowerOn => "power-on",
        CloudPcAction::PowerOff => "power-off",
        CloudPcAction::Reprovision => "reprovision",
        CloudPcAction::Resize { .. } => "resize",
    }
}

/// One row per Cloud PC.
struct Row {
    id: String,
    display_name: String,
    user_principal_name: String,
    status: String,
    service_plan_name: String,
    provisioning_policy_name: String,
    grace_period_end: Option<time::OffsetDateTime>,
}

impl CsvRecord for Row {
    const HEADER: &'static [&'static str] = &[
        "id",
        "displayName",
        "userPrincipalName",
        "status",
        "servicePlanName",
        "provisioningPolicyName",
        "gracePeriodEndDateTime",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.display_name.clone(),
            self.user_principal_name.clone(),
            self.status.clone(),
            self.service_plan_name.clone(),
            self.provisioning_policy_name.clone(),
            self.grace_period_end.map(csv_time).unwrap_or_default(),
        ]
    }
}

fn row(pc: &CloudPc) -> Row {
    Row {
        id: pc.id.clone(),
        display_name: pc.display_name.clone().unwrap_or_default(),
        user_principal_name: pc.user_principal_name.clone().unwrap_or_default(),
        status: cloud_pc::status_name(pc),
        service_plan_name: pc.service_plan_name.clone().unwrap_or_default(),
        provisioning_policy_name: pc.provisioning_policy_name.clone().unwrap_or_default(),
        grace_period_end: pc
            .grace_period_end_date_time
            .filter(|_| pc.status == Some(w365_graph::models::CloudPcStatus::InGracePeriod)),
    }
}

async fn print_pcs(
    command: &str,
    conn: Connection,
    result: w365_ops::Result<Vec<CloudPc>>,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let target = conn.target_name.clone();
    conn.close().await?;
    let pcs = result?;
    match printer.format() {
        OutputFormat::Json => {
            let mut doc = envelope(command, Some(&target), ExitStatus::Success, None);
            doc.insert("count".into(), pcs.len().into());
            doc.insert("cloudPcs".into(), serde_json::to_value(&pcs)?);
            printer.json(&Value::Object(doc));
        }
        OutputFormat::Csv => {
            let rows: Vec<Row> = pcs.iter().map(row).collect();
            printer.csv(&to_csv(&rows)?);
        }
        _ => printer.result(&format!(
            "{}\n{} Cloud PC(s) on {target}",
            pcs_table(&pcs, printer),
            pcs.len()
        )),
    }
    Ok(ExitStatus::Success)
}

/// The Cloud PCs as a table: name, user, status, id (and when the grace period ends, if any
/// is in it), fitted to the terminal; `-o wide` adds the plan and the policy.
fn pcs_table(pcs: &[CloudPc], printer: &Printer) -> String {
    let rows: Vec<Row> = pcs.iter().map(row).collect();
    let grace = rows.iter().any(|r| r.grace_period_end.is_some());
    let wide = printer.wide();
    let mut header = vec!["Name", "User", "Status", "Id"];
    if wide {
        header.extend(["Plan", "Policy"]);
    }
    if grace || wide {
        header.push("Grace period ends");
    }
    let mut table = printer.table(&header);
    // The id is what the other commands take: never wrapped, so it can be copied whole.
    if let Some(id) = table.column_mut(3) {
        id.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
    }
    for r in rows {
        let mut cells = vec![r.display_name, r.user_principal_name, r.status, r.id];
        if wide {
            cells.extend([r.service_plan_name, r.provisioning_policy_name]);
        }
        if grace || wide {
            cells.push(r.grace_period_end.map(human_time).unwrap_or_default());
        }
        table.add_row(cells);
    }
    table.to_string()
}
