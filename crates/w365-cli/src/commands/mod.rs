//! One module per command; each returns the exit status of a completed run, or an error that
//! `main` prints once and sorts into an exit code.

pub mod assign;
pub mod sandbox;
pub mod sim;
