//! `$select` projection and `$orderby` sorting of JSON objects.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::options::OrderBy;
use super::text;

/// Projects `item` onto the `$select`ed properties.
///
/// Keeps instance annotations (`@odata.type`, `@odata.etag`, ...) and a selected property's own
/// annotations (`mail@odata.type`); drops everything else, `id` included, unless selected. Names
/// match case-insensitively; the output keeps the stored names. `*` selects everything. Selected
/// names the object does not have are left out (a caller that knows the schema can add `null`s).
/// A path (`licenseProcessingState/state`) selects its first segment. Non-objects are returned as
/// they are.
pub fn select(item: &Value, props: &[String]) -> Value {
    let Value::Object(map) = item else {
        return item.clone();
    };
    if props.iter().any(|p| p == "*") {
        return item.clone();
    }
    let selected = |name: &str| {
        props.iter().any(|p| {
            let first = p.split('/').next().unwrap_or(p);
            text::eq_ci(first, name)
        })
    };
    let mut out = Map::new();
    for (key, value) in map {
        let keep = match key.split_once('@') {
            Some(("", _)) => true,
            Some((property, _)) => selected(property),
            None => selected(key),
        };
        if keep {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

/// Sorts `items` by the `$orderby` keys: stable; strings compare case-insensitively; `null` and
/// missing properties come first in ascending order (last in descending); values of different
/// types order as null < Boolean < number < string < collection < object.
pub fn sort(items: &mut [Value], orderby: &[OrderBy]) {
    if orderby.is_empty() {
        return;
    }
    let keys: Vec<(Vec<&str>, bool)> = orderby
        .iter()
        .map(|o| (o.property.split('/').collect(), o.descending))
        .collect();
    items.sort_by(|a, b| {
        for (path, descending) in &keys {
            let ord = compare_values(lookup(a, path), lookup(b, path));
            let ord = if *descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}

fn lookup<'v>(item: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let mut cur = item;
    for seg in path {
        let Value::Object(map) = cur else {
            return None;
        };
        cur = text::get_ci(map, seg)?.1;
    }
    Some(cur)
}

fn rank(v: Option<&Value>) -> u8 {
    match v {
        None | Some(Value::Null) => 0,
        Some(Value::Bool(_)) => 1,
        Some(Value::Number(_)) => 2,
        Some(Value::String(_)) => 3,
        Some(Value::Array(_)) => 4,
        Some(Value::Object(_)) => 5,
    }
}

/// A total order on numbers: by value (`f64::total_cmp`), then floats before integers of the same
/// value, then integers exactly (so large integers that round to the same `f64` stay ordered).
fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    let exact = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    let fa = a.as_f64().unwrap_or(f64::NAN);
    let fb = b.as_f64().unwrap_or(f64::NAN);
    fa.total_cmp(&fb)
        .then_with(|| exact(a).is_some().cmp(&exact(b).is_some()))
        .then_with(|| exact(a).cmp(&exact(b)))
}

/// A total preorder on optional JSON values (see [`sort`]).
fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => compare_numbers(x, y),
        (Some(Value::String(x)), Some(Value::String(y))) => text::cmp_ci(x, y),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn select_keeps_annotations_and_drops_id_unless_selected() {
        let user = json!({
            "@odata.type": "#microsoft.graph.user",
            "@odata.etag": "W/\"1\"",
            "id": "u1",
            "displayName": "Alice",
            "mail": null,
            "mail@odata.type": "#String",
            "jobTitle@odata.type": "#String",
            "accountEnabled": true,
        });
        assert_eq!(
            select(&user, &strings(&["MAIL"])),
            json!({"@odata.type": "#microsoft.graph.user", "@odata.etag": "W/\"1\"", "mail": null, "mail@odata.type": "#String"})
        );
        assert_eq!(
            select(&user, &strings(&["id", "displayname", "nonexistent"])),
            json!({"@odata.type": "#microsoft.graph.user", "@odata.etag": "W/\"1\"", "id": "u1", "displayName": "Alice"})
        );
        assert_eq!(select(&user, &strings(&["*"])), user);
        assert_eq!(
            select(&user, &[]),
            json!({"@odata.type": "#microsoft.graph.user", "@odata.etag": "W/\"1\""})
        );
        assert_eq!(select(&json!("x"), &strings(&["id"])), json!("x"));
        let g = json!({"id": "g", "licenseProcessingState": {"state": "x"}, "other": 1});
        assert_eq!(
            select(&g, &strings(&["licenseProcessingState/state"])),
            json!({"licenseProcessingState": {"state": "x"}})
        );
    }

    fn names(items: &[Value]) -> Vec<&str> {
        items.iter().map(|v| v["n"].as_str().unwrap()).collect()
    }

    fn ob(spec: &str) -> Vec<OrderBy> {
        spec.split(',')
            .map(|s| {
                let mut w = s.split_whitespace();
                OrderBy {
                    property: w.next().unwrap().to_owned(),
                    descending: w.next() == Some("desc"),
                }
            })
            .collect()
    }

    #[test]
    fn sort_strings_case_insensitive_and_stable() {
        let mut items = vec![
            json!({"n": "1", "displayName": "bob"}),
            json!({"n": "2", "displayName": "Alice"}),
            json!({"n": "3", "displayName": "BOB"}),
            json!({"n": "4", "displayName": "alice"}),
            json!({"n": "5"}),
            json!({"n": "6", "displayName": null}),
        ];
        sort(&mut items, &ob("displayName"));
        assert_eq!(names(&items), ["5", "6", "2", "4", "1", "3"]);
        sort(&mut items, &ob("DISPLAYNAME desc"));
        assert_eq!(names(&items), ["1", "3", "2", "4", "5", "6"]);
    }

    #[test]
    fn sort_by_several_keys_and_paths() {
        let mut items = vec![
            json!({"n": "a", "state": {"s": "x"}, "size": 2}),
            json!({"n": "b", "state": {"s": "y"}, "size": 1}),
            json!({"n": "c", "state": {"s": "x"}, "size": 1}),
            json!({"n": "d", "state": {"s": "Y"}, "size": 3}),
        ];
        sort(&mut items, &ob("state/s desc, size"));
        assert_eq!(names(&items), ["b", "d", "c", "a"]);
        sort(&mut items, &[]);
        assert_eq!(names(&items), ["b", "d", "c", "a"]);
    }

    #[test]
    fn sort_mixed_types_and_numbers() {
        let mut items = vec![
            json!({"n": "s", "v": "text"}),
            json!({"n": "f", "v": 1.5}),
            json!({"n": "i", "v": 1}),
            json!({"n": "t", "v": true}),
            json!({"n": "z", "v": null}),
            json!({"n": "a", "v": [1]}),
            json!({"n": "o", "v": {}}),
            json!({"n": "big", "v": 9007199254740993u64}),
            json!({"n": "big2", "v": 9007199254740992u64}),
            json!({"n": "neg", "v": -3}),
        ];
        sort(&mut items, &ob("v"));
        assert_eq!(
            names(&items),
            ["z", "t", "neg", "i", "f", "big2", "big", "s", "a", "o"]
        );
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            any::<bool>().prop_map(|b| Some(json!(b))),
            any::<i64>().prop_map(|i| Some(json!(i))),
            any::<u64>().prop_map(|i| Some(json!(i))),
            (-1e6f64..1e6).prop_map(|f| Some(json!(f))),
            "[a-cA-C]{0,3}".prop_map(|s| Some(json!(s))),
            ".{0,4}".prop_map(|s| Some(json!(s))),
            Just(Some(json!([1]))),
            Just(Some(json!({"x": 1}))),
        ]
    }

    proptest! {
        /// Sorting is a permutation, ordered by the key, and stable.
        #[test]
        fn sort_is_an_ordered_stable_permutation(
            values in prop::collection::vec(value(), 0..40),
            descending in any::<bool>(),
        ) {
            let mut items: Vec<Value> = values
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Some(v) => json!({"i": i, "v": v}),
                    None => json!({"i": i}),
                })
                .collect();
            let original = items.clone();
            sort(&mut items, &[OrderBy { property: "V".into(), descending }]);

            let mut seen: Vec<u64> = items.iter().map(|v| v["i"].as_u64().unwrap()).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..original.len() as u64).collect::<Vec<_>>());
            for it in &items {
                let i = usize::try_from(it["i"].as_u64().unwrap()).unwrap();
                prop_assert_eq!(it, &original[i]);
            }

            for pair in items.windows(2) {
                let mut ord = compare_values(pair[0].get("v"), pair[1].get("v"));
                if descending {
                    ord = ord.reverse();
                }
                prop_assert_ne!(ord, Ordering::Greater, "{} before {}", pair[0], pair[1]);
                if ord == Ordering::Equal {
                    prop_assert!(pair[0]["i"].as_u64() < pair[1]["i"].as_u64(), "not stable");
                }
            }
        }
    }
}
