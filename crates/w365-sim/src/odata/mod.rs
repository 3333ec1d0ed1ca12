//! OData query support for the simulator: `$filter` parsing and evaluation, `$select`, `$orderby`,
//! `$top`, `$count` and opaque `$skiptoken` paging.
//!
//! Pure functions over `serde_json::Value`, no HTTP types. The HTTP layer parses the raw query once
//! with [`QueryOptions::parse`], checks [`Filter::advanced_features`] against the request's
//! `ConsistencyLevel` header and `$count`, then filters with [`Filter::matches`], orders with
//! [`sort`], pages with [`page`] and projects with [`select`]. Every error is an [`ODataError`]
//! that knows its Graph code and message (always HTTP 400).

mod error;
mod eval;
mod filter;
mod lexer;
mod text;

pub use error::{ODataError, advanced_query_message};
pub use filter::Filter;
