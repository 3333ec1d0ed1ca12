//! The Windows 365 provisioning lifecycle: declared transitions and the engine that plays them on the
//! virtual clock.

use time::OffsetDateTime;

use crate::state::{view::DirectoryView, windows365::Windows365State};

/// Plays every lifecycle transition that is due at `now`.
pub fn run_due(_w365: &mut Windows365State, _dir: &dyn DirectoryView, _now: OffsetDateTime) {}

/// When the next transition is due, if any.
pub fn next_due(_w365: &Windows365State) -> Option<OffsetDateTime> {
    None
}
