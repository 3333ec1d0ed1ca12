//! Every integration test of this crate, in one test binary: one link instead of one per
//! file (the files stay where they were, as modules). A new file in tests/ is declared here;
//! `every_test_file_is_in_its_suite` (integration-tests) fails when one is not.

mod common;

mod admin;
mod batch;
mod breadth_a;
mod config;
mod groups;
mod http_framework;
mod licensing;
mod mail;
mod network_images;
mod oidc;
mod performance;
mod persistence;
mod reports;
mod snapshots;
mod tls;
mod token;
mod users;
mod virtual_endpoint;
