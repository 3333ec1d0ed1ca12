//! `w365 unassign <user>`.

use clap::Args;
use w365_ops::unassign::{UnassignOptions, UnassignReport};

use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::Settings;

use super::lifecycle::{Gate, conclude};
use super::summary;

/// `w365 unassign`: unset options come from the tenant profile's `[tenants.NAME.assign]` table
/// (license group, prefixes), then the runbook's defaults.
#[derive(Debug, Clone, Args)]
pub struct UnassignArgs {
    /// The user's principal name (or --from FILE)
    #[arg(value_name = "USER", default_value = "", hide_default_value = true)]
    pub user: String,

    /// Bulk: unassign every user of a CSV file (header with a `user` column; other columns
    /// override the flags per row: license-group, license-group-prefix,
    /// provisioning-group-prefix, user-settings-group-prefix) or of a JSON lines file (`.jsonl`)
    #[arg(long, value_name = "FILE")]
    pub from: Option<std::path::PathBuf>,

    /// Bulk: write one line per row (outcome, detail, error kind) to this file (CSV, or JSON lines
    /// when it ends in .jsonl)
    #[arg(long, value_name = "FILE", requires = "from")]
    pub results: Option<std::path::PathBuf>,

    /// Bulk: the journal that makes an interrupted run resumable [default: FILE.unassign.journal]
    #[arg(long, value_name = "FILE", requires = "from")]
    pub journal: Option<std::path::PathBuf>,

    /// Bulk: any invalid row stops the run before anything is changed
    #[arg(long, requires = "from")]
    pub strict: bool,

    /// The license group to take away (name or id), or a Frontline (shared) provisioning policy
    /// (name or id) [default: lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB]
    #[arg(long, env = "W365_LICENSE_GROUP", value_name = "NAME|ID")]
    pub license_group: Option<String>,

    /// Other groups with this prefix count as another Windows 365 license [default: "lic - Windows 365 Enterprise - "]
    #[arg(long, value_name = "PREFIX")]
    pub license_group_prefix: Option<String>,

    /// Prefix of the provisioning groups removed with the last license [default: "cfg - Windows 365 - Provisioning - "]
    #[arg(long, env = "W365_PROVISIONING_GROUP_PREFIX", value_name = "PREFIX")]
    pub provisioning_group_prefix: Option<String>,

    /// Prefix of the user-settings groups removed with the last license [default: "cfg - Windows 365 - User Settings - "]
    #[arg(long, env = "W365_USER_SETTINGS_GROUP_PREFIX", value_name = "PREFIX")]
    pub user_settings_group_prefix: Option<String>,

    /// Wait until the Cloud PC is in its grace period and end it: it is deleted (the default)
    #[arg(long, conflicts_with = "keep_grace_period")]
    pub skip_grace_period: bool,

    /// Leave the Cloud PC in its grace period (the user keeps it for the policy's grace period)
    #[arg(long)]
    pub keep_grace_period: bool,

    /// Never remove the provisioning and user-settings groups
    #[arg(long)]
    pub keep_groups: bool,

    /// Do not ask for confirmation (scripts): the license is taken away and, by default, the
    /// Cloud PC and its disk are deleted; without a terminal, unassign needs it
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Do all the reads and print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(
    settings: &Settings,
    args: &UnassignArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    if let Some(file) = &args.from {
        return super::bulk::run_unassign(settings, args, file, printer).await;
    }
    if args.user.trim().is_empty() {
        return Err(crate::settings::SettingsError::Usage(
            "w365 unassign needs a USER (e.g. megan.bowen@contoso.com) or --from FILE".into(),
        )
        .into());
    }
    let target = settings.target()?;
    let profile = target.profile().cloned().unwrap_or_default();
    // The declaration's check (the same the service applies to a job); every problem at once.
    crate::ops_spec::validate(
        "unassign",
        &crate::ops_spec::unassign_values(args),
        &profile,
    )?;
    let opts = options(args, &profile, &target);
    opts.validate()?;
    let conn = Connection::open(target).await?;
    let what = format!(
        "unassign {}: take away '{}'{}",
        opts.user,
        opts.license_group,
        if opts.skip_grace_period {
            " and end the grace period (the Cloud PC and its disk are deleted)"
        } else {
            " (the Cloud PC goes into its grace period)"
        }
    );
    let mut gate = Gate::new(printer, args.yes, what);
    let result = w365_ops::unassign::unassign_approved(&conn.client, &opts, printer, &mut |p| {
        gate.approve(p)
    })
    .await;
    conclude(
        "unassign",
        conn,
        result,
        gate.refusal,
        printer,
        summary::of::<UnassignReport>("unassign"),
    )
    .await
}

/// The options from the flags, the tenant profile and the defaults (not checked: the single
/// unassign checks them whole, `--from` row by row).
pub(crate) fn options(
    args: &UnassignArgs,
    profile: &crate::settings::Profile,
    target: &crate::settings::Target,
) -> UnassignOptions {
    let d = &profile.assign;
    let mut opts = UnassignOptions::new(args.user.trim());
    if let Some(g) = args
        .license_group
        .clone()
        .or_else(|| d.license_group.clone())
    {
        opts.license_group = g;
    }
    if let Some(p) = args.license_group_prefix.clone() {
        opts.license_group_prefix = p;
    }
    if let Some(p) = args
        .provisioning_group_prefix
        .clone()
        .or_else(|| d.provisioning_group_prefix.clone())
    {
        opts.provisioning_group_prefix = p;
    }
    if let Some(p) = args
        .user_settings_group_prefix
        .clone()
        .or_else(|| d.user_settings_group_prefix.clone())
    {
        opts.user_settings_group_prefix = p;
    }
    opts.skip_grace_period = !args.keep_grace_period;
    opts.keep_groups = args.keep_groups;
    opts.dry_run = args.dry_run;
    opts.waits = target.waits();
    opts
}
