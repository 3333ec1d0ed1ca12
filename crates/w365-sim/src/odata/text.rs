//! Case-insensitive string helpers (directory queries compare strings case-insensitively).
//! ASCII fast paths avoid allocation; other text is compared by its Unicode lowercase mapping.

use std::cmp::Ordering;

use serde_json::{Map, Value};

fn lower(s: &str) -> impl DoubleEndedIterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// `a == b` ignoring case.
pub(crate) fn eq_ci(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    lower(a).eq(lower(b))
}

/// Orders `a` and `b` ignoring case.
pub(crate) fn cmp_ci(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        let a = a.bytes().map(|c| c.to_ascii_lowercase());
        let b = b.bytes().map(|c| c.to_ascii_lowercase());
        return a.cmp(b);
    }
    lower(a).cmp(lower(b))
}

/// `s` starts with `prefix`, ignoring case.
pub(crate) fn starts_with_ci(s: &str, prefix: &str) -> bool {
    if s.is_ascii() && prefix.is_ascii() {
        return s.len() >= prefix.len()
            && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes());
    }
    let mut s = lower(s);
    lower(prefix).all(|p| s.next() == Some(p))
}

/// `s` ends with `suffix`, ignoring case.
pub(crate) fn ends_with_ci(s: &str, suffix: &str) -> bool {
    if s.is_ascii() && suffix.is_ascii() {
        return s.len() >= suffix.len()
            && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes());
    }
    let mut s = lower(s).rev();
    lower(suffix).rev().all(|p| s.next() == Some(p))
}

/// `s` contains `needle`, ignoring case.
pub(crate) fn contains_ci(s: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if s.is_ascii() && needle.is_ascii() {
        let n = needle.as_bytes();
        return s
            .as_bytes()
            .windows(n.len())
            .any(|w| w.eq_ignore_ascii_case(n));
    }
    let s: String = lower(s).collect();
    let needle: String = lower(needle).collect();
    s.contains(&needle)
}

/// Looks a property up by name: the exact name first, then ignoring case (Graph property names are
/// case-insensitive in queries). Returns the stored name with the value.
pub(crate) fn get_ci<'v>(map: &'v Map<String, Value>, name: &str) -> Option<(&'v str, &'v Value)> {
    if let Some((k, v)) = map.get_key_value(name) {
        return Some((k.as_str(), v));
    }
    map.iter()
        .find(|(k, _)| eq_ci(k, name))
        .map(|(k, v)| (k.as_str(), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_unicode_equality() {
        assert!(eq_ci("Alice@Contoso.com", "alice@contoso.COM"));
        assert!(!eq_ci("alice", "alicia"));
        assert!(eq_ci("ÉMILE", "émile"));
        assert!(!eq_ci("émile", "emile"));
        assert!(eq_ci("", ""));
    }

    #[test]
    fn ordering_ignores_case() {
        assert_eq!(cmp_ci("apple", "Banana"), Ordering::Less);
        assert_eq!(cmp_ci("APPLE", "apple"), Ordering::Equal);
        assert_eq!(cmp_ci("Zoë", "zoe"), Ordering::Greater);
        assert_eq!(cmp_ci("a", "ab"), Ordering::Less);
    }

    #[test]
    fn prefix_suffix_contains() {
        assert!(starts_with_ci("W365-Provisioning", "w365-"));
        assert!(!starts_with_ci("W3", "w365"));
        assert!(starts_with_ci("Ärger", "äR"));
        assert!(!starts_with_ci("Ä", "äR"));
        assert!(ends_with_ci("alice@Contoso.com", "@CONTOSO.COM"));
        assert!(!ends_with_ci("com", "x.com"));
        // Lowercase mapping, not full case folding: capital sharp s matches ß, "SS" does not.
        assert!(ends_with_ci("Straße", "ẞE"));
        assert!(!ends_with_ci("Straße", "SSE"));
        assert!(ends_with_ci("GRÜN", "ün"));
        assert!(contains_ci("Cloud PC Admins", "pc adm"));
        assert!(!contains_ci("Cloud", "pcs"));
        assert!(contains_ci("Größe", "RÖ"));
        assert!(contains_ci("x", ""));
        assert!(!contains_ci("", "x"));
    }

    #[test]
    fn property_lookup_prefers_exact_then_ignores_case() {
        let v = serde_json::json!({"displayName": "a", "DisplayName": "b", "mail": null});
        let m = v.as_object().unwrap();
        assert_eq!(get_ci(m, "DisplayName").unwrap().1, "b");
        assert_eq!(get_ci(m, "displayName").unwrap().1, "a");
        assert!(get_ci(m, "DISPLAYNAME").is_some());
        assert_eq!(get_ci(m, "Mail").unwrap(), ("mail", &Value::Null));
        assert!(get_ci(m, "id").is_none());
    }
}
