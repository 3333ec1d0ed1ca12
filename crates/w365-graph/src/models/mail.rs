//! `message` and the `sendMail` body (reference §5).

use serde::{Deserialize, Serialize};

evolvable_enum! {
    /// `itemBody.contentType`.
    pub enum BodyType {
        Text = "Text",
        Html = "HTML",
    }
}

/// Message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    /// Text or HTML.
    pub content_type: BodyType,
    /// The content.
    pub content: String,
}

/// An address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailAddress {
    /// SMTP address.
    pub address: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    /// Its address.
    pub email_address: EmailAddress,
}

impl Recipient {
    /// A recipient from an address and optional name.
    pub fn new(address: impl Into<String>, name: Option<String>) -> Self {
        Recipient {
            email_address: EmailAddress {
                address: address.into(),
                name,
            },
        }
    }
}

/// A mail message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Subject line.
    pub subject: String,
    /// Body.
    pub body: ItemBody,
    /// To.
    #[serde(default)]
    pub to_recipients: Vec<Recipient>,
    /// Cc.
    #[serde(default)]
    pub cc_recipients: Vec<Recipient>,
    /// Bcc.
    #[serde(default)]
    pub bcc_recipients: Vec<Recipient>,
}

/// `POST /users/{id}/sendMail` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMailRequest {
    /// The message.
    pub message: Message,
    /// Keep a copy in Sent Items.
    pub save_to_sent_items: bool,
}
