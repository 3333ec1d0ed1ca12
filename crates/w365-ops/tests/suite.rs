//! Every integration test of this crate, in one test binary: one link instead of one per
//! file (the files stay where they were, as modules). A new file in tests/ is declared here;
//! `every_test_file_is_in_its_suite` (integration-tests) fails when one is not.

mod common;

mod assign;
mod bulk;
mod cloudpc_lifecycle;
mod policy;
mod resume;
