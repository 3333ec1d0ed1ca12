//! The journal of a bulk run, and the row bookkeeping both bulk executors share.
//!
//! A journal is a file of JSON lines next to the input, one line per (user, finished step). A run
//! interrupted at any point (Ctrl-C, kill -9, the network gone) and started again with the same
//! command reads it back: the steps it lists are not done again. A step that must not happen twice
//! (a mail) is recorded twice: as begun before the request, as finished after it; begun without
//! finished is an unknown outcome, reported and never repeated.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use super::{Outcome, Progress, RowResult};
use crate::error::{Error, Result};

#[derive(Debug, Serialize, Deserialize)]
struct JournalEntry {
    user: String,
    step: String,
}

/// What a journal says is done, per user (lower-case UPN).
#[derive(Debug, Default, Clone)]
pub struct JournalState(HashMap<String, HashSet<String>>);

/// Where a journal lives: a file next to the input (inline runs), or a job's checkpoint.
#[derive(Debug, Clone)]
pub(crate) enum JournalHome {
    File(PathBuf),
    Job(JournalState),
}

/// Saves a job's whole journal (as [`JournalState::to_value`]) durably before returning.
pub trait JournalSink: Send + Sync {
    fn save<'a>(
        &'a self,
        journal: serde_json::Value,
    ) -> Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send + 'a>>;
}

impl JournalState {
    /// The journal a job saved (`null` or anything else unreadable: none yet).
    pub fn from_value(value: &serde_json::Value) -> Self {
        let mut out: HashMap<String, HashSet<String>> = HashMap::new();
        let entries: Vec<JournalEntry> = serde_json::from_value(value.clone()).unwrap_or_default();
        for e in entries {
            out.entry(e.user.to_lowercase()).or_default().insert(e.step);
        }
        Self(out)
    }

    /// The journal as a JSON array of `{user, step}`, sorted (what a job saves).
    pub fn to_value(&self) -> serde_json::Value {
        let mut entries: Vec<JournalEntry> = self
            .0
            .iter()
            .flat_map(|(user, steps)| {
                steps.iter().map(|step| JournalEntry {
                    user: user.clone(),
                    step: step.clone(),
                })
            })
            .collect();
        entries.sort_by(|a, b| (&a.user, &a.step).cmp(&(&b.user, &b.step)));
        serde_json::to_value(entries).unwrap_or_default()
    }

    /// Reads a journal (none yet: empty). A line cut by a kill is ignored: its step is redone
    /// (every step that is not a mail is idempotent; a mail's "begun" line is written first).
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let mut out: HashMap<String, HashSet<String>> = HashMap::new();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self(out)),
            Err(e) => {
                return Err(Error::InvalidInput {
                    reason: format!("cannot read the journal {}: {e}", path.display()),
                });
            }
        };
        for line in text.lines() {
            if let Ok(e) = serde_json::from_str::<JournalEntry>(line) {
                out.entry(e.user.to_lowercase()).or_default().insert(e.step);
            }
        }
        Ok(Self(out))
    }

    pub(crate) fn has(&self, user: &str, step: &str) -> bool {
        self.0
            .get(&user.to_lowercase())
            .is_some_and(|s| s.contains(step))
    }
}

/// A journal open for appending; it also knows what earlier runs recorded.
pub(crate) struct Journal<'a> {
    file: Option<std::fs::File>,
    sink: Option<&'a dyn JournalSink>,
    state: JournalState,
}

impl<'a> Journal<'a> {
    pub(crate) fn open(home: &JournalHome, sink: Option<&'a dyn JournalSink>) -> Result<Self> {
        let path = match home {
            JournalHome::Job(state) => {
                let Some(sink) = sink else {
                    return Err(Error::InvalidInput {
                        reason: "a job's bulk run needs the job to keep its journal".into(),
                    });
                };
                return Ok(Journal {
                    file: None,
                    sink: Some(sink),
                    state: state.clone(),
                });
            }
            JournalHome::File(path) => path,
        };
        let state = JournalState::read(path)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::InvalidInput {
                reason: format!("cannot write the journal {}: {e}", path.display()),
            })?;
        Ok(Journal {
            file: Some(file),
            sink: None,
            state,
        })
    }

    pub(crate) fn has(&self, user: &str, step: &str) -> bool {
        self.state.has(user, step)
    }

    /// Appends `step` for every user, durably (synced, or saved in the job) before returning.
    pub(crate) async fn record<'u>(
        &mut self,
        users: impl IntoIterator<Item = &'u str>,
        step: &str,
    ) -> Result<()> {
        let mut buf = Vec::new();
        let mut added = Vec::new();
        for user in users {
            let user = user.to_lowercase();
            serde_json::to_writer(
                &mut buf,
                &JournalEntry {
                    user: user.clone(),
                    step: step.to_owned(),
                },
            )
            .map_err(|e| Error::InvalidInput {
                reason: format!("cannot write the journal: {e}"),
            })?;
            buf.push(b'\n');
            added.push(user);
        }
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(file) = &mut self.file {
            file.write_all(&buf)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::InvalidInput {
                    reason: format!("cannot write the journal: {e}"),
                })?;
        }
        for user in added {
            self.state
                .0
                .entry(user)
                .or_default()
                .insert(step.to_owned());
        }
        if let Some(sink) = self.sink {
            sink.save(self.state.to_value())
                .await
                .map_err(|e| Error::InvalidInput {
                    reason: format!("cannot save the job's journal: {e}"),
                })?;
        }
        Ok(())
    }
}

/// A row whose step failed: its outcome, error kind and message.
pub(crate) fn fail_row(row: &mut RowResult, e: &Error) {
    row.outcome = Outcome::Failed;
    row.error_kind = Some(format!("{:?}", e.kind()).to_lowercase());
    row.detail = e.to_string();
}

/// The start every bulk executor shares: `--strict` refuses invalid rows before any change, the
/// progress starts at 0 of `total`, the journal is opened, and the requests are counted from here.
pub(crate) struct RunStart<'a> {
    pub(crate) journal: Journal<'a>,
    pub(crate) requests_before: u64,
    pub(crate) total: u64,
}

pub(crate) fn begin<'a>(
    client: &w365_graph::Client,
    strict: bool,
    rows: &[RowResult],
    journal: &JournalHome,
    sink: Option<&'a dyn JournalSink>,
    total: usize,
    progress: &dyn Progress,
) -> Result<RunStart<'a>> {
    let requests_before = client.stats().requests;
    super::refuse_invalid_rows_when_strict(strict, rows)?;
    let total = total as u64;
    progress.rows(0, total);
    Ok(RunStart {
        journal: Journal::open(journal, sink)?,
        requests_before,
        total,
    })
}
