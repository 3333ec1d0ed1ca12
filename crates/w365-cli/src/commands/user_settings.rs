//! `w365 user-settings ...`: user settings policies (`cloudPcUserSetting`), with the same rules as
//! `w365 policy` (names or ids, plan first, --dry-run, confirmation, merge-preserving assign).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use w365_ops::policy::fields::UserSettingsFields;
use w365_ops::policy::ops::{self, ListFilter};
use w365_ops::policy::spec::{ObjectKind, Spec, UserSettingsSpec};

use super::policy::{self, AssignArgs, ChangeArgs, DeleteArgs, UnassignArgs};
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::settings::{Settings, SettingsError};

const U: ObjectKind = ObjectKind::UserSettings;

#[derive(Debug, Subcommand)]
pub enum UserSettingsCommand {
    /// List user settings policies: local admin, reset, restore points, groups
    List(ListArgs),
    /// Show every property and the assignments
    Show(ShowArgs),
    /// Create a user settings policy from flags or a policy file
    Create(CreateArgs),
    /// Change properties (only the ones given)
    ///
    /// With --file, the file's properties are applied; its display_name and assignments are
    /// ignored (rename with --display-name; change assignments with assign/unassign or sync).
    Update(UpdateArgs),
    /// Delete (refused while assigned unless --unassign-first)
    Delete(DeleteArgs),
    /// Assign to groups; the other assignments are kept (--replace: exactly these)
    Assign(AssignArgs),
    /// Remove groups from the assignments; the other assignments are kept
    Unassign(UnassignArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only names starting with this (case-insensitive)
    #[arg(long, value_name = "PREFIX")]
    pub name_starts_with: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[arg(value_name = "NAME|ID")]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct FieldArgs {
    /// A policy file (TOML, `kind = "userSettings"`); flags override its values
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Display name (for update: the new name)
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,
    /// Users are local administrators
    #[arg(long, value_name = "true|false")]
    pub local_admin: Option<bool>,
    /// Users may reset their Cloud PC
    #[arg(long, value_name = "true|false")]
    pub reset: Option<bool>,
    /// Restore point frequency: default, fourHours, sixHours, twelveHours, sixteenHours, twentyFourHours
    #[arg(long, value_name = "FREQUENCY")]
    pub restore_frequency: Option<String>,
    /// Users may restore their Cloud PC from a restore point
    #[arg(long, value_name = "true|false")]
    pub user_restore: Option<bool>,
    /// Suppress restart prompts (beta)
    #[arg(long, value_name = "true|false")]
    pub restart_prompts_disabled: Option<bool>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub fields: FieldArgs,
    /// Assign to this group after creating (repeatable; name or id)
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[arg(value_name = "NAME|ID")]
    pub target: String,
    #[command(flatten)]
    pub fields: FieldArgs,
    #[command(flatten)]
    pub change: ChangeArgs,
}

fn spec(fields: &FieldArgs) -> anyhow::Result<UserSettingsSpec> {
    let spec = match &fields.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                SettingsError::Usage(format!("cannot read {}: {e}", path.display()))
            })?;
            match Spec::from_toml(&text).map_err(|e| w365_ops::Error::InvalidInput {
                reason: e.located(&path.display().to_string()),
            })? {
                Spec::UserSettings(s) => s,
                Spec::Policy(_) => {
                    return Err(SettingsError::Usage(format!(
                        "{} describes a provisioning policy, not a user settings policy",
                        path.display()
                    ))
                    .into());
                }
            }
        }
        None => UserSettingsSpec::default(),
    };
    // The same fields, laid over the file the same way, as the API's user-settings jobs.
    let fields = UserSettingsFields {
        display_name: fields.display_name.clone(),
        local_admin: fields.local_admin,
        reset: fields.reset,
        restore_frequency: fields.restore_frequency.clone(),
        user_restore: fields.user_restore,
        restart_prompts_disabled: fields.restart_prompts_disabled,
    };
    fields
        .apply(spec)
        .map_err(|e| SettingsError::Usage(e.to_string()).into())
}

pub async fn run(
    settings: &Settings,
    command: &UserSettingsCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    match command {
        UserSettingsCommand::List(args) => {
            let filter = ListFilter {
                provisioning_type: None,
                name_starts_with: args.name_starts_with.clone(),
            };
            policy::list(settings, printer, "user-settings list", U, filter).await
        }
        UserSettingsCommand::Show(args) => {
            policy::show(settings, printer, "user-settings show", U, &args.target).await
        }
        UserSettingsCommand::Create(args) => {
            let mut s = spec(&args.fields)?;
            if !args.group.is_empty() {
                s.assignments =
                    policy::assignment_specs(&args.group, &policy::FrontlineArgs::default());
            }
            let s = Spec::UserSettings(s);
            policy::precheck_file(args.fields.file.as_deref(), &s)?;
            policy::change(
                settings,
                printer,
                "user-settings create",
                args.change,
                move |c| async move { ops::plan_create(&c, s).await },
            )
            .await
        }
        UserSettingsCommand::Update(args) => {
            let mut s = spec(&args.fields)?;
            if args.fields.display_name.is_none() {
                s.display_name.clear();
            }
            s.assignments.clear();
            let target = args.target.clone();
            policy::change(
                settings,
                printer,
                "user-settings update",
                args.change,
                move |c| async move { ops::plan_update(&c, &target, Spec::UserSettings(s)).await },
            )
            .await
        }
        UserSettingsCommand::Delete(args) => {
            policy::delete(settings, printer, "user-settings delete", U, args).await
        }
        UserSettingsCommand::Assign(args) => {
            policy::assign(settings, printer, "user-settings assign", U, args).await
        }
        UserSettingsCommand::Unassign(args) => {
            policy::unassign(settings, printer, "user-settings unassign", U, args).await
        }
    }
}
