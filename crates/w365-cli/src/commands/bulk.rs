//! `w365 assign --from FILE`: bulk onboarding. The plan for the whole file first (reads only);
//! `--dry-run` prints it; otherwise it is run in batches, with a progress bar on a terminal, a
//! journal for resuming and an optional results file.
//!
//! Exit status: 0 when every row is assigned or already assigned; otherwise the worst outcome:
//! 1 a row failed, 5 rows out of licences, 11 invalid rows (refused, as any invalid input).

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use w365_ops::bulk::unassign::{self as bulk_unassign, BulkUnassignOptions};
use w365_ops::bulk::{self, BulkOptions, Outcome, RowResult, SkuCapacity};

use crate::cli::{AssignArgs, OutputFormat};
use crate::commands::unassign::UnassignArgs;
use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::{Settings, Target, resolve_assign};

/// A progress bar with rows done / total, rate and ETA (terminal only).
struct Bar(ProgressBar);

impl Bar {
    fn on_terminal(printer: &Printer) -> Option<Bar> {
        (printer.format() == OutputFormat::Human && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan} {pos}/{len} rows  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Bar(bar)
        })
    }
}

impl bulk::Progress for Bar {
    fn rows(&self, done: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
    }
}

pub async fn run(
    settings: &Settings,
    args: &AssignArgs,
    file: &Path,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if !args.user.trim().is_empty() {
        return Err(crate::settings::SettingsError::Usage(
            "give either a USER or --from FILE, not both".into(),
        )
        .into());
    }
    let target = settings.target()?;
    let sandbox = matches!(target, Target::Sandbox { .. });
    let profile = match &target {
        Target::Tenant(t) => Some(t.profile.clone()),
        Target::Sandbox { .. } => None,
    };
    // The whole file is read (streamed) before connecting: a broken file changes nothing.
    let parsed = bulk::input::read_file(file).map_err(|e| w365_ops::Error::InvalidInput {
        reason: e.to_string(),
    })?;
    // The flags are checked by the operation's declaration as for one user: the first row's
    // (each row is checked again with its own user and columns while planning).
    let Some(first) = parsed.rows.first() else {
        return Err(no_valid_row(file, &parsed).into());
    };
    let mut flags = args.clone();
    flags.user.clone_from(&first.user);
    let base = resolve_assign(&flags, profile.as_ref(), sandbox)?;
    let opts = BulkOptions {
        base,
        strict: args.strict,
        journal: args.journal.clone(),
        pacer: w365_graph::WritePacer::default(),
    };

    let conn = Connection::open(target).await?;
    let target_name = conn.target_name.clone();
    let run =
        |dry_run_plan: bool, rows, capacity, ticket_sent_to, graph_requests, empty_rows| Run {
            command: "assign --from",
            target: target_name.clone(),
            dry_run: dry_run_plan,
            rows,
            capacity: Some(capacity),
            empty_rows,
            ticket_sent_to,
            graph_requests,
        };
    let result = async {
        let plan = bulk::plan(&conn.client, &opts, parsed, file, printer).await?;
        if args.dry_run {
            return Ok(run(
                true,
                plan.rows.clone(),
                plan.capacity.clone(),
                None,
                plan.graph_requests,
                plan.empty_rows.clone(),
            ));
        }
        let empty = plan.empty_rows.clone();
        let bar = Bar::on_terminal(printer);
        let report = bulk::execute(&conn.client, &opts, plan, printer, Bar::progress(&bar)).await;
        Bar::clear(&bar);
        let report = report?;
        Ok::<_, anyhow::Error>(run(
            false,
            report.rows,
            report.capacity,
            report.ticket_sent_to,
            report.graph_requests,
            empty,
        ))
    }
    .await;
    finish(printer, conn, result, args.results.as_deref()).await
}

/// Closes the connection, then prints the run (or returns its error).
async fn finish(
    printer: &Printer,
    conn: Connection,
    result: anyhow::Result<Run>,
    results: Option<&Path>,
) -> anyhow::Result<ExitStatus> {
    let closed = conn.close().await;
    printer.finish();
    let status = print_run(printer, results, result?);
    closed?;
    status
}

impl Bar {
    /// The bar as the executors see it (nothing drawn off a terminal).
    fn progress(bar: &Option<Bar>) -> &dyn bulk::Progress {
        match bar {
            Some(b) => b,
            None => &(),
        }
    }

    fn clear(bar: &Option<Bar>) {
        if let Some(b) = bar {
            b.0.finish_and_clear();
        }
    }
}

/// A file without one row that names a valid user: nothing to plan.
fn no_valid_row(file: &Path, parsed: &bulk::ParsedInput) -> w365_ops::Error {
    let first = parsed.invalid.first().map_or_else(
        || "the file has no rows below the header".to_owned(),
        |i| format!("first: row {}: {}; {}", i.row, i.problem, i.fix),
    );
    w365_ops::Error::InvalidInput {
        reason: format!(
            "{}: no row names a valid user ({} invalid row(s); {first})",
            file.display(),
            parsed.invalid.len()
        ),
    }
}

/// The worst outcome: 1 a row failed, 5 rows out of licences, 11 invalid rows, else 0.
fn exit_status(rows: &[RowResult]) -> ExitStatus {
    let count = |o: Outcome| rows.iter().filter(|r| r.outcome == o).count();
    if count(Outcome::Failed) > 0 {
        ExitStatus::Unexpected
    } else if count(Outcome::Blocked) > 0 {
        ExitStatus::OutOfCapacity
    } else if count(Outcome::Invalid) > 0 {
        ExitStatus::Refused
    } else {
        ExitStatus::Success
    }
}

/// `w365 unassign --from FILE`: the plan for the whole file (reads only); `--dry-run` prints it;
/// otherwise, with consent (`--yes` or the terminal's answer; it is destructive), each row is
/// carried out as `w365 unassign` would, with a journal for resuming and an optional results file.
pub async fn run_unassign(
    settings: &Settings,
    args: &UnassignArgs,
    file: &Path,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if !args.user.trim().is_empty() {
        return Err(crate::settings::SettingsError::Usage(
            "give either a USER or --from FILE, not both".into(),
        )
        .into());
    }
    let target = settings.target()?;
    let profile = target.profile().cloned().unwrap_or_default();
    let opts = BulkUnassignOptions {
        base: super::unassign::options(args, &profile, &target),
        strict: args.strict,
        journal: args.journal.clone(),
        pacer: w365_graph::WritePacer::default(),
    };
    // The whole file is read (streamed) before connecting: a broken file changes nothing.
    let parsed = bulk::input::read_file(file).map_err(|e| w365_ops::Error::InvalidInput {
        reason: e.to_string(),
    })?;
    let conn = Connection::open(target).await?;
    let target_name = conn.target_name.clone();
    let run = |dry_run_plan: bool, rows, graph_requests, empty_rows| Run {
        command: "unassign --from",
        target: target_name.clone(),
        dry_run: dry_run_plan,
        rows,
        capacity: None,
        empty_rows,
        ticket_sent_to: None,
        graph_requests,
    };
    let result = async {
        let plan = bulk_unassign::plan(&conn.client, &opts, parsed, file, printer).await?;
        if args.dry_run {
            return Ok(run(
                true,
                plan.rows.clone(),
                plan.graph_requests,
                plan.empty_rows.clone(),
            ));
        }
        if plan.has_changes() {
            printer.finish();
            let what = format!(
                "unassign {} user(s) of {}{}",
                plan.count(Outcome::Unassign),
                file.display(),
                if opts.base.skip_grace_period {
                    " and end their grace periods (their Cloud PCs and disks are deleted)"
                } else {
                    " (their Cloud PCs go into their grace periods)"
                }
            );
            crate::consent::require(&what, &plan.steps(), args.yes)?;
        }
        let empty = plan.empty_rows.clone();
        let bar = Bar::on_terminal(printer);
        let report =
            bulk_unassign::execute(&conn.client, &opts, plan, printer, Bar::progress(&bar)).await;
        Bar::clear(&bar);
        let report = report?;
        Ok::<_, anyhow::Error>(run(false, report.rows, report.graph_requests, empty))
    }
    .await;
    finish(printer, conn, result, args.results.as_deref()).await
}

/// `w365 --server URL assign|unassign --from FILE`: the result document of the bulk job printed
/// as an inline run prints it (the table, `-o json` or `-o csv`, the results file, the exit status).
pub(crate) fn print_job_result(
    printer: &Printer,
    results: Option<&Path>,
    server: &str,
    command: &'static str,
    result: &serde_json::Value,
) -> anyhow::Result<ExitStatus> {
    let field = |name: &str| result.get(name).cloned().unwrap_or_default();
    let rows: Vec<RowResult> = serde_json::from_value(field("rows"))?;
    // `assign --from` only, as inline.
    let capacity: Option<Vec<SkuCapacity>> = command
        .starts_with("assign")
        .then(|| serde_json::from_value(field("capacity")).unwrap_or_default());
    let run = Run {
        command,
        target: format!(
            "{} through {server}",
            result["tenant"].as_str().unwrap_or_default()
        ),
        dry_run: false,
        rows,
        capacity,
        empty_rows: serde_json::from_value(field("emptyRows")).unwrap_or_default(),
        ticket_sent_to: result["ticketSentTo"].as_str().map(str::to_owned),
        graph_requests: result["graphRequests"].as_u64().unwrap_or_default(),
    };
    print_run(printer, results, run)
}

/// What a bulk run (or its dry run) came to, as printed.
struct Run {
    command: &'static str,
    target: String,
    dry_run: bool,
    rows: Vec<RowResult>,
    /// `assign --from` only.
    capacity: Option<Vec<SkuCapacity>>,
    empty_rows: Vec<u64>,
    ticket_sent_to: Option<String>,
    graph_requests: u64,
}

/// Writes the results file, prints the run (one JSON document, CSV or the table for assign and
/// unassign files alike) and returns the exit status.
fn print_run(printer: &Printer, results: Option<&Path>, run: Run) -> anyhow::Result<ExitStatus> {
    write_results_file(results, &run.rows)?;
    let status = exit_status(&run.rows);
    match printer.format() {
        OutputFormat::Json => {
            let mut doc = json!({
                "schemaVersion": 1,
                "command": run.command,
                "target": run.target,
                "dryRun": run.dry_run,
                "ok": status == ExitStatus::Success,
                "exitCode": status.code(),
                "rows": run.rows,
                "emptyRows": run.empty_rows,
                "graphRequests": run.graph_requests,
            });
            if let Some(capacity) = &run.capacity {
                doc["capacity"] = json!(capacity);
                doc["ticketSentTo"] = json!(run.ticket_sent_to);
            }
            printer.json(&doc);
        }
        OutputFormat::Csv => {
            let mut out = Vec::new();
            bulk::write_csv(&mut out, &run.rows)?;
            printer.csv(&String::from_utf8_lossy(&out));
        }
        OutputFormat::Human | OutputFormat::Wide => printer.result(&table(
            &run.rows,
            run.capacity.as_deref().unwrap_or_default(),
            run.dry_run,
            run.ticket_sent_to.as_deref(),
            run.graph_requests,
            &run.empty_rows,
        )),
    }
    Ok(status)
}

fn table(
    rows: &[RowResult],
    capacity: &[SkuCapacity],
    dry_run: bool,
    ticket: Option<&str>,
    requests: u64,
    empty_rows: &[u64],
) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|r| r.user.len()).max().unwrap_or(4).max(4);
    out.push_str(&format!(
        "{:>5}  {:<width$}  {:<16}  DETAIL\n",
        "ROW", "USER", "OUTCOME"
    ));
    for r in rows {
        let mut detail = r.detail.clone();
        if r.outcome == Outcome::Assign {
            let mut groups = r.add_to.clone();
            groups.extend(r.license_group.clone());
            detail = format!("add to {}", groups.join(", "));
        }
        if let Some(m) = &r.mail {
            detail = format!("{detail}; mail: {m}");
        }
        if let Some(c) = &r.column {
            detail = format!("[{c}] {detail}");
        }
        if let Some(f) = &r.fix {
            detail = format!("{detail} (fix: {f})");
        }
        out.push_str(&format!(
            "{:>5}  {:<width$}  {:<16}  {detail}\n",
            r.row,
            r.user,
            r.outcome.as_str()
        ));
    }
    for c in capacity {
        out.push_str(&format!(
            "\n{}: {} free, {} planned, {} blocked",
            c.sku, c.available, c.planned, c.blocked
        ));
    }
    if !empty_rows.is_empty() {
        let list: Vec<String> = empty_rows.iter().map(u64::to_string).collect();
        out.push_str(&format!("\nempty rows skipped: {}", list.join(", ")));
    }
    let counts = [
        Outcome::Assign,
        Outcome::Assigned,
        Outcome::AlreadyAssigned,
        Outcome::Unassign,
        Outcome::Unassigned,
        Outcome::NothingToDo,
        Outcome::Blocked,
        Outcome::Invalid,
        Outcome::Failed,
    ]
    .iter()
    .filter_map(|o| {
        let n = rows.iter().filter(|r| r.outcome == *o).count();
        (n > 0).then(|| format!("{n} {}", o.as_str()))
    })
    .collect::<Vec<_>>()
    .join(", ");
    out.push_str(&format!(
        "\n{}{} row(s): {counts}; {requests} Graph request(s)",
        if dry_run {
            "dry run, nothing changed. "
        } else {
            ""
        },
        rows.len()
    ));
    if let Some(t) = ticket {
        out.push_str(&format!(
            "\none out-of-licences ticket for the blocked rows sent to {t}"
        ));
    }
    out
}

/// `--results FILE`: one line per row (assign and unassign files alike).
fn write_results_file(path: Option<&Path>, rows: &[RowResult]) -> Result<(), w365_ops::Error> {
    let Some(path) = path else {
        return Ok(());
    };
    bulk::write_results(path, rows).map_err(|e| w365_ops::Error::InvalidInput {
        reason: format!("cannot write the results file {}: {e}", path.display()),
    })
}
