//! Every integration test of this crate, in one test binary: one link instead of one per
//! file (the files stay where they were, as modules). A new file in tests/ is declared here;
//! `every_test_file_is_in_its_suite` (integration-tests) fails when one is not.

mod common;

mod audit_cli;
mod breadth_a;
mod bulk_cli;
mod bulk_unassign_cli;
mod cli;
mod consent;
mod lifecycle;
mod network_images_cli;
mod output;
mod policy_cli;
mod policy_code_kinds;
mod readme;
mod reclaim;
mod remote_output;
mod serve;
mod snapshots;
mod usage;
mod worker_crash;
