//! Token cache: reuse until five minutes before expiry, single flight, forced refresh.

use std::fmt;
use std::time::{Duration, SystemTime};

use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use super::{AccessToken, TokenCredential};
use crate::Result;

/// Refresh this long before a token expires (reference §1: cache until `expires_in - 300 s`).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Fetches a fresh token, without caching.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// Gets a new token. `force` means a previously issued token was rejected.
    async fn fetch(&self, force: bool) -> Result<AccessToken>;
}

struct Slot {
    token: AccessToken,
}

/// Caches the token of a [`TokenSource`]; the mutex is held while fetching, so only one refresh
/// is ever in flight and waiters get its result.
pub struct CachedCredential {
    source: Box<dyn TokenSource>,
    slot: Mutex<Option<Slot>>,
}

impl fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCredential")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl CachedCredential {
    /// Wraps `source`.
    pub fn new(source: impl TokenSource + 'static) -> Self {
        CachedCredential {
            source: Box::new(source),
            slot: Mutex::new(None),
        }
    }
}

fn fresh(token: &AccessToken) -> bool {
    token
        .expires_on
        .duration_since(SystemTime::now())
        .is_ok_and(|left| left > REFRESH_MARGIN)
}

#[async_trait::async_trait]
impl TokenCredential for CachedCredential {
    async fn token(&self, force_refresh: bool) -> Result<AccessToken> {
        let mut slot = self.slot.lock().await;
        if let Some(current) = slot.as_ref() {
            // A forced refresh always fetches: the cached token was just rejected.
            if !force_refresh && fresh(&current.token) {
                return Ok(current.token.clone());
            }
        }
        tracing::debug!(force_refresh, "requesting a new access token");
        let token = self.source.fetch(force_refresh).await?;
        *slot = Some(Slot {
            token: token.clone(),
        });
        Ok(token)
    }

    async fn refresh_rejected(&self, rejected: &AccessToken) -> Result<AccessToken> {
        let mut slot = self.slot.lock().await;
        if let Some(current) = slot.as_ref()
            && current.token.token.expose_secret() != rejected.token.expose_secret()
            && fresh(&current.token)
        {
            // Someone already replaced the rejected token.
            return Ok(current.token.clone());
        }
        tracing::debug!("access token rejected by Graph, requesting a new one");
        let token = self.source.fetch(true).await?;
        *slot = Some(Slot {
            token: token.clone(),
        });
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicU32>,
        lifetime: Duration,
    }

    #[async_trait::async_trait]
    impl TokenSource for Counting {
        async fn fetch(&self, _force: bool) -> Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(AccessToken::new(
                format!("t{n}"),
                SystemTime::now() + self.lifetime,
            ))
        }
    }

    #[tokio::test]
    async fn reuses_until_margin_and_single_flight() {
        let calls = Arc::new(AtomicU32::new(0));
        let cred = Arc::new(CachedCredential::new(Counting {
            calls: calls.clone(),
            lifetime: Duration::from_secs(3600),
        }));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let c = cred.clone();
                tokio::spawn(async move { c.token(false).await.unwrap() })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let forced = cred.token(true).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(forced.token.expose_secret(), "t2");
        assert_eq!(cred.token(false).await.unwrap().token.expose_secret(), "t2");
    }

    #[tokio::test]
    async fn a_rejected_token_is_replaced_once_for_all_requests_that_saw_it() {
        let calls = Arc::new(AtomicU32::new(0));
        let cred = Arc::new(CachedCredential::new(Counting {
            calls: calls.clone(),
            lifetime: Duration::from_secs(3600),
        }));
        let rejected = cred.token(false).await.unwrap();
        let handles: Vec<_> = (0..5)
            .map(|_| {
                let c = cred.clone();
                let r = rejected.clone();
                tokio::spawn(async move { c.refresh_rejected(&r).await.unwrap() })
            })
            .collect();
        for h in handles {
            assert_eq!(h.await.unwrap().token.expose_secret(), "t2");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn token_inside_margin_is_refreshed() {
        let calls = Arc::new(AtomicU32::new(0));
        let cred = CachedCredential::new(Counting {
            calls: calls.clone(),
            lifetime: Duration::from_secs(200), // already inside the 5 min margin
        });
        cred.token(false).await.unwrap();
        cred.token(false).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
