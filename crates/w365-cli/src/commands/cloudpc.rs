//! `w365 cloudpc list|show|<action>`, plus what the lifecycle commands (unassign, reprovision,
//! resize, capacity) share: settings from the profile, waits, the JSON document, confirmation.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;
use serde_json::{Value, json};
use w365_graph::models::CloudPc;
use w365_ops::Waits;
use w365_ops::cloud_pc::{self, ActionOptions, ActionReport, Failure, ListFilter};
use w365_ops::execute::StepReport;
use w365_ops::plan::{CloudPcAction, Plan};

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::exit::{self, ExitStatus};
use crate::output::{ErrorReport, Printer};
use crate::settings::{Profile, Settings, SettingsError, Target};

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
    /// Restore a snapshot (work since the snapshot is lost; asks for confirmation)
    Restore {
        #[command(flatten)]
        action: ActionArgs,
        /// The snapshot id (cloudPcSnapshotId)
        #[arg(long, value_name = "SNAPSHOT_ID")]
        snapshot: String,
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

/// The profile of the target (none in the sandbox).
pub(crate) fn profile_of(target: &Target) -> Option<Profile> {
    match target {
        Target::Tenant(t) => Some(t.profile.clone()),
        Target::Sandbox { .. } => None,
    }
}

/// Waits for the target: fast in the sandbox, realistic for a tenant; `W365_POLL_INTERVAL_MS`
/// overrides the polling interval (simulators and tests), as for assign.
pub(crate) fn waits_for(target: &Target) -> Waits {
    let mut waits = match target {
        Target::Sandbox { .. } => Waits::sandbox(),
        Target::Tenant(_) => Waits::realistic(),
    };
    if let Some(ms) = std::env::var("W365_POLL_INTERVAL_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
    {
        let every = std::time::Duration::from_millis(ms);
        for p in [
            &mut waits.memberships,
            &mut waits.license,
            &mut waits.cloud_pc_appears,
            &mut waits.provisioning,
        ] {
            p.initial_interval = every;
            p.max_interval = every;
            p.first_check_after = std::time::Duration::ZERO;
        }
    }
    waits
}

/// The stable JSON document of a lifecycle command: the envelope plus the report's fields.
pub(crate) fn document(
    command: &str,
    report: &impl Serialize,
    target: &str,
    status: ExitStatus,
    error: Option<&ErrorReport>,
) -> Value {
    let mut doc = json!({
        "schemaVersion": 1,
        "command": command,
        "tenant": target,
        "ok": status == ExitStatus::Success,
        "exitCode": status.code(),
        "error": error,
    });
    if let (Value::Object(doc), Ok(Value::Object(body))) = (&mut doc, serde_json::to_value(report))
    {
        doc.extend(body);
    }
    doc
}

/// Closes the connection and prints the outcome of an operation (document or summary).
pub(crate) async fn conclude<R: Serialize>(
    command: &str,
    conn: Connection,
    result: Result<R, Failure<R>>,
    printer: &Printer,
    summary: impl Fn(&R, &str, bool) -> String,
) -> anyhow::Result<ExitStatus> {
    let target_name = conn.target_name.clone();
    let closed = conn.close().await;
    printer.finish();
    let (report, error) = match result {
        Ok(report) => (report, None),
        Err(failure) => (*failure.report, Some(failure.error)),
    };
    let error_report = error.as_ref().map(|e| exit::report(e));
    let status = error_report
        .as_ref()
        .map_or(ExitStatus::Success, |e| e.exit);
    match printer.format() {
        OutputFormat::Json => printer.json(&document(
            command,
            &report,
            &target_name,
            status,
            error_report.as_ref(),
        )),
        _ => {
            if let Some(e) = &error_report {
                printer.error(e);
            }
            printer.result(&summary(&report, &target_name, error_report.is_none()));
        }
    }
    closed?;
    Ok(status)
}

/// Human lines for a plan (dry run) or the steps that ran.
pub(crate) fn plan_and_steps(dry_run: bool, plan: &Plan, steps: &[StepReport]) -> Vec<String> {
    let mut lines = Vec::new();
    if dry_run {
        lines.push("Plan (dry run: nothing was changed, no mail was sent):".into());
        lines.push(plan.to_string());
    } else {
        for s in steps {
            lines.push(format!(
                "  [{}] {}: {}",
                s.outcome.label(),
                s.step,
                s.outcome.detail()
            ));
        }
    }
    lines
}

/// Asks before a destructive change. Without a terminal, `--yes` is required.
pub(crate) fn confirm(question: &str, yes: bool, dry_run: bool) -> anyhow::Result<()> {
    if yes || dry_run {
        return Ok(());
    }
    // The question goes to stderr and the answer comes from stdin; stdout may be piped.
    let interactive = console::Term::stderr().is_term() && stdin_is_term();
    if !interactive {
        return Err(SettingsError::Refused(format!(
            "{question}: this is destructive and there is no terminal to confirm it; pass --yes"
        ))
        .into());
    }
    let mut err = std::io::stderr();
    write!(err, "{question}? [y/N] ").context("could not ask for confirmation")?;
    err.flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("could not read the confirmation")?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(
            SettingsError::Refused(format!("{question}: not confirmed; nothing was changed"))
                .into(),
        )
    }
}

fn stdin_is_term() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
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
        CloudpcCommand::Restore { action, snapshot } => (
            action,
            CloudPcAction::Restore {
                snapshot_id: snapshot.clone(),
            },
        ),
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
        &Profile::default(),
    )?;
    let opts = ActionOptions {
        target: args.target.clone(),
        action: action.clone(),
        dry_run: args.dry_run,
    };
    let conn = Connection::open(target).await?;
    // Resolve first (reads only), so the question names the Cloud PC; then ask.
    let planned = cloud_pc::plan_action(&conn.client, &opts).await;
    let result = match planned {
        Err(error) => Err(Failure {
            report: Box::new(ActionReport {
                requested: opts.target.clone(),
                dry_run: opts.dry_run,
                ..ActionReport::default()
            }),
            error,
        }),
        Ok((pc, _)) => {
            if action.is_destructive() {
                let question = format!(
                    "{action} the Cloud PC {} of {}",
                    cloud_pc::cloud_pc_ref(&pc),
                    pc.user_principal_name.as_deref().unwrap_or("no user")
                );
                if let Err(e) = confirm(&question, args.yes, args.dry_run) {
                    let _ = conn.close().await;
                    return Err(e);
                }
            }
            cloud_pc::run_action(&conn.client, &opts, printer).await
        }
    };
    let name = format!("cloudpc {}", action_name(&action));
    conclude(&name, conn, result, printer, |r: &ActionReport, t, ok| {
        let mut lines = Vec::new();
        let pc = r.cloud_pc.as_ref().map_or(r.requested.clone(), |pc| {
            pc.display_name.clone().unwrap_or_else(|| pc.id.clone())
        });
        if ok && !r.dry_run {
            lines.push(format!("Done on {t}: {action} {pc}."));
        }
        lines.extend(plan_and_steps(r.dry_run, &r.plan, &r.steps));
        lines.join("\n")
    })
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    id: String,
    display_name: String,
    user_principal_name: String,
    status: String,
    service_plan_name: String,
    provisioning_policy_name: String,
    grace_period_end_date_time: String,
}

fn row(pc: &CloudPc) -> Row {
    Row {
        id: pc.id.clone(),
        display_name: pc.display_name.clone().unwrap_or_default(),
        user_principal_name: pc.user_principal_name.clone().unwrap_or_default(),
        status: cloud_pc::status_name(pc),
        service_plan_name: pc.service_plan_name.clone().unwrap_or_default(),
        provisioning_policy_name: pc.provisioning_policy_name.clone().unwrap_or_default(),
        grace_period_end_date_time: pc
            .grace_period_end_date_time
            .filter(|_| pc.status == Some(w365_graph::models::CloudPcStatus::InGracePeriod))
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default(),
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
        OutputFormat::Json => printer.json(&json!({
            "schemaVersion": 1,
            "command": command,
            "tenant": target,
            "ok": true,
            "exitCode": 0,
            "error": null,
            "count": pcs.len(),
            "cloudPcs": pcs,
        })),
        OutputFormat::Csv => {
            let rows: Vec<Row> = pcs.iter().map(row).collect();
            printer.csv(&to_csv(&rows)?);
        }
        OutputFormat::Human => {
            let mut table = Table::new();
            table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
                "Id",
                "Name",
                "User",
                "Status",
                "Plan",
                "Policy",
                "Grace period ends",
            ]);
            for pc in &pcs {
                let r = row(pc);
                table.add_row(vec![
                    r.id,
                    r.display_name,
                    r.user_principal_name,
                    r.status,
                    r.service_plan_name,
                    r.provisioning_policy_name,
                    r.grace_period_end_date_time,
                ]);
            }
            printer.result(&format!("{table}\n{} Cloud PC(s) on {target}", pcs.len()));
        }
    }
    Ok(ExitStatus::Success)
}

/// Serializes rows (flat structs) as CSV with a header line.
pub(crate) fn to_csv<T: Serialize>(rows: &[T]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for r in rows {
        writer.serialize(r).context("could not write CSV")?;
    }
    let bytes = writer.into_inner().context("could not write CSV")?;
    String::from_utf8(bytes).context("CSV is not UTF-8")
}
