//! The simulator as the sandbox's identity provider: a Microsoft Entra ID look-alike for the
//! *operators* who sign in to `w365 serve` (not the Graph app-only tokens of
//! [`crate::identity`], which stay as they are).
//!
//! - OIDC discovery at `/{tenant}/v2.0/.well-known/openid-configuration` and the JWKS at
//!   `/{tenant}/discovery/v2.0/keys` (RS256; the key is generated in memory per simulator, never
//!   written to disk, and can be rotated by tests);
//! - the authorization endpoint `/{tenant}/oauth2/v2.0/authorize` (code flow, PKCE S256 only) with
//!   a small sign-in page listing the demo operators;
//! - the device-code flow: `/{tenant}/oauth2/v2.0/devicecode` and the `/devicelogin` page;
//! - the `authorization_code` and `device_code` grants of `POST /{tenant}/oauth2/v2.0/token`
//!   (dispatched here by [`token_grant`]; client credentials stay in `http/routes/token.rs`);
//! - `/{tenant}/oauth2/v2.0/logout` (end-session).
//!
//! Tokens follow Entra's v2.0 format: `iss` = `{base}/{tid}/v2.0` (Entra:
//! `https://login.microsoftonline.com/{tid}/v2.0`), access tokens for w365's own API have
//! `aud` = its application id, `scp`, `roles` (app roles assigned to the user), `oid`, `tid`,
//! `preferred_username`, `name`, `azp`, `ver: "2.0"`.
//! Claims: <https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference>
//! and <https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference>;
//! discovery: <https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc>.
//!
//! LIMITATIONS (Entra behaviour not emulated): no refresh tokens, no consent screen, no
//! `/common` or `/organizations`, one client (w365's own app registration, [`W365_APP_ID`]),
//! redirect URIs limited to loopback addresses (any port, as Entra allows for loopback), a
//! device-code polling interval of 1 second (Entra: 5).

mod key;
mod routes;
mod seed;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

pub use key::RsaKey;
pub use routes::{routes, token_grant};
pub use seed::{VIP_GROUP, VIP_USER, seed_operators};

/// The application (client) id of w365's own app registration in the simulated tenants: the
/// client the portal and the CLI sign in with, and the API (`aud` of access tokens).
pub const W365_APP_ID: &str = "3f65c0de-0365-4e65-9365-a365d0c0e365";
/// The delegated scope w365's API exposes (`api://{app id}/access_as_user`).
pub const API_SCOPE_NAME: &str = "access_as_user";
/// App role: see everything.
pub const ROLE_READER: &str = "W365.Reader";
/// App role: run user operations.
pub const ROLE_HELPDESK: &str = "W365.Helpdesk";
/// App role: everything (schedules, audit export, policies).
pub const ROLE_ADMIN: &str = "W365.Admin";
/// Lifetime of operator tokens (Entra: 60–90 minutes).
pub const OPERATOR_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Lifetime of an authorization code (Entra: about 10 minutes).
const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Lifetime of a device code (Entra: 15 minutes, `expires_in` 900).
const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(900);
/// Polling interval the device-code answer asks for (Entra: 5 seconds).
pub const DEVICE_POLL_INTERVAL_SECS: u64 = 1;

/// A demo operator seeded in the contoso tenant with one app role of w365.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOperator {
    /// Short name used by `w365 sandbox token --role`.
    pub key: &'static str,
    pub upn: &'static str,
    pub display_name: &'static str,
    pub role: &'static str,
    /// What the role allows, for the sign-in page.
    pub summary: &'static str,
}

/// The demo operators: a Reader, a Helpdesk operator and an Admin.
pub const DEMO_OPERATORS: &[DemoOperator] = &[
    DemoOperator {
        key: "reader",
        upn: "rita.reader@contoso.com",
        display_name: "Rita Reader",
        role: ROLE_READER,
        summary: "sees users, Cloud PCs, jobs and the audit log; changes nothing",
    },
    DemoOperator {
        key: "helpdesk",
        upn: "hank.helpdesk@contoso.com",
        display_name: "Hank Helpdesk",
        role: ROLE_HELPDESK,
        summary: "runs user operations (assign, unassign, reprovision, Cloud PC actions), except on protected users",
    },
    DemoOperator {
        key: "admin",
        upn: "ada.admin@contoso.com",
        display_name: "Ada Admin",
        role: ROLE_ADMIN,
        summary: "everything, protected users, schedules and audit export included",
    },
];

/// The demo operator with this `key` (`reader`, `helpdesk`, `admin`).
pub fn demo_operator(key: &str) -> Option<&'static DemoOperator> {
    DEMO_OPERATORS
        .iter()
        .find(|o| o.key.eq_ignore_ascii_case(key))
}

/// `{base}/{tenant_id}/v2.0`: the issuer of a tenant's tokens (Entra's v2 format with the
/// simulator's base URL in place of `https://login.microsoftonline.com`).
pub fn issuer(base_url: &str, tenant_id: &str) -> String {
    format!("{}/{tenant_id}/v2.0", base_url.trim_end_matches('/'))
}

/// Whether `scope` (space separated) asks for w365's API: `api://{id}/access_as_user`,
/// `{id}/access_as_user` or the `.default` forms.
pub fn requests_api(scope: &str) -> bool {
    scope.split_whitespace().any(|s| {
        let s = s.strip_prefix("api://").unwrap_or(s);
        s.split_once('/').is_some_and(|(app, name)| {
            app.eq_ignore_ascii_case(W365_APP_ID) && (name == API_SCOPE_NAME || name == ".default")
        })
    })
}

/// The signed-in user a token is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorIdentity {
    pub tenant_id: String,
    pub object_id: String,
    pub upn: String,
    pub display_name: String,
    pub roles: Vec<String>,
}

/// An issued token pair.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorTokens {
    pub access_token: String,
    pub id_token: String,
    pub expires_in: u64,
    pub scope: String,
}

impl std::fmt::Debug for OperatorTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorTokens")
            .field("access_token", &"<redacted>")
            .field("id_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// A pending authorization code.
#[derive(Debug, Clone)]
struct AuthCode {
    tenant_id: String,
    client_id: String,
    redirect_uri: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: String,
    user_upn: String,
    expires: Instant,
}

/// A pending device-code sign-in.
#[derive(Debug, Clone)]
struct DeviceGrant {
    tenant_id: String,
    client_id: String,
    scope: String,
    user_code: String,
    approved_upn: Option<String>,
    expires: Instant,
}

/// State of the identity provider, shared by its routes. Cheap to clone.
#[derive(Clone, Default)]
pub struct OidcState {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Published keys, the last one signs. Generated on first use.
    keys: RwLock<Vec<Arc<RsaKey>>>,
    /// Extra app-role assignments (lower-case UPN → roles), on top of [`DEMO_OPERATORS`].
    assignments: Mutex<BTreeMap<String, BTreeSet<String>>>,
    codes: Mutex<HashMap<String, AuthCode>>,
    devices: Mutex<HashMap<String, DeviceGrant>>,
}

impl std::fmt::Debug for OidcState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcState").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A random URL-safe string of `bytes` random bytes.
fn random_token(bytes: usize) -> String {
    let data: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(data)
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2, S256).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl OidcState {
    /// The signing key (generated on first use).
    pub fn signing_key(&self) -> Arc<RsaKey> {
        if let Some(key) = self
            .inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
        {
            return Arc::clone(key);
        }
        let mut keys = self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if keys.is_empty() {
            keys.push(Arc::new(RsaKey::generate()));
        }
        Arc::clone(keys.last().expect("just pushed"))
    }

    /// Starts signing with a new key; the old ones stay published (as during Entra's rollover).
    pub fn rotate_signing_key(&self) -> String {
        let key = Arc::new(RsaKey::generate());
        let kid = key.kid().to_owned();
        self.signing_key();
        self.inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(key);
        kid
    }

    /// The published keys as a JWKS document.
    pub fn jwks(&self) -> Value {
        self.signing_key();
        let keys = self
            .inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
    }

    /// Signs arbitrary claims with the current key. For tests that need a token the provider
    /// would not issue (expired, for another audience, another issuer).
    pub fn sign_claims(&self, claims: &Value) -> String {
        self.signing_key().sign(claims)
    }

    /// Assigns one of w365's app roles to a user (by UPN) in addition to the demo operators'.
    pub fn assign_app_role(&self, upn: &str, role: &str) {
        lock(&self.inner.assignments)
            .entry(upn.to_lowercase())
            .or_default()
            .insert(role.to_owned());
    }

    /// The app roles of w365 assigned to `upn`.
    pub fn roles_of(&self, upn: &str) -> Vec<String> {
        let mut roles: BTreeSet<String> = DEMO_OPERATORS
            .iter()
            .filter(|o| o.upn.eq_ignore_ascii_case(upn))
            .map(|o| o.role.to_owned())
            .collect();
        if let Some(extra) = lock(&self.inner.assignments).get(&upn.to_lowercase()) {
            roles.extend(extra.iter().cloned());
        }
        roles.into_iter().collect()
    }

    /// Users with an app-role assignment (demo operators first), for the sign-in pages.
    pub(crate) fn assigned_upns(&self) -> Vec<String> {
        let mut out: Vec<String> = DEMO_OPERATORS.iter().map(|o| o.upn.to_owned()).collect();
        for upn in lock(&self.inner.assignments).keys() {
            if !out.iter().any(|u| u.eq_ignore_ascii_case(upn)) {
                out.push(upn.clone());
            }
        }
        out
    }

    /// Issues an id token and an access token for w365's API to `who`, valid from `now`.
    pub fn issue(
        &self,
        issuer: &str,
        who: &OperatorIdentity,
        client_id: &str,
        nonce: Option<&str>,
        now: OffsetDateTime,
    ) -> OperatorTokens {
        let iat = now.unix_timestamp();
        let lifetime = i64::try_from(OPERATOR_TOKEN_LIFETIME.as_secs()).unwrap_or(3600);
        let exp = iat + lifetime;
        // `sub` is pairwise per application in Entra; a digest of (app, user) is stable and opaque.
        let sub = URL_SAFE_NO_PAD.encode(Sha256::digest(
            format!("{client_id}:{}", who.object_id).as_bytes(),
        ));
        let access = json!({
            "aud": W365_APP_ID,
            "iss": issuer,
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "azp": client_id,
            "azpacr": "0",
            "name": who.display_name,
            "oid": who.object_id,
            "preferred_username": who.upn,
            "roles": who.roles,
            "scp": API_SCOPE_NAME,
            "sub": sub,
            "tid": who.tenant_id,
            "uti": random_token(16),
            "ver": "2.0",
        });
        let mut id = json!({
            "aud": client_id,
            "iss": issuer,
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "name": who.display_name,
            "oid": who.object_id,
            "preferred_username": who.upn,
            "roles": who.roles,
            "sub": sub,
            "tid": who.tenant_id,
            "ver": "2.0",
        });
        if let Some(nonce) = nonce {
            id["nonce"] = Value::from(nonce);
        }
        let key = self.signing_key();
        OperatorTokens {
            access_token: key.sign(&access),
            id_token: key.sign(&id),
            expires_in: OPERATOR_TOKEN_LIFETIME.as_secs(),
            scope: format!("api://{W365_APP_ID}/{API_SCOPE_NAME} openid profile"),
        }
    }

    fn store_code(&self, code: AuthCode) -> String {
        let value = random_token(32);
        let mut codes = lock(&self.inner.codes);
        let now = Instant::now();
        codes.retain(|_, c| c.expires > now);
        codes.insert(value.clone(), code);
        value
    }

    /// Removes and returns a code (a code is redeemed at most once).
    fn take_code(&self, code: &str) -> Option<AuthCode> {
        lock(&self.inner.codes)
            .remove(code)
            .filter(|c| c.expires > Instant::now())
    }

    fn start_device(&self, tenant_id: &str, client_id: &str, scope: &str) -> (String, String) {
        let device_code = random_token(48);
        // Eight letters without look-alikes, like Entra's user codes.
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        let user_code: String = (0..8)
            .map(|_| char::from(ALPHABET[usize::from(rand::random::<u8>()) % ALPHABET.len()]))
            .collect();
        let mut devices = lock(&self.inner.devices);
        let now = Instant::now();
        devices.retain(|_, d| d.expires > now);
        devices.insert(
            device_code.clone(),
            DeviceGrant {
                tenant_id: tenant_id.to_owned(),
                client_id: client_id.to_owned(),
                scope: scope.to_owned(),
                user_code: user_code.clone(),
                approved_upn: None,
                expires: now + DEVICE_CODE_LIFETIME,
            },
        );
        (device_code, user_code)
    }

    fn normalize_user_code(user_code: &str) -> String {
        user_code
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_uppercase()
    }

    /// The tenant a pending device sign-in with `user_code` was started for.
    fn device_tenant(&self, user_code: &str) -> Option<String> {
        let wanted = Self::normalize_user_code(user_code);
        let now = Instant::now();
        lock(&self.inner.devices)
            .values()
            .find(|d| d.user_code == wanted && d.expires > now)
            .map(|d| d.tenant_id.clone())
    }

    /// Approves the pending device sign-in with `user_code` for `upn`.
    fn approve_device(&self, user_code: &str, upn: &str) -> bool {
        let wanted = Self::normalize_user_code(user_code);
        let now = Instant::now();
        let mut devices = lock(&self.inner.devices);
        match devices
            .values_mut()
            .find(|d| d.user_code == wanted && d.expires > now)
        {
            Some(grant) => {
                grant.approved_upn = Some(upn.to_owned());
                true
            }
            None => false,
        }
    }

    fn device(&self, device_code: &str) -> Option<DeviceGrant> {
        lock(&self.inner.devices).get(device_code).cloned()
    }

    fn finish_device(&self, device_code: &str) {
        lock(&self.inner.devices).remove(device_code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_scope_forms_are_recognised() {
        assert!(requests_api(&format!(
            "openid api://{W365_APP_ID}/access_as_user"
        )));
        assert!(requests_api(&format!("{W365_APP_ID}/.default")));
        assert!(!requests_api("openid profile"));
        assert!(!requests_api(
            "api://00000000-0000-0000-0000-000000000000/access_as_user"
        ));
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        // RFC 7636 Appendix B example.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn rotation_keeps_old_keys_published() {
        let state = OidcState::default();
        let first = state.signing_key().kid().to_owned();
        let second = state.rotate_signing_key();
        assert_ne!(first, second);
        let jwks = state.jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        assert_eq!(kids, vec![first.as_str(), second.as_str()]);
        assert_eq!(state.signing_key().kid(), second);
    }
}
