//! The tenant model: synchronous, no HTTP types.

pub mod apps;
pub mod view;
pub mod windows365;
