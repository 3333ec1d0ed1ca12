//! System query options of a request: `QueryOptions::parse` of the raw URL query string.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use super::error::ODataError;
use super::filter::Filter;

/// How deep `$expand` options may nest (`a($expand=b($expand=c))` is depth 3).
const MAX_EXPAND_DEPTH: usize = 8;

/// The parsed system query options of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOptions {
    /// `$filter`, parsed.
    pub filter: Option<Filter>,
    /// `$select`: property names, trimmed, as sent (matching is case-insensitive).
    pub select: Option<Vec<String>>,
    /// `$expand`: navigation properties with their nested options.
    pub expand: Vec<Expand>,
    /// `$top`: any non-negative integer; [`super::page`] enforces the collection's maximum.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: Option<usize>,
    /// `$skiptoken`, as sent; decode it with [`super::PageToken::decode`].
    pub skiptoken: Option<String>,
    /// `$count=true`.
    pub count: bool,
    /// `$orderby`, in priority order.
    pub orderby: Vec<OrderBy>,
    /// `$search`, raw (Graph wants it quoted: `"displayName:room"`).
    pub search: Option<String>,
}

/// One `$orderby` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// Property path, `/`-separated (`displayName`, `licenseProcessingState/state`).
    pub property: String,
    /// `desc`.
    pub descending: bool,
}

/// One `$expand` item with its nested options: `assignments($expand=assignedUsers)`,
/// `members($select=id,displayName;$top=5)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expand {
    /// The navigation property (`assignments`, `members`, `*`).
    pub property: String,
    /// Nested `$select`.
    pub select: Option<Vec<String>>,
    /// Nested `$expand`.
    pub expand: Vec<Expand>,
    /// Nested `$filter`.
    pub filter: Option<Filter>,
    /// Nested `$top`.
    pub top: Option<usize>,
    /// Nested `$orderby`.
    pub orderby: Vec<OrderBy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SystemOption {
    Filter,
    Select,
    Expand,
    Top,
    Skip,
    SkipToken,
    Count,
    OrderBy,
    Search,
}

impl SystemOption {
    const ALL: [SystemOption; 9] = [
        Self::Filter,
        Self::Select,
        Self::Expand,
        Self::Top,
        Self::Skip,
        Self::SkipToken,
        Self::Count,
        Self::OrderBy,
        Self::Search,
    ];

    /// The canonical name, with its `$`.
    fn name(self) -> &'static str {
        match self {
            Self::Filter => "$filter",
            Self::Select => "$select",
            Self::Expand => "$expand",
            Self::Top => "$top",
            Self::Skip => "$skip",
            Self::SkipToken => "$skiptoken",
            Self::Count => "$count",
            Self::OrderBy => "$orderby",
            Self::Search => "$search",
        }
    }

    /// Recognises `$filter`, `$Filter`, `$FILTER`, ...
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(name))
    }
}

/// Percent-decodes one query component, `+` standing for a space (as Graph treats it).
/// Invalid UTF-8 sequences become U+FFFD.
pub(crate) fn decode_component(s: &str) -> Cow<'_, str> {
    if !s.contains(['+', '%']) {
        return Cow::Borrowed(s);
    }
    let spaced = s.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

impl QueryOptions {
    /// Parses the raw (still percent-encoded) URL query string, without or with its leading `?`.
    ///
    /// `$filter` and `%24filter` are both accepted; option names are case-insensitive; a system
    /// option given twice, or an unknown `$` option, is a 400; parameters without `$` are ignored.
    pub fn parse(raw_query: Option<&str>) -> Result<Self, ODataError> {
        let mut opts = Self::default();
        let Some(raw) = raw_query else {
            return Ok(opts);
        };
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        let mut seen: Vec<SystemOption> = Vec::new();
        for pair in raw.split('&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_component(name);
            if !name.starts_with('$') {
                continue;
            }
            let Some(option) = SystemOption::from_name(&name) else {
                return Err(ODataError::UnknownOption {
                    name: name.into_owned(),
                });
            };
            if seen.contains(&option) {
                return Err(ODataError::DuplicateOption {
                    name: option.name().to_owned(),
                });
            }
            seen.push(option);
            let value = decode_component(value);
            opts.set(option, &value)?;
        }
        Ok(opts)
    }

    /// Graph's gate on advanced queries for directory objects (users, groups, ...; not for the
    /// Windows 365 endpoints): a filter using an advanced operator (see
    /// [`Filter::advanced_features`]) needs both `ConsistencyLevel: eventual` and `$count=true`,
    /// `$search` needs the header. The first missing requirement is the error.
    /// `consistency_eventual` is whether the request carries `ConsistencyLevel: eventual`.
    pub fn check_advanced_query(&self, consistency_eventual: bool) -> Result<(), ODataError> {
        if let Some(filter) = &self.filter
            && !(consistency_eventual && self.count)
            && let Some(feature) = filter.advanced_features().first()
        {
            return Err(ODataError::advanced_query_required(feature));
        }
        if self.search.is_some() && !consistency_eventual {
            return Err(ODataError::SearchRequiresConsistencyLevel);
        }
        Ok(())
    }

    fn set(&mut self, option: SystemOption, value: &str) -> Result<(), ODataError> {
        match option {
            SystemOption::Filter => self.filter = Some(Filter::parse(value)?),
            SystemOption::Select => self.select = parse_select(value)?,
            SystemOption::Expand => self.expand = parse_expand(value, 1)?,
            SystemOption::Top => self.top = Some(parse_integer("$top", value)?),
            SystemOption::Skip => self.skip = Some(parse_integer("$skip", value)?),
            SystemOption::SkipToken => self.skiptoken = Some(value.to_owned()),
            SystemOption::Count => self.count = parse_count(value)?,
            SystemOption::OrderBy => self.orderby = parse_orderby(value)?,
            SystemOption::Search => self.search = Some(value.to_owned()),
        }
        Ok(())
    }
}

/// A fingerprint of a request's query for [`super::PageToken`]: the path plus every query
/// parameter except `$skiptoken`, so that a token only works for the query that produced it.
/// Callers that serve several tenants should add the tenant id to `path`.
pub fn query_fingerprint(path: &str, raw_query: Option<&str>) -> String {
    let mut out = String::with_capacity(path.len() + raw_query.map_or(0, str::len) + 1);
    out.push_str(path);
    out.push('?');
    let raw = raw_query.unwrap_or("");
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    let mut first = true;
    for pair in raw.split('&') {
        if pair.is_empty() {
            continue;
        }
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        if decode_component(name).eq_ignore_ascii_case("$skiptoken") {
            continue;
        }
        if !first {
            out.push('&');
        }
        first = false;
        out.push_str(pair);
    }
    out
}

fn parse_integer(option: &'static str, value: &str) -> Result<usize, ODataError> {
    let invalid = || ODataError::InvalidInteger {
        option,
        value: value.to_owned(),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    value.parse().map_err(|_| invalid())
}

fn parse_count(value: &str) -> Result<bool, ODataError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ODataError::InvalidCount {
            value: value.to_owned(),
        })
    }
}

fn invalid_term(term: &str) -> ODataError {
    ODataError::InvalidSelectExpand {
        detail: format!("Term '{term}' is not valid in a $select or $expand expression."),
    }
}

fn is_property_path(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains("//")
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | '$'))
}

/// `$select=id, displayName` -> `["id", "displayName"]`; an empty value selects nothing special
/// (`None`: the default property set).
fn parse_select(value: &str) -> Result<Option<Vec<String>>, ODataError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    value
        .split(',')
        .map(|term| {
            let term = term.trim();
            if term == "*" || is_property_path(term) {
                Ok(term.to_owned())
            } else {
                Err(invalid_term(term))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Splits at `sep` outside parentheses and single-quoted strings.
fn split_top_level(s: &str, sep: char) -> Result<Vec<&str>, ODataError> {
    let unbalanced = || ODataError::InvalidSelectExpand {
        detail: "Found an unbalanced bracket expression.".to_owned(),
    };
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => in_quote = !in_quote,
            '(' if !in_quote => depth += 1,
            ')' if !in_quote => depth = depth.checked_sub(1).ok_or_else(unbalanced)?,
            c if c == sep && !in_quote && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(unbalanced());
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn parse_expand(value: &str, depth: usize) -> Result<Vec<Expand>, ODataError> {
    if depth > MAX_EXPAND_DEPTH {
        return Err(ODataError::InvalidSelectExpand {
            detail: format!("$expand may be nested at most {MAX_EXPAND_DEPTH} levels deep."),
        });
    }
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    split_top_level(value, ',')?
        .into_iter()
        .map(|item| parse_expand_item(item.trim(), depth))
        .collect()
}

fn parse_expand_item(item: &str, depth: usize) -> Result<Expand, ODataError> {
    let Some(open) = item.find('(') else {
        if item == "*" || is_property_path(item) {
            return Ok(Expand {
                property: item.to_owned(),
                ..Expand::default()
            });
        }
        return Err(invalid_term(item));
    };
    let property = item[..open].trim();
    if !(property == "*" || is_property_path(property)) || !item.ends_with(')') {
        return Err(invalid_term(item));
    }
    let mut expand = Expand {
        property: property.to_owned(),
        ..Expand::default()
    };
    let inner = &item[open + 1..item.len() - 1];
    let mut seen: Vec<String> = Vec::new();
    for option in split_top_level(inner, ';')? {
        let option = option.trim();
        if option.is_empty() {
            continue;
        }
        let Some((name, value)) = option.split_once('=') else {
            return Err(invalid_term(option));
        };
        let name = name.trim();
        let key = name.strip_prefix('$').unwrap_or(name).to_ascii_lowercase();
        if seen.contains(&key) {
            return Err(ODataError::DuplicateOption {
                name: format!("${key}"),
            });
        }
        let value = value.trim();
        match key.as_str() {
            "select" => expand.select = parse_select(value)?,
            "expand" => expand.expand = parse_expand(value, depth + 1)?,
            "filter" => expand.filter = Some(Filter::parse(value)?),
            "top" => expand.top = Some(parse_integer("$top", value)?),
            "orderby" => expand.orderby = parse_orderby(value)?,
            _ => {
                return Err(ODataError::InvalidSelectExpand {
                    detail: format!("The query option '{name}' is not supported inside $expand."),
                });
            }
        }
        seen.push(key);
    }
    Ok(expand)
}

/// `displayName desc, id` -> `[displayName desc, id asc]`.
fn parse_orderby(value: &str) -> Result<Vec<OrderBy>, ODataError> {
    value
        .split(',')
        .map(|item| {
            let invalid = || ODataError::InvalidOrderBy {
                detail: format!(
                    "'{}' is not a property optionally followed by asc or desc.",
                    item.trim()
                ),
            };
            let mut words = item.split_whitespace();
            let property = words
                .next()
                .filter(|p| is_property_path(p))
                .ok_or_else(invalid)?;
            let descending = match words.next() {
                None => false,
                Some(d) if d.eq_ignore_ascii_case("asc") => false,
                Some(d) if d.eq_ignore_ascii_case("desc") => true,
                Some(_) => return Err(invalid()),
            };
            if words.next().is_some() {
                return Err(invalid());
            }
            Ok(OrderBy {
                property: property.to_owned(),
                descending,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(q: &str) -> QueryOptions {
        QueryOptions::parse(Some(q)).unwrap_or_else(|e| panic!("{q}: {}", e.message()))
    }

    fn err(q: &str) -> ODataError {
        QueryOptions::parse(Some(q)).expect_err(q)
    }

    #[test]
    fn empty_and_absent() {
        assert_eq!(QueryOptions::parse(None).unwrap(), QueryOptions::default());
        assert_eq!(parse(""), QueryOptions::default());
        assert_eq!(parse("?"), QueryOptions::default());
        assert_eq!(parse("&&"), QueryOptions::default());
    }

    #[test]
    fn graph_encoded_filter() {
        // As Graph's own docs encode it: startswith(givenName%2C+'J')
        let o = parse("$filter=startswith(givenName%2C+'J')&$select=id,givenName");
        let f = o.filter.unwrap();
        assert!(f.matches(&json!({"givenName": "john"})));
        assert!(!f.matches(&json!({"givenName": "Ann"})));
        assert_eq!(
            o.select,
            Some(vec!["id".to_owned(), "givenName".to_owned()])
        );
    }

    #[test]
    fn percent_and_plus_decoding() {
        let o = parse("%24filter=userPrincipalName%20eq%20'a%2Bb%40contoso.com'");
        let f = o.filter.unwrap();
        assert!(f.matches(&json!({"userPrincipalName": "a+b@contoso.com"})));
        let o = parse("$filter=displayName+eq+'O''Neil+Jr'");
        assert!(
            o.filter
                .unwrap()
                .matches(&json!({"displayName": "O'Neil Jr"}))
        );
        let o = parse("$filter=displayName eq 'x%26y'");
        assert!(o.filter.unwrap().matches(&json!({"displayName": "x&y"})));
        let o = parse("$search=%22displayName%3Aroom%22");
        assert_eq!(o.search.as_deref(), Some("\"displayName:room\""));
    }

    #[test]
    fn names_are_case_insensitive_and_non_dollar_ignored() {
        let o = parse("$TOP=5&$Skip=2&$COUNT=TRUE&api-version=1.6&select=ignored&foo=bar");
        assert_eq!(o.top, Some(5));
        assert_eq!(o.skip, Some(2));
        assert!(o.count);
        assert_eq!(o.select, None);
        let o = parse("$skipToken=abc&$OrderBy=displayName");
        assert_eq!(o.skiptoken.as_deref(), Some("abc"));
        assert_eq!(o.orderby.len(), 1);
    }

    #[test]
    fn duplicates_rejected() {
        for q in [
            "$top=1&$top=2",
            "$filter=a eq 1&%24filter=b eq 2",
            "$select=id&$SELECT=mail",
        ] {
            let e = err(q);
            assert_eq!(e.graph_code(), "BadRequest");
            assert!(matches!(e, ODataError::DuplicateOption { .. }), "{q}");
            assert!(
                e.message().ends_with(
                    "was specified more than once, but it must be specified at most once."
                )
            );
        }
        assert_eq!(
            err("$top=1&$Top=2").message(),
            "Query option '$top' was specified more than once, but it must be specified at most once."
        );
    }

    #[test]
    fn unknown_dollar_options_rejected() {
        let e = err("$filterx=a eq 1");
        assert_eq!(e.graph_code(), "Request_BadRequest");
        assert_eq!(
            e.message(),
            "Unrecognized query argument specified: '$filterx'."
        );
        assert!(matches!(err("%24foo=1"), ODataError::UnknownOption { name } if name == "$foo"));
        assert!(matches!(err("$=1"), ODataError::UnknownOption { .. }));
    }

    #[test]
    fn top_skip_count_values() {
        assert_eq!(parse("$top=0").top, Some(0));
        assert_eq!(parse("$top=999").top, Some(999));
        for bad in ["-1", "abc", "", "1.5", " 5", "99999999999999999999999"] {
            let e = err(&format!("$top={bad}"));
            assert_eq!(
                e.message(),
                format!(
                    "Invalid value '{}' for $top query option found. The $top query option requires a non-negative integer value.",
                    decode_component(bad)
                )
            );
        }
        assert!(matches!(
            err("$skip=x"),
            ODataError::InvalidInteger {
                option: "$skip",
                ..
            }
        ));
        assert!(!parse("$count=false").count);
        assert_eq!(
            err("$count=yes").message(),
            "'yes' is not a valid count option."
        );
        assert!(matches!(err("$count"), ODataError::InvalidCount { .. }));
    }

    #[test]
    fn select_lists() {
        assert_eq!(
            parse("$select= id , displayName,assignedLicenses ").select,
            Some(vec![
                "id".into(),
                "displayName".into(),
                "assignedLicenses".into()
            ])
        );
        assert_eq!(parse("$select=").select, None);
        assert_eq!(parse("$select=*").select, Some(vec!["*".into()]));
        let e = err("$select=id,,mail");
        assert_eq!(
            e.message(),
            "Parsing OData Select and Expand failed: Term '' is not valid in a $select or $expand expression."
        );
        assert!(
            err("$select=foo bar")
                .message()
                .contains("Term 'foo bar' is not valid")
        );
        assert!(err("$select=a(b)").message().contains("Term 'a(b)'"));
    }

    #[test]
    fn expand_lists_with_nested_options() {
        let o = parse("$expand=assignments($expand=assignedUsers)");
        assert_eq!(
            o.expand,
            vec![Expand {
                property: "assignments".into(),
                expand: vec![Expand {
                    property: "assignedUsers".into(),
                    ..Expand::default()
                }],
                ..Expand::default()
            }]
        );
        let o = parse(
            "$expand=members($select=id,displayName;$top=5;$filter=startswith(displayName,'a,b')),owners",
        );
        assert_eq!(o.expand.len(), 2);
        let m = &o.expand[0];
        assert_eq!(m.property, "members");
        assert_eq!(m.select, Some(vec!["id".into(), "displayName".into()]));
        assert_eq!(m.top, Some(5));
        assert!(
            m.filter
                .as_ref()
                .unwrap()
                .matches(&json!({"displayName": "A,B team"}))
        );
        assert_eq!(o.expand[1].property, "owners");
        let o = parse("$expand=assignments(select=id;orderby=id desc)");
        assert_eq!(o.expand[0].select, Some(vec!["id".into()]));
        assert!(o.expand[0].orderby[0].descending);
        assert_eq!(parse("$expand=*").expand[0].property, "*");
        assert!(parse("$expand=").expand.is_empty());
    }

    #[test]
    fn expand_errors() {
        assert!(
            err("$expand=members($select=id")
                .message()
                .contains("unbalanced bracket")
        );
        assert!(
            err("$expand=members)")
                .message()
                .contains("unbalanced bracket")
        );
        assert!(
            err("$expand=members($foo=1)")
                .message()
                .contains("'$foo' is not supported inside $expand")
        );
        assert!(
            err("$expand=members($top=1;$top=2)")
                .message()
                .contains("'$top' was specified more than once")
        );
        assert!(
            err("$expand=members($select)")
                .message()
                .contains("Term '$select'")
        );
        assert!(err("$expand=a b").message().contains("Term 'a b'"));
        assert!(matches!(
            err("$expand=m($filter=x eq)"),
            ODataError::InvalidFilter { .. }
        ));
        let deep = format!("$expand={}x{}", "a($expand=".repeat(20), ")".repeat(20));
        assert!(err(&deep).message().contains("nested at most"));
    }

    #[test]
    fn orderby_lists() {
        assert_eq!(
            parse("$orderby=displayName desc, id").orderby,
            vec![
                OrderBy {
                    property: "displayName".into(),
                    descending: true
                },
                OrderBy {
                    property: "id".into(),
                    descending: false
                }
            ]
        );
        assert!(!parse("$orderby=displayName%20ASC").orderby[0].descending);
        assert!(parse("$orderby=licenseProcessingState/state+DESC").orderby[0].descending);
        for bad in ["displayName sideways", "", "a,,b", "a desc extra", "'x'"] {
            let e = err(&format!("$orderby={bad}"));
            assert!(matches!(e, ODataError::InvalidOrderBy { .. }), "{bad}");
            assert_eq!(e.graph_code(), "BadRequest");
        }
    }

    #[test]
    fn filter_errors_surface() {
        let e = err("$filter=displayName eq 'O'Neil'");
        assert_eq!(e.graph_code(), "BadRequest");
        assert!(
            e.message()
                .starts_with("Invalid filter clause: Syntax error at position 18")
        );
        assert!(matches!(
            err("$filter="),
            ODataError::InvalidFilter { position: 0, .. }
        ));
    }

    #[test]
    fn advanced_query_gate() {
        let q = parse("$filter=endsWith(mail,'@outlook.com')");
        let e = q.check_advanced_query(true).unwrap_err();
        assert_eq!(e.graph_code(), "Request_UnsupportedQuery");
        assert!(e.message().starts_with(
            "Operator 'endsWith' is not supported because the required parameters might be missing."
        ));
        assert!(q.check_advanced_query(false).is_err());
        let q = parse("$filter=endsWith(mail,'@outlook.com')&$count=true");
        assert!(q.check_advanced_query(false).is_err());
        assert_eq!(q.check_advanced_query(true), Ok(()));
        let q = parse("$filter=accountEnabled ne true and not(x eq 1)");
        assert_eq!(
            q.check_advanced_query(false),
            Err(ODataError::advanced_query_required("ne"))
        );
        let q = parse("$filter=displayName eq 'x' and startswith(mail,'a')");
        assert_eq!(q.check_advanced_query(false), Ok(()));
        assert_eq!(
            parse("$search=\"displayName:x\"").check_advanced_query(false),
            Err(ODataError::SearchRequiresConsistencyLevel)
        );
        assert_eq!(
            parse("$search=\"displayName:x\"").check_advanced_query(true),
            Ok(())
        );
        assert_eq!(parse("$top=5").check_advanced_query(false), Ok(()));
    }

    #[test]
    fn fingerprint_ignores_only_the_skiptoken() {
        let a = query_fingerprint("/v1.0/users", Some("$top=5&$skiptoken=abc&$filter=x"));
        let b = query_fingerprint("/v1.0/users", Some("$top=5&$filter=x&%24SkipToken=zzz"));
        assert_eq!(a, "/v1.0/users?$top=5&$filter=x");
        assert_eq!(b, "/v1.0/users?$top=5&$filter=x");
        assert_ne!(
            a,
            query_fingerprint("/v1.0/groups", Some("$top=5&$filter=x"))
        );
        assert_ne!(
            a,
            query_fingerprint("/v1.0/users", Some("$top=6&$filter=x"))
        );
        assert_eq!(query_fingerprint("/p", None), "/p?");
    }
}
