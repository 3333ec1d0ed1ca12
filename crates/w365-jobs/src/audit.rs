//! The audit log: append-only, one record per change requested, refused or finished.
//!
//! Each record carries `prev_hash`, the hash of the record before it (64 zeros for the first), and
//! `hash`, the SHA-256 of its own canonical form ([`record_hash`]) — a chain: changing, inserting or
//! removing a record breaks it from that record on, and [`JobStore::audit_verify`] names the first
//! broken one. On PostgreSQL a trigger also refuses `UPDATE`, `DELETE` and `TRUNCATE` on the table.
//!
//! Callers append the records of changes requested or refused; the store appends each job's
//! "finished" record (outcome = succeeded, failed or cancelled) in the transaction that finishes
//! the job.
//!
//! Records hold identities copied at the time (so they survive the user's deletion) and inputs that
//! were redacted before they got here: never a secret or a token.
//!
//! [`JobStore::audit_verify`]: crate::JobStore::audit_verify

use std::io::Write;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{Identity, JobId};

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record to append. `at` is set by the store's clock when `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAuditRecord {
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub at: Option<OffsetDateTime>,
    pub actor: Identity,
    pub tenant: String,
    pub operation: String,
    pub target: Option<String>,
    /// Redacted inputs.
    pub input: serde_json::Value,
    /// "submitted", "refused", "succeeded", "failed", "cancelled", ...
    pub outcome: String,
    pub job_id: Option<JobId>,
    pub request_id: Option<String>,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: Identity,
    pub tenant: String,
    pub operation: String,
    pub target: Option<String>,
    pub input: serde_json::Value,
    pub outcome: String,
    pub job_id: Option<JobId>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// Filters for [`JobStore::audit_list`](crate::JobStore::audit_list); oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuditFilter {
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    pub tenant: Option<String>,
    /// The actor's UPN.
    pub actor: Option<String>,
    pub operation: Option<String>,
    pub job_id: Option<JobId>,
    /// Page size (default 100, at most 1,000).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Result of [`JobStore::audit_verify`](crate::JobStore::audit_verify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "verdict")]
pub enum AuditVerdict {
    /// Every record's hash and link checked out.
    Ok { count: u64 },
    /// The first record (by seq) that does not check out, and why.
    Broken { seq: i64, reason: String },
}

/// The stored form of a record's fields, as hashed.
pub(crate) struct StoredFields<'a> {
    pub seq: i64,
    pub at_us: i64,
    pub actor: &'a Identity,
    pub tenant: &'a str,
    pub operation: &'a str,
    pub target: Option<&'a str>,
    pub input: &'a str,
    pub outcome: &'a str,
    pub job_id: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub prev_hash: &'a str,
}

/// SHA-256 (hex) of a record's canonical form: a JSON array of its stored fields in a fixed order
/// (seq, at in µs, actor object id, UPN, display name, tenant, operation, target, input text,
/// outcome, job id, request id, prev_hash).
pub(crate) fn record_hash(f: &StoredFields<'_>) -> String {
    let canonical = serde_json::json!([
        f.seq,
        f.at_us,
        f.actor.object_id,
        f.actor.upn,
        f.actor.display_name,
        f.tenant,
        f.operation,
        f.target,
        f.input,
        f.outcome,
        f.job_id,
        f.request_id,
        f.prev_hash,
    ]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes records as JSON lines (one record per line).
pub fn write_jsonl<W: Write>(out: &mut W, records: &[AuditRecord]) -> std::io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut *out, r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The CSV header [`write_csv`] writes.
pub const CSV_HEADER: [&str; 14] = [
    "seq",
    "at",
    "actorObjectId",
    "actorUpn",
    "actorDisplayName",
    "tenant",
    "operation",
    "target",
    "input",
    "outcome",
    "jobId",
    "requestId",
    "prevHash",
    "hash",
];

/// Writes records as CSV with a header row; `input` is the JSON text.
pub fn write_csv<W: Write>(
    out: &mut W,
    records: &[AuditRecord],
    header: bool,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let io = |e: csv::Error| std::io::Error::other(e.to_string());
    if header {
        w.write_record(CSV_HEADER).map_err(io)?;
    }
    for r in records {
        let at =
            r.at.format(&time::format_description::well_known::Rfc3339)
                .map_err(std::io::Error::other)?;
        w.write_record([
            r.seq.to_string(),
            at,
            r.actor.object_id.clone(),
            r.actor.upn.clone(),
            r.actor.display_name.clone(),
            r.tenant.clone(),
            r.operation.clone(),
            r.target.clone().unwrap_or_default(),
            r.input.to_string(),
            r.outcome.clone(),
            r.job_id.map(|j| j.to_string()).unwrap_or_default(),
            r.request_id.clone().unwrap_or_default(),
            r.prev_hash.clone(),
            r.hash.clone(),
        ])
        .map_err(io)?;
    }
    w.flush()
}
