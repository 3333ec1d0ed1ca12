//! The one JSON error shape of the API:
//!
//! ```json
//! {"error": {"status": 403, "code": "forbidden", "message": "...", "fix": "...",
//!            "requestId": "...", "problems": [{"param": "...", "message": "...", "fix": "..."}]}}
//! ```
//!
//! Handlers return [`ApiError`]; the request middleware ([`crate::middleware`]) writes the body
//! with the request's id, and gives axum's own rejections (unknown route, bad JSON) the same shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// One validation problem: what is wrong with which parameter, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    pub param: String,
    pub message: String,
    pub fix: String,
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// The HTTP status, repeated.
    pub status: u16,
    /// A stable machine-readable code (`unauthenticated`, `forbidden`, `not_found`, `invalid`...).
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// What to do instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The id of the request (also in the `x-request-id` header and the server's logs).
    pub request_id: String,
    /// Every validation problem (422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// `{"error": ErrorDetail}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// An error answer. Its body is completed with the request id by the middleware.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fix: Option<String>,
    pub problems: Vec<Problem>,
    /// `WWW-Authenticate` for 401 answers.
    pub challenge: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fix: None,
            problems: Vec::new(),
            challenge: None,
        }
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// 401 with a Bearer challenge (RFC 6750 §3).
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message.clone())
            .with_fix(
                "Send `Authorization: Bearer <access token>` with a token issued by the configured \
                 Entra ID tenant for w365's API (in the sandbox: `w365 sandbox token --role helpdesk`).",
            );
        let escaped = message.replace(['"', '\\'], "'");
        e.challenge = Some(format!(
            "Bearer error=\"invalid_token\", error_description=\"{escaped}\""
        ));
        e
    }

    pub fn forbidden(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message).with_fix(fix)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message).with_fix(fix)
    }

    pub fn invalid(problems: Vec<Problem>) -> Self {
        let n = problems.len();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!(
                "{n} problem{} with the request; each is listed with its fix.",
                if n == 1 { "" } else { "s" }
            ),
        );
        e.problems = problems;
        e
    }

    pub fn conflict(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message).with_fix(fix)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500: the detail goes to the log, never to the client.
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context}. The server log has the details under this request id."),
        )
    }

    pub(crate) fn detail(&self, request_id: &str) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                code: self.code.to_owned(),
                message: self.message.clone(),
                fix: self.fix.clone(),
                request_id: request_id.to_owned(),
                problems: self.problems.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if let Some(challenge) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}
