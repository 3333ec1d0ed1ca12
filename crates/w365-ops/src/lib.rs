//! w365-ops: the Windows 365 operations, written plan-then-execute.

pub mod plan;
pub mod policy;
pub mod wait;
