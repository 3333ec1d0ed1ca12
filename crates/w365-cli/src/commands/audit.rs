//! `w365 audit verify|export`: the append-only audit log of the job database. Each record carries
//! the hash of the previous one; `verify` recomputes the chain and names the first broken record.

use std::io::Write;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use w365_jobs::{AuditFilter, AuditRecord, AuditVerdict};

use crate::cli::{OutputFormat, parse_duration};
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::SettingsError;

use super::worker::{database_url, display_url};

/// `w365 audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the whole audit log; names the first broken record
    Verify(DatabaseArg),
    /// Write the audit log (oldest first) to stdout as JSON lines or CSV
    Export(ExportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArg {
    /// The job database: sqlite://PATH?mode=rwc or postgres://USER@HOST/DB
    /// [default: sqlite://$XDG_DATA_HOME/w365/jobs.db?mode=rwc]
    #[arg(long, env = "W365_DATABASE", value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line
    Jsonl,
    /// A header line, then one line per record
    Csv,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub database: DatabaseArg,

    /// Output format
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,

    /// Only records at or after TIME: an RFC 3339 time (2026-03-01T00:00:00Z) or an age (24h, 7d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

/// Parses `--since`: an RFC 3339 time, or an age counted back from `now`.
pub fn parse_since(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, SettingsError> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    match parse_duration(text) {
        Ok(age) => Ok(now - age),
        Err(_) => Err(SettingsError::Usage(format!(
            "--since '{text}' is neither an RFC 3339 time (e.g. 2026-03-01T00:00:00Z) nor an age (e.g. 24h, 7d)"
        ))),
    }
}

/// One CSV line per record (the actor flattened; the input as JSON text).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CsvRow<'a> {
    seq: i64,
    at: String,
    actor_object_id: &'a str,
    actor_upn: &'a str,
    actor_display_name: &'a str,
    tenant: &'a str,
    operation: &'a str,
    target: &'a str,
    input: String,
    outcome: &'a str,
    job_id: String,
    request_id: &'a str,
    prev_hash: &'a str,
    hash: &'a str,
}

fn csv_row(r: &AuditRecord) -> CsvRow<'_> {
    CsvRow {
        seq: r.seq,
        at: r.at.format(&Rfc3339).unwrap_or_default(),
        actor_object_id: &r.actor.object_id,
        actor_upn: &r.actor.upn,
        actor_display_name: &r.actor.display_name,
        tenant: &r.tenant,
        operation: &r.operation,
        target: r.target.as_deref().unwrap_or(""),
        input: r.input.to_string(),
        outcome: &r.outcome,
        job_id: r.job_id.map(|j| j.to_string()).unwrap_or_default(),
        request_id: r.request_id.as_deref().unwrap_or(""),
        prev_hash: &r.prev_hash,
        hash: &r.hash,
    }
}

pub async fn run(command: &AuditCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let db = match command {
        AuditCommand::Verify(db) => db,
        AuditCommand::Export(args) => &args.database,
    };
    let url = database_url(db.database.as_deref())?;
    let store = w365_jobs::connect(&url)
        .await
        .with_context(|| format!("could not open the job database {}", display_url(&url)))?;
    match command {
        AuditCommand::Verify(_) => {
            let verdict = store
                .audit_verify()
                .await
                .context("could not read the audit log")?;
            let status = match verdict {
                AuditVerdict::Ok { .. } => ExitStatus::Success,
                AuditVerdict::Broken { .. } => ExitStatus::Unexpected,
            };
            if printer.format() == OutputFormat::Json {
                printer.json(&json!({
                    "schemaVersion": 1,
                    "command": "audit verify",
                    "ok": status == ExitStatus::Success,
                    "exitCode": status.code(),
                    "verdict": verdict,
                }));
            } else {
                match &verdict {
                    AuditVerdict::Ok { count } => printer.result(&format!(
                        "The audit log is intact: {count} record(s), every hash and link checks out."
                    )),
                    AuditVerdict::Broken { seq, reason } => {
                        printer.result(&format!(
                            "The audit log is BROKEN at record {seq}: {reason}\n\
                             Records before {seq} check out; this record or its predecessor was changed or removed \
                             after it was written. Keep the database as it is and compare it with a backup or an export."
                        ));
                    }
                }
            }
            Ok(status)
        }
        AuditCommand::Export(args) => {
            let since = args
                .since
                .as_deref()
                .map(|s| parse_since(s, OffsetDateTime::now_utc()))
                .transpose()?;
            let mut filter = AuditFilter {
                since,
                limit: Some(1000),
                ..AuditFilter::default()
            };
            let mut json_out = std::io::BufWriter::new(std::io::stdout());
            let mut csv_out = (args.format == ExportFormat::Csv)
                .then(|| csv::Writer::from_writer(std::io::stdout()));
            let mut count = 0u64;
            loop {
                let page = store
                    .audit_list(&filter)
                    .await
                    .context("could not read the audit log")?;
                for record in &page.items {
                    count += 1;
                    match &mut csv_out {
                        Some(w) => w
                            .serialize(csv_row(record))
                            .context("could not write CSV")?,
                        None => {
                            serde_json::to_writer(&mut json_out, record)
                                .context("could not write JSON")?;
                            json_out
                                .write_all(b"\n")
                                .context("could not write to stdout")?;
                        }
                    }
                }
                match page.next_cursor {
                    Some(cursor) => filter.cursor = Some(cursor),
                    None => break,
                }
            }
            if let Some(w) = &mut csv_out {
                w.flush().context("could not write to stdout")?;
            }
            json_out.flush().context("could not write to stdout")?;
            printer.note(&format!("{count} audit record(s) exported"));
            Ok(ExitStatus::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_an_age() {
        let now = time::macros::datetime!(2026-03-02 12:00 UTC);
        assert_eq!(
            parse_since("2026-03-01T00:00:00Z", now).unwrap(),
            time::macros::datetime!(2026-03-01 00:00 UTC)
        );
        assert_eq!(
            parse_since("24h", now).unwrap(),
            time::macros::datetime!(2026-03-01 12:00 UTC)
        );
        assert!(parse_since("yesterday", now).is_err());
    }
}
