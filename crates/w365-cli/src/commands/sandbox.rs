//! `w365 sandbox reset|show|outbox`: the local sandbox tenant.

use anyhow::Context as _;
use serde_json::json;
use w365_graph::models::{Group, User};
use w365_graph::odata::Query;
use w365_graph::{ApiVersion, GraphPath};

use crate::cli::{OutputFormat, SandboxCommand};
use crate::connect::{Sandbox, SandboxLock};
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::Settings;

pub async fn run(command: &SandboxCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let dir = Settings::sandbox_dir()?;
    match command {
        SandboxCommand::Token { role } => {
            crate::commands::serve::sandbox_token(&dir, role, printer).await
        }
        SandboxCommand::Reset { users } => {
            // Not while another command is using the sandbox (it would save its state back).
            let lock = tokio::task::spawn_blocking({
                let dir = dir.clone();
                move || SandboxLock::acquire(&dir)
            })
            .await
            .context("waiting for the sandbox lock failed")??;
            let state = Sandbox::state_file(&dir);
            let existed = state.exists();
            if let Some(n) = users
                && !(1..=MAX_GENERATED_USERS).contains(n)
            {
                return Err(w365_ops::Error::InvalidInput {
                    reason: format!("--users {n}: give between 1 and {MAX_GENERATED_USERS} users"),
                }
                .into());
            }
            if existed {
                std::fs::remove_file(&state)
                    .with_context(|| format!("could not delete {}", state.display()))?;
            }
            if let Some(n) = users {
                generate_users(&dir, *n).await?;
            }
            drop(lock);
            printer.json(&sandbox_doc(
                "sandbox reset",
                json!({"deleted": existed, "stateFile": state, "generatedUsers": users}),
            ));
            let seed = match users {
                Some(n) => format!(
                    "the contoso seed plus {n} generated users (user00001@contoso.com ... {}) and {n} more units of CPC_E_2C_4GB_128GB",
                    w365_sim::seed::SeedFile::generated_upn(*n)
                ),
                None => "the contoso seed".to_owned(),
            };
            printer.result(&if existed {
                format!(
                    "Sandbox reset: deleted {}. The next command starts from {seed}.",
                    state.display()
                )
            } else {
                format!("The sandbox was fresh: the next command starts from {seed}.")
            });
            Ok(ExitStatus::Success)
        }
        SandboxCommand::Outbox => {
            let sandbox = Sandbox::start(&dir).await?;
            let mails = sandbox.handle().outbox();
            sandbox.finish().await?;
            printer.json(&sandbox_doc("sandbox outbox", json!({ "mails": mails })));
            if mails.is_empty() {
                printer.result("The sandbox outbox is empty.");
            }
            for (i, mail) in mails.iter().enumerate() {
                printer.result(&print_mail(mail, &format!("#{}", i + 1)));
            }
            Ok(ExitStatus::Success)
        }
        SandboxCommand::Show => {
            let sandbox = Sandbox::start(&dir).await?;
            let shown = show(&sandbox, printer).await;
            sandbox.finish().await?;
            shown?;
            Ok(ExitStatus::Success)
        }
    }
}

async fn show(sandbox: &Sandbox, printer: &Printer) -> anyhow::Result<()> {
    let client = sandbox.client()?;
    let mut users: Vec<User> = client
        .users()
        .list(
            Query::new()
                .select(["id", "userPrincipalName", "displayName", "mail"])
                .top(999),
        )
        .collect_all()
        .await
        .context("could not list the users")?;
    let mut groups: Vec<Group> = client
        .list::<Group>(
            ApiVersion::V1,
            &GraphPath::new(["groups"]),
            &Query::new()
                .select(["id", "displayName", "assignedLicenses"])
                .top(999),
        )
        .collect_all()
        .await
        .context("could not list the groups")?;
    users.sort_by_key(|u| u.user_principal_name.to_lowercase());
    groups.sort_by_key(|g| g.display_name.to_lowercase());
    let skus = client
        .subscribed_skus()
        .list()
        .await
        .context("could not list the SKUs")?;
    let pcs = client
        .cloud_pcs()
        .list(None)
        .await
        .context("could not list the Cloud PCs")?;

    if printer.format() == OutputFormat::Json {
        printer.json(&sandbox_doc(
            "sandbox show",
            json!({
                "stateFile": sandbox.state_file_path(),
                "tenantId": sandbox.handle().tenant_id(),
                "users": users,
                "groups": groups,
                "subscribedSkus": skus,
                "cloudPcs": pcs,
            }),
        ));
        return Ok(());
    }
    let mut out = vec![format!(
        "Sandbox tenant {}\nState: {}",
        sandbox.handle().tenant_id(),
        sandbox.state_file_path().display()
    )];
    let mut t = printer.table(&["user", "display name", "mail"]);
    for u in &users {
        t.add_row([
            u.user_principal_name.clone(),
            u.display_name.clone(),
            u.mail.clone().unwrap_or_else(|| "(no mailbox)".into()),
        ]);
    }
    out.push(format!("\nUsers ({})\n{t}", users.len()));
    let mut t = printer.table(&["group", "licenses"]);
    for g in &groups {
        let licenses = g
            .assigned_licenses
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|l| {
                skus.iter()
                    .find(|s| s.sku_id == l.sku_id)
                    .map(|s| s.sku_part_number.clone())
                    .unwrap_or_else(|| l.sku_id.to_string())
            })
            .collect::<Vec<_>>()
            .join(", ");
        t.add_row([g.display_name.clone(), licenses]);
    }
    out.push(format!("\nGroups ({})\n{t}", groups.len()));
    let mut t = printer.table(&["SKU", "in use", "enabled", "free"]);
    for s in &skus {
        t.add_row([
            s.sku_part_number.clone(),
            s.consumed_units.to_string(),
            s.prepaid_units.enabled.to_string(),
            s.available_units().to_string(),
        ]);
    }
    out.push(format!("\nLicenses\n{t}"));
    let mut t = printer.table(&["Cloud PC", "user", "status"]);
    for pc in &pcs {
        let report = w365_ops::execute::cloud_pc_report(pc);
        t.add_row([
            report.display_name.unwrap_or(report.id),
            pc.user_principal_name.clone().unwrap_or_default(),
            report.status.unwrap_or_default(),
        ]);
    }
    out.push(format!("\nCloud PCs ({})\n{t}", pcs.len()));
    printer.result(&out.join("\n"));
    Ok(())
}

/// The JSON document of a sandbox command: the envelope plus `body`'s fields.
fn sandbox_doc(command: &str, body: serde_json::Value) -> serde_json::Value {
    let mut doc = crate::output::envelope(command, Some("sandbox"), ExitStatus::Success, None);
    if let serde_json::Value::Object(body) = body {
        doc.extend(body);
    }
    serde_json::Value::Object(doc)
}

/// A mail from the simulator's outbox, readable in a terminal.
pub fn print_mail(mail: &w365_sim::SentMail, label: &str) -> String {
    let mut lines = vec![format!("── mail {label} ──")];
    lines.push(format!("From:    {}", mail.from));
    let to: Vec<&str> = mail.to.iter().map(|a| a.address.as_str()).collect();
    lines.push(format!("To:      {}", to.join(", ")));
    lines.push(format!("Subject: {}", mail.subject));
    lines.push(String::new());
    lines.push(html_to_text(&mail.body));
    lines.join("\n")
}

/// Turns a simple HTML mail body into text: tags dropped, paragraphs and breaks as new lines,
/// the common entities decoded, links kept as their text.
pub fn html_to_text(html: &str) -> String {
    // HTML whitespace (including line breaks in the source) is one space; tags make the lines.
    fn push_text(out: &mut String, text: &str) {
        for (i, word) in text.split_whitespace().enumerate() {
            let starts_with_space = text.starts_with(char::is_whitespace);
            if (i > 0 || starts_with_space) && !out.is_empty() && !out.ends_with(['\n', ' ']) {
                out.push(' ');
            }
            out.push_str(word);
        }
        if text.ends_with(char::is_whitespace) && !text.trim().is_empty() {
            out.push(' ');
        }
    }
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        push_text(&mut out, &rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            push_text(&mut out, &rest[start..]);
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
        let closing = tag.starts_with('/');
        let name = tag
            .trim_start_matches('/')
            .split_whitespace()
            .next()
            .unwrap_or("");
        match (name, closing) {
            ("br", _) | ("tr", true) => out.push('\n'),
            ("p", true) => out.push_str("\n\n"),
            ("td", true) => out.push_str(": "),
            _ => {}
        }
        rest = &rest[start + end + 1..];
    }
    push_text(&mut out, rest);
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let lines: Vec<&str> = decoded
        .lines()
        .map(|l| l.trim().trim_end_matches(':').trim_end())
        .collect();
    let mut text = lines.join("\n");
    while text.contains("\n\n\n") {
        text = text.replace("\n\n\n", "\n\n");
    }
    text.trim().to_owned()
}

/// The most users `sandbox reset --users` generates.
const MAX_GENERATED_USERS: usize = 100_000;

/// Seeds the sandbox with contoso plus `n` generated users (licences scaled: `n` more units of
/// the default licence group's SKU) and saves it.
async fn generate_users(dir: &std::path::Path, n: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create the sandbox directory {}", dir.display()))?;
    let mut cfg = w365_sim::SimConfig::sandbox(Sandbox::state_file(dir));
    cfg.seed = w365_sim::Seed::ContosoWithUsers(n);
    cfg.port = 0;
    let handle = w365_sim::spawn(cfg)
        .await
        .context("could not start the sandbox simulator")?;
    let saved = handle.save().context("could not save the sandbox state");
    handle.shutdown().await;
    saved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_tables_become_one_line_per_row() {
        let text = html_to_text(
            "<p>Intro\n text.</p>\n<table>\n<tr><td>User</td><td>a@b.c</td></tr>\n<tr><td>SKU</td><td>X</td></tr>\n</table>",
        );
        assert_eq!(text, "Intro text.\n\nUser: a@b.c\nSKU: X");
    }

    #[test]
    fn html_mail_becomes_readable_text() {
        let text = html_to_text(
            "<html><body>\n<p>Hello O&#x27;Brien &amp; co,</p>\n<p>line one<br>line &lt;two&gt;</p>\n</body></html>",
        );
        assert_eq!(text, "Hello O'Brien & co,\n\nline one\nline <two>");
    }
}
