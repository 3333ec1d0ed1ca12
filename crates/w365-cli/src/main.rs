//! `w365`: provision and manage Windows 365 Cloud PCs through Microsoft Graph.
//!
//! The binary stays thin: parse (clap) → resolve settings → run a command from `w365-ops` →
//! print (human or JSON) → exit with a documented code (see [`exit::ExitStatus`]).

mod cli;
mod commands;
mod connect;
mod exit;
mod ops_spec;
mod output;
mod settings;

use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use crate::cli::{Cli, Command, OutputFormat};
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::Settings;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Usage.into()
            } else {
                ExitStatus::Success.into()
            };
        }
    };
    init_tracing(cli.global.verbose);
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
    let status = runtime.block_on(run(&cli, &printer));
    printer.finish();
    status.into()
}

async fn run(cli: &Cli, printer: &Printer) -> ExitStatus {
    let result = async {
        let settings = Settings::resolve(&cli.global)?;
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
            Command::Sandbox { command } => commands::sandbox::run(command, printer).await,
            Command::Sim { command } => commands::sim::run(command, printer).await,
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
                printer.json(&json!({
                    "schemaVersion": 1,
                    "command": command_name(&cli.command),
                    "ok": false,
                    "exitCode": report.exit.code(),
                    "error": report,
                }));
            }
            printer.error(&report);
            report.exit
        }
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Assign(_) => "assign",
        Command::Policy { .. } => "policy",
        Command::UserSettings { .. } => "user-settings",
        Command::Unassign(_) => "unassign",
        Command::Reprovision(_) => "reprovision",
        Command::Resize(_) => "resize",
        Command::Cloudpc { .. } => "cloudpc",
        Command::Capacity(_) => "capacity",
        Command::Sandbox { .. } => "sandbox",
        Command::Sim { .. } => "sim serve",
        Command::Worker(_) => "worker",
        Command::Serve(_) => "serve",
        Command::Audit { .. } => "audit",
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,w365_graph=info",
        2 => "debug,hyper=info,reqwest=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("W365_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
