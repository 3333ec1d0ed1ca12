//! The one consent policy of the whole CLI: a destructive change (one that deletes, wipes, ends a
//! session, takes a license away or removes an assignment) is carried out only with consent.
//!
//! - The plan is planned first (reads only) and shown; then the same question is asked on a
//!   terminal: `Proceed? [y/N]`. A terminal means stdin *and* stderr are terminals (the question
//!   goes to stderr, the answer comes from stdin; stdout may be piped).
//! - `--yes` is the consent of a script. `--dry-run` needs none: it changes nothing.
//! - Without a terminal and without `--yes`: refused, nothing changed, exit 2 (`consentRequired`):
//!   the command line lacks `--yes`, like any other missing flag.
//! - The operator answers anything but `y`/`yes`: nothing changed, exit 11 (`notConfirmed`):
//!   refused, like input refused by validation.
//!
//! Every command goes through [`require`]; there is no other prompt in the binary.

use std::io::{BufRead, IsTerminal, Write};

/// Why a destructive change was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// No terminal to ask on and no `--yes`.
    #[error(
        "{what}: refused without consent, nothing was changed (this is destructive and there is no terminal to ask on)"
    )]
    NoTerminal { what: String },
    /// The operator did not answer yes.
    #[error("{what}: not confirmed, nothing was changed")]
    Declined { what: String },
    /// The question could not be asked or the answer not read.
    #[error("{what}: could not ask for confirmation, nothing was changed")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl ConsentError {
    /// The stable `kind` of the JSON error object.
    pub fn kind(&self) -> &'static str {
        match self {
            ConsentError::NoTerminal { .. } | ConsentError::Io { .. } => "consentRequired",
            ConsentError::Declined { .. } => "notConfirmed",
        }
    }

    pub fn hint(&self) -> String {
        match self {
            ConsentError::NoTerminal { .. } | ConsentError::Io { .. } => {
                "pass --yes to consent (scripts), or --dry-run to see the plan without changing anything".into()
            }
            ConsentError::Declined { .. } => {
                "nothing to undo; run the command again and answer y to carry it out".into()
            }
        }
    }
}

/// Whether both stdin and stderr are terminals (the only case where w365 asks).
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks for consent to `what` (one line, e.g. "unassign alice@contoso.com from 'lic - …'"),
/// showing `plan` (the numbered steps) first. `yes` is consent given on the command line.
pub fn require(what: &str, plan: &str, yes: bool) -> Result<(), ConsentError> {
    if yes {
        return Ok(());
    }
    if !can_ask() {
        return Err(ConsentError::NoTerminal { what: what.into() });
    }
    let io = |source| ConsentError::Io {
        what: what.into(),
        source,
    };
    let mut err = std::io::stderr().lock();
    write!(err, "{what}\nPlan:\n{plan}\nProceed? [y/N] ").map_err(io)?;
    err.flush().map_err(io)?;
    drop(err);
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(io)?;
    if is_yes(&answer) {
        Ok(())
    } else {
        Err(ConsentError::Declined { what: what.into() })
    }
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_y_or_yes_is_consent() {
        for yes in ["y", "Y\n", " yes ", "YES"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "sure", "j"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }

    #[test]
    fn yes_on_the_command_line_is_consent_without_asking() {
        require("delete everything", " 1. delete", true).unwrap();
    }
}
