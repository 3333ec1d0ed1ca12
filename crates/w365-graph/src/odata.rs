//! OData query building: `$filter` expressions with escaped literals, query options that are
//! percent-encoded, and URL paths assembled from encoded segments.
//!
//! Nothing here (or anywhere in the crate) pastes caller input into a URL unencoded:
//! 1. a string literal has every `'` doubled and is wrapped in quotes (OData ABNF, see
//!    reference §2.3 and <https://learn.microsoft.com/graph/query-parameters#escaping-single-quotes>);
//! 2. every query option value is then percent-encoded: Graph reads `+` in a query as a space,
//!    so `+` becomes `%2B`, and `#`, `&`, `%`, space and non-ASCII are encoded as well;
//! 3. path segments are percent-encoded one by one (a guest UPN's `#EXT#` becomes `%23EXT%23`).
//!
//! The query layer also keeps two Graph rules so that callers cannot forget them:
//! - a filter with `ne`, `not` or `endswith` is an *advanced query* on directory objects, which
//!   Graph answers only with the `ConsistencyLevel: eventual` header and `$count=true`
//!   (<https://learn.microsoft.com/graph/aad-advanced-queries>): [`Query::filter`] adds both;
//! - `property in ()` is invalid OData: the client refuses to send a query whose filter has an
//!   empty `in` list ([`Filter::has_empty_in`]); callers skip the request instead.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use uuid::Uuid;

/// Characters encoded in query option values: everything but `A-Z a-z 0-9 - . _ ~`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Characters encoded in a path segment: everything but unreserved characters and the
/// `pchar` sub-delimiters `$` (`$ref`, `$batch`) and `@` (UPNs, as Graph's own examples write them).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b'@');

/// Percent-encodes a query option value.
pub fn encode_query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// Percent-encodes one path segment.
pub fn encode_path_segment(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}

/// Quotes an OData string literal: `o'brien` -> `'o''brien'`.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn check_property(property: &str) {
    // Property names are code, not input; a bad one is a programming error caught in tests.
    debug_assert!(
        !property.is_empty()
            && property
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '.' | '@')),
        "invalid OData property name {property:?}"
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Atom,
    And,
    Or,
}

/// A `$filter` expression. `Display` gives the escaped (quotes doubled) but not yet
/// percent-encoded text; [`Query`] encodes it.
///
/// Property names are `&'static str`: they are part of the program, never user input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    text: String,
    kind: Kind,
    /// Uses `ne`, `not` or `endswith` somewhere (an advanced query on directory objects).
    advanced: bool,
    /// Has an `in` with an empty list somewhere (never sent).
    empty_in: bool,
}

impl Filter {
    fn atom(text: String) -> Self {
        Filter {
            text,
            kind: Kind::Atom,
            advanced: false,
            empty_in: false,
        }
    }

    fn advanced(mut self) -> Self {
        self.advanced = true;
        self
    }

    /// Whether Graph needs `ConsistencyLevel: eventual` and `$count=true` for this filter on
    /// directory objects (`ne`, `not`, `endswith`; see the module documentation).
    pub fn needs_advanced_query(&self) -> bool {
        self.advanced
    }

    /// Whether the filter contains `property in ()`, which is never sent.
    pub fn has_empty_in(&self) -> bool {
        self.empty_in
    }

    fn compare(property: &'static str, op: &str, value: &str) -> Self {
        check_property(property);
        Self::atom(format!("{property} {op} {}", quote_literal(value)))
    }

    /// `property eq 'value'`.
    pub fn eq(property: &'static str, value: impl AsRef<str>) -> Self {
        Self::compare(property, "eq", value.as_ref())
    }

    /// `property ne 'value'` (an advanced query on directory objects).
    pub fn ne(property: &'static str, value: impl AsRef<str>) -> Self {
        Self::compare(property, "ne", value.as_ref()).advanced()
    }

    /// `property eq true|false`.
    pub fn eq_bool(property: &'static str, value: bool) -> Self {
        check_property(property);
        Self::atom(format!("{property} eq {value}"))
    }

    /// `property eq <guid>` (unquoted Edm.Guid, e.g. `skuId`).
    pub fn raw_guid_eq(property: &'static str, value: Uuid) -> Self {
        check_property(property);
        Self::atom(format!("{property} eq {}", value.hyphenated()))
    }

    /// `property ge <DateTimeOffset>` (an unquoted RFC 3339 literal in UTC).
    pub fn ge_datetime(property: &'static str, value: time::OffsetDateTime) -> Self {
        check_property(property);
        let text = value
            .to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Self::atom(format!("{property} ge {text}"))
    }

    /// `startswith(property,'value')`.
    pub fn starts_with(property: &'static str, value: impl AsRef<str>) -> Self {
        check_property(property);
        Self::atom(format!(
            "startswith({property},{})",
            quote_literal(value.as_ref())
        ))
    }

    /// `endswith(property,'value')` (an advanced query on directory objects).
    pub fn ends_with(property: &'static str, value: impl AsRef<str>) -> Self {
        check_property(property);
        Self::atom(format!(
            "endswith({property},{})",
            quote_literal(value.as_ref())
        ))
        .advanced()
    }

    /// `property in ('a','b')`. An empty list is invalid OData: the filter is marked
    /// ([`Filter::has_empty_in`]) and the client refuses to send it, so callers skip the request.
    pub fn in_<I, S>(property: &'static str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        check_property(property);
        let list: Vec<String> = values
            .into_iter()
            .map(|v| quote_literal(v.as_ref()))
            .collect();
        let mut filter = Self::atom(format!("{property} in ({})", list.join(",")));
        filter.empty_in = list.is_empty();
        filter
    }

    fn wrapped(&self, parent: Kind) -> String {
        if self.kind == Kind::Atom || self.kind == parent {
            self.text.clone()
        } else {
            format!("({})", self.text)
        }
    }

    /// `self and other`.
    pub fn and(self, other: Filter) -> Self {
        Filter {
            text: format!(
                "{} and {}",
                self.wrapped(Kind::And),
                other.wrapped(Kind::And)
            ),
            kind: Kind::And,
            advanced: self.advanced || other.advanced,
            empty_in: self.empty_in || other.empty_in,
        }
    }

    /// `self or other`.
    pub fn or(self, other: Filter) -> Self {
        Filter {
            text: format!("{} or {}", self.wrapped(Kind::Or), other.wrapped(Kind::Or)),
            kind: Kind::Or,
            advanced: self.advanced || other.advanced,
            empty_in: self.empty_in || other.empty_in,
        }
    }

    /// `not (f)`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(f: Filter) -> Self {
        let mut negated = Self::atom(format!("not({})", f.text)).advanced();
        negated.empty_in = f.empty_in;
        negated
    }

    /// The expression text (escaped, not percent-encoded).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// OData query options plus the headers they need (`ConsistencyLevel: eventual`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    filter: Option<Filter>,
    select: Vec<String>,
    expand: Vec<String>,
    orderby: Vec<String>,
    top: Option<u32>,
    count: Option<bool>,
    search: Option<String>,
    consistency_eventual: bool,
}

impl Query {
    /// An empty query.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `$filter`. A filter that needs an advanced query (`ne`, `not`, `endswith`) also
    /// turns on `ConsistencyLevel: eventual` and `$count=true` (see the module documentation).
    pub fn filter(mut self, filter: Filter) -> Self {
        let advanced = filter.needs_advanced_query();
        self.filter = Some(filter);
        if advanced {
            self = self.consistency_eventual();
        }
        self
    }

    /// Sets `$select`.
    pub fn select<I, S>(mut self, properties: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.select = properties.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an `$expand` item.
    pub fn expand(mut self, navigation: impl Into<String>) -> Self {
        self.expand.push(navigation.into());
        self
    }

    /// Sets `$top`.
    pub fn top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }

    /// Sets `$count`.
    pub fn count(mut self, count: bool) -> Self {
        self.count = Some(count);
        self
    }

    /// Adds an `$orderby` item (e.g. `displayName` or `displayName desc`).
    pub fn orderby(mut self, order: impl Into<String>) -> Self {
        self.orderby.push(order.into());
        self
    }

    /// Sets `$search` to `"property:value"`; the value's double quotes are removed (they cannot be
    /// escaped inside a `$search` term). Needs `ConsistencyLevel: eventual`, which this sets.
    pub fn search(mut self, property: &'static str, value: &str) -> Self {
        check_property(property);
        self.search = Some(format!("\"{property}:{}\"", value.replace('"', "")));
        self.consistency_eventual = true;
        self
    }

    /// Sends `ConsistencyLevel: eventual` (and `$count=true` unless set) for advanced queries.
    pub fn consistency_eventual(mut self) -> Self {
        self.consistency_eventual = true;
        if self.count.is_none() {
            self.count = Some(true);
        }
        self
    }

    /// Whether `ConsistencyLevel: eventual` must be sent on every page.
    pub fn is_consistency_eventual(&self) -> bool {
        self.consistency_eventual
    }

    /// The `$filter`, if any.
    pub fn filter_expr(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    /// Headers this query needs on every request (including every page).
    pub fn headers(&self) -> Vec<(&'static str, &'static str)> {
        if self.consistency_eventual {
            vec![("ConsistencyLevel", "eventual")]
        } else {
            Vec::new()
        }
    }

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        self.to_query_string().is_empty()
    }

    /// The percent-encoded query string, without the leading `?`.
    pub fn to_query_string(&self) -> String {
        let mut parts = Vec::new();
        if let Some(filter) = &self.filter {
            parts.push(format!("$filter={}", encode_query_value(filter.as_str())));
        }
        if let Some(search) = &self.search {
            parts.push(format!("$search={}", encode_query_value(search)));
        }
        if !self.select.is_empty() {
            parts.push(format!(
                "$select={}",
                encode_query_value(&self.select.join(","))
            ));
        }
        if !self.expand.is_empty() {
            parts.push(format!(
                "$expand={}",
                encode_query_value(&self.expand.join(","))
            ));
        }
        if !self.orderby.is_empty() {
            parts.push(format!(
                "$orderby={}",
                encode_query_value(&self.orderby.join(","))
            ));
        }
        if let Some(top) = self.top {
            parts.push(format!("$top={top}"));
        }
        if let Some(count) = self.count {
            parts.push(format!("$count={count}"));
        }
        parts.join("&")
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_query_string())
    }
}

/// A Graph URL path (after the version), built from individually percent-encoded segments.
///
/// `GraphPath::new(["users", upn, "sendMail"])` -> `/users/{encoded upn}/sendMail`.
/// Segments that are empty, `.` or `..` (which URL normalisation would collapse, e.g. turning a
/// member `$ref` delete into an object delete) make the path invalid; the client refuses to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphPath {
    encoded: String,
    invalid: Option<String>,
}

impl GraphPath {
    /// Builds a path from raw (unencoded) segments.
    pub fn new<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut path = GraphPath {
            encoded: String::new(),
            invalid: None,
        };
        for segment in segments {
            path = path.join(segment);
        }
        path
    }

    /// Appends one raw segment.
    pub fn join(mut self, segment: impl AsRef<str>) -> Self {
        let segment = segment.as_ref();
        if self.invalid.is_none() {
            let trimmed = segment.trim();
            if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
                self.invalid = Some(format!(
                    "a URL path segment may not be empty, `.` or `..` (got {segment:?})"
                ));
            }
        }
        self.encoded.push('/');
        self.encoded.push_str(&encode_path_segment(segment));
        self
    }

    /// The encoded path, starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.encoded
    }

    /// Fails when a segment was empty, `.` or `..`.
    pub fn validate(&self) -> crate::Result<()> {
        match &self.invalid {
            Some(message) => Err(crate::Error::invalid_input(message.clone())),
            None => Ok(()),
        }
    }

    /// `path?query` (relative, as used inside `$batch`).
    pub fn with_query(&self, query: &Query) -> String {
        let q = query.to_query_string();
        if q.is_empty() {
            self.encoded.clone()
        } else {
            format!("{}?{q}", self.encoded)
        }
    }
}

impl fmt::Display for GraphPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_is_doubled_then_encoded() {
        let f = Filter::eq("userPrincipalName", "o'brien@contoso.com");
        assert_eq!(f.to_string(), "userPrincipalName eq 'o''brien@contoso.com'");
        let q = Query::new().filter(f).to_query_string();
        assert_eq!(
            q,
            "$filter=userPrincipalName%20eq%20%27o%27%27brien%40contoso.com%27"
        );
    }

    #[test]
    fn guest_upn_hash_plus_ampersand_percent_and_non_ascii() {
        let upn = "a+b&c%d_x.y#EXT#@contoso.onmicrosoft.com";
        let q = Query::new()
            .filter(Filter::eq("userPrincipalName", upn))
            .to_query_string();
        assert!(
            q.contains("a%2Bb%26c%25d_x.y%23EXT%23%40contoso.onmicrosoft.com"),
            "{q}"
        );
        assert!(!q.contains('+'));
        assert!(!q.contains('#'));
        assert_eq!(q.matches('&').count(), 0);
        let q = Query::new()
            .filter(Filter::eq("displayName", "Zoë Ærø 東京"))
            .to_query_string();
        assert!(q.is_ascii());
        assert!(
            q.contains("Zo%C3%AB%20%C3%86r%C3%B8%20%E6%9D%B1%E4%BA%AC"),
            "{q}"
        );
    }

    #[test]
    fn encoded_query_decodes_back_to_the_filter() {
        let nasty = "O'Neil + Söhne & Co #1 100% 'x''";
        let f = Filter::eq("displayName", nasty);
        let q = Query::new().filter(f.clone()).top(5).to_query_string();
        let url = url::Url::parse(&format!("https://graph.microsoft.com/v1.0/groups?{q}")).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs[0], ("$filter".to_owned(), f.to_string()));
        assert_eq!(pairs[1], ("$top".to_owned(), "5".to_owned()));
    }

    #[test]
    fn combinators_and_functions() {
        let f = Filter::starts_with("displayName", "W365-")
            .or(Filter::ends_with("mail", "@x.com"))
            .and(Filter::eq_bool("accountEnabled", true));
        assert_eq!(
            f.to_string(),
            "(startswith(displayName,'W365-') or endswith(mail,'@x.com')) and accountEnabled eq true"
        );
        let f = Filter::not(Filter::ne("a", "b"));
        assert_eq!(f.to_string(), "not(a ne 'b')");
        let f = Filter::in_("displayName", ["a'b", "c"]);
        assert_eq!(f.to_string(), "displayName in ('a''b','c')");
        let id = Uuid::parse_str("226ca751-f0a4-4232-9be5-73c02a92555e").unwrap();
        assert_eq!(
            Filter::raw_guid_eq("skuId", id).to_string(),
            "skuId eq 226ca751-f0a4-4232-9be5-73c02a92555e"
        );
    }

    #[test]
    fn advanced_filters_bring_their_header_and_count_and_empty_in_is_marked() {
        for f in [
            Filter::ne("accountEnabled", "x"),
            Filter::ends_with("mail", "@contoso.com"),
            Filter::not(Filter::eq("a", "b")),
            Filter::eq("a", "b").and(Filter::ne("c", "d")),
            Filter::eq("a", "b").or(Filter::ends_with("c", "d")),
        ] {
            assert!(f.needs_advanced_query(), "{f}");
            let q = Query::new().filter(f);
            assert_eq!(q.headers(), vec![("ConsistencyLevel", "eventual")]);
            assert!(q.to_query_string().contains("$count=true"), "{q}");
        }
        let plain = Query::new().filter(Filter::eq("a", "b").and(Filter::starts_with("c", "d")));
        assert!(plain.headers().is_empty());
        assert!(!plain.to_query_string().contains("$count"));
        // An explicit $count stays as set.
        let q = Query::new().count(false).filter(Filter::ne("a", "b"));
        assert!(q.to_query_string().contains("$count=false"));

        let empty: [&str; 0] = [];
        assert!(Filter::in_("id", empty).has_empty_in());
        assert!(!Filter::in_("id", ["x"]).has_empty_in());
        assert!(
            Filter::eq("a", "b")
                .or(Filter::in_("id", empty))
                .has_empty_in()
        );
        assert!(Filter::not(Filter::in_("id", empty)).has_empty_in());
    }

    #[test]
    fn query_options_and_headers() {
        let q = Query::new()
            .select(["id", "displayName"])
            .expand("assignments")
            .top(999)
            .orderby("displayName")
            .consistency_eventual();
        assert_eq!(
            q.to_query_string(),
            "$select=id%2CdisplayName&$expand=assignments&$orderby=displayName&$top=999&$count=true"
        );
        assert_eq!(q.headers(), vec![("ConsistencyLevel", "eventual")]);
        assert!(Query::new().headers().is_empty());
        assert!(Query::new().is_empty());
    }

    #[test]
    fn path_segments_are_encoded() {
        let p = GraphPath::new(["users", "o'brien_x#EXT#@contoso.com", "sendMail"]);
        assert_eq!(
            p.as_str(),
            "/users/o%27brien_x%23EXT%23@contoso.com/sendMail"
        );
        let p = GraphPath::new(["users", "a+b/c?d&e f"]);
        assert_eq!(p.as_str(), "/users/a%2Bb%2Fc%3Fd%26e%20f");
        assert!(p.validate().is_ok());
        let p = GraphPath::new(["groups", "g1", "members", "u1", "$ref"]);
        assert_eq!(p.as_str(), "/groups/g1/members/u1/$ref");
    }

    proptest::proptest! {
        #[test]
        fn any_literal_round_trips_through_the_encoded_query(value in "\\PC{0,40}") {
            let f = Filter::eq("displayName", &value);
            let q = Query::new().filter(f.clone()).to_query_string();
            proptest::prop_assert!(q.bytes().all(|b| b.is_ascii_alphanumeric() || b"$=%-._~".contains(&b)));
            let url = url::Url::parse(&format!("https://graph.microsoft.com/v1.0/users?{q}")).unwrap();
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            proptest::prop_assert_eq!(pairs.len(), 1);
            proptest::prop_assert_eq!(&pairs[0].1, &f.to_string());
            // the literal inside the quotes decodes back to the value (quotes doubled)
            let inner = pairs[0].1.strip_prefix("displayName eq '").unwrap().strip_suffix('\'').unwrap();
            proptest::prop_assert_eq!(inner.replace("''", "'"), value);
        }

        #[test]
        fn any_segment_stays_one_segment(value in "\\PC{1,40}") {
            let p = GraphPath::new(["users", value.as_str(), "sendMail"]);
            proptest::prop_assume!(p.validate().is_ok());
            let url = url::Url::parse(&format!("https://graph.microsoft.com/v1.0{p}")).unwrap();
            let segments: Vec<&str> = url.path_segments().unwrap().collect();
            proptest::prop_assert_eq!(segments.len(), 4);
            let decoded = percent_encoding::percent_decode_str(segments[2]).decode_utf8().unwrap();
            proptest::prop_assert_eq!(decoded.as_ref(), value.as_str());
            proptest::prop_assert!(url.query().is_none() && url.fragment().is_none());
        }
    }

    #[test]
    fn dot_segments_are_refused() {
        for bad in ["..", ".", "", " "] {
            let p = GraphPath::new(["groups", "g", "members", bad, "$ref"]);
            assert!(p.validate().is_err(), "{bad:?}");
        }
    }
}
