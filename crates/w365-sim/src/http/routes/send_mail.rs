//! `POST /users/{id | userPrincipalName}/sendMail`: 202 Accepted, the message lands in the
//! tenant's outbox (`/_sim/outbox`, `SimHandle::outbox`).
//!
//! Errors: 403 `ErrorAccessDenied` without `Mail.Send`; 404 `ErrorInvalidUser` for an unknown
//! sender; 404 `MailboxNotEnabledForRESTAPI` for a sender without a mailbox; 400
//! `ErrorInvalidRecipients` for missing or malformed recipients.
//!
//! LIMITATIONS (Graph behaviour not emulated):
//! - MIME (`Content-Type: text/plain`, base64) messages are refused as malformed JSON;
//! - `from`/send-as checks, attachments, Exchange application access policies and Outlook's
//!   per-mailbox throttling are not modelled; nothing is ever delivered.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

use super::perms;
use crate::http::{ApiError, AppState, Auth, GraphJson};
use crate::state::OutgoingMail;
use crate::state::mail::MailAddress;

pub fn routes() -> Router<AppState> {
    Router::new().route("/users/{key}/sendMail", post(send_mail))
}

/// The action's parameters. Graph accepts them in the documentation's casing (`message`,
/// `saveToSentItems`) and in the PascalCase Microsoft's SDKs send (`Message`, `SaveToSentItems`;
/// microsoft-graph-docs-contrib#728, reference §11).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendMailBody {
    #[serde(alias = "Message")]
    message: Message,
    #[serde(default, alias = "SaveToSentItems")]
    save_to_sent_items: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    body: Option<ItemBody>,
    #[serde(default)]
    to_recipients: Vec<Recipient>,
    #[serde(default)]
    cc_recipients: Vec<Recipient>,
    #[serde(default)]
    bcc_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemBody {
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: MailAddress,
}

fn invalid_recipients() -> ApiError {
    ApiError::bad_request(
        "ErrorInvalidRecipients",
        "At least one recipient isn't valid.",
    )
}

fn addresses(recipients: Vec<Recipient>) -> Result<Vec<MailAddress>, ApiError> {
    recipients
        .into_iter()
        .map(|r| {
            let address = r.email_address.address.trim();
            let valid = address
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if valid {
                Ok(r.email_address)
            } else {
                Err(invalid_recipients())
            }
        })
        .collect()
}

async fn send_mail(
    State(app): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    GraphJson(body): GraphJson<SendMailBody>,
) -> Result<StatusCode, ApiError> {
    if !auth.has_any(perms::MAIL_SEND) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        ));
    }
    let message = body.message;
    let (content_type, content) = match message.body {
        Some(b) => (
            b.content_type.unwrap_or_else(|| "Text".to_owned()),
            b.content.unwrap_or_default(),
        ),
        None => ("Text".to_owned(), String::new()),
    };
    if !content_type.eq_ignore_ascii_case("text") && !content_type.eq_ignore_ascii_case("html") {
        return Err(ApiError::bad_request(
            "ErrorInvalidRequest",
            format!(
                "Cannot convert the literal '{content_type}' to the expected type 'microsoft.graph.bodyType'."
            ),
        ));
    }
    let mail = OutgoingMail {
        subject: message.subject.unwrap_or_default(),
        content_type,
        body: content,
        to: addresses(message.to_recipients)?,
        cc: addresses(message.cc_recipients)?,
        bcc: addresses(message.bcc_recipients)?,
        save_to_sent_items: body.save_to_sent_items.unwrap_or(true),
    };
    if mail.to.is_empty() && mail.cc.is_empty() && mail.bcc.is_empty() {
        return Err(invalid_recipients());
    }
    app.with_tenant(auth.tenant_id(), |tenant, now| {
        tenant.send_mail(&key, mail, now).map_err(ApiError::from)
    })?;
    Ok(StatusCode::ACCEPTED)
}
