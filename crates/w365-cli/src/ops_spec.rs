//! The CLI side of the operations' one declaration ([`w365_ops::spec`]): the parsed flags become
//! the same JSON values the API receives, and go through the same `validate()`. The tests below
//! prove that every flag of each operation's command has a parameter, and every parameter a flag.

use serde_json::{Map, Value};
use w365_ops::profile::Profile;
use w365_ops::spec::{self, ValidatedInput};

use crate::cli::AssignArgs;
use crate::commands::cloudpc::ActionArgs;
use crate::commands::reprovision::ReprovisionArgs;
use crate::commands::resize::ResizeArgs;
use crate::commands::unassign::UnassignArgs;
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
