//! The CLI side of the operations' one declaration ([`w365_ops::spec`]): the parsed flags become
//! the same JSON values the API receives, and go through the same `validate()`. The tests below
//! prove that every flag of each operation's command has a parameter, and every parameter a flag.

use serde_json::{Map, Value};
use w365_ops::profile::Profile;
use w365_ops::spec::{self, ValidatedInput};

use crate::cli::AssignArgs;
use crate::commands::cloudpc::ActionArgs;
use crate::commands::policy::{
    AssignArgs as PolicyAssignArgs, ChangeArgs, FrontlineArgs, PolicyCommand, PolicyFieldArgs,
    Setting,
};
use crate::commands::reprovision::ReprovisionArgs;
use crate::commands::resize::ResizeArgs;
use crate::commands::unassign::UnassignArgs;
use crate::commands::user_settings::{FieldArgs as UserSettingsFieldArgs, UserSettingsCommand};
use crate::settings::SettingsError;

/// Validates `values` against the declaration of `operation`; every problem in one refusal.
pub fn validate(
    operation: &str,
    values: &Map<String, Value>,
    profile: &Profile,
) -> Result<ValidatedInput, SettingsError> {
    let spec = spec::operation(operation).ok_or_else(|| {
        SettingsError::Usage(format!("no operation named '{operation}' is declared"))
    })?;
    spec::validate(spec, values, Some(profile)).map_err(|problems| {
        SettingsError::Refused(format!(
            "{} refused ({} problem{}):\n{}",
            operation,
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            spec::describe(&problems)
        ))
    })
}

struct Values(Map<String, Value>);

impl Values {
    fn empty() -> Self {
        Values(Map::new())
    }
    fn new(user: &str) -> Self {
        let mut m = Map::new();
        m.insert("user".into(), user.into());
        Values(m)
    }
    fn opt(mut self, name: &str, v: Option<impl Into<Value>>) -> Self {
        if let Some(v) = v {
            self.0.insert(name.into(), v.into());
        }
        self
    }
    /// A `--flag` / `--no-flag` pair: unset leaves the profile and default in charge.
    fn pair(self, name: &str, yes: bool, no: bool) -> Self {
        let v = if yes {
            Some(true)
        } else if no {
            Some(false)
        } else {
            None
        };
        self.opt(name, v)
    }
    /// A flag that is only ever switched on.
    fn on(self, name: &str, yes: bool) -> Self {
        self.opt(name, yes.then_some(true))
    }
}

/// `assign`'s flags as API values (the message file already read into `message`).
pub fn assign_values(args: &AssignArgs, message: Option<String>) -> Map<String, Value> {
    Values::new(&args.user)
        .opt("provisioningGroup", args.provisioning_group.clone())
        .opt("userSettingsGroup", args.user_settings_group.clone())
        .opt("licenseGroup", args.license_group.clone())
        .opt(
            "provisioningGroupPrefix",
            args.provisioning_group_prefix.clone(),
        )
        .opt(
            "userSettingsGroupPrefix",
            args.user_settings_group_prefix.clone(),
        )
        .pair("notify", args.notify, args.no_notify)
        .opt("message", message)
        .pair(
            "ticketWhenOutOfLicenses",
            args.ticket_when_out_of_licenses,
            args.no_ticket_when_out_of_licenses,
        )
        .opt("ticketQueue", args.ticket_queue.clone())
        .opt("fromMailbox", args.from_mailbox.clone())
        .opt("ticketCustomerId", args.ticket_customer_id.clone())
        .opt(
            "waitTimeout",
            args.wait_timeout.map(|d| format!("{}s", d.as_secs())),
        )
        .0
}

/// `unassign`'s flags as API values.
pub fn unassign_values(args: &UnassignArgs) -> Map<String, Value> {
    Values::new(&args.user)
        .opt("licenseGroup", args.license_group.clone())
        .opt("licenseGroupPrefix", args.license_group_prefix.clone())
        .opt(
            "provisioningGroupPrefix",
            args.provisioning_group_prefix.clone(),
        )
        .opt(
            "userSettingsGroupPrefix",
            args.user_settings_group_prefix.clone(),
        )
        .on("keepGracePeriod", args.keep_grace_period)
        .on("keepGroups", args.keep_groups)
        .0
}

/// `reprovision`'s flags as API values (the message file already read into `message`).
pub fn reprovision_values(args: &ReprovisionArgs, message: Option<String>) -> Map<String, Value> {
    Values::new(&args.user)
        .opt("licenseGroup", args.license_group.clone())
        .on("notify", args.notify)
        .opt("message", message)
        .opt("fromMailbox", args.from_mailbox.clone())
        .0
}

/// `resize`'s flags as API values.
pub fn resize_values(args: &ResizeArgs) -> Map<String, Value> {
    Values::new(&args.user)
        .opt("from", Some(args.from.clone()))
        .opt("to", Some(args.to.clone()))
        .on("notify", args.notify)
        .opt("fromMailbox", args.from_mailbox.clone())
        .0
}

/// A policy file (`--file`) as the API takes it: its text.
fn file_text(path: Option<&std::path::Path>) -> Result<Option<String>, SettingsError> {
    path.map(|p| {
        std::fs::read_to_string(p)
            .map_err(|e| SettingsError::Usage(format!("cannot read {}: {e}", p.display())))
    })
    .transpose()
}

impl Values {
    /// `--group` (repeatable) as a list; left out when not given.
    fn groups(self, groups: &[String]) -> Self {
        let list = (!groups.is_empty()).then(|| Value::from(groups.to_vec()));
        self.opt("group", list)
    }
    fn frontline(self, f: &FrontlineArgs) -> Self {
        self.opt("servicePlan", f.service_plan.clone())
            .opt("allotmentName", f.allotment_name.clone())
            .opt("allotmentCount", f.allotment_count)
    }
    fn policy_fields(self, f: &PolicyFieldArgs) -> Result<Self, SettingsError> {
        Ok(self
            .opt("file", file_text(f.file.as_deref())?)
            .opt("displayName", f.display_name.clone())
            .opt("description", f.description.clone())
            .opt("imageId", f.image_id.clone())
            .opt("imageDisplayName", f.image_display_name.clone())
            .opt("imageType", f.image_type.clone())
            .opt("provisioningType", f.provisioning_type.clone())
            .opt("namingTemplate", f.naming_template.clone())
            .opt("joinType", f.join_type.clone())
            .opt("regionName", f.region_name.clone())
            .opt("regionGroup", f.region_group.clone())
            .opt(
                "onPremisesConnectionId",
                f.on_premises_connection_id.clone(),
            )
            .opt("singleSignOn", f.single_sign_on)
            .opt("localAdmin", f.local_admin)
            .opt("locale", f.locale.clone())
            .opt("managedType", f.managed_type.clone())
            .opt("autopatchGroupId", f.autopatch_group_id.clone())
            .opt("userExperienceType", f.user_experience_type.clone()))
    }
    fn user_settings_fields(self, f: &UserSettingsFieldArgs) -> Result<Self, SettingsError> {
        Ok(self
            .opt("file", file_text(f.file.as_deref())?)
            .opt("displayName", f.display_name.clone())
            .opt("localAdmin", f.local_admin)
            .opt("reset", f.reset)
            .opt("restoreFrequency", f.restore_frequency.clone())
            .opt("userRestore", f.user_restore)
            .opt("restartPromptsDisabled", f.restart_prompts_disabled))
    }
    fn policy(self, name_or_id: &str) -> Self {
        self.opt("policy", Some(name_or_id))
    }
    fn assign(self, a: &PolicyAssignArgs) -> Self {
        self.policy(&a.target)
            .groups(&a.group)
            .frontline(&a.frontline)
            .on("replace", a.replace)
    }
}

/// A policy job: the operation, its parameters, and the dry-run and consent flags.
pub type PolicyJob = (&'static str, Map<String, Value>, ChangeArgs);

/// `w365 policy ...`'s flags as the API values of its operation (a policy file read into
/// `file`); `None` for the subcommands that are not operations (list, show, apply-config,
/// export, diff, sync).
pub fn policy_job(command: &PolicyCommand) -> Option<Result<PolicyJob, SettingsError>> {
    let v = Values::empty();
    let job = |op: &'static str, values: Result<Values, SettingsError>, change: ChangeArgs| {
        Some(values.map(|v| (op, v.0, change)))
    };
    match command {
        PolicyCommand::Create(a) => job(
            "policy.create",
            v.policy_fields(&a.fields)
                .map(|v| v.groups(&a.group).frontline(&a.frontline)),
            a.change,
        ),
        PolicyCommand::Update(a) => job(
            "policy.update",
            v.policy(&a.policy).policy_fields(&a.fields),
            a.change,
        ),
        PolicyCommand::Delete(a) => job(
            "policy.delete",
            Ok(v.policy(&a.target).on("unassignFirst", a.unassign_first)),
            a.change,
        ),
        PolicyCommand::Assign(a) => job("policy.assign", Ok(v.assign(a)), a.change),
        PolicyCommand::Unassign(a) => job(
            "policy.unassign",
            Ok(v.policy(&a.target).groups(&a.group)),
            a.change,
        ),
        PolicyCommand::Apply(a) => {
            let setting = match a.setting {
                Setting::Region => "region",
                Setting::SingleSignOn => "single-sign-on",
            };
            job(
                "policy.apply",
                Ok(v.policy(&a.policy).opt("setting", Some(setting))),
                a.change,
            )
        }
        PolicyCommand::List(_)
        | PolicyCommand::Show(_)
        | PolicyCommand::ApplyConfig(_)
        | PolicyCommand::Export(_)
        | PolicyCommand::Diff(_)
        | PolicyCommand::Sync(_) => None,
    }
}

/// `w365 user-settings ...`'s flags as the API values of its operation; `None` for list and show.
pub fn user_settings_job(
    command: &UserSettingsCommand,
) -> Option<Result<PolicyJob, SettingsError>> {
    let v = Values::empty();
    let job = |op: &'static str, values: Result<Values, SettingsError>, change: ChangeArgs| {
        Some(values.map(|v| (op, v.0, change)))
    };
    match command {
        UserSettingsCommand::Create(a) => job(
            "user-settings.create",
            v.user_settings_fields(&a.fields)
                .map(|v| v.groups(&a.group)),
            a.change,
        ),
        UserSettingsCommand::Update(a) => job(
            "user-settings.update",
            v.policy(&a.target).user_settings_fields(&a.fields),
            a.change,
        ),
        UserSettingsCommand::Delete(a) => job(
            "user-settings.delete",
            Ok(v.policy(&a.target).on("unassignFirst", a.unassign_first)),
            a.change,
        ),
        UserSettingsCommand::Assign(a) => job("user-settings.assign", Ok(v.assign(a)), a.change),
        UserSettingsCommand::Unassign(a) => job(
            "user-settings.unassign",
            Ok(v.policy(&a.target).groups(&a.group)),
            a.change,
        ),
        UserSettingsCommand::List(_) | UserSettingsCommand::Show(_) => None,
    }
}

/// A Cloud PC action's flags as API values (`extra`: rename's name, restore's snapshot).
pub fn action_values(args: &ActionArgs, extra: Option<(&str, &str)>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("cloudPc".into(), args.target.clone().into());
    if let Some((k, v)) = extra {
        m.insert(k.into(), v.into());
    }
    m
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::{CommandFactory, Parser};
    use serde_json::json;

    use super::*;
    use crate::cli::{Cli, Command};

    /// The ids clap knows a command's own arguments by: long flag names, positional ids.
    fn clap_flags(path: &[String]) -> BTreeSet<String> {
        let mut cmd = Cli::command();
        for name in path {
            cmd = cmd
                .find_subcommand(name)
                .unwrap_or_else(|| panic!("the CLI has no command {path:?}"))
                .clone();
        }
        cmd.get_arguments()
            .filter(|a| !a.is_global_set())
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .map(|a| {
                a.get_long()
                    .map_or_else(|| a.get_id().as_str().to_owned(), str::to_owned)
            })
            .collect()
    }

    #[test]
    fn every_flag_has_a_parameter_and_every_parameter_a_flag() {
        for op in spec::operations() {
            let clap = clap_flags(&op.cli);
            let declared = spec::cli_flags(op);
            assert_eq!(
                clap, declared,
                "{}: clap flags (left) and the declaration (right) disagree",
                op.name
            );
        }
        // and every CLI operation command is declared
        let declared: BTreeSet<Vec<String>> =
            spec::operations().iter().map(|o| o.cli.clone()).collect();
        for path in [
            vec!["assign"],
            vec!["unassign"],
            vec!["reprovision"],
            vec!["resize"],
            vec!["cloudpc", "reboot"],
            vec!["cloudpc", "rename"],
            vec!["cloudpc", "restore"],
            vec!["cloudpc", "troubleshoot"],
            vec!["cloudpc", "end-grace-period"],
            vec!["cloudpc", "power-on"],
            vec!["cloudpc", "power-off"],
            vec!["policy", "create"],
            vec!["policy", "update"],
            vec!["policy", "delete"],
            vec!["policy", "assign"],
            vec!["policy", "unassign"],
            vec!["policy", "apply"],
            vec!["user-settings", "create"],
            vec!["user-settings", "update"],
            vec!["user-settings", "delete"],
            vec!["user-settings", "assign"],
            vec!["user-settings", "unassign"],
        ] {
            let path: Vec<String> = path.into_iter().map(str::to_owned).collect();
            assert!(declared.contains(&path), "{path:?} is not declared");
        }
    }

    #[test]
    fn positional_arguments_are_the_required_parameters() {
        for op in spec::operations() {
            let mut cmd = Cli::command();
            for name in &op.cli {
                cmd = cmd.find_subcommand(name).unwrap().clone();
            }
            for p in &op.params {
                let arg = cmd
                    .get_arguments()
                    .find(|a| {
                        a.get_long() == Some(p.flag.as_str())
                            || (a.get_long().is_none() && a.get_id().as_str() == p.flag)
                    })
                    .unwrap();
                assert_eq!(arg.is_positional(), p.positional, "{}.{}", op.name, p.name);
            }
        }
    }

    #[test]
    fn policy_flags_become_the_parameters_of_their_operation() {
        let cli = Cli::try_parse_from([
            "w365",
            "policy",
            "assign",
            "cfg - Win11",
            "--group",
            "Engineering",
            "--group",
            "All Staff",
            "--replace",
            "--yes",
        ])
        .unwrap();
        let Command::Policy { command } = cli.command else {
            panic!()
        };
        let (op, values, change) = policy_job(&command).unwrap().unwrap();
        assert_eq!(op, "policy.assign");
        assert!(change.yes && !change.dry_run);
        assert_eq!(
            Value::Object(values.clone()),
            json!({"policy": "cfg - Win11", "group": ["Engineering", "All Staff"], "replace": true})
        );
        validate(op, &values, &Profile::default()).unwrap();

        let cli = Cli::try_parse_from([
            "w365",
            "user-settings",
            "create",
            "--display-name",
            "US",
            "--reset",
            "true",
            "--restore-frequency",
            "sixhours",
        ])
        .unwrap();
        let Command::UserSettings { command } = cli.command else {
            panic!()
        };
        let (op, values, _) = user_settings_job(&command).unwrap().unwrap();
        let input = validate(op, &values, &Profile::default()).unwrap();
        assert_eq!(input.str("restoreFrequency"), Some("sixHours"));
        assert!(input.bool("reset"));
        assert_eq!(input.get("group"), None);

        let cli = Cli::try_parse_from([
            "w365",
            "policy",
            "apply",
            "p",
            "--setting",
            "single-sign-on",
        ])
        .unwrap();
        let Command::Policy { command } = cli.command else {
            panic!()
        };
        let (op, values, _) = policy_job(&command).unwrap().unwrap();
        assert_eq!(
            validate(op, &values, &Profile::default())
                .unwrap()
                .str("setting"),
            Some("single-sign-on")
        );
        let cli = Cli::try_parse_from(["w365", "policy", "list"]).unwrap();
        let Command::Policy { command } = cli.command else {
            panic!()
        };
        assert!(policy_job(&command).is_none());
    }

    #[test]
    fn the_cli_values_pass_the_same_validation() {
        let cli = Cli::try_parse_from([
            "w365",
            "assign",
            "megan@contoso.com",
            "--license-group",
            "lic - X",
            "--no-notify",
            "--wait-timeout",
            "90m",
        ])
        .unwrap();
        let Command::Assign(args) = cli.command else {
            panic!()
        };
        let values = assign_values(&args, None);
        assert_eq!(
            Value::Object(values.clone()),
            json!({"user": "megan@contoso.com", "licenseGroup": "lic - X", "notify": false, "waitTimeout": "5400s"})
        );
        let input = validate("assign", &values, &Profile::default()).unwrap();
        assert_eq!(input.str("licenseGroup"), Some("lic - X"));

        let cli = Cli::try_parse_from(["w365", "assign", "megan", "--from-mailbox", "x"]).unwrap();
        let Command::Assign(args) = cli.command else {
            panic!()
        };
        let err = validate("assign", &assign_values(&args, None), &Profile::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("2 problems"), "{text}");
        assert!(
            text.contains("user:") && text.contains("fromMailbox:"),
            "{text}"
        );
    }
}
