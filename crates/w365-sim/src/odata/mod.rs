//! OData query support for the simulator: `$filter` parsing and evaluation, `$select`, `$orderby`,
//! `$top`, `$count` and opaque `$skiptoken` paging.
//!
//! Pure functions over `serde_json::Value`, no HTTP types. The HTTP layer parses the raw query once
//! with [`QueryOptions::parse`], on directory collections calls
//! [`QueryOptions::check_advanced_query`] (the `ConsistencyLevel: eventual` + `$count=true` gate on
//! the operators of [`Filter::advanced_features`] and on `$search`), then filters with [`Filter::matches`], orders with [`sort`], pages with [`page`] (tokens bound
//! to [`query_fingerprint`]) and projects with [`select`]. Every error is an [`ODataError`] that
//! knows its Graph code and message (always HTTP 400).
//!
//! Limitations: no arithmetic operators, no `has`/`isof`/casts, no functions besides
//! `startswith`, `endswith` and `contains`; values are untyped JSON, so a comparison between
//! different types is simply false where Graph would answer 400.

mod error;
mod eval;
mod filter;
mod lexer;
mod options;
mod paging;
mod projection;
mod text;

#[cfg(test)]
mod proptests;

pub use error::{ODataError, advanced_query_message};
pub use filter::Filter;
pub use options::{Expand, OrderBy, QueryOptions, query_fingerprint};
pub use paging::{PageToken, page};
pub use projection::{select, sort};
