//! The one error type of the OData module. Every variant knows the Graph error it stands for: the
//! HTTP layer answers `400` with `{"error":{"code": graph_code(), "message": message()}}`.

/// The closing sentence Graph appends to its advanced-query errors (observed in the error sample of
/// <https://learn.microsoft.com/graph/aad-advanced-queries>, "Error handling for advanced queries").
const ADVANCED_QUERY_HINT: &str = "Try adding $count=true query parameter and ConsistencyLevel:eventual header. \
     Refer to https://aka.ms/graph-docs/advanced-queries for more information";

/// A malformed or unsupported OData query. Always answered with HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ODataError {
    /// `$filter` does not parse. `detail` is in the style of Microsoft.OData's parser
    /// ("Syntax error at position 17 in '...'.") and `position` is the 0-based character offset.
    #[error("Invalid filter clause: {detail}")]
    InvalidFilter {
        /// What is wrong, with the position and the filter text.
        detail: String,
        /// 0-based character offset into the (percent-decoded) filter text.
        position: usize,
    },
    /// A system query option given twice (`$top=1&$top=2`).
    #[error(
        "Query option '{name}' was specified more than once, but it must be specified at most once."
    )]
    DuplicateOption {
        /// The option, lowercase with its `$` (`$top`).
        name: String,
    },
    /// A `$`-prefixed query parameter that is not a system query option.
    #[error("Unrecognized query argument specified: '{name}'.")]
    UnknownOption {
        /// The parameter as sent (decoded).
        name: String,
    },
    /// `$top` or `$skip` that is not a non-negative integer.
    #[error(
        "Invalid value '{value}' for {option} query option found. The {option} query option requires a non-negative integer value."
    )]
    InvalidInteger {
        /// `$top` or `$skip`.
        option: &'static str,
        /// The value as sent.
        value: String,
    },
    /// `$count` other than `true` / `false`.
    #[error("'{value}' is not a valid count option.")]
    InvalidCount {
        /// The value as sent.
        value: String,
    },
    /// A malformed `$select` or `$expand` term.
    #[error("Parsing OData Select and Expand failed: {detail}")]
    InvalidSelectExpand {
        /// What is wrong.
        detail: String,
    },
    /// A malformed `$orderby`.
    #[error("Invalid $orderby clause: {detail}")]
    InvalidOrderBy {
        /// What is wrong.
        detail: String,
    },
    /// A `$skiptoken` that was not issued for this query (tampered, truncated, or from another query).
    #[error("The specified page token value is not valid for this request.")]
    InvalidSkipToken,
    /// `$top` outside `1..=max`.
    #[error("Invalid page size specified: '{top}'. Must be between 1 and {max} inclusive.")]
    InvalidPageSize {
        /// The requested page size.
        top: usize,
        /// The largest page size of the collection.
        max: usize,
    },
    /// An advanced-query feature (`ne`, `not`, `endsWith`, `$count` in a filter, ...) used without
    /// `ConsistencyLevel: eventual` and `$count=true`.
    #[error("Operator '{feature}' is not supported because the required parameters might be missing. {hint}", hint = ADVANCED_QUERY_HINT)]
    AdvancedQueryRequired {
        /// The operator as Graph names it (`endsWith`, `ne`, ...).
        feature: String,
    },
    /// `$search` without `ConsistencyLevel: eventual`.
    #[error(
        "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'"
    )]
    SearchRequiresConsistencyLevel,
    /// The `/$count` segment without `ConsistencyLevel: eventual`.
    #[error("$count is not currently supported.")]
    CountNotSupported,
}

impl ODataError {
    /// The Graph error code of this error.
    pub fn graph_code(&self) -> &'static str {
        match self {
            Self::InvalidFilter { .. }
            | Self::DuplicateOption { .. }
            | Self::InvalidInteger { .. }
            | Self::InvalidCount { .. }
            | Self::InvalidSelectExpand { .. }
            | Self::InvalidOrderBy { .. } => "BadRequest",
            Self::UnknownOption { .. }
            | Self::InvalidSkipToken
            | Self::InvalidPageSize { .. }
            | Self::CountNotSupported => "Request_BadRequest",
            Self::AdvancedQueryRequired { .. } | Self::SearchRequiresConsistencyLevel => {
                "Request_UnsupportedQuery"
            }
        }
    }

    /// The Graph error message of this error.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The HTTP status: OData query errors are always `400 Bad Request`.
    pub fn status(&self) -> u16 {
        400
    }

    /// The `Request_UnsupportedQuery` error Graph answers when an advanced-query operator (one of
    /// [`crate::odata::Filter::advanced_features`]) is used without the advanced query parameters.
    pub fn advanced_query_required(feature: &str) -> Self {
        Self::AdvancedQueryRequired {
            feature: feature.to_owned(),
        }
    }
}

/// The exact message of [`ODataError::AdvancedQueryRequired`] for `feature`:
/// "Operator 'endsWith' is not supported because the required parameters might be missing. Try adding
/// $count=true query parameter and ConsistencyLevel:eventual header. Refer to ...".
pub fn advanced_query_message(feature: &str) -> String {
    ODataError::advanced_query_required(feature).message()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advanced_query_message_matches_graph() {
        let e = ODataError::advanced_query_required("endsWith");
        assert_eq!(e.graph_code(), "Request_UnsupportedQuery");
        assert_eq!(
            e.message(),
            "Operator 'endsWith' is not supported because the required parameters might be missing. \
             Try adding $count=true query parameter and ConsistencyLevel:eventual header. \
             Refer to https://aka.ms/graph-docs/advanced-queries for more information"
        );
        assert_eq!(advanced_query_message("endsWith"), e.message());
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn codes_and_messages() {
        let cases: Vec<(ODataError, &str, &str)> = vec![
            (
                ODataError::DuplicateOption {
                    name: "$top".into(),
                },
                "BadRequest",
                "Query option '$top' was specified more than once, but it must be specified at most once.",
            ),
            (
                ODataError::UnknownOption {
                    name: "$foo".into(),
                },
                "Request_BadRequest",
                "Unrecognized query argument specified: '$foo'.",
            ),
            (
                ODataError::InvalidInteger {
                    option: "$top",
                    value: "-1".into(),
                },
                "BadRequest",
                "Invalid value '-1' for $top query option found. The $top query option requires a non-negative integer value.",
            ),
            (
                ODataError::InvalidCount {
                    value: "yes".into(),
                },
                "BadRequest",
                "'yes' is not a valid count option.",
            ),
            (
                ODataError::InvalidPageSize {
                    top: 1000,
                    max: 999,
                },
                "Request_BadRequest",
                "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.",
            ),
            (
                ODataError::CountNotSupported,
                "Request_BadRequest",
                "$count is not currently supported.",
            ),
            (
                ODataError::SearchRequiresConsistencyLevel,
                "Request_UnsupportedQuery",
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
            ),
            (
                ODataError::InvalidSkipToken,
                "Request_BadRequest",
                "The specified page token value is not valid for this request.",
            ),
        ];
        for (e, code, msg) in cases {
            assert_eq!(e.graph_code(), code, "{e:?}");
            assert_eq!(e.message(), msg);
        }
    }
}
