//! Provisioning policies and user settings policies: management and policies as code.
//!
//! Every operation plans first (reads only) and returns a [`diff::PolicyPlan`], which is printable
//! (`--dry-run`), serializable (`--output json`) and carried out by [`execute::execute`]. A re-run
//! converges: the plan of an up-to-date tenant is empty.
//!
//! - [`spec`]: the documented TOML file format (one file per policy), conversion from Graph.
//! - [`validate`]: checks before anything is sent; every problem says what is wrong and how to fix it.
//! - [`diff`]: desired against observed, field by field (pure).
//! - [`tenant`]: reads, and name-or-id resolution that refuses ambiguous names with their ids.
//! - [`ops`]: list, show, create, update, delete, assign, unassign, apply, apply-config, export,
//!   diff/sync planning.
//! - [`references`]: image and network connection names in files resolved to ids at plan time.
//! - [`org_settings`]: the `kind = "organizationSettings"` file (one per tenant) and its plan.
//! - [`network`]: the `kind = "networkConnection"` files, matched by display name, and their plan.
//! - [`fields`]: the properties given as flags or API parameters, laid over a policy file.
//! - [`job`]: the policy operations of the API and the jobs (plan from parameters, execute).
//! - [`execute`]: runs a plan; assignment changes re-read the current set, merge, write the full set.

pub mod diff;
pub mod execute;
pub mod fields;
pub mod job;
pub mod network;
pub mod ops;
pub mod org_settings;
pub mod references;
pub mod spec;
pub mod tenant;
pub mod validate;

pub use diff::{Change, FieldChange, PolicyPlan, ResolvedAssignment};
pub use execute::{ExecReport, execute};
pub use spec::{AssignmentSpec, ObjectKind, PolicySpec, Spec, UserSettingsSpec};
