//! Helpers for request bodies: presence-aware optional fields and `@odata.type` checks.

use serde::{Deserialize, Deserializer};

use super::error::{Result, Windows365Error};

/// For `Option<Option<T>>` fields: absent -> `None`, `null` -> `Some(None)`, value -> `Some(Some(v))`.
pub(crate) fn present<'de, T, D>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Parses a JSON body into an input type, turning serde's complaint into a 400.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    body: serde_json::Value,
    what: &str,
) -> Result<T> {
    if !body.is_object() {
        return Err(Windows365Error::invalid(format!(
            "the {what} body must be a JSON object"
        )));
    }
    serde_json::from_value(body)
        .map_err(|e| Windows365Error::invalid(format!("invalid {what} body: {e}")))
}

/// Checks an optional `@odata.type` against the expected type name (with or without `#`).
pub(crate) fn check_odata_type(given: Option<&str>, expected: &str) -> Result<()> {
    match given {
        None => Ok(()),
        Some(t) if t.trim_start_matches('#').eq_ignore_ascii_case(expected) => Ok(()),
        Some(t) => Err(Windows365Error::invalid(format!(
            "@odata.type '{t}' does not match the expected type '#{expected}'"
        ))),
    }
}

/// A required property: present and not null.
pub(crate) fn required<T>(v: Option<Option<T>>, name: &str) -> Result<T> {
    v.flatten()
        .ok_or_else(|| Windows365Error::invalid(format!("the property '{name}' is required")))
}
