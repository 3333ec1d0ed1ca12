//! Operations declared once.
//!
//! Each operation (assign, unassign, reprovision, resize, the Cloud PC actions, the bulk ones, and
//! the provisioning and user settings policy changes of `w365 policy` / `w365 user-settings`) is an
//! [`OperationSpec`]: its name, a summary, the role it needs, whether it is destructive, and its
//! parameters ([`ParamSpec`]: kind, required, default, help, and which tenant-profile keys give it
//! a default or a list of allowed choices). Every entry path uses it: the CLI's flags are checked
//! against it (a test in w365-cli proves that every flag has a parameter and every parameter a
//! flag), the API's JSON Schema comes from [`json_schema`], the portal's form from the same
//! [`ParamSpec`]s, and the one [`validate`] function guards them all, on the server side as well
//! (AWX's survey spec: the answers are checked against the declaration, never trusted).
//!
//! Parameter names in the API are the camelCase forms of the CLI's flag names
//! (`--provisioning-group` → `provisioningGroup`); the user is `user`, the Cloud PC `cloudPc`.
//!
//! Precedence of a value: the one given > the tenant profile's default > the declared default.
//! Secrets ([`ParamKind::Secret`]) are redacted in [`ValidatedInput::redacted`] and Debug output.

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Waits;
use crate::assign::{
    AssignOptions, DEFAULT_LICENSE_GROUP, DEFAULT_PROVISIONING_GROUP,
    DEFAULT_PROVISIONING_GROUP_PREFIX, DEFAULT_USER_SETTINGS_GROUP,
    DEFAULT_USER_SETTINGS_GROUP_PREFIX,
};
use crate::cloud_pc::ActionOptions;
use crate::mail::MAX_CUSTOM_MESSAGE_CHARS;
use crate::plan::CloudPcAction;
use crate::policy::spec::ObjectKind;
use crate::profile::Profile;
use crate::reprovision::ReprovisionOptions;
use crate::resize::ResizeOptions;
use crate::unassign::{DEFAULT_LICENSE_GROUP_PREFIX, UnassignOptions};

/// What a redacted secret looks like in stored inputs, logs and pages.
pub const REDACTED: &str = "[redacted]";

/// The role an operator needs to run an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Sees everything, changes nothing.
    Reader,
    /// Runs the user operations.
    Helpdesk,
    /// Everything, policies included.
    Admin,
}

/// The kind of a parameter: how it is checked, which widget a form shows, its JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ParamKind {
    /// Free text (trimmed, never empty; `max_length` on the parameter bounds it).
    Text,
    /// true / false.
    Bool,
    /// A whole number in `min..=max`.
    Int { min: i64, max: i64 },
    /// One of these values (case-insensitive; stored as declared).
    Choice { choices: Vec<String> },
    /// A user principal name (`name@domain`).
    User,
    /// A group's display name.
    Group,
    /// A Cloud PC id, or the principal name of a user with exactly one Cloud PC.
    CloudPc,
    /// A secret: checked like text, never stored, logged or shown (redacted).
    Secret,
    /// A duration: `90s`, `15m`, `2h`, `1h30m` or whole seconds.
    Duration,
    /// A mail address.
    Email,
    /// The text of a bulk file (CSV with a header, or JSON lines), read as `--from FILE` reads
    /// it: a file that cannot be read, or has no valid row, is refused with its row numbers.
    BulkRows,
    /// One or more groups, each a display name or an object id (a JSON array of strings; a
    /// single string is one group): what a repeatable `--group` flag gives.
    Groups,
    /// The text of a policy file (TOML) describing an object of this kind (`provisioningPolicy`,
    /// `userSettings`), read as `--file FILE` reads it: a file that does not parse, or describes
    /// another kind, is refused with its line.
    PolicyFile { object: String },
}

impl ParamKind {
    /// Short name, for forms and messages.
    pub fn name(&self) -> &'static str {
        match self {
            ParamKind::Text => "text",
            ParamKind::Bool => "bool",
            ParamKind::Int { .. } => "int",
            ParamKind::Choice { .. } => "choice",
            ParamKind::User => "user",
            ParamKind::Group => "group",
            ParamKind::CloudPc => "cloudPc",
            ParamKind::Secret => "secret",
            ParamKind::Duration => "duration",
            ParamKind::Email => "email",
            ParamKind::BulkRows => "bulkRows",
            ParamKind::Groups => "groups",
            ParamKind::PolicyFile { .. } => "policyFile",
        }
    }
}

/// One parameter of an operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamSpec {
    /// API name (camelCase).
    pub name: String,
    /// The CLI's name: the long flag without `--` (kebab-case), or the positional argument's id.
    pub flag: String,
    /// A positional CLI argument rather than a `--flag`.
    pub positional: bool,
    pub kind: ParamKind,
    pub required: bool,
    /// The declared default (after the tenant profile's).
    pub default: Option<Value>,
    /// At most this many characters (text).
    pub max_length: Option<usize>,
    /// The `[tenants.NAME.assign]` key whose value is this parameter's default.
    pub profile_default: Option<String>,
    /// The `[tenants.NAME.assign.allowed]` key listing the values this parameter may take.
    pub profile_choices: Option<String>,
    pub help: String,
}

/// A CLI flag of an operation that is not an API parameter, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CliOnly {
    pub flag: String,
    pub reason: String,
}

/// A rule between parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "camelCase")]
pub enum Rule {
    /// When `when` is true (bool) or given (other kinds), `needs` must have a value (`why` says why).
    Requires {
        when: String,
        needs: String,
        why: String,
    },
    /// `a` and `b` must differ (case-insensitive; `why` says why).
    Differ { a: String, b: String, why: String },
}

/// One operation, declared once.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationSpec {
    /// `assign`, `unassign`, `reprovision`, `resize`, `cloudpc.reboot`, ...
    pub name: String,
    pub summary: String,
    pub role: Role,
    /// Loses work or data, or cuts a user off: the CLI asks first (or needs `--yes`).
    pub destructive: bool,
    /// The CLI command path (`["cloudpc", "reboot"]`).
    pub cli: Vec<String>,
    pub params: Vec<ParamSpec>,
    /// Flags the CLI has that are not parameters (terminal consent, reading a file, dry run...).
    pub cli_only: Vec<CliOnly>,
    pub rules: Vec<Rule>,
}

impl OperationSpec {
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The parameters of kind [`ParamKind::Secret`].
    pub fn secret_params(&self) -> impl Iterator<Item = &ParamSpec> {
        self.params.iter().filter(|p| p.kind == ParamKind::Secret)
    }
}

/// One problem with the values given: which parameter, what is wrong, what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub param: String,
    pub message: String,
    pub fix: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.param, self.message, self.fix)
    }
}

/// Joins problems into one message, one per line (for the CLI's error).
pub fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Inputs that passed [`validate`]: every parameter with a value (given, profile, or default).
/// Deliberately not `Serialize`: what is stored or shown is [`Self::redacted`].
#[derive(Clone, PartialEq)]
pub struct ValidatedInput {
    pub operation: String,
    pub values: Map<String, Value>,
    /// Names of the secret parameters (their values are redacted by [`Self::redacted`]).
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for ValidatedInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatedInput")
            .field("operation", &self.operation)
            .field("values", &self.redacted())
            .finish()
    }
}

impl ValidatedInput {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    pub fn bool(&self, name: &str) -> bool {
        self.get(name).and_then(Value::as_bool).unwrap_or(false)
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }

    pub fn duration(&self, name: &str) -> Option<Duration> {
        self.str(name).and_then(|t| parse_duration(t).ok())
    }

    /// The values with every secret replaced by [`REDACTED`]: what is stored, logged and shown.
    pub fn redacted(&self) -> Value {
        let mut values = self.values.clone();
        for name in &self.secrets {
            if let Some(v) = values.get_mut(name)
                && !v.is_null()
            {
                *v = Value::String(REDACTED.into());
            }
        }
        Value::Object(values)
    }
}

impl ValidatedInput {
    fn text(&self, name: &str) -> Option<String> {
        self.str(name).map(|s| s.trim().to_owned())
    }

    /// `assign`'s options (waits are the realistic ones; the caller sets them for its target).
    pub fn assign_options(&self, caller: impl Into<String>) -> AssignOptions {
        let mut o = AssignOptions::new(self.text("user").unwrap_or_default(), caller);
        let set = |target: &mut String, name: &str| {
            if let Some(v) = self.str(name) {
                *target = v.to_owned();
            }
        };
        set(&mut o.provisioning_group, "provisioningGroup");
        set(&mut o.user_settings_group, "userSettingsGroup");
        set(&mut o.license_group, "licenseGroup");
        set(&mut o.provisioning_group_prefix, "provisioningGroupPrefix");
        set(&mut o.user_settings_group_prefix, "userSettingsGroupPrefix");
        o.from_mailbox = self.text("fromMailbox");
        o.ticket_customer_id = self.text("ticketCustomerId");
        o.notify = self.bool("notify");
        o.ticket_when_out_of_licenses = self.bool("ticketWhenOutOfLicenses");
        o.ticket_queue = self.text("ticketQueue");
        o.custom_message = self.str("message").map(str::to_owned);
        self.apply_wait_timeout(&mut o.waits);
        o
    }

    /// Bounds the Cloud PC waits by `waitTimeout`, if given (call again after replacing waits).
    pub fn apply_wait_timeout(&self, waits: &mut Waits) {
        if let Some(timeout) = self.duration("waitTimeout") {
            waits.provisioning = waits.provisioning.with_timeout(timeout);
            let appears = waits.cloud_pc_appears.timeout.min(timeout);
            waits.cloud_pc_appears = waits.cloud_pc_appears.with_timeout(appears);
        }
    }

    /// `unassign`'s options.
    pub fn unassign_options(&self) -> UnassignOptions {
        let mut o = UnassignOptions::new(self.text("user").unwrap_or_default());
        let set = |target: &mut String, name: &str| {
            if let Some(v) = self.str(name) {
                *target = v.to_owned();
            }
        };
        set(&mut o.license_group, "licenseGroup");
        set(&mut o.license_group_prefix, "licenseGroupPrefix");
        set(&mut o.provisioning_group_prefix, "provisioningGroupPrefix");
        set(&mut o.user_settings_group_prefix, "userSettingsGroupPrefix");
        o.skip_grace_period = !self.bool("keepGracePeriod");
        o.keep_groups = self.bool("keepGroups");
        o
    }

    /// `reprovision`'s options.
    pub fn reprovision_options(&self) -> ReprovisionOptions {
        let mut o = ReprovisionOptions::new(self.text("user").unwrap_or_default());
        if let Some(v) = self.str("licenseGroup") {
            o.license_group = v.to_owned();
        }
        o.from_mailbox = self.text("fromMailbox");
        o.notify = self.bool("notify");
        o.custom_message = self.str("message").map(str::to_owned);
        o
    }

    /// `resize`'s options; the prefixes come from the profile (they are not parameters).
    pub fn resize_options(&self, profile: Option<&Profile>) -> ResizeOptions {
        let mut o = ResizeOptions::new(
            self.text("user").unwrap_or_default(),
            self.text("from").unwrap_or_default(),
            self.text("to").unwrap_or_default(),
        );
        if let Some(d) = profile.map(|p| &p.assign) {
            if let Some(p) = d.provisioning_group_prefix.clone() {
                o.provisioning_group_prefix = p;
            }
            if let Some(p) = d.user_settings_group_prefix.clone() {
                o.user_settings_group_prefix = p;
            }
        }
        o.from_mailbox = self.text("fromMailbox");
        o.notify = self.bool("notify");
        o
    }

    /// A Cloud PC action's options (`cloudpc.reboot`, ...); `None` for other operations.
    pub fn action_options(&self) -> Option<ActionOptions> {
        let action = match self.operation.strip_prefix("cloudpc.")? {
            "reboot" => CloudPcAction::Reboot,
            "rename" => CloudPcAction::Rename {
                display_name: self.text("name")?,
            },
            "restore" => CloudPcAction::Restore {
                snapshot_id: self.text("snapshot")?,
            },
            "troubleshoot" => CloudPcAction::Troubleshoot,
            "end-grace-period" => CloudPcAction::EndGracePeriod,
            "power-on" => CloudPcAction::PowerOn,
            "power-off" => CloudPcAction::PowerOff,
            _ => return None,
        };
        Some(ActionOptions {
            target: self.text("cloudPc")?,
            action,
            dry_run: false,
        })
    }

    /// The user (UPN) or Cloud PC the operation acts on, for job filters.
    /// For a policy operation: the policy (by name or id), or the name of the one created.
    pub fn target(&self) -> Option<String> {
        self.text("user")
            .or_else(|| self.text("cloudPc"))
            .or_else(|| self.text("policy"))
            .or_else(|| {
                crate::policy::job::operation(&self.operation)
                    .and_then(|_| self.text("displayName"))
            })
    }
}

/// `provisioning-group` → `provisioningGroup`.
pub fn camel_case(flag: &str) -> String {
    let mut out = String::with_capacity(flag.len());
    let mut upper = false;
    for c in flag.chars() {
        if c == '-' || c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses `90s`, `15m`, `2h`, `1h30m` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("'{text}': unknown unit '{c}' (use s, m, h or d)")),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("'{text}': a number must come before '{c}'"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("'{text}': the last number has no unit"));
    }
    if total == 0 {
        return Err(format!("'{text}' is zero"));
    }
    Ok(Duration::from_secs(total))
}

// ----- declarations -------------------------------------------------------------------------

struct P(ParamSpec);

impl P {
    fn flag(flag: &str, kind: ParamKind, help: &str) -> Self {
        P(ParamSpec {
            name: camel_case(flag),
            flag: flag.into(),
            positional: false,
            kind,
            required: false,
            default: None,
            max_length: None,
            profile_default: None,
            profile_choices: None,
            help: help.into(),
        })
    }
    fn positional(name: &str, id: &str, kind: ParamKind, help: &str) -> Self {
        let mut p = Self::flag(id, kind, help);
        p.0.name = name.into();
        p.0.positional = true;
        p.0.required = true;
        p
    }
    fn required(mut self) -> Self {
        self.0.required = true;
        self
    }
    fn default(mut self, v: impl Into<Value>) -> Self {
        self.0.default = Some(v.into());
        self
    }
    fn max_length(mut self, n: usize) -> Self {
        self.0.max_length = Some(n);
        self
    }
    fn profile(mut self, key: &str) -> Self {
        self.0.profile_default = Some(key.into());
        self
    }
    fn choices_from_profile(mut self, key: &str) -> Self {
        self.0.profile_choices = Some(key.into());
        self
    }
}

fn cli_only(flag: &str, reason: &str) -> CliOnly {
    CliOnly {
        flag: flag.into(),
        reason: reason.into(),
    }
}

const DRY_RUN: &str =
    "plans without changing anything; the API previews a plan instead of queueing a job";
const YES: &str = "consent at the terminal; an API request is the consent";
const BULK_RESULTS: &str = "bulk input: where the per-row results are written";
const BULK_JOURNAL: &str = "bulk input: the resume journal of an inline run";
const BULK_STRICT: &str = "bulk input: refuse a file with any invalid row";

fn user() -> P {
    P::positional(
        "user",
        "user",
        ParamKind::User,
        "The user's principal name (sign-in name), e.g. megan.bowen@contoso.com",
    )
}

fn message() -> P {
    P::flag(
        "message",
        ParamKind::Text,
        "Custom text for the mail (at most 3000 characters)",
    )
    .max_length(MAX_CUSTOM_MESSAGE_CHARS)
}

fn from_mailbox() -> P {
    P::flag(
        "from-mailbox",
        ParamKind::Email,
        "Mailbox that sends the mails and tickets",
    )
    // No default outside the sandbox: a real tenant names its sender (the sandbox profile
    // carries the runbook's demo sender).
    .profile("from_mailbox")
}

// One argument per field of the declaration: the tables below read like the spec they are.
#[allow(clippy::too_many_arguments)]
fn op(
    name: &str,
    summary: &str,
    role: Role,
    destructive: bool,
    cli: &[&str],
    params: Vec<P>,
    cli_only: Vec<CliOnly>,
    rules: Vec<Rule>,
) -> OperationSpec {
    OperationSpec {
        name: name.into(),
        summary: summary.into(),
        role,
        destructive,
        cli: cli.iter().map(|s| (*s).to_owned()).collect(),
        params: params.into_iter().map(|p| p.0).collect(),
        cli_only,
        rules,
    }
}

fn declare() -> Vec<OperationSpec> {
    let mut ops = vec![
        op(
            "assign",
            "Provision a Windows 365 Cloud PC for a user (the \"Assign Windows365\" runbook)",
            Role::Helpdesk,
            false,
            &["assign"],
            vec![
                user(),
                P::flag(
                    "provisioning-group",
                    ParamKind::Group,
                    "Group assigned to the provisioning policy",
                )
                .default(DEFAULT_PROVISIONING_GROUP)
                .profile("provisioning_group")
                .choices_from_profile("provisioning_group"),
                P::flag(
                    "user-settings-group",
                    ParamKind::Group,
                    "Group assigned to the user-settings policy",
                )
                .default(DEFAULT_USER_SETTINGS_GROUP)
                .profile("user_settings_group")
                .choices_from_profile("user_settings_group"),
                P::flag(
                    "license-group",
                    ParamKind::Group,
                    "Group that carries the Windows 365 license",
                )
                .default(DEFAULT_LICENSE_GROUP)
                .profile("license_group")
                .choices_from_profile("license_group"),
                P::flag(
                    "provisioning-group-prefix",
                    ParamKind::Text,
                    "A user already in a group with this prefix keeps it",
                )
                .default(DEFAULT_PROVISIONING_GROUP_PREFIX)
                .profile("provisioning_group_prefix"),
                P::flag(
                    "user-settings-group-prefix",
                    ParamKind::Text,
                    "A user already in a group with this prefix keeps it",
                )
                .default(DEFAULT_USER_SETTINGS_GROUP_PREFIX)
                .profile("user_settings_group_prefix"),
                P::flag(
                    "notify",
                    ParamKind::Bool,
                    "Wait for the Cloud PC and mail the user when it is ready",
                )
                .default(false)
                .profile("notify"),
                message(),
                P::flag(
                    "ticket-when-out-of-licenses",
                    ParamKind::Bool,
                    "Send a ticket to the ticket queue when no license (or seat) is free",
                )
                .default(false)
                .profile("ticket_when_out_of_licenses"),
                P::flag("ticket-queue", ParamKind::Email, "Where tickets go")
                    .profile("ticket_queue"),
                from_mailbox(),
                P::flag(
                    "ticket-customer-id",
                    ParamKind::Text,
                    "Customer id at the start of the ticket subject",
                )
                .profile("ticket_customer_id"),
                P::flag(
                    "wait-timeout",
                    ParamKind::Duration,
                    "Give up waiting for the Cloud PC after this long, e.g. 90m or 2h (notify only)",
                )
                .profile("wait_timeout"),
            ],
            vec![
                cli_only("no-notify", "the negation of notify (notify = false)"),
                cli_only(
                    "no-ticket-when-out-of-licenses",
                    "the negation of ticketWhenOutOfLicenses",
                ),
                cli_only("message-file", "the CLI reads the file into message"),
                cli_only(
                    "caller",
                    "a job records the signed-in identity that asked, never a free-text name",
                ),
                cli_only("dry-run", DRY_RUN),
                cli_only("from", "bulk input: each row of the file becomes one assign"),
                cli_only("results", BULK_RESULTS),
                cli_only("journal", BULK_JOURNAL),
                cli_only("strict", BULK_STRICT),
            ],
            vec![Rule::Requires {
                when: "ticketWhenOutOfLicenses".into(),
                needs: "ticketQueue".into(),
                why: "a ticket needs a ticket queue to go to".into(),
            }],
        ),
        op(
            "unassign",
            "Take a Windows 365 Cloud PC away from a user (license group or Frontline policy)",
            Role::Helpdesk,
            true,
            &["unassign"],
            vec![
                user(),
                P::flag(
                    "license-group",
                    ParamKind::Group,
                    "The license group to take away, or the name of a Frontline (shared) provisioning policy",
                )
                .default(DEFAULT_LICENSE_GROUP)
                .profile("license_group"),
                P::flag(
                    "license-group-prefix",
                    ParamKind::Text,
                    "Other groups with this prefix count as another Windows 365 license",
                )
                .default(DEFAULT_LICENSE_GROUP_PREFIX),
                P::flag(
                    "provisioning-group-prefix",
                    ParamKind::Text,
                    "Prefix of the provisioning groups removed with the last license",
                )
                .default(DEFAULT_PROVISIONING_GROUP_PREFIX)
                .profile("provisioning_group_prefix"),
                P::flag(
                    "user-settings-group-prefix",
                    ParamKind::Text,
                    "Prefix of the user-settings groups removed with the last license",
                )
                .default(DEFAULT_USER_SETTINGS_GROUP_PREFIX)
                .profile("user_settings_group_prefix"),
                P::flag(
                    "keep-grace-period",
                    ParamKind::Bool,
                    "Leave the Cloud PC in its grace period instead of ending it (deleting it)",
                )
                .default(false),
                P::flag(
                    "keep-groups",
                    ParamKind::Bool,
                    "Never remove the provisioning and user-settings groups",
                )
                .default(false),
            ],
            vec![
                cli_only(
                    "skip-grace-period",
                    "the default (keepGracePeriod = false), spelled out",
                ),
                cli_only("yes", YES),
                cli_only("dry-run", DRY_RUN),
                cli_only("from", "bulk input: each row of the file becomes one unassign"),
                cli_only("results", BULK_RESULTS),
                cli_only("journal", BULK_JOURNAL),
                cli_only("strict", BULK_STRICT),
            ],
            vec![],
        ),
        op(
            "reprovision",
            "Reprovision (recreate) a user's Cloud PC of one license group",
            Role::Helpdesk,
            true,
            &["reprovision"],
            vec![
                user(),
                P::flag(
                    "license-group",
                    ParamKind::Group,
                    "The license group whose Cloud PC is reprovisioned (exactly one license)",
                )
                .default(DEFAULT_LICENSE_GROUP)
                .profile("license_group")
                .choices_from_profile("license_group"),
                P::flag(
                    "notify",
                    ParamKind::Bool,
                    "Mail the user that the Cloud PC is being reprovisioned",
                )
                .default(false),
                message(),
                from_mailbox(),
            ],
            vec![
                cli_only("message-file", "the CLI reads the file into message"),
                cli_only("yes", YES),
                cli_only("dry-run", DRY_RUN),
            ],
            vec![Rule::Requires {
                when: "message".into(),
                needs: "notify".into(),
                why: "the custom message is the text of the mail that notify sends".into(),
            }],
        ),
        op(
            "resize",
            "Resize a user's Cloud PC from one license group's size to another's",
            Role::Helpdesk,
            true,
            &["resize"],
            vec![
                user(),
                P::flag("from", ParamKind::Group, "The license group the user has now").required(),
                P::flag(
                    "to",
                    ParamKind::Group,
                    "The license group of the new size (needs a free license)",
                )
                .required()
                .choices_from_profile("license_group"),
                P::flag(
                    "notify",
                    ParamKind::Bool,
                    "Wait for the resized Cloud PC and mail the user when it is ready",
                )
                .default(false),
                from_mailbox(),
            ],
            vec![cli_only("yes", YES), cli_only("dry-run", DRY_RUN)],
            vec![Rule::Differ {
                a: "from".into(),
                b: "to".into(),
                why: "the same license group is the same size; nothing to resize".into(),
            }],
        ),
    ];
    for (action, sub, summary, role, extra) in [
        (
            CloudPcAction::Reboot,
            "reboot",
            "Restart the Cloud PC (the user's session ends)",
            Role::Helpdesk,
            None,
        ),
        (
            CloudPcAction::Rename {
                display_name: String::new(),
            },
            "rename",
            "Change the Cloud PC's display name (not its device name)",
            Role::Helpdesk,
            Some(
                P::flag(
                    "name",
                    ParamKind::Text,
                    "The new display name (1-64 characters)",
                )
                .required()
                .max_length(64),
            ),
        ),
        (
            CloudPcAction::Restore {
                snapshot_id: String::new(),
            },
            "restore",
            "Restore a snapshot (work since the snapshot is lost)",
            Role::Helpdesk,
            Some(
                P::flag(
                    "snapshot",
                    ParamKind::Text,
                    "The snapshot id (cloudPcSnapshotId)",
                )
                .required(),
            ),
        ),
        (
            CloudPcAction::Troubleshoot,
            "troubleshoot",
            "Run the Windows 365 health check",
            Role::Helpdesk,
            None,
        ),
        (
            CloudPcAction::EndGracePeriod,
            "end-grace-period",
            "End the grace period now: the Cloud PC is deprovisioned and deleted",
            Role::Admin,
            None,
        ),
        (
            CloudPcAction::PowerOn,
            "power-on",
            "Power on a Frontline Cloud PC",
            Role::Helpdesk,
            None,
        ),
        (
            CloudPcAction::PowerOff,
            "power-off",
            "Power off a Frontline Cloud PC (the user's session ends)",
            Role::Helpdesk,
            None,
        ),
    ] {
        let mut params = vec![P::positional(
            "cloudPc",
            "target",
            ParamKind::CloudPc,
            "Cloud PC id, or the principal name of a user with exactly one Cloud PC",
        )];
        params.extend(extra);
        ops.push(op(
            &format!("cloudpc.{sub}"),
            summary,
            role,
            action.is_destructive(),
            &["cloudpc", sub],
            params,
            {
                let mut only = vec![cli_only("yes", YES), cli_only("dry-run", DRY_RUN)];
                if sub == "restore" {
                    // The CLI picks the restore point and sends its id as `snapshot`.
                    only.push(cli_only(
                        "latest",
                        "the CLI picks the newest restore point (sent as snapshot)",
                    ));
                    only.push(cli_only(
                        "before",
                        "the CLI picks the newest restore point before TIME (sent as snapshot)",
                    ));
                }
                only
            },
            vec![],
        ));
    }
    let assign = bulk_of(
        &ops[0],
        "Provision Windows 365 Cloud PCs for every user of a file, as one job (w365 assign --from)",
    );
    let unassign = bulk_of(
        &ops[1],
        "Take the Windows 365 Cloud PCs of every user of a file away, as one job (w365 unassign --from)",
    );
    ops.extend([assign, unassign]);
    ops.extend(policy_operations());
    ops
}

/// The policy target of a policy operation: the positional NAME|ID (`policy` in the API; the
/// CLI's argument id is `policy` or `target`).
fn policy_target(id: &str, what: &str) -> P {
    P::positional(
        "policy",
        id,
        ParamKind::Text,
        &format!("The {what}'s display name or id"),
    )
}

fn policy_file(object: ObjectKind) -> P {
    P::flag(
        "file",
        ParamKind::PolicyFile {
            object: object.as_str().to_owned(),
        },
        &format!(
            "The text of a policy file (TOML, kind = \"{}\"); the other parameters override its values",
            object.as_str()
        ),
    )
}

fn choice(flag: &str, choices: &[&str], help: &str) -> P {
    P::flag(
        flag,
        ParamKind::Choice {
            choices: choices.iter().map(|c| (*c).to_owned()).collect(),
        },
        help,
    )
}

fn text(flag: &str, help: &str) -> P {
    P::flag(flag, ParamKind::Text, help)
}

fn flag_bool(flag: &str, help: &str) -> P {
    P::flag(flag, ParamKind::Bool, help)
}

/// `--group` (repeatable): the groups, by name or id.
fn groups(help: &str) -> P {
    P::flag("group", ParamKind::Groups, help)
}

/// The Frontline target of assignments (`--service-plan`, `--allotment-name`, `--allotment-count`).
fn frontline() -> Vec<P> {
    vec![
        text(
            "service-plan",
            "Frontline: the service plan id of the assignment",
        ),
        text("allotment-name", "Frontline: the allotment's name"),
        P::flag(
            "allotment-count",
            ParamKind::Int {
                min: 0,
                max: i64::from(crate::policy::validate::MAX_ALLOTMENT),
            },
            "Frontline: licenses allotted to the group",
        ),
    ]
}

/// A provisioning policy's properties (`w365 policy create|update` flags).
fn policy_fields() -> Vec<P> {
    use crate::policy::fields::{
        IMAGE_TYPES, JOIN_TYPES, MANAGED_TYPES, PROVISIONING_TYPES, USER_EXPERIENCE_TYPES,
    };
    vec![
        policy_file(ObjectKind::ProvisioningPolicy),
        text("display-name", "Display name (for update: the new name)"),
        text("description", "Description"),
        text(
            "image-id",
            "Gallery image {publisher}_{offer}_{sku}, or a custom image id",
        ),
        text("image-display-name", "The image's display name"),
        choice("image-type", IMAGE_TYPES, "gallery or custom"),
        choice(
            "provisioning-type",
            PROVISIONING_TYPES,
            "dedicated, shared, sharedByUser, sharedByEntraGroup or reserve (create only)",
        ),
        text(
            "naming-template",
            "Device name template, e.g. CPC-%USERNAME:5%-%RAND:5% (at most 15 characters generated)",
        ),
        choice("join-type", JOIN_TYPES, "azureADJoin or hybridAzureADJoin"),
        text(
            "region-name",
            "Azure region or \"automatic\" (Microsoft-hosted network)",
        ),
        text("region-group", "Region group, e.g. europeUnion, usEast"),
        text(
            "on-premises-connection-id",
            "Azure network connection id (required for hybridAzureADJoin)",
        ),
        flag_bool("single-sign-on", "Single sign-on"),
        flag_bool("local-admin", "Users are local administrators"),
        text("locale", "Windows locale, e.g. en-US"),
        choice(
            "managed-type",
            MANAGED_TYPES,
            "notManaged, premiumManaged, standardManaged or starterManaged",
        ),
        text("autopatch-group-id", "Windows Autopatch group id"),
        choice(
            "user-experience-type",
            USER_EXPERIENCE_TYPES,
            "cloudPc or cloudApp",
        ),
    ]
}

/// A user settings policy's properties (`w365 user-settings create|update` flags).
fn user_settings_fields() -> Vec<P> {
    vec![
        policy_file(ObjectKind::UserSettings),
        text("display-name", "Display name (for update: the new name)"),
        flag_bool("local-admin", "Users are local administrators"),
        flag_bool("reset", "Users may reset their Cloud PC"),
        choice(
            "restore-frequency",
            crate::policy::fields::RESTORE_FREQUENCIES,
            "Restore point frequency",
        ),
        flag_bool(
            "user-restore",
            "Users may restore their Cloud PC from a restore point",
        ),
        flag_bool(
            "restart-prompts-disabled",
            "Suppress restart prompts (beta)",
        ),
    ]
}

/// The policy operations: `w365 policy create|update|delete|assign|unassign|apply` and
/// `w365 user-settings create|update|delete|assign|unassign`, Admin only. Destructive where the
/// CLI may ask for consent: a delete, an unassignment (a provisioning policy's Cloud PCs go into
/// their grace period), an assign (with `replace` it unassigns the other groups, and it may lower
/// a Frontline allotment), and apply (existing Cloud PCs are moved or restarted).
fn policy_operations() -> Vec<OperationSpec> {
    let change = || vec![cli_only("dry-run", DRY_RUN), cli_only("yes", YES)];
    let mut ops = Vec::new();
    for (object, kind, what) in [
        (
            "policy",
            ObjectKind::ProvisioningPolicy,
            "provisioning policy",
        ),
        (
            "user-settings",
            ObjectKind::UserSettings,
            "user settings policy",
        ),
    ] {
        let policy = kind == ObjectKind::ProvisioningPolicy;
        let fields = || {
            if policy {
                policy_fields()
            } else {
                user_settings_fields()
            }
        };
        let name = |verb: &str| format!("{object}.{verb}");
        let cli = |verb: &'static str| [object, verb];
        // The CLI's positional NAME|ID is `policy` on update (and apply), `target` elsewhere;
        // user-settings update calls it `target`.
        let update_id = if policy { "policy" } else { "target" };
        let mut create = fields();
        create.push(groups(
            "Assign to these groups after creating (names or ids)",
        ));
        if policy {
            create.extend(frontline());
        }
        ops.push(op(
            &name("create"),
            &format!(
                "Create a {what} (validated before anything is sent), optionally assigned to groups"
            ),
            Role::Admin,
            false,
            &cli("create"),
            create,
            change(),
            vec![],
        ));
        let mut update = vec![policy_target(update_id, what)];
        update.extend(fields());
        ops.push(op(
            &name("update"),
            &format!("Change properties of a {what} (only the ones given; never its assignments)"),
            Role::Admin,
            false,
            &cli("update"),
            update,
            change(),
            vec![],
        ));
        ops.push(op(
            &name("delete"),
            &format!("Delete a {what} (refused while assigned unless unassignFirst)"),
            Role::Admin,
            true,
            &cli("delete"),
            vec![
                policy_target("target", what),
                flag_bool(
                    "unassign-first",
                    "Unassign every group first (Cloud PCs of a provisioning policy go into their grace period)",
                )
                .default(false),
            ],
            change(),
            vec![],
        ));
        let mut assign = vec![
            policy_target("target", what),
            groups("The groups (names or ids)").required(),
        ];
        assign.extend(frontline());
        assign.push(
            flag_bool(
                "replace",
                "The given groups become the complete set: every other group is unassigned",
            )
            .default(false),
        );
        ops.push(op(
            &name("assign"),
            &format!(
                "Assign a {what} to groups; the other assignments are kept (replace: exactly these)"
            ),
            Role::Admin,
            true,
            &cli("assign"),
            assign,
            change(),
            vec![],
        ));
        ops.push(op(
            &name("unassign"),
            &format!("Remove groups from a {what}'s assignments; the other assignments are kept"),
            Role::Admin,
            true,
            &cli("unassign"),
            vec![
                policy_target("target", what),
                groups("The groups (names or ids)").required(),
            ],
            change(),
            vec![],
        ));
        if policy {
            ops.push(op(
                &name("apply"),
                "Apply a provisioning policy's current region or single sign-on setting to its existing Cloud PCs (they are moved or restarted)",
                Role::Admin,
                true,
                &cli("apply"),
                vec![
                    policy_target("policy", what),
                    choice(
                        "setting",
                        crate::policy::job::SETTINGS,
                        "The setting to apply: region or single-sign-on",
                    )
                    .default("region"),
                ],
                change(),
                vec![],
            ));
        }
    }
    ops
}

/// `assign.bulk` and `unassign.bulk`: the rows of `w365 assign|unassign --from FILE` as one job;
/// the operation's flags are the defaults every row's columns may override.
fn bulk_of(single: &OperationSpec, summary: &str) -> OperationSpec {
    let mut params = vec![
        P::flag(
            "from",
            ParamKind::BulkRows,
            "The bulk file's text: CSV with a header (user, and the parameters a row may set for itself as columns) or JSON lines",
        )
        .required(),
        P::flag(
            "strict",
            ParamKind::Bool,
            "Refuse the whole file if any row is invalid",
        )
        .default(false),
    ];
    params.extend(
        single
            .params
            .iter()
            .filter(|p| p.name != "user")
            .map(|p| P(p.clone())),
    );
    let cli: Vec<&str> = single.cli.iter().map(String::as_str).collect();
    let mut bulk = op(
        &format!("{}.bulk", single.name),
        summary,
        single.role,
        single.destructive,
        &cli,
        params,
        single
            .cli_only
            .iter()
            .filter(|c| !matches!(c.flag.as_str(), "from" | "strict"))
            .cloned()
            .chain([cli_only("user", "bulk input: each row names its user")])
            .collect(),
        single.rules.clone(),
    );
    bulk.params[0].name = "rows".into();
    bulk
}

static OPERATIONS: LazyLock<Vec<OperationSpec>> = LazyLock::new(declare);

/// Every declared operation.
pub fn operations() -> &'static [OperationSpec] {
    &OPERATIONS
}

/// One operation by name.
pub fn operation(name: &str) -> Option<&'static OperationSpec> {
    operations().iter().find(|o| o.name == name)
}

// ----- validation ---------------------------------------------------------------------------

fn is_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks one value against its parameter; returns the normalized value or (message, fix).
fn check_value(p: &ParamSpec, value: &Value) -> Result<Value, (String, String)> {
    let flag = if p.positional {
        p.name.clone()
    } else {
        format!("--{}", p.flag)
    };
    let want_string = |what: &str| {
        (
            format!("must be {what}, got {}", json_type(value)),
            format!("give {flag} as {what}"),
        )
    };
    match &p.kind {
        ParamKind::Bool => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err((
                format!("must be true or false, got {}", json_type(value)),
                "use a JSON boolean".into(),
            )),
        },
        ParamKind::Int { min, max } => match value.as_i64() {
            Some(n) if (*min..=*max).contains(&n) => Ok(value.clone()),
            Some(n) => Err((
                format!("{n} is out of range"),
                format!("use a whole number from {min} to {max}"),
            )),
            None => Err((
                format!("must be a whole number, got {}", json_type(value)),
                format!("use a whole number from {min} to {max}"),
            )),
        },
        ParamKind::Groups => check_groups(&flag, value),
        kind => {
            let Some(text) = value.as_str() else {
                return Err(want_string(match kind {
                    ParamKind::Duration => "a duration such as 90m",
                    _ => "a string",
                }));
            };
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Err((
                    "is empty".into(),
                    format!("give a value for {flag}, or leave it out to use the default"),
                ));
            }
            if let Some(max) = p.max_length {
                let n = text.chars().count();
                if n > max {
                    return Err((
                        format!("has {n} characters; at most {max} are allowed"),
                        format!("shorten it to {max} characters or fewer"),
                    ));
                }
            }
            if trimmed.chars().any(char::is_control)
                && !matches!(
                    kind,
                    ParamKind::Text | ParamKind::BulkRows | ParamKind::PolicyFile { .. }
                )
            {
                return Err((
                    "contains control characters".into(),
                    "remove line breaks and tabs".into(),
                ));
            }
            match kind {
                ParamKind::User if !is_address(trimmed) => Err((
                    format!(
                        "'{}' is not a user principal name",
                        crate::policy::validate::clip(trimmed)
                    ),
                    "use the sign-in name, name@domain (e.g. megan.bowen@contoso.com)".into(),
                )),
                ParamKind::Email if !is_address(trimmed) => Err((
                    format!(
                        "'{}' is not a mail address",
                        crate::policy::validate::clip(trimmed)
                    ),
                    "use an address such as helpdesk@contoso.com".into(),
                )),
                ParamKind::Group if trimmed.chars().count() > 256 => Err((
                    "is longer than 256 characters (the longest group name Entra ID allows)".into(),
                    "give the group's exact display name".into(),
                )),
                ParamKind::Duration => match parse_duration(trimmed) {
                    Ok(_) => Ok(Value::String(trimmed.into())),
                    Err(e) => Err((e, "use a duration such as 90s, 15m, 2h or 1h30m".into())),
                },
                ParamKind::Choice { choices } => choices
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(trimmed))
                    .map(|c| Value::String(c.clone()))
                    .ok_or_else(|| {
                        (
                            format!(
                                "'{}' is not a valid choice",
                                crate::policy::validate::clip(trimmed)
                            ),
                            format!("use one of: {}", choices.join(", ")),
                        )
                    }),
                ParamKind::BulkRows => check_bulk_rows(text).map(|()| value.clone()),
                ParamKind::PolicyFile { object } => {
                    check_policy_file(text, object).map(|()| value.clone())
                }
                // Group names and message text are kept as given (a message may start with a line break).
                ParamKind::Text | ParamKind::Secret => Ok(value.clone()),
                _ => Ok(Value::String(trimmed.into())),
            }
        }
    }
}

/// Groups: a non-empty list of names or ids (a single string is one group), each trimmed, at
/// most 256 characters, without control characters.
fn check_groups(flag: &str, value: &Value) -> Result<Value, (String, String)> {
    let items: Vec<&Value> = match value {
        Value::Array(list) => list.iter().collect(),
        Value::String(_) => vec![value],
        other => {
            return Err((
                format!("must be a list of groups, got {}", json_type(other)),
                format!("give {flag} as an array of group names or ids, e.g. [\"Sales\"]"),
            ));
        }
    };
    if items.is_empty() {
        return Err((
            "is an empty list".into(),
            format!("give at least one group name or id for {flag}, or leave it out"),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let Some(text) = item.as_str().map(str::trim) else {
            return Err((
                format!("group {n} is {}, not a name or id", json_type(item)),
                "give each group as a string: its display name or object id".into(),
            ));
        };
        if text.is_empty() {
            return Err((
                format!("group {n} is empty"),
                "remove it, or give the group's display name or object id".into(),
            ));
        }
        if text.chars().count() > 256 {
            return Err((
                format!(
                    "group {n} is longer than 256 characters (the longest group name Entra ID allows)"
                ),
                "give the group's exact display name or its object id".into(),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err((
                format!("group {n} contains control characters"),
                "remove line breaks and tabs".into(),
            ));
        }
        out.push(Value::String(text.to_owned()));
    }
    Ok(Value::Array(out))
}

/// A policy file's text: it parses, and describes an object of kind `object`.
fn check_policy_file(text: &str, object: &str) -> Result<(), (String, String)> {
    use crate::policy::spec::Spec;
    match Spec::from_toml(text) {
        Ok(spec) if spec.kind().as_str() == object => Ok(()),
        Ok(spec) => Err((
            format!(
                "the file describes a {} (kind = \"{}\"), not kind = \"{object}\"",
                spec.kind(),
                spec.kind().as_str()
            ),
            format!("give the text of a policy file with kind = \"{object}\""),
        )),
        Err(e) => Err((
            e.located("file"),
            "fix the policy file (the format is the one `w365 policy export` writes)".into(),
        )),
    }
}

/// A bulk file's text: readable, with at least one valid row (the invalid ones are reported with
/// the run, or refuse it under `strict`).
fn check_bulk_rows(text: &str) -> Result<(), (String, String)> {
    let parsed = crate::bulk::input::read_text(text, "rows").map_err(|e| {
        (
            e.to_string(),
            "give the file's text: CSV with a header naming a user column, or JSON lines".into(),
        )
    })?;
    if parsed.rows.is_empty() {
        let first = parsed.invalid.first().map_or_else(
            || "the file has no rows below the header".to_owned(),
            |i| format!("first: row {}: {}", i.row, i.problem),
        );
        return Err((
            format!(
                "no row names a valid user ({} invalid row(s); {first})",
                parsed.invalid.len()
            ),
            parsed.invalid.first().map_or_else(
                || "add one row per user below the header".to_owned(),
                |i| i.fix.clone(),
            ),
        ));
    }
    Ok(())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_set(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => true,
    }
}

/// Validates `values` against `spec`, applying the tenant profile's defaults and allowed choices.
/// Returns every problem at once, each naming the parameter, what is wrong and how to fix it.
pub fn validate(
    spec: &OperationSpec,
    values: &Map<String, Value>,
    profile: Option<&Profile>,
) -> Result<ValidatedInput, Vec<Problem>> {
    let mut problems = Vec::new();
    let known: Vec<&str> = spec.params.iter().map(|p| p.name.as_str()).collect();
    for key in values.keys() {
        if spec.param(key).is_none() {
            problems.push(Problem {
                param: key.clone(),
                message: format!("{} has no parameter '{key}'", spec.name),
                fix: format!("use only: {}", known.join(", ")),
            });
        }
    }
    let mut out = Map::new();
    for p in &spec.params {
        let given = values.get(&p.name).filter(|v| !v.is_null());
        let from_profile = || {
            let key = p.profile_default.as_deref()?;
            profile?.default_for(key)
        };
        let Some(value) = given
            .cloned()
            .or_else(from_profile)
            .or_else(|| p.default.clone())
        else {
            if p.required {
                problems.push(Problem {
                    param: p.name.clone(),
                    message: "is required".into(),
                    fix: if p.positional {
                        format!("give the {} ({})", p.name, p.help)
                    } else {
                        format!("give {} (--{}): {}", p.name, p.flag, p.help)
                    },
                });
            }
            continue;
        };
        let value = match check_value(p, &value) {
            Ok(v) => v,
            Err((message, fix)) => {
                let from = if given.is_some() {
                    ""
                } else {
                    " (the tenant profile's default)"
                };
                problems.push(Problem {
                    param: p.name.clone(),
                    message: format!("{message}{from}"),
                    fix,
                });
                continue;
            }
        };
        if let (Some(key), Some(profile), Some(text)) =
            (p.profile_choices.as_deref(), profile, value.as_str())
            && let Some(allowed) = profile.allowed_for(key)
            && !allowed.iter().any(|a| a.eq_ignore_ascii_case(text.trim()))
        {
            problems.push(Problem {
                param: p.name.clone(),
                message: format!(
                    "'{}' is not one of the profile's allowed choices: {}",
                    text.trim(),
                    allowed
                        .iter()
                        .map(|a| format!("'{a}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                fix: "pick one of the allowed values, or ask an admin to extend the profile's list"
                    .into(),
            });
            continue;
        }
        out.insert(p.name.clone(), value);
    }
    for rule in &spec.rules {
        match rule {
            Rule::Requires { when, needs, why } => {
                if is_set(out.get(when)) && !is_set(out.get(needs)) {
                    let flag = |n: &str| {
                        spec.param(n)
                            .map_or(n.to_owned(), |p| format!("--{}", p.flag))
                    };
                    problems.push(Problem {
                        param: needs.clone(),
                        message: format!("{when} needs {needs}: {why}"),
                        fix: format!(
                            "give {needs} ({}) or the tenant profile's default, or drop {when} ({})",
                            flag(needs),
                            flag(when)
                        ),
                    });
                }
            }
            Rule::Differ { a, b, why } => {
                if let (Some(x), Some(y)) = (
                    out.get(a).and_then(Value::as_str),
                    out.get(b).and_then(Value::as_str),
                ) && x.trim().eq_ignore_ascii_case(y.trim())
                {
                    problems.push(Problem {
                        param: b.clone(),
                        message: format!("{a} and {b} are the same ('{}'): {why}", y.trim()),
                        fix: format!("pick a {b} (--{b}) that differs from {a} (--{a})"),
                    });
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(ValidatedInput {
            operation: spec.name.clone(),
            values: out,
            secrets: spec.secret_params().map(|p| p.name.clone()).collect(),
        })
    } else {
        Err(problems)
    }
}

// ----- JSON Schema --------------------------------------------------------------------------

fn param_schema(p: &ParamSpec, profile: Option<&Profile>) -> Value {
    let mut s = match &p.kind {
        ParamKind::Text => json!({"type": "string", "minLength": 1}),
        ParamKind::Bool => json!({"type": "boolean"}),
        ParamKind::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        ParamKind::Choice { choices } => json!({"type": "string", "enum": choices}),
        ParamKind::User => {
            json!({"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$", "examples": ["megan.bowen@contoso.com"]})
        }
        ParamKind::Group => json!({"type": "string", "minLength": 1, "maxLength": 256}),
        ParamKind::CloudPc => json!({"type": "string", "minLength": 1}),
        ParamKind::Secret => {
            json!({"type": "string", "minLength": 1, "format": "password", "writeOnly": true})
        }
        ParamKind::Duration => json!({
            "type": "string",
            "pattern": "^\\s*([0-9]+|([0-9]+[smhd])+)\\s*$",
            "examples": ["90m", "2h", "1h30m"]
        }),
        ParamKind::Email => json!({"type": "string", "format": "email"}),
        ParamKind::BulkRows => json!({"type": "string", "minLength": 1}),
        ParamKind::Groups => json!({
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 256},
            "minItems": 1,
        }),
        ParamKind::PolicyFile { object } => json!({
            "type": "string",
            "minLength": 1,
            "contentMediaType": "application/toml",
            "x-w365-policy-kind": object,
        }),
    };
    let obj = s.as_object_mut().expect("a schema object");
    obj.insert("description".into(), p.help.clone().into());
    if let Some(max) = p.max_length {
        obj.insert("maxLength".into(), max.into());
    }
    let default = p
        .profile_default
        .as_deref()
        .and_then(|k| profile?.default_for(k))
        .filter(|v| check_value(p, v).is_ok())
        .or_else(|| p.default.clone());
    if let Some(default) = default {
        obj.insert("default".into(), default);
    }
    if let Some(allowed) = p
        .profile_choices
        .as_deref()
        .and_then(|k| profile?.allowed_for(k))
    {
        obj.insert("enum".into(), allowed.to_vec().into());
    }
    obj.insert("x-w365-kind".into(), p.kind.name().into());
    if !p.positional {
        obj.insert("x-w365-flag".into(), format!("--{}", p.flag).into());
    }
    s
}

/// The JSON Schema (2020-12) of an operation's input, as the API documents it.
pub fn json_schema(spec: &OperationSpec) -> Value {
    json_schema_for(spec, None)
}

/// The JSON Schema with a tenant profile applied: its defaults, and its allowed choices as enums.
pub fn json_schema_for(spec: &OperationSpec, profile: Option<&Profile>) -> Value {
    let properties: Map<String, Value> = spec
        .params
        .iter()
        .map(|p| (p.name.clone(), param_schema(p, profile)))
        .collect();
    let required: Vec<&str> = spec
        .params
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name.as_str())
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": spec.name,
        "description": spec.summary,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
        "x-w365-role": spec.role,
        "x-w365-destructive": spec.destructive,
    })
}

/// The parameter names a spec's CLI command must have (flag ids), plus its CLI-only flags: what
/// the w365-cli test compares with clap's definition.
pub fn cli_flags(spec: &OperationSpec) -> BTreeSet<String> {
    spec.params
        .iter()
        .map(|p| p.flag.clone())
        .chain(spec.cli_only.iter().map(|c| c.flag.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ConfigFile;

    fn values(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_bulk_assign_takes_the_file_text_and_refuses_it_with_row_numbers() {
        let spec = operation("assign.bulk").unwrap();
        assert_eq!(spec.role, Role::Helpdesk);
        let ok = validate(
            spec,
            &values(json!({"rows": "user\nmegan.bowen@contoso.com\nnot a user\n", "strict": true})),
            None,
        )
        .unwrap();
        assert!(ok.bool("strict"));
        assert_eq!(ok.str("licenseGroup"), Some(DEFAULT_LICENSE_GROUP));
        let problems =
            validate(spec, &values(json!({"rows": "user\nnot a user\n"})), None).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].param, "rows");
        assert!(problems[0].message.contains("row 2"), "{problems:?}");
        let problems =
            validate(spec, &values(json!({"rows": "name,colour\nx,y\n"})), None).unwrap_err();
        assert_eq!(problems[0].param, "rows", "{problems:?}");
        assert!(validate(spec, &values(json!({})), None).is_err());
    }

    #[test]
    fn declarations_are_consistent() {
        let mut names = BTreeSet::new();
        for spec in operations() {
            assert!(names.insert(spec.name.clone()), "duplicate {}", spec.name);
            let mut params = BTreeSet::new();
            for p in &spec.params {
                assert!(
                    params.insert(&p.name),
                    "{}: duplicate {}",
                    spec.name,
                    p.name
                );
                // A bulk file's text is a parameter of its own name; its flag names the file.
                if !p.positional && p.kind != ParamKind::BulkRows {
                    assert_eq!(p.name, camel_case(&p.flag), "{}: {}", spec.name, p.flag);
                }
                if let Some(d) = &p.default {
                    check_value(p, d).unwrap_or_else(|e| {
                        panic!("{}: the default of {} is invalid: {e:?}", spec.name, p.name)
                    });
                }
                assert!(!(p.required && p.default.is_some()), "{}", p.name);
            }
            for rule in &spec.rules {
                let (x, y) = match rule {
                    Rule::Requires { when, needs, .. } => (when, needs),
                    Rule::Differ { a, b, .. } => (a, b),
                };
                assert!(
                    spec.param(x).is_some() && spec.param(y).is_some(),
                    "{rule:?}"
                );
            }
        }
        assert_eq!(camel_case("provisioning-group"), "provisioningGroup");
        assert_eq!(
            operation("assign").unwrap().param("user").unwrap().kind,
            ParamKind::User
        );
        assert!(operation("cloudpc.reboot").unwrap().destructive);
        assert!(!operation("cloudpc.troubleshoot").unwrap().destructive);
        assert!(!operation("assign").unwrap().destructive);
    }

    #[test]
    fn defaults_fill_in_and_every_problem_is_reported_at_once() {
        let spec = operation("assign").unwrap();
        let ok = validate(spec, &values(json!({"user": "megan@contoso.com"})), None).unwrap();
        assert_eq!(ok.str("licenseGroup"), Some(DEFAULT_LICENSE_GROUP));
        assert!(!ok.bool("notify"));
        assert_eq!(ok.str("ticketQueue"), None);

        let problems = validate(
            spec,
            &values(json!({
                "user": "megan",
                "notify": "yes",
                "fromMailbox": "nobody",
                "waitTimeout": "5x",
                "message": "x".repeat(3001),
                "ticketWhenOutOfLicenses": true,
                "color": "blue",
            })),
            None,
        )
        .unwrap_err();
        let params: BTreeSet<&str> = problems.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(
            params,
            BTreeSet::from([
                "user",
                "notify",
                "fromMailbox",
                "waitTimeout",
                "message",
                "ticketQueue",
                "color"
            ]),
            "{problems:#?}"
        );
        assert!(problems.iter().all(|p| !p.fix.is_empty()));
        let missing = validate(spec, &Map::new(), None).unwrap_err();
        assert_eq!(missing[0].param, "user");
        assert_eq!(missing[0].message, "is required");
    }

    #[test]
    fn the_profile_gives_defaults_and_limits_choices() {
        let config = ConfigFile::parse(
            "[tenants.f.assign]\nlicense_group = \"lic - B\"\nnotify = true\nticket_queue = \"t@msp.example\"\n\
             [tenants.f.assign.allowed]\nlicense_group = [\"lic - A\", \"lic - B\"]\n",
        )
        .unwrap();
        let profile = &config.tenants["f"];
        let spec = operation("assign").unwrap();
        let input = validate(spec, &values(json!({"user": "u@f.com"})), Some(profile)).unwrap();
        assert_eq!(input.str("licenseGroup"), Some("lic - B"));
        assert!(input.bool("notify"));
        // given beats profile
        let input = validate(
            spec,
            &values(json!({"user": "u@f.com", "licenseGroup": "lic - a", "notify": false})),
            Some(profile),
        )
        .unwrap();
        assert_eq!(input.str("licenseGroup"), Some("lic - a"));
        assert!(!input.bool("notify"));
        let problems = validate(
            spec,
            &values(json!({"user": "u@f.com", "licenseGroup": "lic - C"})),
            Some(profile),
        )
        .unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("'lic - A', 'lic - B'"),
            "{problems:?}"
        );
        let schema = json_schema_for(spec, Some(profile));
        assert_eq!(schema["properties"]["licenseGroup"]["default"], "lic - B");
        assert_eq!(
            schema["properties"]["licenseGroup"]["enum"],
            json!(["lic - A", "lic - B"])
        );
    }

    #[test]
    fn schemas_list_every_parameter() {
        for spec in operations() {
            let schema = json_schema(spec);
            let props = schema["properties"].as_object().unwrap();
            assert_eq!(props.len(), spec.params.len(), "{}", spec.name);
            assert_eq!(schema["additionalProperties"], false);
            for p in spec.params.iter().filter(|p| p.required) {
                assert!(
                    schema["required"]
                        .as_array()
                        .unwrap()
                        .contains(&p.name.clone().into()),
                    "{}",
                    p.name
                );
            }
        }
        let schema = json_schema(operation("assign").unwrap());
        assert_eq!(schema["properties"]["notify"]["type"], "boolean");
        assert_eq!(schema["properties"]["message"]["maxLength"], 3000);
        assert_eq!(schema["x-w365-role"], "helpdesk");
    }

    #[test]
    fn rules_between_parameters() {
        let resize = operation("resize").unwrap();
        let problems = validate(
            resize,
            &values(json!({"user": "u@c.com", "from": "lic - A", "to": "LIC - a"})),
            None,
        )
        .unwrap_err();
        assert_eq!(problems[0].param, "to");
        let reprovision = operation("reprovision").unwrap();
        let problems = validate(
            reprovision,
            &values(json!({"user": "u@c.com", "message": "hi"})),
            None,
        )
        .unwrap_err();
        assert_eq!(problems[0].param, "notify");
    }

    #[test]
    fn other_kinds_and_secrets_are_checked_and_redacted() {
        let spec = OperationSpec {
            name: "demo".into(),
            summary: "kinds".into(),
            role: Role::Admin,
            destructive: false,
            cli: vec![],
            params: vec![
                P::flag("count", ParamKind::Int { min: 1, max: 10 }, "n").0,
                P::flag(
                    "size",
                    ParamKind::Choice {
                        choices: vec!["small".into(), "large".into()],
                    },
                    "s",
                )
                .0,
                P::flag("api-key", ParamKind::Secret, "k").required().0,
            ],
            cli_only: vec![],
            rules: vec![],
        };
        let problems = validate(
            &spec,
            &values(json!({"count": 11, "size": "huge", "apiKey": "hunter2"})),
            None,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| !p.to_string().contains("hunter2")));
        let input = validate(
            &spec,
            &values(json!({"count": 3, "size": "LARGE", "apiKey": "hunter2"})),
            None,
        )
        .unwrap();
        assert_eq!(input.str("size"), Some("large"));
        assert_eq!(input.int("count"), Some(3));
        assert_eq!(input.str("apiKey"), Some("hunter2"));
        assert_eq!(input.redacted()["apiKey"], REDACTED);
        assert!(!format!("{input:?}").contains("hunter2"));
        let schema = json_schema(&spec);
        assert_eq!(schema["properties"]["apiKey"]["writeOnly"], true);
        assert_eq!(schema["properties"]["count"]["maximum"], 10);
    }

    #[test]
    fn policy_operations_are_admin_only_and_take_groups_and_policy_files() {
        let policy_ops: Vec<&OperationSpec> = operations()
            .iter()
            .filter(|s| crate::policy::job::operation(&s.name).is_some())
            .collect();
        assert_eq!(policy_ops.len(), 11);
        for (name, destructive) in [
            ("policy.create", false),
            ("policy.update", false),
            ("policy.delete", true),
            ("policy.assign", true),
            ("policy.unassign", true),
            ("policy.apply", true),
            ("user-settings.create", false),
            ("user-settings.update", false),
            ("user-settings.delete", true),
            ("user-settings.assign", true),
            ("user-settings.unassign", true),
        ] {
            let spec = operation(name).unwrap_or_else(|| panic!("{name} is not declared"));
            assert_eq!(spec.role, Role::Admin, "{name}");
            assert_eq!(spec.destructive, destructive, "{name}");
        }
        let assign = operation("policy.assign").unwrap();
        let id = "0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8";
        let ok = validate(
            assign,
            &values(json!({"policy": "W365 Standard", "group": [" Sales ", id]})),
            None,
        )
        .unwrap();
        assert_eq!(ok.get("group"), Some(&json!(["Sales", id])));
        assert!(!ok.bool("replace"));
        assert_eq!(ok.target().as_deref(), Some("W365 Standard"));
        let one = validate(
            assign,
            &values(json!({"policy": "p", "group": "Sales"})),
            None,
        )
        .unwrap();
        assert_eq!(one.get("group"), Some(&json!(["Sales"])));
        let problems = validate(
            assign,
            &values(json!({"policy": "p", "group": [], "allotmentCount": 901})),
            None,
        )
        .unwrap_err();
        let params: BTreeSet<&str> = problems.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(
            params,
            BTreeSet::from(["group", "allotmentCount"]),
            "{problems:?}"
        );
        let problems = validate(
            assign,
            &values(json!({"policy": "p", "group": ["ok", 3]})),
            None,
        )
        .unwrap_err();
        assert!(problems[0].message.contains("group 2"), "{problems:?}");
        let missing = validate(assign, &values(json!({"group": ["g"]})), None).unwrap_err();
        assert_eq!(missing[0].param, "policy");

        let file =
            "kind = \"userSettings\"\ndisplay_name = \"US - Restore\"\nreset_enabled = true\n";
        let create = operation("user-settings.create").unwrap();
        let ok = validate(create, &values(json!({"file": file})), None).unwrap();
        assert_eq!(ok.str("file"), Some(file));
        let problems = validate(
            operation("policy.create").unwrap(),
            &values(json!({"file": file})),
            None,
        )
        .unwrap_err();
        assert_eq!(problems[0].param, "file");
        assert!(
            problems[0].message.contains("provisioningPolicy"),
            "{problems:?}"
        );
        let problems = validate(
            create,
            &values(json!({"file": "kind = \"userSettings\"\nreset_enabled = maybe\n"})),
            None,
        )
        .unwrap_err();
        assert_eq!(problems[0].param, "file");
        assert!(problems[0].message.starts_with("file:"), "{problems:?}");

        let apply = operation("policy.apply").unwrap();
        let ok = validate(
            apply,
            &values(json!({"policy": "p", "setting": "SINGLE-SIGN-ON"})),
            None,
        )
        .unwrap();
        assert_eq!(ok.str("setting"), Some("single-sign-on"));
        let schema = json_schema(assign);
        assert_eq!(schema["properties"]["group"]["type"], "array");
        assert_eq!(schema["x-w365-role"], "admin");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("5m3").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
