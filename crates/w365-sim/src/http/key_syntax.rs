//! Graph's parenthesised key syntax, `/users('{id|upn}')` (the documented form for UPNs that start
//! with `$`), rewritten to the plain `/users/{key}` form before routing.

use axum::extract::Request;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// Characters a path segment must encode.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Collections whose key may be written `name('key')`.
const KEYED: &[&str] = &["users", "groups", "directoryObjects"];

/// `users('a@b.com')` → `users/a%40b.com`-style segments; `None` when the path has no such form.
pub fn rewrite_path(path: &str) -> Option<String> {
    let mut changed = false;
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            let decoded = percent_decode_str(segment).decode_utf8_lossy();
            for name in KEYED {
                if let Some(inner) = decoded
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix("('"))
                    .and_then(|rest| rest.strip_suffix("')"))
                {
                    changed = true;
                    let key = inner.replace("''", "'");
                    return format!("{name}/{}", utf8_percent_encode(&key, SEGMENT));
                }
            }
            segment.to_owned()
        })
        .collect();
    changed.then(|| segments.join("/"))
}

/// Applies [`rewrite_path`] to a request (query kept).
pub fn rewrite_request(mut request: Request) -> Request {
    if let Some(path) = rewrite_path(request.uri().path()) {
        let uri = match request.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        if let Ok(uri) = uri.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parenthesised_keys_become_segments() {
        assert_eq!(
            rewrite_path("/v1.0/users('$x@contoso.com')").as_deref(),
            Some("/v1.0/users/$x@contoso.com")
        );
        assert_eq!(
            rewrite_path("/v1.0/users(%27o''brien@contoso.com%27)/memberOf").as_deref(),
            Some("/v1.0/users/o'brien@contoso.com/memberOf")
        );
        assert_eq!(
            rewrite_path("/v1.0/users('a%23EXT%23@b.com')").as_deref(),
            Some("/v1.0/users/a%23EXT%23@b.com")
        );
        assert_eq!(rewrite_path("/v1.0/users/alice@contoso.com"), None);
        assert_eq!(rewrite_path("/v1.0/cloudPCs('x')"), None);
    }
}
