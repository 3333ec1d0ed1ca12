//! The two error families of the identity layer:
//! - [`AadError`]: what the Entra ID token endpoint answers (`AADSTS…` bodies, reference §1.4);
//! - [`AuthFailure`]: what Graph answers when the bearer token or its roles do not fit (§7.1, §8).

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

/// An error of the token endpoint, shaped like Microsoft Entra ID's.
///
/// `Display` gives the first line of the description (`AADSTS7000215: Invalid client secret…`);
/// [`AadError::body`] gives the full JSON body with trace and correlation ids.
#[derive(Debug, Clone, thiserror::Error)]
#[error("AADSTS{code}: {description}")]
pub struct AadError {
    code: u32,
    error: &'static str,
    description: String,
    trace_id: Uuid,
    correlation_id: Uuid,
}

impl AadError {
    fn new(code: u32, error: &'static str, description: impl Into<String>) -> Self {
        AadError {
            code,
            error,
            description: description.into(),
            trace_id: Uuid::new_v4(),
            correlation_id: Uuid::new_v4(),
        }
    }

    /// The `AADSTS` number (e.g. 7000215).
    pub fn code(&self) -> u32 {
        self.code
    }

    /// The OAuth `error` value (`invalid_client`, `invalid_request`, ...).
    pub fn error(&self) -> &'static str {
        self.error
    }

    /// The HTTP status: 401 for `invalid_client`, 503 for `temporarily_unavailable`, 400
    /// otherwise.
    pub fn status(&self) -> u16 {
        match self.error {
            "invalid_client" => 401,
            "temporarily_unavailable" => 503,
            _ => 400,
        }
    }

    /// Uses the caller's `client-request-id` as correlation id, as Entra ID does.
    pub fn with_correlation_id(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = correlation_id;
        self
    }

    /// The JSON body, `timestamp` being the (virtual) time of the answer.
    pub fn body(&self, now: OffsetDateTime) -> Value {
        let timestamp = aad_timestamp(now);
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
                self.code, self.description, self.trace_id, self.correlation_id, timestamp
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": self.trace_id.to_string(),
            "correlation_id": self.correlation_id.to_string(),
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }

    // ---- the errors the simulator's token endpoint produces ----

    /// AADSTS90002: the tenant in the URL does not exist.
    pub fn tenant_not_found(tenant: &str) -> Self {
        AadError::new(
            90002,
            "invalid_request",
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    /// AADSTS900144: a required form field is missing.
    pub(crate) fn missing_parameter(name: &str) -> Self {
        AadError::new(
            900144,
            "invalid_request",
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// AADSTS70003: a grant type other than client_credentials.
    pub(crate) fn unsupported_grant_type(grant_type: &str) -> Self {
        AadError::new(
            70003,
            "unsupported_grant_type",
            format!("The app requested an unsupported grant type '{grant_type}'."),
        )
    }

    /// AADSTS70011: the scope is missing or is not `https://graph.microsoft.com/.default`.
    pub(crate) fn invalid_scope(scope: Option<&str>) -> Self {
        let description = match scope {
            None => "The provided request must include a 'scope' input parameter.".to_owned(),
            Some(s) => format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {s} is not valid."
            ),
        };
        AadError::new(70011, "invalid_scope", description)
    }

    /// AADSTS700016: the client id is not registered in the tenant.
    pub(crate) fn unknown_client(client_id: &str, tenant: &str) -> Self {
        AadError::new(
            700016,
            "unauthorized_client",
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// AADSTS7000218: neither a secret nor an assertion was presented.
    pub(crate) fn missing_credential() -> Self {
        AadError::new(
            7000218,
            "invalid_client",
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// AADSTS7000215: the secret is not one of the app's secrets.
    pub(crate) fn invalid_secret(client_id: &str) -> Self {
        AadError::new(
            7000215,
            "invalid_client",
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    /// AADSTS7000222: the secret matched but has expired.
    pub(crate) fn expired_secret(client_id: &str) -> Self {
        AadError::new(
            7000222,
            "invalid_client",
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
            ),
        )
    }

    /// Malformed request: e.g. both HTTP Basic and form credentials, or both a secret and an
    /// assertion. AADSTS9002313 is Entra's generic "request is malformed" code.
    pub(crate) fn malformed_request(detail: &str) -> Self {
        AadError::new(
            9002313,
            "invalid_request",
            format!("Invalid request. Request is malformed or invalid. {detail}"),
        )
    }

    /// AADSTS50000: the token could not be issued.
    pub(crate) fn service_error() -> Self {
        AadError::new(
            50000,
            "temporarily_unavailable",
            "There was an error issuing a token or an issue with our sign-in service.",
        )
    }

    /// AADSTS50027 (unverified mapping): the assertion is not a well-formed JWT.
    pub(crate) fn malformed_assertion() -> Self {
        AadError::new(
            50027,
            "invalid_request",
            "JWT token is invalid or malformed.",
        )
    }

    /// AADSTS700027: the signing certificate is not registered, the signature does not
    /// verify, or the certificate is outside its validity.
    pub(crate) fn invalid_assertion_signature(
        reason: &str,
        thumbprint: &str,
        client_id: &str,
    ) -> Self {
        AadError::new(
            700027,
            "invalid_client",
            format!(
                "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"
            ),
        )
    }

    /// AADSTS700024: `now` is outside the assertion's nbf/exp window (5 minutes of skew).
    pub(crate) fn assertion_time_range(
        now: OffsetDateTime,
        nbf: OffsetDateTime,
        exp: OffsetDateTime,
    ) -> Self {
        AadError::new(
            700024,
            "invalid_client",
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
                iso_seconds(now),
                iso_seconds(nbf),
                iso_seconds(exp)
            ),
        )
    }

    /// AADSTS700023: the assertion's `aud` is not this tenant's token endpoint.
    pub(crate) fn assertion_audience() -> Self {
        AadError::new(
            700023,
            "invalid_client",
            "Client assertion audience claim does not match Realm issuer. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
        )
    }

    /// AADSTS700021: `iss`/`sub` of the assertion are not the client id.
    pub(crate) fn assertion_subject() -> Self {
        AadError::new(
            700021,
            "invalid_client",
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
        )
    }

    /// Wrong `client_assertion_type` (AADSTS50012 is Entra's code for an invalid client
    /// credential; the exact wording here is the simulator's).
    pub(crate) fn invalid_assertion_type() -> Self {
        AadError::new(
            50012,
            "invalid_client",
            "Client assertion type must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
        )
    }

    /// A `jti` presented a second time. Replay rejection is not documented for Entra ID
    /// (reference §1.2, unverified); the simulator answers with the generic credential
    /// validation code AADSTS70002.
    pub(crate) fn replayed_assertion(jti: &str) -> Self {
        AadError::new(
            70002,
            "invalid_client",
            format!(
                "Error validating credentials. The client assertion with jti '{jti}' has already been used; every assertion needs a fresh jti."
            ),
        )
    }

    /// The assertion has no `jti` claim (the simulator requires it, reference §1.2).
    pub(crate) fn assertion_missing_jti() -> Self {
        AadError::new(
            70002,
            "invalid_client",
            "Error validating credentials. The client assertion must contain a 'jti' claim.",
        )
    }
}

/// `2016-01-09 02:02:12Z`, the format of Entra's `timestamp`.
pub(crate) fn aad_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

fn iso_seconds(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].0000000Z"
    ))
    .unwrap_or_default()
}

/// Why a Graph request was refused by authentication (401) or authorization (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No `Authorization` header, or an empty bearer token.
    #[error("access token is empty")]
    MissingToken,
    /// Not `Bearer <jwt>`, or the token is not a JWT.
    #[error("access token is malformed")]
    MalformedToken,
    /// The signature does not verify with the simulator's key.
    #[error("access token signature is invalid")]
    InvalidSignature,
    /// The token is not for Graph.
    #[error("access token audience is invalid")]
    InvalidAudience,
    /// `exp` has passed on the virtual clock.
    #[error("access token is expired")]
    Expired,
    /// `nbf` is still in the future on the virtual clock.
    #[error("access token is not yet valid")]
    NotYetValid,
    /// The token is valid but its roles grant none of the required permissions.
    #[error("insufficient privileges")]
    InsufficientPrivileges,
}

impl AuthFailure {
    /// 401 for token problems, 403 for missing permissions.
    pub fn status(&self) -> u16 {
        match self {
            AuthFailure::InsufficientPrivileges => 403,
            _ => 401,
        }
    }

    /// The Graph error `code`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::InsufficientPrivileges => "Authorization_RequestDenied",
            _ => "InvalidAuthenticationToken",
        }
    }

    /// The Graph error `message`, as Graph words it (observed texts).
    pub fn message(&self) -> String {
        match self {
            AuthFailure::MissingToken => "Access token is empty.",
            AuthFailure::MalformedToken => "CompactToken parsing failed with error code: 80049217",
            AuthFailure::InvalidSignature => "Access token validation failure. Invalid signature.",
            AuthFailure::InvalidAudience => "Access token validation failure. Invalid audience.",
            AuthFailure::Expired => "Lifetime validation failed, the token is expired.",
            AuthFailure::NotYetValid => "Lifetime validation failed, the token is not yet valid.",
            AuthFailure::InsufficientPrivileges => {
                "Insufficient privileges to complete the operation."
            }
        }
        .to_owned()
    }
}
