//! Turning items plus the request's OData options into Graph responses: collections (filter,
//! search, orderby, count, select, paging with an absolute `@odata.nextLink`, `@odata.context`)
//! and single entities (select, default property set, `@odata.context` `.../$entity`).

use axum::Json;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use super::context::RequestContext;
use super::error::ApiError;
use super::extract::GraphQuery;
use crate::odata;

/// How one collection behaves.
#[derive(Debug, Clone, Copy)]
pub struct CollectionSpec<'a> {
    /// `@odata.context` fragment: `users`, `groups`, `directoryObjects`, `subscribedSkus`, ...
    pub entity_set: &'a str,
    /// Type name for error messages, e.g. `microsoft.graph.user`.
    pub type_name: &'a str,
    /// Page size without `$top`.
    pub default_top: usize,
    /// Largest `$top`.
    pub max_top: usize,
    /// Properties `$orderby` accepts without the advanced-query headers.
    pub sortable: &'a [&'a str],
    /// Every property of the type (for `$select`/`$filter` validation); empty: not validated.
    pub properties: &'a [&'a str],
    /// Properties returned without `$select` (`None`: the whole item).
    pub default_select: Option<&'a [&'a str]>,
    /// Directory semantics: advanced queries (`ne`, `not`, `endsWith`, `$search`, `$filter` with
    /// `$orderby`) need `ConsistencyLevel: eventual` + `$count=true`; `$count` needs the header.
    pub directory: bool,
    /// Whether the route handles `$expand` itself (otherwise `$expand` is a 400).
    pub expand: bool,
}

impl CollectionSpec<'_> {
    /// A non-directory collection (Intune-style: no advanced-query gating, `$count` honoured).
    pub const fn plain(
        entity_set: &'static str,
        type_name: &'static str,
    ) -> CollectionSpec<'static> {
        CollectionSpec {
            entity_set,
            type_name,
            default_top: 100,
            max_top: 999,
            sortable: &[],
            properties: &[],
            default_select: None,
            directory: false,
            expand: false,
        }
    }
}

const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("Request_UnsupportedQuery", message)
}

fn unknown_property(name: &str, type_name: &str) -> ApiError {
    ApiError::bad_request(
        "BadRequest",
        format!("Could not find a property named '{name}' on type '{type_name}'."),
    )
}

fn is_advanced(ctx: &RequestContext, query: &GraphQuery) -> bool {
    ctx.consistency_eventual && query.options.count
}

fn known(spec: &CollectionSpec<'_>, property: &str) -> bool {
    let first = property.split('/').next().unwrap_or(property);
    spec.properties.is_empty()
        || first.starts_with('@')
        || spec
            .properties
            .iter()
            .any(|p| p.eq_ignore_ascii_case(first))
}

/// Checks `$select`, `$expand` and the advanced-query rules of the spec.
pub fn validate(
    ctx: &RequestContext,
    query: &GraphQuery,
    spec: &CollectionSpec<'_>,
) -> Result<(), ApiError> {
    let opts = &query.options;
    if let Some(select) = &opts.select
        && let Some(bad) = select.iter().find(|p| !known(spec, p))
    {
        return Err(unknown_property(bad, spec.type_name));
    }
    if !spec.expand && !opts.expand.is_empty() {
        return Err(ApiError::bad_request(
            "BadRequest",
            format!(
                "Expanding navigation properties is not supported on '{}' by this simulator.",
                spec.entity_set
            ),
        ));
    }
    if let Some(filter) = &opts.filter
        && let Some(bad) = filter
            .referenced_properties()
            .iter()
            .find(|p| !known(spec, p))
    {
        return Err(unknown_property(bad, spec.type_name));
    }
    if !spec.directory {
        return Ok(());
    }
    opts.check_advanced_query(ctx.consistency_eventual)?;
    if !is_advanced(ctx, query) && !opts.orderby.is_empty() {
        let sortable = opts.filter.is_none()
            && odata_orderby_properties(&opts.orderby)
                .iter()
                .all(|p| spec.sortable.iter().any(|s| s.eq_ignore_ascii_case(p)));
        if !sortable {
            return Err(unsupported("Sorting not supported for current query."));
        }
    }
    Ok(())
}

fn odata_orderby_properties(orderby: &[odata::OrderBy]) -> Vec<String> {
    orderby.iter().map(|o| o.property.clone()).collect()
}

/// Projects one item for output: `$select` if given, else the spec's default property set.
pub fn project(item: &Value, query: &GraphQuery, spec: &CollectionSpec<'_>) -> Value {
    if let Some(select) = &query.options.select {
        return odata::select(item, select);
    }
    match spec.default_select {
        Some(defaults) => pick(item, defaults),
        None => item.clone(),
    }
}

/// Keeps the listed properties (exact names, as the simulator builds its items) and `@odata.*`
/// annotations: the default property set, without `$select`'s parsing.
pub fn pick(item: &Value, props: &[&str]) -> Value {
    match item {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.starts_with("@odata.") || props.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn context_fragment(query: &GraphQuery, entity_set: &str) -> String {
    match &query.options.select {
        Some(select) if !select.is_empty() => format!("{entity_set}({})", select.join(",")),
        _ => entity_set.to_owned(),
    }
}

/// A single entity: validation, projection and `@odata.context` `...#{set}/$entity`.
pub fn entity(
    ctx: &RequestContext,
    query: &GraphQuery,
    spec: &CollectionSpec<'_>,
    item: &Value,
) -> Result<Json<Value>, ApiError> {
    let opts = &query.options;
    if let Some(select) = &opts.select
        && let Some(bad) = select.iter().find(|p| !known(spec, p))
    {
        return Err(unknown_property(bad, spec.type_name));
    }
    if !spec.expand && !opts.expand.is_empty() {
        return Err(ApiError::bad_request(
            "BadRequest",
            format!(
                "Expanding navigation properties is not supported on '{}' by this simulator.",
                spec.entity_set
            ),
        ));
    }
    let mut out = Map::new();
    out.insert(
        "@odata.context".to_owned(),
        Value::String(ctx.context_url(&format!(
            "{}/$entity",
            context_fragment(query, spec.entity_set)
        ))),
    );
    if let Value::Object(fields) = project(item, query, spec) {
        out.extend(fields);
    }
    Ok(Json(Value::Object(out)))
}

/// A collection response from JSON items (see [`collection_of`]).
pub fn collection(
    ctx: &RequestContext,
    query: &GraphQuery,
    spec: &CollectionSpec<'_>,
    items: Vec<Value>,
) -> Result<Json<Value>, ApiError> {
    collection_of(ctx, query, spec, items, Clone::clone)
}

/// A collection response. Items are turned into JSON with `to_json` only when needed: a query
/// without `$filter`/`$search`/`$orderby` serializes just the page it returns.
pub fn collection_of<T>(
    ctx: &RequestContext,
    query: &GraphQuery,
    spec: &CollectionSpec<'_>,
    items: Vec<T>,
    to_json: impl Fn(&T) -> Value,
) -> Result<Json<Value>, ApiError> {
    validate(ctx, query, spec)?;
    let opts = &query.options;
    let fingerprint = fingerprint(ctx);
    let needs_json = opts.filter.is_some() || opts.search.is_some() || !opts.orderby.is_empty();
    let (total, page, next) = if needs_json {
        let search = opts.search.as_deref().map(parse_search).transpose()?;
        let mut values: Vec<Value> = items
            .iter()
            .map(&to_json)
            .filter(|v| opts.filter.as_ref().is_none_or(|f| f.matches(v)))
            .filter(|v| search.as_ref().is_none_or(|s| s.matches(v)))
            .collect();
        odata::sort(&mut values, &opts.orderby);
        let total = values.len();
        let (page, next) = odata::page(values, opts, spec.default_top, spec.max_top, &fingerprint)?;
        (total, page, next)
    } else {
        let total = items.len();
        let (page, next) = odata::page(items, opts, spec.default_top, spec.max_top, &fingerprint)?;
        (total, page.iter().map(&to_json).collect(), next)
    };
    let mut out = Map::new();
    out.insert(
        "@odata.context".to_owned(),
        Value::String(ctx.context_url(&context_fragment(query, spec.entity_set))),
    );
    let count_allowed = !spec.directory || ctx.consistency_eventual;
    if opts.count && count_allowed && opts.skiptoken.is_none() {
        out.insert("@odata.count".to_owned(), Value::from(total));
    }
    if let Some(token) = next {
        out.insert(
            "@odata.nextLink".to_owned(),
            Value::String(next_link(ctx, &token)),
        );
    }
    let values = page.iter().map(|v| project(v, query, spec)).collect();
    out.insert("value".to_owned(), Value::Array(values));
    Ok(Json(Value::Object(out)))
}

fn is_skiptoken(param: &str) -> bool {
    let name = param.split('=').next().unwrap_or("").to_ascii_lowercase();
    name == "$skiptoken" || name == "%24skiptoken"
}

fn kept_query(ctx: &RequestContext) -> Vec<&str> {
    ctx.raw_query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !is_skiptoken(p))
        .collect()
}

/// The query's identity for paging tokens: tenant, path and every parameter but `$skiptoken`.
fn fingerprint(ctx: &RequestContext) -> String {
    let path = format!("{}:{}", ctx.tenant().unwrap_or_default(), ctx.path);
    odata::query_fingerprint(&path, ctx.raw_query.as_deref())
}

fn next_link(ctx: &RequestContext, token: &str) -> String {
    let mut params = kept_query(ctx);
    let skip = format!("$skiptoken={}", utf8_percent_encode(token, QUERY_VALUE));
    params.push(&skip);
    format!("{}?{}", ctx.absolute_path(), params.join("&"))
}

/// `$search="displayName:foo" OR "mail:bar"` (clauses joined by AND/OR, left to right).
#[derive(Debug)]
struct Search {
    clauses: Vec<(String, String)>,
    and: Vec<bool>,
}

fn parse_search(text: &str) -> Result<Search, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "Request_UnsupportedQuery",
            format!("Syntax error: '{text}' is not a valid $search expression."),
        )
    };
    let mut clauses = Vec::new();
    let mut and = Vec::new();
    let mut rest = text.trim();
    loop {
        let inner = rest.strip_prefix('"').ok_or_else(invalid)?;
        let end = inner.find('"').ok_or_else(invalid)?;
        let (property, value) = inner[..end].split_once(':').ok_or_else(invalid)?;
        clauses.push((property.trim().to_owned(), value.trim().to_lowercase()));
        rest = inner[end + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        let (op, tail) = rest.split_once(char::is_whitespace).ok_or_else(invalid)?;
        match op {
            "AND" => and.push(true),
            "OR" => and.push(false),
            _ => return Err(invalid()),
        }
        rest = tail.trim_start();
    }
    Ok(Search { clauses, and })
}

impl Search {
    fn matches(&self, item: &Value) -> bool {
        let clause = |(property, value): &(String, String)| {
            item.get(property.as_str())
                .and_then(Value::as_str)
                .is_some_and(|s| {
                    s.to_lowercase()
                        .split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.')
                        .any(|word| word.starts_with(value.as_str()))
                        || s.to_lowercase().starts_with(value.as_str())
                })
        };
        let mut result = clause(&self.clauses[0]);
        for (next, and) in self.clauses[1..].iter().zip(&self.and) {
            result = if *and {
                result && clause(next)
            } else {
                result || clause(next)
            };
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_clauses_match_word_prefixes() {
        let search = parse_search(r#""displayName:ali" OR "mail:zed""#).expect("valid");
        assert!(search.matches(&serde_json::json!({"displayName": "Alice Smith"})));
        assert!(search.matches(&serde_json::json!({"displayName": "Bob", "mail": "zed@x.com"})));
        assert!(!search.matches(&serde_json::json!({"displayName": "Bob", "mail": "bob@x.com"})));
        let both = parse_search(r#""displayName:ali" AND "mail:bob""#).expect("valid");
        assert!(!both.matches(&serde_json::json!({"displayName": "Alice", "mail": "zed@x.com"})));
        assert!(parse_search("displayName:ali").is_err());
        assert!(parse_search(r#""displayName:ali" XOR "a:b""#).is_err());
    }
}

/// The literal of a `$filter` that is exactly `<property> eq '<literal>'` (property name
/// case-insensitive), read from the raw query; lets routes narrow candidates through an index
/// before the real filter runs on them. Anything more complex yields `None`.
pub fn simple_eq_literal(ctx: &RequestContext, property: &str) -> Option<String> {
    let text = filter_text(ctx)?;
    let rest = operand_of(&text, property, "eq")?;
    let (literal, after) = quoted_literal(rest.trim())?;
    after.trim().is_empty().then_some(literal)
}

/// The literals of a `$filter` that is exactly `property in ('a', 'b', …)` (the same caveats as
/// [`simple_eq_literal`]), so a handler can take the candidates from an index and let the filter
/// run over those only; `None` for any other filter.
pub fn simple_in_literals(ctx: &RequestContext, property: &str) -> Option<Vec<String>> {
    let text = filter_text(ctx)?;
    let rest = operand_of(&text, property, "in")?;
    let mut rest = rest.trim().strip_prefix('(')?.strip_suffix(')')?.trim();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (literal, after) = quoted_literal(rest)?;
        out.push(literal);
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(more) => more.trim_start(),
            None if after.is_empty() => after,
            None => return None,
        };
    }
    (!out.is_empty()).then_some(out)
}

/// The decoded text of the request's `$filter`.
fn filter_text(ctx: &RequestContext) -> Option<String> {
    let raw = ctx.raw_query.as_deref()?;
    let value = raw.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = percent_encoding::percent_decode_str(name)
            .decode_utf8()
            .ok()?;
        name.eq_ignore_ascii_case("$filter").then_some(value)
    })?;
    let plus_decoded = value.replace('+', " ");
    let text = percent_encoding::percent_decode_str(&plus_decoded)
        .decode_utf8()
        .ok()?;
    Some(text.into_owned())
}

/// What follows `property op ` in a filter that starts with them.
fn operand_of<'a>(text: &'a str, property: &str, op: &str) -> Option<&'a str> {
    let (name, rest) = text.trim().split_once(char::is_whitespace)?;
    if !name.eq_ignore_ascii_case(property) {
        return None;
    }
    let rest = rest.trim_start();
    // `in(` may follow without a space.
    let end = rest.find(|c: char| c.is_whitespace() || c == '(')?;
    let (found, rest) = rest.split_at(end);
    found.eq_ignore_ascii_case(op).then_some(rest)
}

/// A quoted literal at the start of `text` (quotes inside doubled) and the text after it.
fn quoted_literal(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('\'')?;
    let mut literal = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
            } else {
                return Some((literal, &body[i + 1..]));
            }
        }
        literal.push(c);
    }
    None
}

#[cfg(test)]
mod eq_tests {
    use super::*;

    fn ctx(query: &str) -> RequestContext {
        RequestContext::for_tests(query)
    }

    #[test]
    fn simple_in_literals_reads_only_a_plain_in_list() {
        let got = |q: &str| simple_in_literals(&ctx(q), "userPrincipalName");
        assert_eq!(
            got("$filter=userPrincipalName%20in%20('a%40b.com',%20'o''brien%40b.com')").unwrap(),
            ["a@b.com", "o'brien@b.com"]
        );
        assert_eq!(
            got("$filter=userprincipalname+in+('x,y')&$select=id").unwrap(),
            ["x,y"]
        );
        assert_eq!(got("$filter=userPrincipalName in('a')").unwrap(), ["a"]);
        assert_eq!(got("$filter=userPrincipalName in ()"), None);
        assert_eq!(got("$filter=userPrincipalName in ('a') or id eq 'b'"), None);
        assert_eq!(got("$filter=userPrincipalName in ('a' 'b')"), None);
        assert_eq!(got("$filter=userPrincipalName in ('a)"), None);
        assert_eq!(got("$filter=userPrincipalName eq 'a'"), None);
        assert_eq!(got("$filter=mail in ('a')"), None);
        assert_eq!(got("$filter=userPrincipalNameX in ('a')"), None);
    }

    #[test]
    fn simple_eq_literal_reads_only_exact_equalities() {
        assert_eq!(
            simple_eq_literal(
                &ctx("$filter=userPrincipalName%20eq%20'a%40b.com'"),
                "userPrincipalName"
            )
            .as_deref(),
            Some("a@b.com")
        );
        assert_eq!(
            simple_eq_literal(
                &ctx("%24filter=userprincipalname+eq+'o''brien@b.com'&$select=id"),
                "userPrincipalName"
            )
            .as_deref(),
            Some("o'brien@b.com")
        );
        assert_eq!(
            simple_eq_literal(
                &ctx("$filter=displayName eq 'a' or displayName eq 'b'"),
                "displayName"
            ),
            None
        );
        assert_eq!(
            simple_eq_literal(
                &ctx("$filter=displayName eq 'x' and id eq 'y'"),
                "displayName"
            ),
            None
        );
        assert_eq!(
            simple_eq_literal(&ctx("$filter=mail eq 'x'"), "displayName"),
            None
        );
        assert_eq!(
            simple_eq_literal(&ctx("$filter=startswith(displayName,'x')"), "displayName"),
            None
        );
        assert_eq!(simple_eq_literal(&ctx("$select=id"), "displayName"), None);
    }
}
