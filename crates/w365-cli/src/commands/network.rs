//! `w365 network list|show|create|update|delete|check`: Azure network connections (Graph v1.0
//! `onPremisesConnections`) with the per-check status of their latest health check run.
//! Application permissions: CloudPC.Read.All to read, CloudPC.ReadWrite.All to change;
//! `check` (Graph's runHealthChecks) accepts only a signed-in admin's delegated permission.

use clap::{Args, Subcommand, ValueEnum};
use secrecy::SecretString;
use serde::Serialize;
use w365_graph::models::{ConnectionType, NetworkConnection, NetworkConnectionInput};
use w365_ops::network::{self, Change};

use super::lifecycle::document;
use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::consent;
use crate::exit::ExitStatus;
use crate::output::{CsvRecord, Printer, human_time, to_csv};
use crate::settings::{Settings, SettingsError};

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List the Azure network connections with their health check status
    List,
    /// Show one connection and the status of each health check
    Show {
        #[arg(value_name = "NAME|ID")]
        target: String,
    },
    /// Create a connection (its health checks start at once); converges on re-runs
    Create(CreateArgs),
    /// Change properties (only the ones given); the health checks run again
    Update(UpdateArgs),
    /// Delete a connection (refused while a provisioning policy uses it; asks first)
    Delete {
        #[arg(value_name = "NAME|ID")]
        target: String,
        /// Resolve the connection and check it is unused; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Consent without asking (scripts)
        #[arg(long)]
        yes: bool,
    },
    /// Run the health checks again (Graph allows this only to a signed-in admin)
    Check {
        #[arg(value_name = "NAME|ID")]
        target: String,
        /// Resolve the connection; change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

/// How Cloud PCs on the network join Entra ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Join {
    /// Microsoft Entra join (azureADJoin)
    AzureAd,
    /// Microsoft Entra hybrid join (hybridAzureADJoin): needs the AD domain and a join account
    Hybrid,
}

#[derive(Debug, Args)]
pub struct NetworkFields {
    /// Join type
    #[arg(long, value_enum)]
    pub join: Option<Join>,
    /// The subnet Cloud PCs use: /subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}
    /// (the subscription and virtual network are taken from it)
    #[arg(long, value_name = "SUBNET_ID")]
    pub subnet_id: Option<String>,
    /// The resource group for the Cloud PCs' network interfaces (default: the virtual network's)
    #[arg(long, value_name = "RESOURCE_GROUP_ID")]
    pub resource_group_id: Option<String>,
    /// Hybrid join: the Active Directory domain (FQDN)
    #[arg(long, value_name = "FQDN")]
    pub ad_domain_name: Option<String>,
    /// Hybrid join: the account that joins computers, e.g. join@contoso.com
    #[arg(long, value_name = "UPN")]
    pub ad_domain_username: Option<String>,
    /// Hybrid join: the environment variable holding that account's password (never a flag)
    #[arg(long, value_name = "VAR")]
    pub ad_domain_password_env: Option<String>,
    /// Hybrid join: the organizational unit for computer objects (OU=...,DC=...)
    #[arg(long, value_name = "DN")]
    pub organizational_unit: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Display name
    #[arg(long, value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub fields: NetworkFields,
    /// Plan (reads only) and show what would be created; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[arg(value_name = "NAME|ID")]
    pub target: String,
    /// New display name
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub fields: NetworkFields,
    /// Show the changes; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Splits a subnet id into (subscription id, virtual network id, resource group id).
fn from_subnet(subnet: &str) -> Result<(String, String, String), SettingsError> {
    let s: Vec<&str> = subnet.trim_start_matches('/').split('/').collect();
    let ok = subnet.starts_with('/')
        && s.len() == 10
        && s[0].eq_ignore_ascii_case("subscriptions")
        && s[2].eq_ignore_ascii_case("resourceGroups")
        && s[4].eq_ignore_ascii_case("providers")
        && s[5].eq_ignore_ascii_case("Microsoft.Network")
        && s[6].eq_ignore_ascii_case("virtualNetworks")
        && s[8].eq_ignore_ascii_case("subnets")
        && s.iter().all(|p| !p.trim().is_empty());
    if !ok {
        return Err(SettingsError::Usage(format!(
            "--subnet-id '{subnet}' is not a subnet id: use /subscriptions/{{id}}/resourceGroups/{{rg}}/providers/Microsoft.Network/virtualNetworks/{{vnet}}/subnets/{{subnet}}"
        )));
    }
    Ok((
        s[1].to_owned(),
        format!("/{}", s[..8].join("/")),
        format!("/{}", s[..4].join("/")),
    ))
}

fn input(name: Option<String>, f: &NetworkFields) -> Result<NetworkConnectionInput, SettingsError> {
    let mut input = NetworkConnectionInput {
        display_name: name,
        connection_type: f.join.map(|j| match j {
            Join::AzureAd => ConnectionType::AzureAdJoin,
            Join::Hybrid => ConnectionType::HybridAzureAdJoin,
        }),
        ad_domain_name: f.ad_domain_name.clone(),
        ad_domain_username: f.ad_domain_username.clone(),
        organizational_unit: f.organizational_unit.clone(),
        resource_group_id: f.resource_group_id.clone(),
        ..NetworkConnectionInput::default()
    };
    if let Some(subnet) = &f.subnet_id {
        let (subscription, vnet, rg) = from_subnet(subnet)?;
        input.subscription_id = Some(subscription);
        input.virtual_network_id = Some(vnet);
        input.subnet_id = Some(subnet.clone());
        if input.resource_group_id.is_none() {
            input.resource_group_id = Some(rg);
        }
    }
    if let Some(var) = &f.ad_domain_password_env {
        let value = std::env::var(var).map_err(|_| {
            SettingsError::Usage(format!(
                "--ad-domain-password-env {var}: the environment variable {var} is not set"
            ))
        })?;
        input.ad_domain_password = Some(SecretString::from(value));
    }
    Ok(input)
}

fn check_create(args: &CreateArgs, input: &NetworkConnectionInput) -> Result<(), SettingsError> {
    if args.fields.subnet_id.is_none() {
        return Err(SettingsError::Usage(
            "network create needs --subnet-id (the subnet Cloud PCs use)".into(),
        ));
    }
    // Graph's default join type is hybrid; w365 asks for it explicitly.
    match args.fields.join {
        None => Err(SettingsError::Usage(
            "network create needs --join azure-ad or --join hybrid".into(),
        )),
        Some(Join::Hybrid)
            if input.ad_domain_name.is_none()
                || input.ad_domain_username.is_none()
                || input.ad_domain_password.is_none() =>
        {
            Err(SettingsError::Usage(
                "--join hybrid needs --ad-domain-name, --ad-domain-username and --ad-domain-password-env".into(),
            ))
        }
        _ => Ok(()),
    }
}

/// One row per connection.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    id: String,
    display_name: String,
    connection_type: String,
    health_check_status: String,
    failed_checks: String,
    virtual_network_location: String,
    in_use: String,
    subnet_id: String,
}

fn row(c: &NetworkConnection) -> Row {
    let failed: Vec<String> = c
        .health_check_status_detail
        .iter()
        .flat_map(|d| d.health_checks.iter())
        .filter(|h| h.status.as_ref().is_some_and(|s| s.as_str() == "failed"))
        .map(|h| {
            format!(
                "{} ({})",
                h.display_name.as_deref().unwrap_or(""),
                h.error_type.as_deref().unwrap_or("")
            )
        })
        .collect();
    Row {
        id: c.id.clone(),
        display_name: c.display_name.clone().unwrap_or_default(),
        connection_type: c
            .connection_type
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        health_check_status: c
            .health_check_status
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        failed_checks: failed.join("; "),
        virtual_network_location: c.virtual_network_location.clone().unwrap_or_default(),
        in_use: c.in_use.map(|u| u.to_string()).unwrap_or_default(),
        subnet_id: c.subnet_id.clone().unwrap_or_default(),
    }
}

impl CsvRecord for Row {
    const HEADER: &'static [&'static str] = &[
        "id",
        "displayName",
        "connectionType",
        "healthCheckStatus",
        "failedChecks",
        "virtualNetworkLocation",
        "inUse",
        "subnetId",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.display_name.clone(),
            self.connection_type.clone(),
            self.health_check_status.clone(),
            self.failed_checks.clone(),
            self.virtual_network_location.clone(),
            self.in_use.clone(),
            self.subnet_id.clone(),
        ]
    }
}

/// The human description of one connection with its checks.
fn describe(c: &NetworkConnection, printer: &Printer) -> String {
    let r = row(c);
    let mut lines = vec![
        format!("{} ({})", r.display_name, r.id),
        format!("  join type:        {}", r.connection_type),
        format!("  health:           {}", r.health_check_status),
        format!("  in use:           {}", r.in_use),
        format!("  location:         {}", r.virtual_network_location),
        format!("  subnet:           {}", r.subnet_id),
    ];
    if let Some(d) = &c.ad_domain_name {
        lines.push(format!("  AD domain:        {d}"));
    }
    if let Some(detail) = &c.health_check_status_detail {
        lines.push(format!(
            "  last run:         {} .. {}",
            detail.start_date_time.map(human_time).unwrap_or_default(),
            detail
                .end_date_time
                .map(human_time)
                .unwrap_or_else(|| "(running)".into())
        ));
        let mut table = printer.table(&["Check", "Status", "Error", "Recommended action"]);
        for h in &detail.health_checks {
            table.add_row(vec![
                h.display_name.clone().unwrap_or_default(),
                h.status
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                h.error_type.clone().unwrap_or_default(),
                h.recommended_action.clone().unwrap_or_default(),
            ]);
        }
        lines.push(table.to_string());
    }
    lines.join("\n")
}

fn change_lines(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| format!("  {c}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a changing command did, for `-o json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeReport<'a> {
    dry_run: bool,
    changed: bool,
    changes: &'a [Change],
    connection: Option<&'a NetworkConnection>,
}

pub async fn run(
    settings: &Settings,
    command: &NetworkCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    // Flags are checked before anything is read.
    let prepared = match command {
        NetworkCommand::Create(a) => {
            let i = input(Some(a.name.clone()), &a.fields)?;
            check_create(a, &i)?;
            Some(i)
        }
        NetworkCommand::Update(a) => {
            let i = input(a.name.clone(), &a.fields)?;
            if i.is_empty() {
                return Err(SettingsError::Usage(
                    "network update needs at least one property to change (e.g. --name, --subnet-id)".into(),
                )
                .into());
            }
            Some(i)
        }
        _ => None,
    };
    let conn = Connection::open(settings.target()?).await?;
    let result = run_on(&conn, command, prepared.as_ref(), printer).await;
    conn.close().await?;
    result
}

async fn run_on(
    conn: &Connection,
    command: &NetworkCommand,
    prepared: Option<&NetworkConnectionInput>,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let client = &conn.client;
    let name = conn.target_name.as_str();
    let ok = ExitStatus::Success;
    match command {
        NetworkCommand::List => {
            let list = network::list(client).await?;
            match printer.format() {
                OutputFormat::Json => printer.json(&document(
                    "network list",
                    &serde_json::json!({"count": list.len(), "networkConnections": list}),
                    name,
                    ok,
                    None,
                )),
                OutputFormat::Csv => {
                    printer.csv(&to_csv(&list.iter().map(row).collect::<Vec<_>>())?);
                }
                OutputFormat::Human | OutputFormat::Wide => {
                    let mut table = printer.table(&[
                        "Name",
                        "Join",
                        "Health",
                        "Failed checks",
                        "Location",
                        "In use",
                        "Id",
                    ]);
                    for c in &list {
                        let r = row(c);
                        table.add_row(vec![
                            r.display_name,
                            r.connection_type,
                            r.health_check_status,
                            r.failed_checks,
                            r.virtual_network_location,
                            r.in_use,
                            r.id,
                        ]);
                    }
                    printer.result(&format!(
                        "{table}\n{} Azure network connection(s) on {name}",
                        list.len()
                    ));
                }
            }
        }
        NetworkCommand::Show { target } => {
            let c = network::resolve(client, target).await?;
            match printer.format() {
                OutputFormat::Json => printer.json(&document(
                    "network show",
                    &serde_json::json!({"networkConnection": c}),
                    name,
                    ok,
                    None,
                )),
                OutputFormat::Csv => printer.csv(&to_csv(&[row(&c)])?),
                _ => printer.result(&describe(&c, printer)),
            }
        }
        NetworkCommand::Create(args) => {
            let input = prepared.expect("create input prepared");
            let plan = network::plan_create(client, input).await?;
            let changed = !plan.changes.is_empty() && !args.dry_run;
            let connection = if args.dry_run {
                plan.existing.clone()
            } else {
                Some(network::create(client, &plan, input).await?)
            };
            let report = ChangeReport {
                dry_run: args.dry_run,
                changed,
                changes: &plan.changes,
                connection: connection.as_ref(),
            };
            let text = match (&plan.existing, plan.changes.is_empty(), args.dry_run) {
                (Some(e), true, _) => format!(
                    "Nothing to do: the Azure network connection {} already has these properties.",
                    network::connection_ref(e)
                ),
                (None, _, true) => format!(
                    "Dry run: would create the Azure network connection '{}' on {name}:\n{}\nNothing was changed.",
                    plan.display_name,
                    change_lines(&plan.changes)
                ),
                (Some(e), false, true) => format!(
                    "Dry run: the Azure network connection {} exists; would update:\n{}\nNothing was changed.",
                    network::connection_ref(e),
                    change_lines(&plan.changes)
                ),
                (_, _, false) => format!(
                    "{} the Azure network connection {} on {name}; health checks: {} (see `w365 network show`).",
                    if plan.existing.is_some() {
                        "Updated"
                    } else {
                        "Created"
                    },
                    connection
                        .as_ref()
                        .map(network::connection_ref)
                        .unwrap_or_default(),
                    connection
                        .as_ref()
                        .and_then(|c| c.health_check_status.as_ref())
                        .map_or("pending", |s| s.as_str()),
                ),
            };
            emit(printer, "network create", &report, name, &text);
        }
        NetworkCommand::Update(args) => {
            let input = prepared.expect("update input prepared");
            let current = network::resolve(client, &args.target).await?;
            let changes = network::changes(Some(&current), input);
            if !changes.is_empty() && !args.dry_run {
                network::update(client, &current, input).await?;
            }
            let report = ChangeReport {
                dry_run: args.dry_run,
                changed: !changes.is_empty() && !args.dry_run,
                changes: &changes,
                connection: Some(&current),
            };
            let who = network::connection_ref(&current);
            let text = if changes.is_empty() {
                format!("Nothing to do: {who} already has these properties.")
            } else if args.dry_run {
                format!(
                    "Dry run: would update {who}:\n{}\nNothing was changed.",
                    change_lines(&changes)
                )
            } else {
                format!(
                    "Updated {who} on {name}:\n{}\nThe health checks run again (see `w365 network show`).",
                    change_lines(&changes)
                )
            };
            emit(printer, "network update", &report, name, &text);
        }
        NetworkCommand::Delete {
            target,
            dry_run,
            yes,
        } => {
            let c = network::plan_delete(client, target).await?;
            let who = network::connection_ref(&c);
            let step = format!("  1. delete the Azure network connection {who}");
            if !dry_run {
                printer.finish();
                consent::require(
                    &format!("Delete the Azure network connection {who} on {name}"),
                    &step,
                    *yes,
                )?;
                network::delete(client, &c).await?;
            }
            let report = ChangeReport {
                dry_run: *dry_run,
                changed: !dry_run,
                changes: &[],
                connection: Some(&c),
            };
            let text = if *dry_run {
                format!(
                    "Dry run: no provisioning policy uses {who}. Plan:\n{step}\nNothing was changed."
                )
            } else {
                format!("Deleted the Azure network connection {who} on {name}.")
            };
            emit(printer, "network delete", &report, name, &text);
        }
        NetworkCommand::Check { target, dry_run } => {
            let c = network::resolve(client, target).await?;
            let who = network::connection_ref(&c);
            if !dry_run {
                network::run_health_checks(client, &c).await?;
            }
            let report = ChangeReport {
                dry_run: *dry_run,
                changed: !dry_run,
                changes: &[],
                connection: Some(&c),
            };
            let text = if *dry_run {
                format!("Dry run: would run the health checks of {who}. Nothing was changed.")
            } else {
                format!("Started the health checks of {who}; see `w365 network show`.")
            };
            emit(printer, "network check", &report, name, &text);
        }
    }
    Ok(ok)
}

/// Prints a change report: the JSON document, or the text for people.
pub(crate) fn emit(
    printer: &Printer,
    command: &str,
    report: &impl Serialize,
    target: &str,
    text: &str,
) {
    match printer.format() {
        OutputFormat::Json => printer.json(&document(
            command,
            report,
            target,
            ExitStatus::Success,
            None,
        )),
        _ => printer.result(text),
    }
}
