//! Access-token validation against an Entra ID tenant's OIDC metadata and JWKS.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use super::{Principal, Role};

/// Where tokens come from and whom they are for.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The authority, `https://login.microsoftonline.com/{tenant id}/v2.0` (the sandbox: the
    /// simulator's `http://127.0.0.1:PORT/{tenant id}/v2.0`); discovery is
    /// `{authority}/.well-known/openid-configuration`.
    pub authority: String,
    /// The API's application (client) id: the `aud` of its v2 tokens (`api://{id}` is accepted
    /// too, for v1 tokens).
    pub audience: String,
    /// Least time between two JWKS fetches caused by unknown key ids (a forged `kid` must not
    /// make the server hammer the identity provider). The first fetch is never delayed.
    pub jwks_refetch_interval: Duration,
    /// Allowed clock skew for `exp`/`nbf`.
    pub leeway: Duration,
}

impl AuthConfig {
    pub fn new(authority: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            authority: authority.into().trim_end_matches('/').to_owned(),
            audience: audience.into(),
            jwks_refetch_interval: Duration::from_secs(60),
            leeway: Duration::from_secs(60),
        }
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.authority)
    }
}

/// Why a token is refused (the message goes to the client: it names no secret).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("The access token is not a well-formed JWT.")]
    Malformed,
    #[error("The access token is signed with {0}; only RS256 is accepted.")]
    Algorithm(String),
    #[error("The access token names no signing key (kid).")]
    NoKeyId,
    #[error("The access token is signed by a key the identity provider does not publish.")]
    UnknownKey,
    #[error("The access token's signature is not valid.")]
    Signature,
    #[error("The access token has expired; sign in again.")]
    Expired,
    #[error("The access token is not valid yet (nbf).")]
    NotYetValid,
    #[error("The access token is for another audience, not w365's API.")]
    Audience,
    #[error("The access token was issued by another issuer than the configured tenant.")]
    Issuer,
    #[error("The access token lacks a required claim ({0}).")]
    MissingClaim(&'static str),
    #[error("The identity provider could not be reached to check the token; try again.")]
    Provider(String),
}

#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

struct Keys {
    issuer: String,
    jwks_uri: String,
    by_kid: HashMap<String, DecodingKey>,
    fetched: Instant,
}

/// Validates access tokens; cheap to share (`Arc`).
pub struct TokenValidator {
    config: AuthConfig,
    http: reqwest::Client,
    keys: RwLock<Option<Keys>>,
    refresh: Mutex<()>,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("authority", &self.config.authority)
            .field("audience", &self.config.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    oid: Option<String>,
    tid: Option<String>,
    preferred_username: Option<String>,
    upn: Option<String>,
    name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    nonce: Option<String>,
}

impl TokenValidator {
    pub fn new(config: AuthConfig, http: reqwest::Client) -> Self {
        Self {
            config,
            http,
            keys: RwLock::new(None),
            refresh: Mutex::new(()),
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The issuer tokens must carry (discovers it when not known yet).
    pub async fn issuer(&self) -> Result<String, TokenError> {
        if let Some(keys) = self.keys.read().await.as_ref() {
            return Ok(keys.issuer.clone());
        }
        self.refetch(None).await?;
        self.keys
            .read()
            .await
            .as_ref()
            .map(|k| k.issuer.clone())
            .ok_or_else(|| TokenError::Provider("no metadata".into()))
    }

    /// Fetches discovery + JWKS. With `since`, does nothing when another task refreshed after it
    /// or when the last fetch is more recent than the refetch interval.
    async fn refetch(&self, since: Option<Instant>) -> Result<(), TokenError> {
        let _guard = self.refresh.lock().await;
        if let Some(since) = since
            && let Some(keys) = self.keys.read().await.as_ref()
            && (keys.fetched > since || keys.fetched.elapsed() < self.config.jwks_refetch_interval)
        {
            return Ok(());
        }
        let provider = |e: reqwest::Error| TokenError::Provider(e.to_string());
        let discovery: Discovery = self
            .http
            .get(self.config.discovery_url())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(provider)?
            .json()
            .await
            .map_err(provider)?;
        let jwks: JwkSet = self
            .http
            .get(&discovery.jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(provider)?
            .json()
            .await
            .map_err(provider)?;
        let mut by_kid = HashMap::new();
        for jwk in &jwks.keys {
            let (Some(kid), AlgorithmParameters::RSA(_)) = (&jwk.common.key_id, &jwk.algorithm)
            else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                by_kid.insert(kid.clone(), key);
            }
        }
        tracing::info!(keys = by_kid.len(), jwks_uri = %discovery.jwks_uri, "fetched the identity provider's signing keys");
        *self.keys.write().await = Some(Keys {
            issuer: discovery.issuer,
            jwks_uri: discovery.jwks_uri,
            by_kid,
            fetched: Instant::now(),
        });
        Ok(())
    }

    /// The JWKS URI in use (after the first fetch).
    pub async fn jwks_uri(&self) -> Option<String> {
        self.keys.read().await.as_ref().map(|k| k.jwks_uri.clone())
    }

    /// Checks `token`; the operator it names.
    pub async fn validate(&self, token: &str) -> Result<Principal, TokenError> {
        let api_uri = format!("api://{}", self.config.audience);
        let audiences = [self.config.audience.as_str(), api_uri.as_str()];
        self.check(token, &audiences).await.map(|(p, _)| p)
    }

    /// Checks an OpenID Connect id token issued to the portal's client `client_id` (same issuer
    /// and keys as access tokens); the operator it names and its `nonce` claim, which the caller
    /// compares with the one it sent.
    /// <https://learn.microsoft.com/en-us/entra/identity-platform/id-tokens#validate-tokens>
    pub async fn validate_id_token(
        &self,
        token: &str,
        client_id: &str,
    ) -> Result<(Principal, Option<String>), TokenError> {
        self.check(token, &[client_id]).await
    }

    async fn check(
        &self,
        token: &str,
        audiences: &[&str],
    ) -> Result<(Principal, Option<String>), TokenError> {
        // The header decides nothing but which key: the algorithm is pinned.
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::NoKeyId)?;
        let (key, issuer) = match self.lookup(&kid).await {
            Some(found) => found,
            None => {
                let last = self.keys.read().await.as_ref().map(|k| k.fetched);
                self.refetch(last).await?;
                self.lookup(&kid).await.ok_or(TokenError::UnknownKey)?
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(audiences);
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| match e
            .kind()
        {
            ErrorKind::InvalidSignature => TokenError::Signature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidAudience => TokenError::Audience,
            ErrorKind::InvalidIssuer => TokenError::Issuer,
            ErrorKind::MissingRequiredClaim(c) if c == "aud" => TokenError::MissingClaim("aud"),
            ErrorKind::MissingRequiredClaim(c) if c == "iss" => TokenError::MissingClaim("iss"),
            ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim("exp"),
            ErrorKind::InvalidAlgorithm => TokenError::Algorithm(format!("{:?}", header.alg)),
            _ => TokenError::Malformed,
        })?;
        let claims = data.claims;
        let object_id = claims.oid.ok_or(TokenError::MissingClaim("oid"))?;
        let tenant_id = claims.tid.ok_or(TokenError::MissingClaim("tid"))?;
        let upn = claims
            .preferred_username
            .or(claims.upn)
            .unwrap_or_else(|| object_id.clone());
        let role = claims
            .roles
            .iter()
            .filter_map(|r| Role::from_claim(r))
            .max();
        let principal = Principal {
            display_name: claims.name.unwrap_or_else(|| upn.clone()),
            object_id,
            tenant_id,
            upn,
            role,
        };
        Ok((principal, claims.nonce))
    }

    async fn lookup(&self, kid: &str) -> Option<(DecodingKey, String)> {
        if self.keys.read().await.is_none() {
            // First use: no rate limit.
            self.refetch(None).await.ok()?;
        }
        let keys = self.keys.read().await;
        let keys = keys.as_ref()?;
        keys.by_kid
            .get(kid)
            .map(|k| (k.clone(), keys.issuer.clone()))
    }
}
