//! Output: step-by-step progress for people (with a spinner while waiting), or one stable JSON
//! document on stdout with `--output json`. Progress and errors go to stderr; results to stdout.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use console::{Style, Term};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
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

/// Prints progress, results and errors.
pub struct Printer {
    format: OutputFormat,
    quiet: bool,
    interactive: bool,
    spinner: Mutex<Option<ProgressBar>>,
    last_wait_state: Mutex<Option<String>>,
}

impl Printer {
    pub fn new(format: OutputFormat, quiet: bool) -> Self {
        Self {
            format,
            quiet,
            interactive: Term::stderr().is_term(),
            spinner: Mutex::new(None),
            last_wait_state: Mutex::new(None),
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    fn progress(&self) -> bool {
        self.format == OutputFormat::Human && !self.quiet
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
        if self.format == OutputFormat::Json {
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
