//! `ApiError`: a Graph error answer (`{"error":{"code","message","innerError":{...}}}`) with its
//! real status. Handlers return `Result<_, ApiError>`; `StateError`, `ODataError` and the
//! identity module's `AuthFailure` convert into it.
//!
//! The body's `innerError` (date, request-id, client-request-id) is completed by the request
//! middleware (see [`super::context`]), which knows the request's ids; an `ApiError` rendered
//! outside that middleware still has a complete, valid body.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::odata::ODataError;
use crate::state::StateError;

/// The parts of a Graph error, kept in the response extensions so the middleware can re-render
/// the body with the request's ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphErrorParts {
    pub code: String,
    pub message: String,
}

/// A Graph error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// Any status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a response header (e.g. `Retry-After`).
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 400 with the given code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `BadRequest` `Resource not found for the segment '<name>'.` (unknown path segment).
    pub fn unknown_segment(segment: &str) -> Self {
        Self::bad_request(
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// 400 `BadRequest` for a body that is not the JSON the route expects.
    pub fn invalid_body(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(
            "BadRequest",
            format!(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format. ({detail})"
            ),
        )
    }

    /// 404 `Request_ResourceNotFound` for a directory object key.
    pub fn resource_not_found(key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 404 with any code (Intune-style `ResourceNotFound`, Outlook-style `ErrorItemNotFound`, ...).
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 405 `Request_BadRequest` "Specified HTTP method is not allowed for the request target."
    /// (wrong method, or a beta-only operation called on v1.0).
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }

    /// 409 with the given code.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 401 `InvalidAuthenticationToken`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// 403 `Authorization_RequestDenied` "Insufficient privileges to complete the operation."
    pub fn insufficient_privileges() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 500 `generalException` (a simulator bug; details stay in the log).
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "simulator internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "General exception while processing.",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The Graph error code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The Graph error body.
pub fn error_body(
    code: &str,
    message: &str,
    date: &str,
    request_id: &str,
    client_request_id: &str,
) -> Value {
    json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": date,
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        }
    })
}

/// Graph's `innerError.date` format (UTC, no offset, whole seconds).
pub fn graph_date(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let id = uuid::Uuid::new_v4().to_string();
        let body = error_body(
            &self.code,
            &self.message,
            &graph_date(time::OffsetDateTime::now_utc()),
            &id,
            &id,
        );
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response.extensions_mut().insert(GraphErrorParts {
            code: self.code,
            message: self.message,
        });
        response
    }
}

impl From<StateError> for ApiError {
    fn from(err: StateError) -> Self {
        match &err {
            StateError::TenantNotFound { .. } => Self::unauthorized(
                "Access token validation failure: the token's tenant does not exist.",
            ),
            StateError::UserNotFound { key } => Self::resource_not_found(key),
            StateError::GroupNotFound { id }
            | StateError::ObjectNotFound { id }
            | StateError::SkuNotFound { id } => Self::resource_not_found(id),
            StateError::AlreadyMember => Self::bad_request(
                "Request_BadRequest",
                "One or more added object references already exist for the following modified properties: 'members'.",
            ),
            StateError::NotMember { member_id } => Self::resource_not_found(member_id),
            StateError::TooManyReferences { max, .. } => Self::bad_request(
                "Request_BadRequest",
                format!(
                    "The number of references in 'members@odata.bind' exceeds the limit of {max}."
                ),
            ),
            StateError::DynamicGroup { .. } => Self::bad_request(
                "Request_BadRequest",
                "Insufficient privileges to complete the operation: the group has dynamic membership.",
            ),
            StateError::MailSenderNotFound { key } => Self::not_found(
                "ErrorInvalidUser",
                format!("The requested user '{key}' is invalid."),
            ),
            StateError::MailboxNotEnabled { .. } => Self::not_found(
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            ),
            StateError::AppNotFound { client_id } => Self::resource_not_found(client_id),
            StateError::Conflict(message) => {
                Self::bad_request("Request_BadRequest", message.clone())
            }
            StateError::Invalid(message) => {
                Self::bad_request("Request_BadRequest", message.clone())
            }
            // Variants added later map to a generic 400 until they get their own answer.
            #[allow(unreachable_patterns)]
            _ => Self::bad_request("BadRequest", err.to_string()),
        }
    }
}

impl From<ODataError> for ApiError {
    fn from(err: ODataError) -> Self {
        Self::bad_request(err.graph_code(), err.message())
    }
}
