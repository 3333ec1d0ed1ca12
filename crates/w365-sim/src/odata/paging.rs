//! Server-driven paging: opaque `$skiptoken`s bound to the query that produced them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::error::ODataError;
use super::options::QueryOptions;

/// Domain separation for the token's authentication tag and offset mask. The tokens only need to
/// be opaque and bound to their query (a simulator has nothing to protect), so a fixed key keeps
/// them deterministic across restarts and seeds.
const TAG_KEY: &[u8] = b"w365-sim/skiptoken/tag/v1";
const MASK_KEY: &[u8] = b"w365-sim/skiptoken/mask/v1";
const OFFSET_LEN: usize = 8;
const TAG_LEN: usize = 16;

/// Opaque `$skiptoken` values: the next offset, masked and authenticated with a fingerprint of the
/// query (see [`super::query_fingerprint`]). A token presented with another query, truncated or
/// altered is rejected with a 400.
#[derive(Debug, Clone, Copy)]
pub struct PageToken;

fn digest(key: &[u8], fingerprint: &str, extra: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((key.len() as u64).to_be_bytes());
    h.update(key);
    h.update((fingerprint.len() as u64).to_be_bytes());
    h.update(fingerprint.as_bytes());
    h.update(extra);
    h.finalize().into()
}

impl PageToken {
    /// The token for the page starting at `offset` of the query identified by `fingerprint`.
    pub fn encode(offset: usize, fingerprint: &str) -> String {
        let offset = (offset as u64).to_be_bytes();
        let mask = digest(MASK_KEY, fingerprint, &[]);
        let tag = digest(TAG_KEY, fingerprint, &offset);
        let mut raw = [0u8; OFFSET_LEN + TAG_LEN];
        for (i, b) in offset.iter().enumerate() {
            raw[i] = b ^ mask[i];
        }
        raw[OFFSET_LEN..].copy_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The offset a token stands for, if it was issued for this `fingerprint`.
    pub fn decode(token: &str, fingerprint: &str) -> Result<usize, ODataError> {
        let raw = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| ODataError::InvalidSkipToken)?;
        if raw.len() != OFFSET_LEN + TAG_LEN {
            return Err(ODataError::InvalidSkipToken);
        }
        let mask = digest(MASK_KEY, fingerprint, &[]);
        let mut offset = [0u8; OFFSET_LEN];
        for (i, b) in offset.iter_mut().enumerate() {
            *b = raw[i] ^ mask[i];
        }
        let tag = digest(TAG_KEY, fingerprint, &offset);
        if raw[OFFSET_LEN..] != tag[..TAG_LEN] {
            return Err(ODataError::InvalidSkipToken);
        }
        usize::try_from(u64::from_be_bytes(offset)).map_err(|_| ODataError::InvalidSkipToken)
    }
}

/// Cuts one page out of `items` (already filtered and sorted).
///
/// The page size is `$top`, or `default_top`; it must be within `1..=max_top`, otherwise Graph's
/// directory error "Invalid page size specified" (wording unverified). The page starts at the
/// `$skiptoken`'s offset when there is one (it already includes any `$skip`), else at `$skip`.
/// Returns the page and, when items remain, the `$skiptoken` of the next page (the caller builds
/// `@odata.nextLink` from the request URL with this `$skiptoken`, keeping every other option).
pub fn page<T>(
    items: Vec<T>,
    opts: &QueryOptions,
    default_top: usize,
    max_top: usize,
    fingerprint: &str,
) -> Result<(Vec<T>, Option<String>), ODataError> {
    let top = opts.top.unwrap_or(default_top);
    if top == 0 || top > max_top {
        return Err(ODataError::InvalidPageSize { top, max: max_top });
    }
    let start = match &opts.skiptoken {
        Some(token) => PageToken::decode(token, fingerprint)?,
        None => opts.skip.unwrap_or(0),
    };
    if start >= items.len() {
        return Ok((Vec::new(), None));
    }
    let end = start.saturating_add(top).min(items.len());
    let next = (end < items.len()).then(|| PageToken::encode(end, fingerprint));
    let page = items.into_iter().skip(start).take(end - start).collect();
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::options::query_fingerprint;

    #[test]
    fn tokens_round_trip_and_look_opaque() {
        let fp = "/v1.0/users?$top=5";
        for offset in [0usize, 1, 5, 100, 999, 1 << 40] {
            let t = PageToken::encode(offset, fp);
            assert_eq!(PageToken::decode(&t, fp), Ok(offset));
            assert!(
                t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
        }
        assert_ne!(PageToken::encode(5, fp), PageToken::encode(6, fp));
        assert_eq!(
            PageToken::encode(5, fp),
            PageToken::encode(5, fp),
            "deterministic"
        );
    }

    #[test]
    fn tokens_are_bound_to_their_query() {
        let t = PageToken::encode(10, "/v1.0/users?$top=5");
        assert_eq!(
            PageToken::decode(&t, "/v1.0/users?$top=6"),
            Err(ODataError::InvalidSkipToken)
        );
        assert_eq!(
            PageToken::decode(&t, "/v1.0/groups?$top=5"),
            Err(ODataError::InvalidSkipToken)
        );
    }

    #[test]
    fn tampered_tokens_rejected() {
        let fp = "q";
        let t = PageToken::encode(10, fp);
        for i in 0..t.len() {
            let mut chars: Vec<char> = t.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let bad: String = chars.into_iter().collect();
            // 24 bytes are exactly 32 base64 characters: every character carries data.
            assert_eq!(
                PageToken::decode(&bad, fp),
                Err(ODataError::InvalidSkipToken),
                "{bad}"
            );
        }
        for bad in [
            "",
            "abc",
            "!!!!",
            &t[..t.len() - 2],
            &format!("{t}AA"),
            "10",
        ] {
            let e = PageToken::decode(bad, fp).unwrap_err();
            assert_eq!(e, ODataError::InvalidSkipToken);
            assert_eq!(e.graph_code(), "Request_BadRequest");
        }
    }

    fn opts(q: &str) -> QueryOptions {
        QueryOptions::parse(Some(q)).unwrap()
    }

    #[test]
    fn pages_follow_tokens_to_the_end() {
        let items: Vec<u32> = (0..23).collect();
        let fp = query_fingerprint("/v1.0/users", Some("$top=10"));
        let (p1, t1) = page(items.clone(), &opts("$top=10"), 100, 999, &fp).unwrap();
        assert_eq!(p1, (0..10).collect::<Vec<_>>());
        let q2 = format!("$top=10&$skiptoken={}", t1.unwrap());
        assert_eq!(query_fingerprint("/v1.0/users", Some(&q2)), fp);
        let (p2, t2) = page(items.clone(), &opts(&q2), 100, 999, &fp).unwrap();
        assert_eq!(p2, (10..20).collect::<Vec<_>>());
        let q3 = format!("$top=10&$skiptoken={}", t2.unwrap());
        let (p3, t3) = page(items.clone(), &opts(&q3), 100, 999, &fp).unwrap();
        assert_eq!(p3, vec![20, 21, 22]);
        assert_eq!(t3, None);
    }

    #[test]
    fn defaults_skip_and_bounds() {
        let items: Vec<u32> = (0..5).collect();
        let (p, t) = page(items.clone(), &QueryOptions::default(), 100, 999, "fp").unwrap();
        assert_eq!((p.len(), t), (5, None));
        let (p, t) = page(items.clone(), &QueryOptions::default(), 2, 999, "fp").unwrap();
        assert_eq!(p, vec![0, 1]);
        assert_eq!(PageToken::decode(&t.unwrap(), "fp"), Ok(2));
        let (p, t) = page(items.clone(), &opts("$skip=3"), 100, 999, "fp").unwrap();
        assert_eq!((p, t), (vec![3, 4], None));
        let (p, t) = page(items.clone(), &opts("$skip=50"), 100, 999, "fp").unwrap();
        assert_eq!((p, t), (vec![], None));
        let (p, t) = page(Vec::<u32>::new(), &QueryOptions::default(), 100, 999, "fp").unwrap();
        assert_eq!((p, t), (vec![], None));
        let (p, t) = page(items.clone(), &opts("$top=5"), 100, 5, "fp").unwrap();
        assert_eq!((p.len(), t), (5, None));
        let e = page(items.clone(), &opts("$top=1000"), 100, 999, "fp").unwrap_err();
        assert_eq!(
            e.message(),
            "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
        );
        assert!(matches!(
            page(items.clone(), &opts("$top=0"), 100, 999, "fp"),
            Err(ODataError::InvalidPageSize { top: 0, .. })
        ));
        let other = PageToken::encode(2, "other query");
        let q = format!("$skiptoken={other}");
        assert_eq!(
            page(items, &opts(&q), 100, 999, "fp").unwrap_err(),
            ODataError::InvalidSkipToken
        );
    }
}
