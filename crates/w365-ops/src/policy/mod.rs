//! Provisioning policies and user settings policies: management and policies as code.
//!
//! - [`spec`]: the documented TOML file format (one file per policy), conversion from Graph.
//! - [`validate`]: checks before anything is sent; every problem says what is wrong and how to fix it.
//! - [`diff`]: desired against observed, field by field, as a [`diff::PolicyPlan`] (pure).

pub mod diff;
pub mod spec;
pub mod validate;
