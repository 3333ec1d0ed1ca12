//! `sendMail`: 202 into the outbox and the Exchange-style errors.

use crate::common::{assert_graph_error, start};
use reqwest::Method;
use serde_json::{Value, json};

fn message(to: &str) -> Value {
    json!({
        "message": {
            "subject": "Your Cloud PC is ready",
            "body": { "contentType": "HTML", "content": "<p>Go to https://windows365.microsoft.com</p>" },
            "toRecipients": [ { "emailAddress": { "address": to, "name": "Alice" } } ],
            "ccRecipients": [ { "emailAddress": { "address": "helpdesk@contoso.com" } } ]
        },
        "saveToSentItems": false
    })
}

#[tokio::test]
async fn accepted_mail_lands_in_the_outbox() {
    let sim = start().await;
    let answer = sim
        .post(
            "v1.0/users/runbooks@contoso.com/sendMail",
            message("alice.smith@contoso.com"),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert!(answer.text.is_empty());
    let outbox = sim.handle.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].from, "runbooks@contoso.com");
    assert_eq!(outbox[0].subject, "Your Cloud PC is ready");
    assert_eq!(outbox[0].to[0].address, "alice.smith@contoso.com");
    assert_eq!(outbox[0].cc[0].address, "helpdesk@contoso.com");
    assert_eq!(outbox[0].content_type, "HTML");
    assert!(!outbox[0].save_to_sent_items);
    let admin = sim.call(Method::GET, "_sim/outbox", None, &[], None).await;
    assert_eq!(admin.values().len(), 1);
}

#[tokio::test]
async fn sender_errors_are_exchange_style() {
    let sim = start().await;
    let unknown = sim
        .post(
            "v1.0/users/nobody@contoso.com/sendMail",
            message("alice.smith@contoso.com"),
        )
        .await;
    assert_graph_error(&unknown, 404, "ErrorInvalidUser");
    let no_mailbox = sim
        .post(
            "v1.0/users/nomail.user@contoso.com/sendMail",
            message("alice.smith@contoso.com"),
        )
        .await;
    assert_graph_error(&no_mailbox, 404, "MailboxNotEnabledForRESTAPI");
    let no_recipient = sim
        .post(
            "v1.0/users/runbooks@contoso.com/sendMail",
            json!({ "message": { "subject": "x" } }),
        )
        .await;
    assert_graph_error(&no_recipient, 400, "ErrorInvalidRecipients");
    let bad_recipient = sim
        .post(
            "v1.0/users/runbooks@contoso.com/sendMail",
            message("not an address"),
        )
        .await;
    assert_graph_error(&bad_recipient, 400, "ErrorInvalidRecipients");
    let token = sim.token_with_roles(&["User.Read.All"]).await;
    let denied = sim
        .call(
            Method::POST,
            "v1.0/users/runbooks@contoso.com/sendMail",
            Some(&token),
            &[],
            Some(message("alice.smith@contoso.com")),
        )
        .await;
    assert_graph_error(&denied, 403, "ErrorAccessDenied");
    assert!(sim.handle.outbox().is_empty());
}
