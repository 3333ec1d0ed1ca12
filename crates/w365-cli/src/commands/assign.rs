//! `w365 assign <user>`.

use serde_json::Value;
use w365_ops::assign::{AssignPath, AssignReport};
use w365_ops::execute::MailKind;

use crate::cli::{AssignArgs, OutputFormat};
use crate::connect::Connection;
use crate::exit::{self, ExitStatus};
use crate::output::{ErrorReport, Printer};
use crate::settings::{Settings, Target, resolve_assign};

use super::lifecycle;

use super::sandbox::print_mail;

pub async fn run(
    settings: &Settings,
    args: &AssignArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
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

    match printer.format() {
        OutputFormat::Json => printer.json(&document(
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

fn summary(report: &AssignReport, target: &str, ok: bool) -> String {
    let mut lines = Vec::new();
    let user = report
        .user
        .as_ref()
        .map_or(report.requested_user.as_str(), |u| {
            u.user_principal_name.as_str()
        });
    let path = match &report.path {
        Some(AssignPath::Dedicated {
            sku, license_group, ..
        }) => {
            format!(
                "dedicated: {} through '{}'",
                sku.sku_part_number, license_group.display_name
            )
        }
        Some(AssignPath::Frontline {
            policy,
            assignment_group,
            ..
        }) => format!(
            "Frontline: policy '{}' through '{}'",
            policy.display_name, assignment_group.display_name
        ),
        None => String::new(),
    };
    if report.dry_run {
        lines.push(format!(
            "Dry run for {user} on {target}{}: nothing was changed, no mail was sent.",
            if path.is_empty() {
                String::new()
            } else {
                format!(" ({path})")
            }
        ));
        for kept in &report.kept_memberships {
            lines.push(format!(
                "  keeps the {} '{}'",
                kept.role, kept.group.display_name
            ));
        }
        if let Some(c) = &report.capacity {
            lines.push(format!(
                "  free: {} of {} {}",
                c.available.max(0),
                c.total,
                c.name
            ));
        }
        if let Some(blocked) = &report.blocked {
            let w365_ops::assign::Blocked::OutOfLicenses { detail, .. } = blocked;
            lines.push(format!("  would stop: {detail}"));
        }
        lines.push("Plan:".into());
        lines.push(report.plan.to_string());
    } else if ok {
        lines.push(format!(
            "Done: {user} is assigned a Windows 365 Cloud PC on {target} ({path})."
        ));
        for kept in &report.kept_memberships {
            lines.push(format!(
                "  kept the {} '{}'",
                kept.role, kept.group.display_name
            ));
        }
    }
    if let Some(pc) = &report.cloud_pc {
        lines.push(format!(
            "  Cloud PC: {} ({}){}",
            pc.display_name.as_deref().unwrap_or(&pc.id),
            pc.status.as_deref().unwrap_or("unknown status"),
            pc.status_detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ));
    }
    for mail in &report.mails {
        let kind = match mail.kind {
            MailKind::CloudPcReady | MailKind::CloudPcReprovisioning | MailKind::AccessGranted => {
                "mail"
            }
            MailKind::OutOfLicensesTicket => "ticket",
        };
        lines.push(format!(
            "  {kind} sent: \"{}\" from {} to {}",
            mail.subject, mail.from, mail.to
        ));
    }
    lines.push(format!("  Graph requests: {}", report.graph_requests));
    lines.join("\n")
}
