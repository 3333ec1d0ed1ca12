//! Every integration test of this crate, in one test binary: one link instead of one per
//! file (the files stay where they were, as modules). A new file in tests/ is declared here;
//! `every_test_file_is_in_its_suite` (integration-tests) fails when one is not.

#[macro_use]
mod common;

mod api;
mod auth;
mod browser;
mod bulk_jobs;
mod events;
mod portal;
mod portal_pages;
mod shared_database;
