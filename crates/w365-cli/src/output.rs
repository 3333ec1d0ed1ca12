//! Output: step-by-step progress for people (with a spinner while waiting), or one stable JSON
//! document on stdout with `--output json`. Progress and errors go to stderr; results to stdout.

use std::borrow::Cow;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use console::{Style, Term};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use w365_ops::execute::{Event, Observer, StepOutcome};
use w365_ops::wait::human_duration;

use crate::cli::OutputFormat;
use crate::exit::ExitStatus;

/// An error as printed: once, at the top, with its chain and a hint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    /// Stable machine-readable kind (`notFound`, `outOfLicenses`, ...).
    pub kind: &'static str,
    pub message: String,
    /// The causes, outermost first (without the message itself).
    pub chain: Vec<String>,
    pub hint: Option<String>,
    #[serde(skip)]
    pub exit: ExitStatus,
}

/// The envelope every JSON document starts with: `schemaVersion`, `command` (e.g.
/// `policy sync`), `tenant` (null when the command failed before it knew one), `ok`, `exitCode`
/// and `error` (null, or `{kind, message, chain, hint}`).
pub fn envelope(
    command: &str,
    tenant: Option<&str>,
    status: ExitStatus,
    error: Option<&ErrorReport>,
) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("schemaVersion".into(), json!(1));
    doc.insert("command".into(), json!(command));
    doc.insert("tenant".into(), json!(tenant));
    doc.insert("ok".into(), json!(status == ExitStatus::Success));
    doc.insert("exitCode".into(), json!(status.code()));
    doc.insert(
        "error".into(),
        error.map_or(Value::Null, |e| {
            serde_json::to_value(e).unwrap_or(Value::Null)
        }),
    );
    doc
}

/// A timestamp for people, to the second, in UTC: `2026-12-07 10:00:00 UTC`.
pub fn human_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
    ))
    .unwrap_or_default()
}

/// A timestamp for CSV, to the second: RFC 3339 in UTC, `2026-12-07T10:00:00Z`.
pub fn csv_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

/// A flat row of a CSV result.
pub trait CsvRecord {
    /// The header line (printed even when there is no row).
    const HEADER: &'static [&'static str];
    /// The cells, in header order.
    fn cells(&self) -> Vec<String>;
}

/// Rows as CSV with a header line (also for an empty result); every cell is neutralised with
/// [`csv_cell`] so that a spreadsheet never runs it as a formula.
pub fn to_csv<R: CsvRecord>(rows: &[R]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(R::HEADER)
        .context("could not write CSV")?;
    for r in rows {
        let cells = r.cells();
        writer
            .write_record(cells.iter().map(|c| csv_cell(c).into_owned()))
            .context("could not write CSV")?;
    }
    let bytes = writer.into_inner().context("could not write CSV")?;
    String::from_utf8(bytes).context("CSV is not UTF-8")
}

/// A cell that a spreadsheet would read as a formula (it starts with `=`, `+`, `-`, `@`, a tab
/// or a carriage return) gets a leading `'`, as OWASP recommends against CSV injection; plain
/// numbers (`-3`, `+1.5`) stay numbers.
pub fn csv_cell(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    !digits.is_empty()
        && digits.chars().filter(|c| *c == '.').count() <= 1
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().any(|c| c.is_ascii_digit())
}

/// Prints progress, results and errors.
pub struct Printer {
    format: OutputFormat,
    quiet: bool,
    interactive: bool,
    /// The width tables must fit (`None`: unlimited, for `-o wide` and pipes without COLUMNS).
    width: Option<u16>,
    spinner: Mutex<Option<ProgressBar>>,
    last_wait_state: Mutex<Option<String>>,
}

impl Printer {
    pub fn new(format: OutputFormat, quiet: bool) -> Self {
        Self {
            format,
            quiet,
            interactive: Term::stderr().is_term(),
            width: table_width(format),
            spinner: Mutex::new(None),
            last_wait_state: Mutex::new(None),
        }
    }

    /// The output format; `-o wide` is the human format without a width limit.
    pub fn format(&self) -> OutputFormat {
        match self.format {
            OutputFormat::Wide => OutputFormat::Human,
            other => other,
        }
    }

    /// Whether `-o wide` asked for every column.
    pub fn wide(&self) -> bool {
        self.format == OutputFormat::Wide
    }

    /// An empty table with the header, fitted to the terminal: cells wrap to fit its width
    /// (the terminal's, else `COLUMNS`); with `-o wide`, or when neither is known (a pipe),
    /// nothing is wrapped.
    pub fn table(&self, header: &[&str]) -> Table {
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY).set_header(header.to_vec());
        self.fit(&mut t);
        t
    }

    /// Fits a table to the output width (see [`Printer::table`]).
    pub fn fit(&self, table: &mut Table) {
        match self.width {
            Some(width) => {
                table
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_width(width);
            }
            None => {
                table.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
    }

    fn progress(&self) -> bool {
        self.format() == OutputFormat::Human && !self.quiet
    }

    fn spinner_set(&self, message: String) {
        if !self.interactive {
            return;
        }
        let mut guard = self.spinner.lock().unwrap_or_else(|e| e.into_inner());
        let bar = guard.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        bar.set_message(message);
    }

    fn spinner_clear(&self) {
        let mut guard = self.spinner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = guard.take() {
            bar.finish_and_clear();
        }
    }

    /// A progress line on stderr (human mode only).
    pub fn note(&self, line: &str) {
        if !self.progress() {
            return;
        }
        let guard = self.spinner.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    /// Result text on stdout (human mode, and csv mode for commands without a CSV form).
    pub fn result(&self, text: &str) {
        if self.format() == OutputFormat::Json {
            return;
        }
        self.spinner_clear();
        let _ = writeln!(std::io::stdout(), "{text}");
    }

    /// CSV text on stdout (csv mode only).
    pub fn csv(&self, text: &str) {
        if self.format != OutputFormat::Csv {
            return;
        }
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }

    /// The JSON document on stdout (json mode only).
    pub fn json(&self, value: &serde_json::Value) {
        if self.format != OutputFormat::Json {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut out, value);
        let _ = writeln!(out);
    }

    /// The error, once. In json mode the document carries it; stderr gets the human form too
    /// unless --quiet.
    pub fn error(&self, err: &ErrorReport) {
        self.spinner_clear();
        if self.format == OutputFormat::Json && self.quiet {
            return;
        }
        let red = Style::new().red().bold().for_stderr();
        let dim = Style::new().dim().for_stderr();
        let cyan = Style::new().cyan().for_stderr();
        let mut text = format!("{} {}", red.apply_to("error:"), err.message);
        for cause in &err.chain {
            text.push_str(&format!("\n  {} {cause}", dim.apply_to("caused by:")));
        }
        if let Some(hint) = &err.hint {
            text.push_str(&format!("\n{} {hint}", cyan.apply_to("hint:")));
        }
        let _ = writeln!(std::io::stderr(), "{text}");
    }

    /// Stops any spinner.
    pub fn finish(&self) {
        self.spinner_clear();
    }
}

/// The width tables must fit: none with `-o wide`; the terminal's when stdout is one; else
/// `COLUMNS` when set; else none (a pipe keeps whole lines).
fn table_width(format: OutputFormat) -> Option<u16> {
    if format == OutputFormat::Wide {
        return None;
    }
    let term = Term::stdout();
    if term.is_term()
        && let Some((_, cols)) = term.size_checked()
    {
        return Some(cols.max(20));
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|c| *c > 0)
        .map(|c| c.max(20))
}

fn step_prefix(index: usize, total: usize) -> String {
    format!("[{}/{}]", index + 1, total)
}

impl Observer for Printer {
    fn on_event(&self, event: &Event<'_>) {
        if !self.progress() {
            return;
        }
        let green = Style::new().green().for_stderr();
        let yellow = Style::new().yellow().for_stderr();
        let red = Style::new().red().for_stderr();
        let dim = Style::new().dim().for_stderr();
        match event {
            Event::Planning { what } => self.spinner_set(format!("{what}…")),
            Event::StepStarted { index, total, step } => {
                *self
                    .last_wait_state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = None;
                self.spinner_set(format!("{} {step}…", step_prefix(*index, *total)));
            }
            Event::StepFinished {
                index,
                total,
                step,
                outcome,
            } => {
                let mark = match outcome {
                    StepOutcome::Done { .. } => green.apply_to("✓"),
                    StepOutcome::AlreadyDone { .. } => green.apply_to("="),
                    StepOutcome::Skipped { .. } => dim.apply_to("–"),
                    StepOutcome::TimedOut { .. } => yellow.apply_to("⏱"),
                    StepOutcome::Failed { .. } => red.apply_to("✗"),
                };
                self.note(&format!(
                    "{mark} {} {step}\n      {}",
                    step_prefix(*index, *total),
                    dim.apply_to(format!("{}: {}", outcome.label(), outcome.detail()))
                ));
            }
            Event::Waiting(tick) => {
                let state = tick.state.unwrap_or("not yet");
                let message = format!(
                    "waiting for {}: {state} ({} of at most {}, next check in {})",
                    tick.what,
                    human_duration(tick.elapsed),
                    human_duration(tick.timeout),
                    human_duration(tick.next_check_in)
                );
                if self.interactive {
                    self.spinner_set(message);
                } else {
                    let mut last = self
                        .last_wait_state
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    if last.as_deref() != Some(state) {
                        *last = Some(state.to_owned());
                        drop(last);
                        self.note(&format!("  … {message}"));
                    }
                }
            }
            Event::Note(text) => self.note(&format!("  • {text}")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_numbers_kept() {
        for risky in ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "+"] {
            assert_eq!(csv_cell(risky), format!("'{risky}"), "{risky:?}");
        }
        for safe in ["", "abc", "-3", "+1.5", "12", "a=b", "0.5"] {
            assert_eq!(csv_cell(safe), safe, "{safe:?}");
        }
    }

    #[test]
    fn timestamps_are_to_the_second_in_utc() {
        let t = time::macros::datetime!(2026-12-07 11:00:00.123456 +01:00);
        assert_eq!(human_time(t), "2026-12-07 10:00:00 UTC");
        assert_eq!(csv_time(t), "2026-12-07T10:00:00Z");
    }

    #[test]
    fn an_empty_csv_has_its_header() {
        struct R;
        impl CsvRecord for R {
            const HEADER: &'static [&'static str] = &["a", "b"];
            fn cells(&self) -> Vec<String> {
                vec!["=x".into(), "1".into()]
            }
        }
        assert_eq!(to_csv::<R>(&[]).unwrap(), "a,b\n");
        assert_eq!(to_csv(&[R]).unwrap(), "a,b\n'=x,1\n");
    }
}
