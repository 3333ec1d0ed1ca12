//! Every integration test of this crate, in one test binary: one link instead of one per
//! file (the files stay where they were, as modules). A new file in tests/ is declared here;
//! `every_test_file_is_in_its_suite` (integration-tests) fails when one is not.
//! tests/graph_examples.rs and tests/observability.rs are test binaries of their own: they capture
//! logs (see there).

mod common;

mod auth;
mod batch;
mod paging;
mod resources;
mod retry;
