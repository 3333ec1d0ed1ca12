//! `w365 org-settings show|update`: the tenant's Cloud PC organization settings (Graph v1.0
//! `organizationSettings`). Application permissions: CloudPC.Read.All to read,
//! CloudPC.ReadWrite.All to update. `update --dry-run` shows the difference and sends nothing.

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use w365_graph::models::{
    CloudPcOperatingSystem, CloudPcUserAccountType, OrgWindowsSettings, OrganizationSettings,
};
use w365_ops::network::Change;
use w365_ops::org_settings;

use super::lifecycle::document;
use super::network::emit;
use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::{CsvRecord, Printer, to_csv};
use crate::settings::{Settings, SettingsError};

#[derive(Debug, Subcommand)]
pub enum OrgSettingsCommand {
    /// Show the organization settings
    Show,
    /// Change settings (only the ones given); --dry-run shows the difference
    Update(UpdateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Os {
    Windows10,
    Windows11,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccountType {
    StandardUser,
    Administrator,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The Windows version new Cloud PCs get
    #[arg(long, value_enum)]
    pub os_version: Option<Os>,
    /// The users' account type on new Cloud PCs
    #[arg(long, value_enum)]
    pub user_account_type: Option<AccountType>,
    /// Enroll new Cloud PCs in Intune automatically (true|false)
    #[arg(long, value_name = "BOOL")]
    pub mem_auto_enroll: Option<bool>,
    /// Single sign-on for new Cloud PCs (true|false)
    #[arg(long, value_name = "BOOL")]
    pub single_sign_on: Option<bool>,
    /// Windows language and region, e.g. en-US, de-DE
    #[arg(long, value_name = "TAG")]
    pub language: Option<String>,
    /// Show the difference; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

fn wanted(args: &UpdateArgs) -> Result<OrganizationSettings, SettingsError> {
    if let Some(l) = &args.language {
        let mut parts = l.split('-');
        let ok = parts.next().is_some_and(|p| {
            (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic())
        }) && parts
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !ok {
            return Err(SettingsError::Usage(format!(
                "--language '{l}' is not a language tag: use e.g. en-US or de-DE"
            )));
        }
    }
    let w = OrganizationSettings {
        id: None,
        enable_mem_auto_enroll: args.mem_auto_enroll,
        enable_single_sign_on: args.single_sign_on,
        os_version: args.os_version.map(|o| match o {
            Os::Windows10 => CloudPcOperatingSystem::Windows10,
            Os::Windows11 => CloudPcOperatingSystem::Windows11,
        }),
        user_account_type: args.user_account_type.map(|a| match a {
            AccountType::StandardUser => CloudPcUserAccountType::StandardUser,
            AccountType::Administrator => CloudPcUserAccountType::Administrator,
        }),
        windows_settings: args.language.as_ref().map(|l| OrgWindowsSettings {
            language: Some(l.clone()),
        }),
    };
    if w == OrganizationSettings::default() {
        return Err(SettingsError::Usage(
            "org-settings update needs at least one setting (--os-version, --user-account-type, --mem-auto-enroll, --single-sign-on, --language)".into(),
        ));
    }
    Ok(w)
}

/// The settings as one row.
#[derive(Debug, Serialize)]
struct Row(Vec<(&'static str, String)>);

fn row(s: &OrganizationSettings) -> Row {
    let text = |v: Option<String>| v.unwrap_or_default();
    Row(vec![
        (
            "osVersion",
            text(s.os_version.as_ref().map(|o| o.as_str().to_owned())),
        ),
        (
            "userAccountType",
            text(s.user_account_type.as_ref().map(|o| o.as_str().to_owned())),
        ),
        (
            "enableMEMAutoEnroll",
            text(s.enable_mem_auto_enroll.map(|b| b.to_string())),
        ),
        (
            "enableSingleSignOn",
            text(s.enable_single_sign_on.map(|b| b.to_string())),
        ),
        (
            "windowsSettings.language",
            text(s.windows_settings.as_ref().and_then(|w| w.language.clone())),
        ),
    ])
}

impl CsvRecord for Row {
    const HEADER: &'static [&'static str] = &[
        "osVersion",
        "userAccountType",
        "enableMEMAutoEnroll",
        "enableSingleSignOn",
        "windowsSettings.language",
    ];
    fn cells(&self) -> Vec<String> {
        self.0.iter().map(|(_, v)| v.clone()).collect()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeReport<'a> {
    dry_run: bool,
    changed: bool,
    changes: &'a [Change],
}

pub async fn run(
    settings: &Settings,
    command: &OrgSettingsCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let desired = match command {
        OrgSettingsCommand::Update(args) => Some(wanted(args)?),
        OrgSettingsCommand::Show => None,
    };
    let conn = Connection::open(settings.target()?).await?;
    let result = run_on(&conn, command, desired.as_ref(), printer).await;
    conn.close().await?;
    result
}

async fn run_on(
    conn: &Connection,
    command: &OrgSettingsCommand,
    desired: Option<&OrganizationSettings>,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let client = &conn.client;
    let name = conn.target_name.as_str();
    match (command, desired) {
        (OrgSettingsCommand::Update(args), Some(desired)) => {
            let plan = org_settings::plan_update(client, desired).await?;
            if !args.dry_run {
                org_settings::update(client, &plan).await?;
            }
            let lines: Vec<String> = plan.changes.iter().map(|c| format!("  {c}")).collect();
            let text = if plan.changes.is_empty() {
                format!(
                    "Nothing to do: the organization settings on {name} already have these values."
                )
            } else if args.dry_run {
                format!(
                    "Dry run: would change the organization settings on {name}:\n{}\nNothing was changed.",
                    lines.join("\n")
                )
            } else {
                format!(
                    "Changed the organization settings on {name}:\n{}",
                    lines.join("\n")
                )
            };
            emit(
                printer,
                "org-settings update",
                &ChangeReport {
                    dry_run: args.dry_run,
                    changed: !args.dry_run && !plan.changes.is_empty(),
                    changes: &plan.changes,
                },
                name,
                &text,
            );
        }
        _ => {
            let s = org_settings::show(client).await?;
            match printer.format() {
                OutputFormat::Json => printer.json(&document(
                    "org-settings show",
                    &serde_json::json!({"organizationSettings": s}),
                    name,
                    ExitStatus::Success,
                    None,
                )),
                OutputFormat::Csv => printer.csv(&to_csv(&[row(&s)])?),
                _ => {
                    let lines: Vec<String> = row(&s)
                        .0
                        .into_iter()
                        .map(|(k, v)| format!("  {k:<26} {v}"))
                        .collect();
                    printer.result(&format!(
                        "Cloud PC organization settings on {name}:\n{}",
                        lines.join("\n")
                    ));
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}
