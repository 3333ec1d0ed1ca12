//! `w365 completions SHELL` and `w365 man`: generated from the clap definition, so they always
//! match the binary.

use std::io::Write as _;

use anyhow::Context as _;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::exit::ExitStatus;

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn emit(bytes: &[u8], what: &str) -> anyhow::Result<ExitStatus> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).with_context(|| format!("could not write {what}"))
        }
        _ => Ok(ExitStatus::Success),
    }
}

/// Prints the completion script for `shell` to stdout.
pub fn completions(shell: Shell) -> anyhow::Result<ExitStatus> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "w365", &mut out);
    emit(&out, "the completion script")
}

/// Prints the roff manual page `w365(1)` to stdout: every command, flag, the exit codes and the
/// consent rules (the long help's text).
pub fn man() -> anyhow::Result<ExitStatus> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .context("could not render the manual page")?;
    emit(&out, "the manual page")
}
