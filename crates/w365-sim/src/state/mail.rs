//! The mail outbox: every message accepted by `sendMail` lands here instead of being delivered.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A recipient address (`emailAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailAddress {
    pub address: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMail {
    pub id: String,
    /// Object id of the sending mailbox.
    pub sender_id: String,
    /// The sending mailbox (its `mail`).
    pub from: String,
    pub subject: String,
    /// `Text` or `HTML`, as given (case preserved).
    pub content_type: String,
    pub body: String,
    pub to: Vec<MailAddress>,
    #[serde(default)]
    pub cc: Vec<MailAddress>,
    #[serde(default)]
    pub bcc: Vec<MailAddress>,
    pub save_to_sent_items: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
}

/// The outbox of one tenant, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outbox {
    pub messages: Vec<SentMail>,
}
