//! What the Cloud PC lifecycle commands (unassign, reprovision, resize, cloudpc actions) share:
//! the consent gate between planning and executing, and printing the outcome (one JSON document,
//! or a summary for people).

use serde::Serialize;
use serde_json::Value;
use w365_ops::cloud_pc::Failure;
use w365_ops::execute::StepReport;
use w365_ops::plan::Plan;

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::consent::{self, ConsentError};
use crate::exit::{self, ExitStatus};
use crate::output::{ErrorReport, Printer, envelope};

/// The consent gate of an operation: w365-ops calls [`Gate::approve`] with the plan it made
/// (reads only) before carrying any of it out; the gate asks (crate::consent) and keeps the
/// refusal for the report.
pub(crate) struct Gate<'p> {
    printer: &'p Printer,
    yes: bool,
    what: String,
    needs_consent: fn(&Plan) -> bool,
    pub refusal: Option<ConsentError>,
}

impl<'p> Gate<'p> {
    /// A gate that asks for every non-empty plan.
    pub fn new(printer: &'p Printer, yes: bool, what: impl Into<String>) -> Self {
        Self::when(printer, yes, what, |plan| !plan.is_empty())
    }

    /// A gate that asks only when `needs_consent(plan)`.
    pub fn when(
        printer: &'p Printer,
        yes: bool,
        what: impl Into<String>,
        needs_consent: fn(&Plan) -> bool,
    ) -> Self {
        Self {
            printer,
            yes,
            what: what.into(),
            needs_consent,
            refusal: None,
        }
    }

    /// `true`: carry the plan out.
    pub fn approve(&mut self, plan: &Plan) -> bool {
        if !(self.needs_consent)(plan) {
            return true;
        }
        self.printer.finish();
        match consent::require(&self.what, &plan.to_string(), self.yes) {
            Ok(()) => true,
            Err(refusal) => {
                self.refusal = Some(refusal);
                false
            }
        }
    }
}

/// How a lifecycle command ended, for its summary.
pub(crate) struct Ending<'a> {
    /// "sandbox", the profile name, ...
    pub target: &'a str,
    /// Carried out without an error.
    pub ok: bool,
    /// Not carried out for lack of consent (the plan is shown, nothing changed).
    pub refused: bool,
}

/// The JSON document of a lifecycle command: the envelope plus the report's fields.
pub(crate) fn document(
    command: &str,
    report: &impl Serialize,
    target: &str,
    status: ExitStatus,
    error: Option<&ErrorReport>,
) -> Value {
    let mut doc = envelope(command, Some(target), status, error);
    if let Ok(Value::Object(body)) = serde_json::to_value(report) {
        doc.extend(body);
    }
    Value::Object(doc)
}

/// Closes the connection and prints the outcome of an operation (document or summary).
pub(crate) async fn conclude<R: Serialize>(
    command: &str,
    conn: Connection,
    result: Result<R, Failure<R>>,
    refusal: Option<ConsentError>,
    printer: &Printer,
    summary: impl Fn(&R, &Ending<'_>) -> String,
) -> anyhow::Result<ExitStatus> {
    let target_name = conn.target_name.clone();
    let closed = conn.close().await;
    printer.finish();
    let (report, error_report) = match (result, refusal) {
        (Err(failure), _) => (*failure.report, Some(exit::report(&failure.error))),
        (Ok(report), Some(refusal)) => (report, Some(exit::report(&refusal))),
        (Ok(report), None) => (report, None),
    };
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
            let refused = error_report
                .as_ref()
                .is_some_and(|e| matches!(e.kind, "consentRequired" | "notConfirmed"));
            let ending = Ending {
                target: &target_name,
                ok: error_report.is_none(),
                refused,
            };
            printer.result(&summary(&report, &ending));
        }
    }
    closed?;
    Ok(status)
}

/// Human lines for a plan that was not carried out (dry run, or refused) or the steps that ran.
pub(crate) fn plan_and_steps(
    dry_run: bool,
    ending: &Ending<'_>,
    plan: &Plan,
    steps: &[StepReport],
) -> Vec<String> {
    let mut lines = Vec::new();
    if dry_run {
        lines.push("Plan (dry run: nothing was changed, no mail was sent):".into());
        lines.push(plan.to_string());
    } else if ending.refused {
        lines.push("Plan (not carried out: nothing was changed, no mail was sent):".into());
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
