//! w365-sim: a Microsoft Graph tenant simulator for Windows 365.
//!
//! Layout (see ARCHITECTURE.md):
//! - [`state`]: the plain synchronous tenant model (no HTTP types).
//! - [`lifecycle`]: the Windows 365 provisioning lifecycle, driven by the virtual clock.
//! - [`odata`]: our own OData `$filter` parser/evaluator, `$select`, `$orderby`, paging tokens.
//! - [`http`]: the axum router that speaks the Graph wire protocol.

pub mod batch;
pub mod faults;
pub mod identity;
pub mod lifecycle;
pub mod odata;
pub mod state;
