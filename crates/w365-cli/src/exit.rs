//! Exit codes (ARCHITECTURE.md) and the sorting of errors into them.

use std::process::ExitCode;

use w365_ops::ErrorKind;

use crate::consent::ConsentError;
use crate::output::ErrorReport;
use crate::settings::SettingsError;

/// The documented exit codes of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExitStatus {
    #[default]
    Success = 0,
    Unexpected = 1,
    Usage = 2,
    NotFound = 3,
    Ambiguous = 4,
    OutOfCapacity = 5,
    AlreadyAssigned = 6,
    ProvisioningFailed = 7,
    TimedOut = 8,
    Permission = 9,
    Unavailable = 10,
    Refused = 11,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The stable `kind` string of the JSON error object.
    pub fn kind(self) -> &'static str {
        match self {
            ExitStatus::Success => "success",
            ExitStatus::Unexpected => "unexpected",
            ExitStatus::Usage => "usage",
            ExitStatus::NotFound => "notFound",
            ExitStatus::Ambiguous => "ambiguousName",
            ExitStatus::OutOfCapacity => "outOfLicenses",
            ExitStatus::AlreadyAssigned => "alreadyAssigned",
            ExitStatus::ProvisioningFailed => "provisioningFailed",
            ExitStatus::TimedOut => "timedOut",
            ExitStatus::Permission => "permissionDenied",
            ExitStatus::Unavailable => "graphUnavailable",
            ExitStatus::Refused => "refusedByValidation",
        }
    }

    pub fn from_ops(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Validation => ExitStatus::Refused,
            ErrorKind::NotFound => ExitStatus::NotFound,
            ErrorKind::Ambiguous => ExitStatus::Ambiguous,
            ErrorKind::OutOfCapacity => ExitStatus::OutOfCapacity,
            ErrorKind::AlreadyAssigned => ExitStatus::AlreadyAssigned,
            ErrorKind::ProvisioningFailed => ExitStatus::ProvisioningFailed,
            ErrorKind::TimedOut => ExitStatus::TimedOut,
            ErrorKind::Permission => ExitStatus::Permission,
            ErrorKind::Unavailable => ExitStatus::Unavailable,
            _ => ExitStatus::Unexpected,
        }
    }

    fn from_graph(e: &w365_graph::Error) -> Self {
        if matches!(e, w365_graph::Error::Auth { .. }) || e.is_permission_denied() {
            ExitStatus::Permission
        } else if e.is_throttled()
            || e.is_outcome_unknown()
            || matches!(e, w365_graph::Error::Transport { .. })
            || matches!(e.status(), Some(500 | 502 | 503 | 504))
        {
            ExitStatus::Unavailable
        } else if matches!(e, w365_graph::Error::Config { .. }) {
            ExitStatus::Usage
        } else {
            ExitStatus::Unexpected
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// Sorts an error by the first cause along its chain that we know, and collects the chain.
pub fn report(err: &(dyn std::error::Error + 'static)) -> ErrorReport {
    let mut exit = None;
    let mut kind = None;
    let mut hint = None;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut chain = Vec::new();
    while let Some(e) = current {
        if exit.is_none() {
            if let Some(ops) = e.downcast_ref::<w365_ops::Error>() {
                exit = Some(ExitStatus::from_ops(ops.kind()));
                hint = ops.hint();
            } else if let Some(s) = e.downcast_ref::<SettingsError>() {
                exit = Some(match s {
                    SettingsError::Refused(_) => ExitStatus::Refused,
                    _ => ExitStatus::Usage,
                });
                hint = s.hint();
            } else if let Some(c) = e.downcast_ref::<ConsentError>() {
                // One consent policy (see crate::consent): no consent is a usage error (the
                // command line lacks --yes), a "no" is a refusal; nothing changed either way.
                exit = Some(match c {
                    ConsentError::Declined { .. } => ExitStatus::Refused,
                    ConsentError::NoTerminal { .. } | ConsentError::Io { .. } => ExitStatus::Usage,
                });
                kind = Some(c.kind());
                hint = Some(c.hint());
            } else if let Some(g) = e.downcast_ref::<w365_graph::Error>() {
                exit = Some(ExitStatus::from_graph(g));
            }
        }
        chain.push(e.to_string());
        current = e.source();
    }
    let message = chain.remove(0);
    // Drop causes that only repeat the previous line.
    chain.dedup();
    let exit = exit.unwrap_or(ExitStatus::Unexpected);
    ErrorReport {
        kind: kind.unwrap_or(exit.kind()),
        message,
        chain,
        hint,
        exit,
    }
}

/// Same as [`report`] for an anyhow error (its context layers are part of the chain).
pub fn report_anyhow(err: &anyhow::Error) -> ErrorReport {
    report(err.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_architecture() {
        let all = [
            (ExitStatus::Success, 0),
            (ExitStatus::Unexpected, 1),
            (ExitStatus::Usage, 2),
            (ExitStatus::NotFound, 3),
            (ExitStatus::Ambiguous, 4),
            (ExitStatus::OutOfCapacity, 5),
            (ExitStatus::AlreadyAssigned, 6),
            (ExitStatus::ProvisioningFailed, 7),
            (ExitStatus::TimedOut, 8),
            (ExitStatus::Permission, 9),
            (ExitStatus::Unavailable, 10),
            (ExitStatus::Refused, 11),
        ];
        for (status, code) in all {
            assert_eq!(status.code(), code, "{status:?}");
        }
    }

    #[test]
    fn ops_errors_are_sorted_through_anyhow_context() {
        let err = anyhow::Error::new(w365_ops::Error::UserNotFound {
            upn: "x@y.z".into(),
        })
        .context("assign failed");
        let r = report_anyhow(&err);
        assert_eq!(r.exit, ExitStatus::NotFound);
        assert_eq!(r.message, "assign failed");
        assert_eq!(r.chain, vec!["user 'x@y.z' was not found".to_owned()]);
        assert!(r.hint.is_some());
        let r = report(&SettingsError::Refused("no".into()));
        assert_eq!(r.exit, ExitStatus::Refused);
    }

    #[test]
    fn consent_refusals_have_one_code_each() {
        let r = report(&ConsentError::NoTerminal { what: "x".into() });
        assert_eq!((r.exit, r.kind), (ExitStatus::Usage, "consentRequired"));
        assert!(r.hint.unwrap().contains("--yes"));
        let r = report_anyhow(
            &anyhow::Error::new(ConsentError::Declined { what: "x".into() }).context("unassign"),
        );
        assert_eq!((r.exit, r.kind), (ExitStatus::Refused, "notConfirmed"));
    }
}
