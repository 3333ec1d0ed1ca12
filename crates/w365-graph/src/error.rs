//! The crate's one error type.
//!
//! Every message describes only its own layer; the underlying cause sits in `#[source]`.
//! No variant ever carries a secret, a token or a full URL with query values.

use std::time::Duration;

use serde::Deserialize;

/// `Result<T, w365_graph::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A Graph error body (`{"error":{"code","message","innerError":{...}}}`), parsed leniently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphError {
    /// Graph error code, e.g. `Request_ResourceNotFound`; may be empty.
    pub code: String,
    /// Human readable message from the service.
    pub message: String,
    /// `request-id` from `innerError` or the response header.
    pub request_id: Option<String>,
    /// `client-request-id` from `innerError` or the response header.
    pub client_request_id: Option<String>,
    /// `date` from `innerError` or the `Date` response header.
    pub date: Option<String>,
    /// Nested `innerError.code`, when the service sends one.
    pub inner_code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Envelope {
    error: Option<Body>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Body {
    code: Option<String>,
    message: Option<String>,
    #[serde(alias = "innererror")]
    inner_error: Option<Inner>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Inner {
    code: Option<String>,
    date: Option<String>,
    #[serde(rename = "request-id")]
    request_id: Option<String>,
    #[serde(rename = "client-request-id")]
    client_request_id: Option<String>,
}

/// Longest service message or raw body text kept in an error.
const MAX_MESSAGE: usize = 2_000;

fn truncate(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl GraphError {
    /// Parses an error body leniently: a missing or empty code, a missing `innerError` or a body that
    /// is not JSON at all still yield a usable error (the raw text becomes the message).
    /// Header values fill in what the body lacks.
    pub fn from_response(status: u16, headers: &http::HeaderMap, body: &[u8]) -> Self {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let parsed = serde_json::from_slice::<Envelope>(body)
            .ok()
            .and_then(|e| e.error);
        let mut error = match parsed {
            Some(body) => {
                let inner = body.inner_error.unwrap_or_default();
                GraphError {
                    code: body.code.unwrap_or_default(),
                    message: truncate(&body.message.unwrap_or_default()),
                    request_id: inner.request_id,
                    client_request_id: inner.client_request_id,
                    date: inner.date,
                    inner_code: inner.code,
                }
            }
            None => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                GraphError {
                    message: if text.is_empty() {
                        http::StatusCode::from_u16(status)
                            .ok()
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("no error body")
                            .to_owned()
                    } else {
                        truncate(text)
                    },
                    ..GraphError::default()
                }
            }
        };
        if error.request_id.is_none() {
            error.request_id = header("request-id");
        }
        if error.client_request_id.is_none() {
            error.client_request_id = header("client-request-id");
        }
        if error.date.is_none() {
            error.date = header("date");
        }
        error
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.code.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "{}: {}", self.code, self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id}")?;
            if let Some(date) = &self.date {
                write!(f, ", date {date}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to Microsoft Graph.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Graph answered with an error status.
    #[error("Microsoft Graph returned HTTP {status}: {error}")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The parsed error body.
        error: GraphError,
    },
    /// Graph kept throttling (429) or was unavailable (503/504) until the retry budget ran out.
    #[error(
        "Microsoft Graph is throttling or unavailable (HTTP {status}) and the retry budget is exhausted: {error}"
    )]
    Throttled {
        /// The last status seen (429, 503 or 504).
        status: u16,
        /// The last `Retry-After` the service asked for.
        retry_after: Option<Duration>,
        /// The last error body.
        error: GraphError,
    },
    /// Graph may already have processed a request that is not safe to repeat (e.g. `sendMail`,
    /// reprovisioning a Cloud PC), and the answer was 503/504 or the connection broke after the
    /// request was sent. The request was not resent (see [`crate::retry`]).
    #[error(
        "outcome unknown, not resent: {operation} {}; Microsoft Graph may or may not have done it, and sending it again could do it twice (check the tenant, e.g. the sender's Sent Items or the Cloud PC's status, before trying again)",
        match status { Some(s) => format!("got HTTP {s} after it was sent"), None => "lost its connection after it was sent".to_owned() }
    )]
    OutcomeUnknown {
        /// `METHOD path` without query values.
        operation: String,
        /// 503 or 504; `None` when the connection broke.
        status: Option<u16>,
        /// The error body, when there was an answer.
        error: Option<GraphError>,
        /// The transport failure, when the connection broke.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The token endpoint (or token source) refused to issue a token.
    #[error("authentication failed ({credential}){}: {message}", aadsts.as_ref().map(|c| format!(" AADSTS{c}")).unwrap_or_default())]
    Auth {
        /// Which credential failed, e.g. `client secret`.
        credential: &'static str,
        /// The AADSTS code(s) when the token endpoint sent them, e.g. `7000215`.
        aadsts: Option<String>,
        /// OAuth `error` value, e.g. `invalid_client`.
        oauth_error: Option<String>,
        /// HTTP status of the token endpoint, when there was one.
        status: Option<u16>,
        /// What went wrong, with a hint; never contains the secret.
        message: String,
        /// Lower-level cause, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The request could not be sent or the response not read.
    #[error("HTTP transport error during {operation}")]
    Transport {
        /// `METHOD path` without query values.
        operation: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A response body did not match the expected shape.
    #[error("could not decode the Graph response of {operation} at JSON path `{path}`")]
    Decode {
        /// `METHOD path` without query values.
        operation: String,
        /// JSON path where decoding failed (serde_path_to_error).
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The caller passed something that cannot be sent.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong.
        message: String,
    },
    /// The client configuration is unusable (e.g. a non-https URL that is not loopback).
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Error::InvalidInput {
            message: message.into(),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }

    fn graph_error(&self) -> Option<&GraphError> {
        match self {
            Error::Api { error, .. } | Error::Throttled { error, .. } => Some(error),
            Error::OutcomeUnknown { error, .. } => error.as_ref(),
            _ => None,
        }
    }

    /// HTTP status of a Graph (or token endpoint) response, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Throttled { status, .. } => Some(*status),
            Error::Auth { status, .. } | Error::OutcomeUnknown { status, .. } => *status,
            _ => None,
        }
    }

    /// Graph error code (or AADSTS code for `Auth`), if any and not empty.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Auth { aadsts, .. } => aadsts.as_deref(),
            _ => self
                .graph_error()
                .map(|e| e.code.as_str())
                .filter(|c| !c.is_empty()),
        }
    }

    /// The `request-id` Graph assigned, for support cases.
    pub fn request_id(&self) -> Option<&str> {
        self.graph_error().and_then(|e| e.request_id.as_deref())
    }

    /// 404 from Graph.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { status: 404, .. })
    }

    /// The "One or more added object references already exist" 400 of member adds
    /// (matched on status + code, and the message as Graph words it), or a 409 conflict.
    pub fn is_already_exists(&self) -> bool {
        match self {
            Error::Api { status: 409, .. } => true,
            Error::Api { status: 400, error } => {
                let code_ok = error.code.is_empty()
                    || error.code.eq_ignore_ascii_case("Request_BadRequest")
                    || error.code.eq_ignore_ascii_case("BadRequest");
                code_ok && error.message.to_ascii_lowercase().contains("already exist")
            }
            _ => false,
        }
    }

    /// Retries ran out on 429/503/504.
    pub fn is_throttled(&self) -> bool {
        matches!(self, Error::Throttled { .. })
    }

    /// A request that is not safe to repeat may or may not have been processed, and was not
    /// resent ([`Error::OutcomeUnknown`]).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, Error::OutcomeUnknown { .. })
    }

    /// 403 or 401 from Graph, or a refused token.
    pub fn is_permission_denied(&self) -> bool {
        matches!(
            self,
            Error::Api {
                status: 401 | 403,
                ..
            } | Error::Auth { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_graph_error() {
        let body = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist","innerError":{"date":"2025-01-01T00:00:00","request-id":"r1","client-request-id":"c1"}}}"#;
        let e = GraphError::from_response(404, &http::HeaderMap::new(), body);
        assert_eq!(e.code, "Request_ResourceNotFound");
        assert_eq!(e.request_id.as_deref(), Some("r1"));
        assert_eq!(e.client_request_id.as_deref(), Some("c1"));
        assert_eq!(e.date.as_deref(), Some("2025-01-01T00:00:00"));
    }

    #[test]
    fn lenient_on_missing_code_and_non_json() {
        let e = GraphError::from_response(
            500,
            &http::HeaderMap::new(),
            br#"{"error":{"message":"boom"}}"#,
        );
        assert_eq!(e.code, "");
        assert_eq!(e.message, "boom");
        let mut headers = http::HeaderMap::new();
        headers.insert("request-id", "hdr".parse().unwrap());
        let e = GraphError::from_response(502, &headers, b"<html>Bad gateway</html>");
        assert_eq!(e.message, "<html>Bad gateway</html>");
        assert_eq!(e.request_id.as_deref(), Some("hdr"));
        let e = GraphError::from_response(503, &http::HeaderMap::new(), b"");
        assert_eq!(e.message, "Service Unavailable");
        let err = Error::Api {
            status: 500,
            error: GraphError::from_response(
                500,
                &http::HeaderMap::new(),
                br#"{"error":{"code":""}}"#,
            ),
        };
        assert_eq!(err.code(), None);
    }

    #[test]
    fn already_exists_needs_status_and_message() {
        let e = Error::Api {
            status: 400,
            error: GraphError {
                code: "Request_BadRequest".into(),
                message: "One or more added object references already exist for the following modified properties: 'members'.".into(),
                ..GraphError::default()
            },
        };
        assert!(e.is_already_exists());
        let other = Error::Api {
            status: 400,
            error: GraphError {
                code: "Request_BadRequest".into(),
                message: "Invalid object identifier".into(),
                ..GraphError::default()
            },
        };
        assert!(!other.is_already_exists());
        assert!(
            !Error::Api {
                status: 404,
                error: GraphError::default()
            }
            .is_already_exists()
        );
    }
}
