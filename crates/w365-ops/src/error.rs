//! Domain errors of the operations.
//!
//! Each message describes only this layer ("permission denied to read the user"); the Graph error
//! underneath is the `#[source]`. [`Error::kind`] sorts errors into the classes the CLI turns into
//! exit codes, and [`Error::hint`] says what to do next.

use std::time::Duration;

use crate::policy::validate::clip;
use crate::wait::human_duration;

/// Result of an operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a domain error means, for exit codes and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Refused before any change: invalid or disallowed input.
    Validation,
    /// A user, group, policy or SKU does not exist.
    NotFound,
    /// A display name matches several objects.
    Ambiguous,
    /// No free license or Frontline seat.
    OutOfCapacity,
    /// The user already has what was asked.
    AlreadyAssigned,
    /// Windows 365 reported the provisioning as failed.
    ProvisioningFailed,
    /// A bounded wait ended; the work is still running.
    TimedOut,
    /// The app lacks a permission, or authentication failed.
    Permission,
    /// Graph kept answering 429/503/504 or could not be reached.
    Unavailable,
    /// Anything else.
    Unexpected,
}

/// A domain error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },

    #[error("the custom message has {chars} characters; at most {max} are allowed")]
    MessageTooLong { chars: usize, max: usize },

    #[error("user '{}' was not found", clip(upn))]
    UserNotFound { upn: String },

    #[error("no group is named '{}'", clip(name))]
    GroupNotFound { name: String },

    #[error("no {kind} has the id '{}'", clip(id))]
    ObjectNotFound { kind: &'static str, id: String },

    #[error("no {kind} has the name or id '{}'", clip(name))]
    PolicyNotFound { kind: &'static str, name: String },

    #[error("the {kind} name '{}' is ambiguous: {count} objects have it ({})", clip(name), ids.join(", "))]
    AmbiguousName {
        kind: &'static str,
        name: String,
        count: usize,
        ids: Vec<String>,
    },

    #[error("out of {what}: {detail}{}", ticket_note(ticket_sent_to.as_deref()))]
    OutOfLicenses {
        /// "licenses" or "licenses/seats".
        what: &'static str,
        detail: String,
        ticket_sent_to: Option<String>,
    },

    /// The user already holds what was asked; `held_by` says what and through which direct
    /// assignment or group (e.g. "CPC_E_2C_4GB_128GB through the group 'lic - ...' (Active)").
    #[error("{user} already has a Windows 365 license: {held_by}")]
    AlreadyAssigned { user: String, held_by: String },

    #[error("'{group}' is not a Windows 365 license group: it assigns no license")]
    LicenseGroupWithoutLicense { group: String },

    #[error(
        "'{group}' is not a Windows 365 license group: it assigns {} but no Windows 365 SKU",
        if skus.is_empty() { "no license this tenant has".to_owned() } else { skus.join(", ") }
    )]
    NotWindows365LicenseGroup { group: String, skus: Vec<String> },

    #[error("the sender mailbox '{from}' does not exist in this tenant")]
    SenderNotFound { from: String },

    #[error("the sender '{from}' has no mailbox (no mail address in Entra ID)")]
    SenderWithoutMailbox { from: String },

    #[error("{what} needs a sender mailbox, and none is set")]
    SenderNotSet { what: String },

    #[error(
        "the Frontline allotment is more than the plan can cover: {requested} license(s) requested for '{group}', {free} free in plan '{plan}' ({total} in total, {allotted_elsewhere} allotted to other groups)"
    )]
    AllotmentExceedsPlan {
        group: String,
        plan: String,
        requested: i64,
        free: i64,
        total: i64,
        allotted_elsewhere: i64,
    },

    #[error("the license group '{group}' assigns SKU {sku_id}, which this tenant does not have")]
    SkuNotInTenant { group: String, sku_id: String },

    #[error(
        "the Frontline provisioning policy '{policy}' has no assignment with both a group and a service plan"
    )]
    FrontlinePolicyWithoutAssignment { policy: String },

    #[error("the Frontline service plan {service_plan_id} was not found")]
    FrontlinePlanNotFound { service_plan_id: String },

    #[error(
        "license engine reports CountViolation for {sku}: another assignment took the last unit"
    )]
    LicenseCountViolation { sku: String },

    #[error("the license {sku} was not granted: state {state}, error {reason}")]
    LicenseNotGranted {
        sku: String,
        state: String,
        reason: String,
    },

    #[error("Cloud PC provisioning failed: {detail}")]
    ProvisioningFailed { cloud_pc_id: String, detail: String },

    #[error(
        "timed out after {} waiting for {what}; the work is still running",
        human_duration(*waited)
    )]
    TimedOut {
        what: String,
        waited: Duration,
        last_state: Option<String>,
    },

    #[error("permission denied to {action}: the app needs the application permission {permission}")]
    PermissionDenied {
        action: String,
        /// The application permission(s) the call needs.
        permission: &'static str,
        #[source]
        source: Box<w365_graph::Error>,
    },

    #[error("authentication failed")]
    AuthenticationFailed {
        #[source]
        source: Box<w365_graph::Error>,
    },

    #[error("Microsoft Graph is unavailable: could not {action}")]
    GraphUnavailable {
        action: String,
        #[source]
        source: Box<w365_graph::Error>,
    },

    #[error("Graph request failed: could not {action}")]
    Graph {
        action: String,
        #[source]
        source: Box<w365_graph::Error>,
    },

    #[error("could not render the mail template {template}")]
    Template {
        template: &'static str,
        #[source]
        source: Box<minijinja::Error>,
    },

    #[error("{user} has no Cloud PC {what}")]
    NoCloudPc { user: String, what: String },

    #[error(
        "the license group '{group}' carries {count} Windows 365 licenses; it must carry exactly one"
    )]
    LicenseGroupNotSingleLicense { group: String, count: usize },

    #[error("'{from}' and '{to}' are the same size ({sku}); nothing to resize")]
    SameSize {
        from: String,
        to: String,
        sku: String,
    },

    #[error("{user} is not a member of the license group '{group}'")]
    NotInLicenseGroup { user: String, group: String },

    #[error("cannot {action} the Cloud PC {cloud_pc}: it is {status}")]
    CloudPcNotReady {
        cloud_pc: String,
        status: String,
        action: String,
    },
    #[error("the {what} '{}' is in use by the provisioning policies {}", clip(name), policies.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(", "))]
    InUse {
        what: &'static str,
        name: String,
        policies: Vec<String>,
    },
}

fn ticket_note(to: Option<&str>) -> String {
    match to {
        Some(to) => format!(" (ticket sent to {to})"),
        None => String::new(),
    }
}

impl Error {
    /// The class of the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoCloudPc { .. } => ErrorKind::NotFound,
            Error::LicenseGroupNotSingleLicense { .. }
            | Error::SameSize { .. }
            | Error::NotInLicenseGroup { .. }
            | Error::CloudPcNotReady { .. }
            | Error::InUse { .. } => ErrorKind::Validation,
            Error::InvalidInput { .. } | Error::MessageTooLong { .. } => ErrorKind::Validation,
            Error::UserNotFound { .. }
            | Error::GroupNotFound { .. }
            | Error::ObjectNotFound { .. }
            | Error::PolicyNotFound { .. }
            | Error::SkuNotInTenant { .. }
            | Error::LicenseGroupWithoutLicense { .. }
            | Error::NotWindows365LicenseGroup { .. }
            | Error::SenderNotFound { .. }
            | Error::FrontlinePlanNotFound { .. } => ErrorKind::NotFound,
            Error::SenderWithoutMailbox { .. } | Error::SenderNotSet { .. } => {
                ErrorKind::Validation
            }
            Error::AllotmentExceedsPlan { .. } => ErrorKind::OutOfCapacity,
            Error::AmbiguousName { .. } => ErrorKind::Ambiguous,
            Error::OutOfLicenses { .. } | Error::LicenseCountViolation { .. } => {
                ErrorKind::OutOfCapacity
            }
            Error::AlreadyAssigned { .. } => ErrorKind::AlreadyAssigned,
            Error::ProvisioningFailed { .. } => ErrorKind::ProvisioningFailed,
            Error::TimedOut { .. } => ErrorKind::TimedOut,
            Error::PermissionDenied { .. } | Error::AuthenticationFailed { .. } => {
                ErrorKind::Permission
            }
            Error::GraphUnavailable { .. } => ErrorKind::Unavailable,
            Error::FrontlinePolicyWithoutAssignment { .. }
            | Error::LicenseNotGranted { .. }
            | Error::Graph { .. }
            | Error::Template { .. } => ErrorKind::Unexpected,
        }
    }

    /// What the admin can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::InUse { what, .. } => format!(
                "point those provisioning policies at another {what} first (`w365 policy update`), then delete; nothing was changed"
            ),
            Error::NoCloudPc { .. } => {
                "list the user's Cloud PCs with `w365 cloudpc list --user UPN`; nothing was changed"
                    .into()
            }
            Error::LicenseGroupNotSingleLicense { .. } => {
                "name a license group that carries exactly one Windows 365 license (members would get one Cloud PC per Windows 365 SKU); nothing was changed"
                    .into()
            }
            Error::SameSize { .. } => {
                "pick a --to license group with another Windows 365 size; nothing was changed".into()
            }
            Error::NotInLicenseGroup { .. } => {
                "check the user's license groups (--from must be the one they have); nothing was changed"
                    .into()
            }
            Error::CloudPcNotReady { .. } => {
                "wait until the Cloud PC's current operation has finished, then run the command again"
                    .into()
            }
            Error::MessageTooLong { max, .. } => {
                format!("shorten the message to {max} characters or fewer; nothing was changed")
            }
            Error::UserNotFound { .. } => {
                "check the user principal name (the sign-in name, e.g. megan.bowen@contoso.com)"
                    .into()
            }
            Error::GroupNotFound { .. } => {
                "check the group's display name (it must match exactly) or the tenant profile's defaults"
                    .into()
            }
            Error::AmbiguousName { kind, .. } if kind.ends_with("policy") => {
                "pass one of the ids instead of the name, or rename the duplicates".into()
            }
            Error::AmbiguousName { kind, .. } if *kind == "Cloud PC owner" => {
                "the user has several Cloud PCs: pass the Cloud PC id (one of those listed) instead of the user".into()
            }
            Error::AmbiguousName { kind, .. } if *kind == "group" => {
                "pass one of the group ids instead of the name (every group option takes a name or an id)".into()
            }
            Error::AmbiguousName { .. } => "pass one of the ids instead of the name".into(),
            Error::OutOfLicenses {
                ticket_sent_to: None,
                ..
            } => "buy or free a license, or pass --ticket-when-out-of-licenses to open a ticket"
                .into(),
            Error::OutOfLicenses { .. } => {
                "a ticket was sent; run the command again once a license is free".into()
            }
            Error::AlreadyAssigned { .. } => {
                "nothing to do; use the Cloud PC commands to manage the existing Cloud PC".into()
            }
            Error::LicenseGroupWithoutLicense { .. }
            | Error::NotWindows365LicenseGroup { .. }
            | Error::SkuNotInTenant { .. } => {
                "name a group that assigns a Windows 365 license your tenant owns (e.g. `lic - Windows 365 Enterprise - ...`), or assign one to this group; nothing was changed"
                    .into()
            }
            Error::SenderNotFound { .. } | Error::SenderWithoutMailbox { .. } => {
                "pass --from-mailbox (or set from_mailbox in the tenant profile) to a user or shared mailbox with an Exchange Online mailbox; nothing was changed"
                    .into()
            }
            Error::SenderNotSet { .. } => {
                "pass --from-mailbox ADDRESS or set from_mailbox in the tenant profile (the sandbox has a demo default, a real tenant none); nothing was changed"
                    .into()
            }
            Error::AllotmentExceedsPlan { .. } => {
                "lower the allotment count to at most the free licenses, lower another group's allotment, or buy more Frontline licenses; nothing was sent"
                    .into()
            }
            Error::ProvisioningFailed { .. } => {
                "check the status detail in the Windows 365 portal, fix the cause and reprovision the Cloud PC"
                    .into()
            }
            Error::TimedOut { .. } => {
                "the work is still running in the tenant; run the command again later to check, nothing needs undoing"
                    .into()
            }
            Error::PermissionDenied { permission, .. } => format!(
                "grant the application permission {permission} to the app registration and give admin consent"
            ),
            Error::AuthenticationFailed { .. } => {
                "check the tenant id, client id and the secret or certificate of the profile".into()
            }
            Error::GraphUnavailable { source, .. } if source.is_outcome_unknown() => {
                "the request may or may not have been carried out and was not sent twice; check the result in the tenant (for a mail: the sender's Sent Items or the recipient) before running the command again"
                    .into()
            }
            Error::GraphUnavailable { .. } => {
                "Microsoft Graph is throttling or unavailable; wait a few minutes and run the command again (it converges)"
                    .into()
            }
            _ => return None,
        })
    }

    /// Maps a Graph error met while trying to `action`, which needs `permission`.
    pub fn from_graph(source: w365_graph::Error, action: &str, permission: &'static str) -> Self {
        let auth = matches!(source, w365_graph::Error::Auth { .. });
        let denied = source.is_permission_denied();
        let transient = source.is_throttled()
            || matches!(source.status(), Some(429 | 500 | 502 | 503 | 504))
            || matches!(source, w365_graph::Error::Transport { .. })
            || source.is_outcome_unknown();
        let source = Box::new(source);
        if auth {
            Error::AuthenticationFailed { source }
        } else if denied {
            Error::PermissionDenied {
                action: action.to_owned(),
                permission,
                source,
            }
        } else if transient {
            Error::GraphUnavailable {
                action: action.to_owned(),
                source,
            }
        } else {
            Error::Graph {
                action: action.to_owned(),
                source,
            }
        }
    }
}

/// Attaches the action and the permission it needs to a Graph result.
pub(crate) trait GraphContext<T> {
    fn graph_ctx(self, action: impl FnOnce() -> String, permission: &'static str) -> Result<T>;
}

impl<T> GraphContext<T> for w365_graph::Result<T> {
    fn graph_ctx(self, action: impl FnOnce() -> String, permission: &'static str) -> Result<T> {
        self.map_err(|e| Error::from_graph(e, &action(), permission))
    }
}
