//! Mail templates: the "Cloud PC ready" notification and the out-of-licenses ticket.
//!
//! Templates are minijinja with HTML auto-escaping switched on for every template, so every
//! interpolated value (names, UPNs, the custom message) is HTML-escaped. Subjects are plain text.

use minijinja::{AutoEscape, Environment, context};

use crate::error::Error;
use crate::plan::TicketDetails;

/// The longest custom message accepted, in characters (Unicode scalar values).
pub const MAX_CUSTOM_MESSAGE_CHARS: usize = 3000;

/// Where the built-in ready mail points the user.
pub const WINDOWS365_URL: &str = "https://windows365.microsoft.com";

/// Subject of the ready mail.
pub const READY_SUBJECT: &str = "Your Cloud PC is ready";

const READY_TEMPLATE: &str = r#"<html><body>
<p>Hello {{ name }},</p>
{%- if custom_lines %}
<p>{% for line in custom_lines %}{{ line }}{% if not loop.last %}<br>{% endif %}{% endfor %}</p>
{%- else %}
<p>your Cloud PC{% if cloud_pc_name %} <b>{{ cloud_pc_name }}</b>{% endif %} is ready. Sign in with your account {{ upn }} to start working on it.</p>
{%- endif %}
<p>Open it in your browser at <a href="https://windows365.microsoft.com">https://windows365.microsoft.com</a> or with the Windows App.</p>
</body></html>
"#;

const TICKET_TEMPLATE: &str = r#"<html><body>
<p>The Windows 365 assignment for a user stopped because there are no free {{ what }}.</p>
<table>
<tr><td>Customer</td><td>{{ customer_id }}</td></tr>
<tr><td>License group</td><td>{{ license_name }}</td></tr>
<tr><td>SKU</td><td>{{ sku }}</td></tr>
<tr><td>User</td><td>{{ user }}</td></tr>
<tr><td>Requested by</td><td>{{ caller }}</td></tr>
</table>
<p>Please buy more licenses or free some, then run the assignment again.</p>
</body></html>
"#;

/// Subject of the reprovisioning mail.
pub const REPROVISIONING_SUBJECT: &str = "Your Cloud PC is being reprovisioned";

const REPROVISIONING_TEMPLATE: &str = r#"<html><body>
<p>Hello {{ name }},</p>
{%- if custom_lines %}
<p>{% for line in custom_lines %}{{ line }}{% if not loop.last %}<br>{% endif %}{% endfor %}</p>
{%- else %}
<p>your Cloud PC{% if cloud_pc_name %} <b>{{ cloud_pc_name }}</b>{% endif %} is being reprovisioned: it is recreated from a fresh image, and files and apps stored on it are removed. It is unavailable until reprovisioning has finished, usually within an hour. Sign in again with your account {{ upn }} afterwards.</p>
{%- endif %}
<p>You will find it at <a href="https://windows365.microsoft.com">https://windows365.microsoft.com</a> or in the Windows App.</p>
</body></html>
"#;

/// Subject of the mail for a pooled (Frontline shared mode) Cloud PC: there is no personal Cloud PC
/// to wait for, the user gets access to the group's shared ones at once.
pub const ACCESS_GRANTED_SUBJECT: &str = "You have access to a shared Cloud PC";

const ACCESS_GRANTED_TEMPLATE: &str = r#"<html><body>
<p>Hello {{ name }},</p>
{%- if custom_lines %}
<p>{% for line in custom_lines %}{{ line }}{% if not loop.last %}<br>{% endif %}{% endfor %}</p>
{%- else %}
<p>you now have access to the shared Cloud PCs{% if cloud_pc_name %} of <b>{{ cloud_pc_name }}</b>{% endif %}. They are shared by your team, one person at a time; your session is cleaned up when you sign out, so save your work elsewhere. Sign in with your account {{ upn }}.</p>
{%- endif %}
<p>Open one in your browser at <a href="https://windows365.microsoft.com">https://windows365.microsoft.com</a> or with the Windows App.</p>
</body></html>
"#;

/// Renders the "access granted" mail of a pooled (shared-mode Frontline) assignment;
/// `cloud_pc_name` is the provisioning policy's name.
pub fn render_access_granted_mail(mail: &ReadyMail<'_>) -> Result<RenderedMail, Error> {
    if let Some(message) = mail.custom_message {
        validate_custom_message(message)?;
    }
    let custom_lines: Vec<&str> = mail
        .custom_message
        .map(|m| m.lines().collect())
        .unwrap_or_default();
    let html_body = render(
        "access_granted.html",
        ACCESS_GRANTED_TEMPLATE,
        context! {
            name => mail.name,
            upn => mail.user_principal_name,
            cloud_pc_name => mail.cloud_pc_name,
            custom_lines => custom_lines,
        },
    )?;
    Ok(RenderedMail {
        subject: ACCESS_GRANTED_SUBJECT.to_owned(),
        html_body,
    })
}

/// Planning check of the sender: the mailbox mails are sent from must exist in the tenant and
/// have a mailbox, before anything is changed (so a licence is never consumed for a mail that
/// cannot go out). `what` names the feature that needs it ("--notify", "tickets").
///
/// Graph's sendMail answers 404 `ErrorInvalidUser` for an unknown sender and 404
/// `MailboxNotEnabledForRESTAPI` for a user without an Exchange Online mailbox
/// (<https://learn.microsoft.com/en-us/graph/api/user-sendmail?view=graph-rest-1.0>, reference
/// §5); a user's `mail` is null without a mailbox (reference §2.2), which is what is read here.
pub async fn verify_sender(
    client: &w365_graph::Client,
    from: Option<&str>,
    what: &str,
) -> Result<String, Error> {
    use crate::error::GraphContext;
    let Some(from) = from.map(str::trim).filter(|f| !f.is_empty()) else {
        return Err(Error::SenderNotSet { what: what.into() });
    };
    if !from.contains('@') {
        return Err(Error::InvalidInput {
            reason: format!("--from-mailbox '{from}' is not a mail address"),
        });
    }
    let sender = client.users().find_by_upn(from).await.graph_ctx(
        || format!("look up the sender mailbox '{from}'"),
        crate::execute::permissions::READ_USERS,
    )?;
    match sender {
        None => Err(Error::SenderNotFound { from: from.into() }),
        Some(u) if u.mail.as_deref().is_none_or(|m| m.trim().is_empty()) => {
            Err(Error::SenderWithoutMailbox { from: from.into() })
        }
        Some(_) => Ok(from.to_owned()),
    }
}

/// Renders the "Cloud PC is being reprovisioned" mail (same values as the ready mail).
pub fn render_reprovisioning_mail(mail: &ReadyMail<'_>) -> Result<RenderedMail, Error> {
    if let Some(message) = mail.custom_message {
        validate_custom_message(message)?;
    }
    let custom_lines: Vec<&str> = mail
        .custom_message
        .map(|m| m.lines().collect())
        .unwrap_or_default();
    let html_body = render(
        "reprovisioning.html",
        REPROVISIONING_TEMPLATE,
        context! {
            name => mail.name,
            upn => mail.user_principal_name,
            cloud_pc_name => mail.cloud_pc_name,
            custom_lines => custom_lines,
        },
    )?;
    Ok(RenderedMail {
        subject: REPROVISIONING_SUBJECT.to_owned(),
        html_body,
    })
}

/// A rendered mail: plain-text subject and HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub html_body: String,
}

/// The values of the ready mail.
#[derive(Debug, Clone, Copy)]
pub struct ReadyMail<'a> {
    /// How to greet the user (display name, else the UPN).
    pub name: &'a str,
    pub user_principal_name: &'a str,
    /// The Cloud PC's display name, if known.
    pub cloud_pc_name: Option<&'a str>,
    /// Replaces the built-in text when set (already validated).
    pub custom_message: Option<&'a str>,
}

/// Refuses a custom message that is empty or longer than [`MAX_CUSTOM_MESSAGE_CHARS`].
pub fn validate_custom_message(message: &str) -> Result<(), Error> {
    let chars = message.chars().count();
    if chars > MAX_CUSTOM_MESSAGE_CHARS {
        return Err(Error::MessageTooLong {
            chars,
            max: MAX_CUSTOM_MESSAGE_CHARS,
        });
    }
    if message.trim().is_empty() {
        return Err(Error::InvalidInput {
            reason: "the custom mail message is empty".into(),
        });
    }
    Ok(())
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env
}

fn render(
    name: &'static str,
    source: &'static str,
    ctx: minijinja::Value,
) -> Result<String, Error> {
    let mut env = environment();
    env.add_template(name, source)
        .and_then(|()| env.get_template(name)?.render(ctx))
        .map_err(|source| Error::Template {
            template: name,
            source: Box::new(source),
        })
}

/// Renders the "Cloud PC ready" mail.
pub fn render_ready_mail(mail: &ReadyMail<'_>) -> Result<RenderedMail, Error> {
    if let Some(message) = mail.custom_message {
        validate_custom_message(message)?;
    }
    let custom_lines: Vec<&str> = mail
        .custom_message
        .map(|m| m.lines().collect())
        .unwrap_or_default();
    let html_body = render(
        "ready.html",
        READY_TEMPLATE,
        context! {
            name => mail.name,
            upn => mail.user_principal_name,
            cloud_pc_name => mail.cloud_pc_name,
            custom_lines => custom_lines,
        },
    )?;
    Ok(RenderedMail {
        subject: READY_SUBJECT.to_owned(),
        html_body,
    })
}

/// The ticket's subject: `<customer id>-W365Lic '<license group>' out of licenses.`
/// (`out of licenses/seats.` for Frontline).
pub fn ticket_subject(ticket: &TicketDetails) -> String {
    let what = if ticket.seats {
        "licenses/seats"
    } else {
        "licenses"
    };
    format!(
        "{}-W365Lic '{}' out of {what}.",
        ticket.customer_id, ticket.license_name
    )
}

/// Renders the out-of-licenses ticket.
pub fn render_ticket(ticket: &TicketDetails) -> Result<RenderedMail, Error> {
    let html_body = render(
        "ticket.html",
        TICKET_TEMPLATE,
        context! {
            what => if ticket.seats { "licenses or seats" } else { "licenses" },
            customer_id => &ticket.customer_id,
            license_name => &ticket.license_name,
            sku => &ticket.sku_part_number,
            user => &ticket.user_principal_name,
            caller => &ticket.caller,
        },
    )?;
    Ok(RenderedMail {
        subject: ticket_subject(ticket),
        html_body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(seats: bool) -> TicketDetails {
        TicketDetails {
            customer_id: "Contoso".into(),
            license_name: "lic - <W365> & co".into(),
            sku_part_number: "CPC_E_2C_4GB_128GB".into(),
            caller: "Eve \"admin\"".into(),
            user_principal_name: "o'brien@contoso.com".into(),
            seats,
        }
    }

    #[test]
    fn ready_mail_escapes_every_value_and_links_to_windows365() {
        let mail = render_ready_mail(&ReadyMail {
            name: "<script>alert(1)</script>",
            user_principal_name: "o'brien@contoso.com",
            cloud_pc_name: Some("CPC & <b>"),
            custom_message: None,
        })
        .unwrap();
        assert_eq!(mail.subject, READY_SUBJECT);
        assert!(
            mail.html_body
                .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
        );
        assert!(!mail.html_body.contains("<script>"));
        assert!(mail.html_body.contains("CPC &amp; &lt;b&gt;"));
        assert!(mail.html_body.contains("o&#x27;brien@contoso.com"));
        assert!(
            mail.html_body
                .contains(&format!(r#"<a href="{WINDOWS365_URL}">"#))
        );
    }

    #[test]
    fn custom_message_replaces_the_text_escaped_line_by_line() {
        let mail = render_ready_mail(&ReadyMail {
            name: "Adele",
            user_principal_name: "adele@contoso.com",
            cloud_pc_name: None,
            custom_message: Some("Welcome <b>aboard</b>\nSee you"),
        })
        .unwrap();
        assert!(
            mail.html_body
                .contains("Welcome &lt;b&gt;aboard&lt;&#x2f;b&gt;<br>See you")
        );
        assert!(!mail.html_body.contains("is ready. Sign in"));
    }

    #[test]
    fn custom_message_limit_counts_characters_not_bytes() {
        let at_limit = "é".repeat(MAX_CUSTOM_MESSAGE_CHARS);
        validate_custom_message(&at_limit).unwrap();
        let over = "x".repeat(MAX_CUSTOM_MESSAGE_CHARS + 1);
        match validate_custom_message(&over) {
            Err(Error::MessageTooLong { chars, max }) => {
                assert_eq!((chars, max), (3001, 3000));
            }
            other => panic!("expected MessageTooLong, got {other:?}"),
        }
        assert!(validate_custom_message("  \n ").is_err());
    }

    #[test]
    fn reprovisioning_mail_escapes_and_says_what_happens() {
        let mail = render_reprovisioning_mail(&ReadyMail {
            name: "<b>Pat</b>",
            user_principal_name: "o'brien@contoso.com",
            cloud_pc_name: Some("CPC & co"),
            custom_message: None,
        })
        .unwrap();
        assert_eq!(mail.subject, REPROVISIONING_SUBJECT);
        assert!(mail.html_body.contains("&lt;b&gt;Pat"));
        assert!(mail.html_body.contains("CPC &amp; co"));
        assert!(mail.html_body.contains("being reprovisioned"));
        assert!(
            render_reprovisioning_mail(&ReadyMail {
                name: "x",
                user_principal_name: "x@y.z",
                cloud_pc_name: None,
                custom_message: Some(&"x".repeat(3001)),
            })
            .is_err()
        );
    }

    #[test]
    fn ticket_subject_and_escaped_body() {
        let t = ticket(false);
        assert_eq!(
            ticket_subject(&t),
            "Contoso-W365Lic 'lic - <W365> & co' out of licenses."
        );
        assert_eq!(
            ticket_subject(&ticket(true)),
            "Contoso-W365Lic 'lic - <W365> & co' out of licenses/seats."
        );
        let mail = render_ticket(&t).unwrap();
        assert!(mail.html_body.contains("lic - &lt;W365&gt; &amp; co"));
        assert!(mail.html_body.contains("CPC_E_2C_4GB_128GB"));
        assert!(mail.html_body.contains("Eve &quot;admin&quot;"));
        assert!(mail.html_body.contains("o&#x27;brien@contoso.com"));
    }
}
