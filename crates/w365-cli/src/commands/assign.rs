//! `w365 assign <user>`.

use serde_json::Value;
use w365_ops::assign::AssignReport;

use crate::cli::{AssignArgs, OutputFormat};
use crate::connect::Connection;
use crate::exit::{self, ExitStatus};
use crate::output::{ErrorReport, Printer};
use crate::settings::{Settings, Target, resolve_assign};

use super::lifecycle::{self, Ending};
use super::summary;

use super::sandbox::print_mail;

pub async fn run(
    settings: &Settings,
    args: &AssignArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if let Some(file) = &args.from {
        return super::bulk::run(settings, args, file, printer).await;
    }
    if args.user.trim().is_empty() {
        return Err(crate::settings::SettingsError::Usage(
            "w365 assign needs a USER (e.g. megan.bowen@contoso.com) or --from FILE".into(),
        )
        .into());
    }
    let target = settings.target()?;
    let sandbox = matches!(target, Target::Sandbox { .. });
    let opts = resolve_assign(args, target.profile(), sandbox)?;
    // Refuse bad input before connecting to anything.
    opts.validate()?;

    let conn = Connection::open(target).await?;
    let target_name = conn.target_name.clone();
    let result = w365_ops::assign::assign(&conn.client, &opts, printer).await;
    let sandbox_mail = conn
        .sandbox
        .as_ref()
        .map(|s| s.new_mail())
        .unwrap_or_default();
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

    let doc = document(&report, &target_name, status, error_report.as_ref());
    match printer.format() {
        OutputFormat::Json => printer.json(&doc),
        _ => {
            if let Some(e) = &error_report {
                printer.error(e);
            }
            let ending = Ending {
                target: &target_name,
                ok: error_report.is_none(),
                refused: false,
            };
            printer.result(&summary::render("assign", &doc, &ending).unwrap_or_default());
            for mail in &sandbox_mail {
                printer.result(&print_mail(mail, "sent (sandbox outbox)"));
            }
        }
    }
    closed?;
    Ok(status)
}

/// The stable JSON result document of `assign`.
pub fn document(
    report: &AssignReport,
    target: &str,
    status: ExitStatus,
    error: Option<&ErrorReport>,
) -> Value {
    lifecycle::document("assign", report, target, status, error)
}
