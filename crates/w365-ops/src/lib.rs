//! w365-ops: the Windows 365 operations, written plan-then-execute.
//!
//! - [`plan`]: [`Plan`] and the verb-object [`Step`]s; planning only reads.
//! - [`execute`]: runs a plan, reports each step's outcome; re-running converges.
//! - [`wait`]: bounded polling with backoff; a timeout is an outcome, not a failure.
//! - [`mail`]: the "Cloud PC ready" mail and the out-of-licenses ticket (HTML-escaped).
//! - [`assign`]: `w365 assign <user>`, the dedicated and Frontline paths.
//! - [`resume`]: job mode: checkpoints after every step, long waits park, mails at most once.
//! - [`spec`]: every operation declared once (parameters, role, validation, JSON Schema).
//! - [`profile`]: tenant profiles (the config file), shared by the CLI and the service.
//! - [`error`]: the domain errors and their kinds (the CLI maps kinds to exit codes).

pub mod assign;
pub mod audit_events;
pub mod bulk;
pub mod bulk_actions;
pub mod capacity;
pub mod cloud_pc;
pub mod csv_cell;
pub mod error;
pub mod execute;
pub mod images;
pub mod licensing;
pub mod mail;
pub mod network;
pub mod org_settings;
pub mod plan;
pub mod policy;
pub mod profile;
pub mod reclaim;
pub mod regions;
pub mod reprovision;
pub mod resize;
pub mod resume;
pub mod snapshots;
pub mod spec;
pub mod unassign;
pub mod usage;
pub mod wait;

pub use error::{Error, ErrorKind, Result};
pub use execute::{Event, Executor, Observer, Silent, StepOutcome, StepReport, Waits};
pub use plan::{Plan, Step};
