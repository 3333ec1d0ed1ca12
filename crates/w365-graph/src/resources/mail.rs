//! `sendMail`.

use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{Message, SendMailRequest};
use crate::odata::GraphPath;
use crate::retry::Idempotency;

/// Mail.
#[derive(Debug, Clone)]
pub struct MailHandler {
    client: Client,
}

impl MailHandler {
    pub(crate) fn new(client: Client) -> Self {
        MailHandler { client }
    }

    /// `POST /users/{sender}/sendMail` (202 Accepted; acceptance is not delivery).
    ///
    /// Not idempotent: a repeat sends a second mail. After a 503/504 or a connection lost once
    /// the request was sent, the result is [`crate::Error::OutcomeUnknown`] and nothing is resent
    /// (a 429 or a connection never made is still retried: Graph did not process it).
    pub async fn send_mail(
        &self,
        sender_id_or_upn: &str,
        message: &Message,
        save_to_sent_items: bool,
    ) -> Result<()> {
        let body = SendMailRequest {
            message: message.clone(),
            save_to_sent_items,
        };
        self.client
            .post_no_content_with(
                ApiVersion::V1,
                &GraphPath::new(["users", sender_id_or_upn, "sendMail"]),
                Some(&body),
                Vec::new(),
                Idempotency::NotIdempotent,
            )
            .await
    }
}
