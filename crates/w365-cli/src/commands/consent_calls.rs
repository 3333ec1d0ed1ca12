//! Where the breadth commands (restore, reclaim, bulk actions, ...) ask before a destructive change.
//!
//! One function so every call site moves together when the CLI's single consent policy module
//! lands; today it is the confirmation helper the lifecycle commands use
//! ([`super::cloudpc::confirm`]: `--yes`, or a terminal question; `--dry-run` asks nothing).

/// Asks `question` (a full sentence naming what is lost) unless `yes` or `dry_run`.
pub(crate) fn ask(question: &str, yes: bool, dry_run: bool) -> anyhow::Result<()> {
    super::cloudpc::confirm(question, yes, dry_run)
}
