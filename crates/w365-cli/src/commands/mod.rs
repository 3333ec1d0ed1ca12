//! One module per command; each returns the exit status of a completed run, or an error that
//! `main` prints once and sorts into an exit code.

pub mod assign;
pub mod bulk;
pub mod capacity;
pub mod cloudpc;
pub mod policy;
pub mod reprovision;
pub mod resize;
pub mod sandbox;
pub mod sim;
pub mod unassign;
pub mod user_settings;
