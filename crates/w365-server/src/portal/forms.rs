//! Form posts: [`Posted`] is the extractor of every POST handler of the portal. It requires a
//! session (anonymous posts go to sign-in) and the session's CSRF token in the form's `csrf`
//! field (a synchronizer token; missing or wrong: 403), then hands over the fields.
//!
//! Templates put the token in every form with the `csrf_field()` macro of `macros.html`.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::layout::PageError;
use super::session::{PortalSession, same_secret};
use crate::state::AppState;

/// Largest form body accepted (operation forms are small).
const MAX_FORM: usize = 64 * 1024;

/// The name of the CSRF field of every form.
pub const CSRF_FIELD: &str = "csrf";

/// A form posted by a signed-in operator, its CSRF token checked.
#[derive(Debug)]
pub struct Posted {
    pub session: PortalSession,
    /// The fields in the order sent (a name can repeat), the CSRF token removed.
    pub fields: Vec<(String, String)>,
}

impl Posted {
    /// The first value of `name` (trimmed), when sent and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name` (multi-selects, checkbox groups).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Whether a checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The value of `name`, or a 400 page naming the missing field.
    pub fn required(&self, name: &str) -> Result<&str, PageError> {
        self.get(name).ok_or_else(|| {
            PageError::bad_request(
                format!("The form did not send '{name}'."),
                "Go back, fill in the field and submit again.",
            )
        })
    }
}

/// Rejection of [`Posted`]: sign-in, or an error page.
pub struct Refused(Response);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        self.0
    }
}

fn csrf_refused() -> PageError {
    PageError::forbidden(
        "This form was refused: it did not carry this session's security token (CSRF token).",
        "Forms expire when you sign in again. Go back, reload the page and submit the form again.",
    )
}

impl FromRequest<AppState> for Posted {
    type Rejection = Refused;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = PortalSession::from_request_parts(&mut parts, app)
            .await
            .map_err(|e| Refused(e.into_response()))?;
        let form_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(Refused(
                PageError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "The portal accepts only HTML form posts.",
                    "Use the forms of the portal; programs use the REST API under /api/v1.",
                )
                .into_response(),
            ));
        }
        let bytes = axum::body::to_bytes(axum::body::Body::new(body), MAX_FORM)
            .await
            .map_err(|_| {
                Refused(
                    PageError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "The form is too large.",
                        "Send less text in the form's fields.",
                    )
                    .into_response(),
                )
            })?;
        let mut fields: Vec<(String, String)> = url::form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let sent: Vec<String> = fields
            .iter()
            .filter(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.clone())
            .collect();
        let valid = sent.len() == 1 && same_secret(&sent[0], &session.csrf);
        if !valid {
            tracing::warn!(operator = %session.principal.upn, path = %parts.uri.path(), "form refused: CSRF token missing or wrong");
            return Err(Refused(csrf_refused().into_response()));
        }
        fields.retain(|(k, _)| k != CSRF_FIELD);
        Ok(Posted { session, fields })
    }
}
