//! One module per command; each returns the exit status of a completed run, or an error that
//! `main` prints once and sorts into an exit code.

pub mod assign;
pub mod audit;
pub mod audit_events;
pub mod bulk;
pub mod bulk_action;
pub mod capacity;
pub mod cloudpc;
pub mod docs;
pub mod image;
pub mod lifecycle;
pub mod network;
pub mod org_settings;
pub mod policy;
pub mod reclaim;
pub mod regions;
pub mod remote;
pub mod reprovision;
pub mod resize;
pub mod sandbox;
pub mod serve;
pub mod sim;
pub mod snapshot;
pub mod summary;
pub mod unassign;
pub mod usage;
pub mod user_settings;
pub mod worker;
