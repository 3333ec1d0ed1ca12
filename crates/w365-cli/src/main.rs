//! `w365`: provision and manage Windows 365 Cloud PCs through Microsoft Graph.
//!
//! The binary stays thin: parse (clap) → resolve settings → run a command from `w365-ops` →
//! print (human or JSON) → exit with a documented code (see [`exit::ExitStatus`]).

mod cli;
mod commands;
mod connect;
mod consent;
mod exit;
mod ops_spec;
mod output;
mod settings;

use std::process::ExitCode;

use std::io::Write as _;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, OutputFormat};
use crate::exit::ExitStatus;
use crate::output::{ErrorReport, Printer};
use crate::settings::Settings;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return usage_error(&e, &args),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e, &args),
    };
    let command = command_path(&matches);
    init_tracing(cli.global.verbose, command == "serve");
    let printer = Printer::new(cli.global.output, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitStatus::Unexpected.into();
        }
    };
    let status = runtime.block_on(run(&cli, &command, &printer));
    printer.finish();
    status.into()
}

/// A clap error: help and version are printed and succeed; anything else is a usage error
/// (exit 2) on stderr, and with `-o json` also the JSON error document (kind `usage`) on stdout.
fn usage_error(e: &clap::Error, args: &[std::ffi::OsString]) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitStatus::Success.into();
    }
    if json_requested(args) {
        // clap's first paragraph, on one line ("the following required arguments were not
        // provided: <USER>"); the usage and tips stay on stderr.
        let rendered = e.render().to_string();
        let message = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            // clap prints the help; the document names what is missing.
            "a subcommand is required".to_owned()
        } else {
            rendered
                .trim_start()
                .split("\n\n")
                .next()
                .unwrap_or("invalid command line")
                .trim_start_matches("error: ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let report = ErrorReport {
            kind: ExitStatus::Usage.kind(),
            message,
            chain: Vec::new(),
            hint: Some("see `w365 --help` (or `w365 COMMAND --help`)".into()),
            exit: ExitStatus::Usage,
        };
        let doc = output::envelope(
            &command_path_of_args(args),
            None,
            ExitStatus::Usage,
            Some(&report),
        );
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut out, &serde_json::Value::Object(doc));
        let _ = writeln!(out);
    }
    let _ = e.print();
    ExitStatus::Usage.into()
}

/// Whether the raw command line (or `W365_OUTPUT`) asks for JSON: `-o json`, `-ojson`,
/// `-o=json`, `--output json`, `--output=json`; the last one given wins.
fn json_requested(args: &[std::ffi::OsString]) -> bool {
    let mut format = std::env::var("W365_OUTPUT").ok();
    let mut iter = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        if arg == "-o" || arg == "--output" {
            format = iter.next().map(|v| v.into_owned());
        } else if let Some(v) = arg
            .strip_prefix("--output=")
            .or_else(|| arg.strip_prefix("-o="))
            .or_else(|| arg.strip_prefix("-o"))
        {
            format = Some(v.to_owned());
        }
    }
    format.is_some_and(|f| f.trim().eq_ignore_ascii_case("json"))
}

/// The command as typed, e.g. `policy sync` (from clap's matches).
fn command_path(matches: &clap::ArgMatches) -> String {
    let mut names = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        names.push(name.to_owned());
        current = sub;
    }
    if names.is_empty() {
        "w365".into()
    } else {
        names.join(" ")
    }
}

/// The command of a command line clap refused: its known subcommand names, in order.
fn command_path_of_args(args: &[std::ffi::OsString]) -> String {
    let mut names = Vec::new();
    let mut cmd = Cli::command();
    for arg in args.iter().skip(1) {
        let arg = arg.to_string_lossy();
        if arg.starts_with('-') {
            continue;
        }
        let Some(sub) = cmd.find_subcommand(arg.as_ref()).cloned() else {
            continue;
        };
        names.push(sub.get_name().to_owned());
        if sub.get_subcommands().next().is_none() {
            break;
        }
        cmd = sub;
    }
    if names.is_empty() {
        "w365".into()
    } else {
        names.join(" ")
    }
}

async fn run(cli: &Cli, command: &str, printer: &Printer) -> ExitStatus {
    let mut tenant = None;
    let result = async {
        let settings = Settings::resolve(&cli.global)?;
        tenant = settings.target_label();
        if let Some(server) = cli.global.server.as_deref()
            && let Some(status) =
                commands::remote::dispatch(server, &settings, &cli.command, printer).await?
        {
            return Ok(status);
        }
        match &cli.command {
            Command::Assign(args) => commands::assign::run(&settings, args, printer).await,
            Command::Policy { command } => commands::policy::run(&settings, command, printer).await,
            Command::UserSettings { command } => {
                commands::user_settings::run(&settings, command, printer).await
            }
            Command::Unassign(args) => commands::unassign::run(&settings, args, printer).await,
            Command::Reprovision(args) => {
                commands::reprovision::run(&settings, args, printer).await
            }
            Command::Resize(args) => commands::resize::run(&settings, args, printer).await,
            Command::Cloudpc { command } => {
                commands::cloudpc::run(&settings, command, printer).await
            }
            Command::Capacity(args) => commands::capacity::run(&settings, args, printer).await,
            Command::Snapshot { command } => {
                commands::snapshot::run(&settings, command, printer).await
            }
            Command::Usage(args) => commands::usage::run(&settings, args, printer).await,
            Command::Network { command } => {
                commands::network::run(&settings, command, printer).await
            }
            Command::Image { command } => commands::image::run(&settings, command, printer).await,
            Command::OrgSettings { command } => {
                commands::org_settings::run(&settings, command, printer).await
            }
            Command::Reclaim(args) => commands::reclaim::run(&settings, args, printer).await,
            Command::AuditEvents(args) => {
                commands::audit_events::run(&settings, args, printer).await
            }
            Command::BulkAction { command } => {
                commands::bulk_action::run(&settings, command, printer).await
            }
            Command::Regions => commands::regions::run(&settings, printer).await,
            Command::Sandbox { command } => commands::sandbox::run(command, printer).await,
            Command::Sim { command } => commands::sim::run(command, printer).await,
            Command::Completions { shell } => commands::docs::completions(*shell),
            Command::Man => commands::docs::man(),
            Command::Worker(args) => commands::worker::run(&settings, args, printer).await,
            Command::Serve(args) => commands::serve::run(&settings, args, printer).await,
            Command::Audit { command } => commands::audit::run(command, printer).await,
        }
    }
    .await;
    match result {
        Ok(status) => status,
        Err(err) => {
            let report = exit::report_anyhow(&err);
            if printer.format() == OutputFormat::Json {
                printer.json(&serde_json::Value::Object(output::envelope(
                    command,
                    tenant.as_deref(),
                    report.exit,
                    Some(&report),
                )));
            }
            printer.error(&report);
            report.exit
        }
    }
}

/// Logs on stderr: warnings by default, more with `-v`/`-vv`/`-vvv`, or what `W365_LOG` says
/// (an `EnvFilter`). `w365 serve` also logs one line per request by default (the server's request
/// target at info: request id, method, path, status, duration).
fn init_tracing(verbose: u8, serving: bool) {
    let default = match verbose {
        0 if serving => format!("warn,{}=info", w365_server::middleware::REQUEST_LOG_TARGET),
        0 => "warn".to_owned(),
        1 => "info,w365_graph=info".to_owned(),
        2 => "debug,hyper=info,reqwest=info".to_owned(),
        _ => "trace".to_owned(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("W365_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a log file or a collector gets plain lines.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}
