//! Property tests across the module: literal escaping round-trips, no input panics, paging covers
//! every item exactly once.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{Filter, PageToken, QueryOptions, page, query_fingerprint};

/// What the Graph client encodes: everything but unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn samples() -> Vec<Value> {
    vec![
        json!({}),
        json!(null),
        json!("text"),
        json!({
            "a": "x", "b": 1, "c": 2.5, "d": true, "e": null,
            "f": ["x", "y"], "g": [{"h": "x", "i": [1, 2]}], "j": {"k": "v"},
            "t": "2025-01-01T00:00:00Z", "id": "226ca751-f0a4-4232-9be5-73c02a92555e"
        }),
    ]
}

fn fragments() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "(",
        ")",
        ",",
        ":",
        "/",
        "'",
        "''",
        "'x'",
        "'a''b'",
        "a",
        "b",
        "c",
        "f",
        "g",
        "h",
        "j/k",
        "x",
        "y",
        "eq",
        "ne",
        "gt",
        "ge",
        "lt",
        "le",
        "and",
        "or",
        "not",
        "NOT",
        "in",
        "any",
        "all",
        "$count",
        "$it",
        "null",
        "true",
        "false",
        "1",
        "-2",
        "2.5",
        "1e3",
        "2025-01-01",
        "2025-01-01T00:00:00Z",
        "226ca751-f0a4-4232-9be5-73c02a92555e",
        "startswith",
        "endsWith",
        "contains",
        "tolower",
        "ns.Enum'v'",
        " ",
        "é",
        "#",
    ]);
    prop::collection::vec(words, 0..24).prop_map(|w| w.concat())
}

proptest! {
    /// Any string, escaped by doubling quotes and quoted, matches exactly that value.
    #[test]
    fn quoted_literals_round_trip(s in any::<String>(), other in any::<String>()) {
        let text = format!("prop eq {}", quoted(&s));
        let f = Filter::parse(&text).map_err(|e| TestCaseError::fail(e.message()))?;
        let same = json!({"prop": s});
        let longer = json!({"prop": format!("{s}x")});
        let different = json!({"prop": other});
        let missing = json!({});
        prop_assert!(f.matches(&same));
        prop_assert!(!f.matches(&longer));
        prop_assert!(!f.matches(&missing));
        let lower = |t: &str| t.chars().flat_map(char::to_lowercase).collect::<String>();
        if lower(&s) != lower(&other) {
            prop_assert!(!f.matches(&different));
        }
        // The same through a percent-encoded URL query.
        let raw = format!("$filter={}", utf8_percent_encode(&text, QUERY_VALUE));
        let opts = QueryOptions::parse(Some(&raw)).map_err(|e| TestCaseError::fail(e.message()))?;
        prop_assert_eq!(opts.filter.as_ref(), Some(&f));
    }

    /// Arbitrary text never panics the filter parser or evaluator.
    #[test]
    fn arbitrary_filters_never_panic(text in any::<String>()) {
        if let Ok(f) = Filter::parse(&text) {
            for v in samples() {
                let _ = f.matches(&v);
            }
        }
    }

    /// Token soup (more likely to parse) never panics either, and what parses evaluates.
    #[test]
    fn token_soup_never_panics(text in fragments()) {
        match Filter::parse(&text) {
            Ok(f) => {
                for v in samples() {
                    let _ = f.matches(&v);
                }
                let _ = f.advanced_features();
                let _ = f.referenced_properties();
            }
            Err(e) => {
                prop_assert!(e.message().starts_with("Invalid filter clause: "));
            }
        }
    }

    /// Arbitrary query strings never panic the option parser.
    #[test]
    fn arbitrary_queries_never_panic(raw in any::<String>(), soup in fragments()) {
        let _ = QueryOptions::parse(Some(&raw));
        let _ = QueryOptions::parse(Some(&format!("$filter={soup}&$orderby={soup}&$expand={soup}&$select={soup}")));
        let _ = PageToken::decode(&raw, "fp");
    }

    /// Following the skiptokens visits every item exactly once, in order.
    #[test]
    fn paging_visits_every_item_once(n in 0usize..60, top in 1usize..12) {
        let items: Vec<usize> = (0..n).collect();
        let query = format!("$top={top}");
        let fp = query_fingerprint("/v1.0/users", Some(&query));
        let mut seen = Vec::new();
        let mut raw = query.clone();
        for _ in 0..=n {
            let opts = QueryOptions::parse(Some(&raw)).map_err(|e| TestCaseError::fail(e.message()))?;
            let (p, next) = page(items.clone(), &opts, 100, 999, &fp).map_err(|e| TestCaseError::fail(e.message()))?;
            prop_assert!(p.len() <= top);
            seen.extend(p);
            match next {
                Some(t) => raw = format!("{query}&$skiptoken={t}"),
                None => break,
            }
        }
        prop_assert_eq!(seen, items);
    }
}
