//! Plans: what an operation is going to change, as plain data.
//!
//! Planning only reads. It compares what the operation wants with what the tenant has and
//! returns a [`Plan`]: a list of verb-object [`Step`]s that is printable (for `--dry-run`),
//! serializable (for `--output json`) and testable without any I/O. [`crate::execute`] runs it.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user as the plan refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    /// Object id.
    pub id: String,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    /// SMTP address; `None` when the user has no mailbox.
    pub mail: Option<String>,
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.user_principal_name)
    }
}

/// A group as the plan refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    /// Object id.
    pub id: String,
    pub display_name: String,
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.display_name)
    }
}

/// A license (SKU) as the plan refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkuRef {
    pub sku_id: Uuid,
    pub sku_part_number: String,
}

impl fmt::Display for SkuRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sku_part_number)
    }
}

/// Why a user is added to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GroupRole {
    /// A group assigned to a (dedicated) provisioning policy.
    Provisioning,
    /// A group assigned to a user-settings policy.
    UserSettings,
    /// A group that carries a Windows 365 license (group-based licensing).
    License,
    /// The group of a Frontline (shared) provisioning policy's assignment.
    FrontlineAssignment,
}

impl fmt::Display for GroupRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupRole::Provisioning => "provisioning group",
            GroupRole::UserSettings => "user-settings group",
            GroupRole::License => "license group",
            GroupRole::FrontlineAssignment => "Frontline assignment group",
        })
    }
}

/// Which Cloud PC a wait follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "camelCase")]
pub enum CloudPcTarget {
    /// Dedicated: the user's Cloud PC whose `servicePlanId` is one of the license's service plans.
    ServicePlans {
        sku: SkuRef,
        #[serde(rename = "servicePlanIds")]
        service_plan_ids: Vec<String>,
    },
    /// Frontline: the user's Cloud PC whose `provisioningPolicyId` is this policy.
    ProvisioningPolicy {
        #[serde(rename = "policyId")]
        policy_id: String,
        #[serde(rename = "policyName")]
        policy_name: String,
    },
}

impl CloudPcTarget {
    /// Whether a Cloud PC is the one this target means.
    pub fn matches(&self, pc: &w365_graph::models::CloudPc) -> bool {
        match self {
            CloudPcTarget::ServicePlans {
                service_plan_ids, ..
            } => pc
                .service_plan_id
                .as_deref()
                .is_some_and(|p| service_plan_ids.iter().any(|s| s.eq_ignore_ascii_case(p))),
            CloudPcTarget::ProvisioningPolicy { policy_id, .. } => pc
                .provisioning_policy_id
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(policy_id)),
        }
    }
}

impl fmt::Display for CloudPcTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloudPcTarget::ServicePlans { sku, .. } => write!(f, "licensed by {sku}"),
            CloudPcTarget::ProvisioningPolicy { policy_name, .. } => {
                write!(f, "from provisioning policy '{policy_name}'")
            }
        }
    }
}

/// A Cloud PC as the plan refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudPcRef {
    pub id: String,
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
}

impl fmt::Display for CloudPcRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.display_name {
            Some(name) => write!(f, "'{name}' ({})", self.id),
            None => f.write_str(&self.id),
        }
    }
}

/// A Cloud PC action (reference §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CloudPcAction {
    Reboot,
    #[serde(rename_all = "camelCase")]
    Rename {
        display_name: String,
    },
    #[serde(rename_all = "camelCase")]
    Restore {
        snapshot_id: String,
    },
    Troubleshoot,
    EndGracePeriod,
    PowerOn,
    PowerOff,
    Reprovision,
    #[serde(rename_all = "camelCase")]
    Resize {
        target_service_plan_id: String,
        target_service_plan_name: String,
    },
}

impl CloudPcAction {
    /// Loses work or data, or cuts the user off: ask before doing it.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            CloudPcAction::Reboot
                | CloudPcAction::Restore { .. }
                | CloudPcAction::EndGracePeriod
                | CloudPcAction::PowerOff
                | CloudPcAction::Reprovision
                | CloudPcAction::Resize { .. }
        )
    }
}

impl fmt::Display for CloudPcAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloudPcAction::Reboot => f.write_str("reboot"),
            CloudPcAction::Rename { display_name } => write!(f, "rename to '{display_name}'"),
            CloudPcAction::Restore { snapshot_id } => write!(f, "restore snapshot {snapshot_id}"),
            CloudPcAction::Troubleshoot => f.write_str("troubleshoot"),
            CloudPcAction::EndGracePeriod => f.write_str("end the grace period of"),
            CloudPcAction::PowerOn => f.write_str("power on"),
            CloudPcAction::PowerOff => f.write_str("power off"),
            CloudPcAction::Reprovision => f.write_str("reprovision"),
            CloudPcAction::Resize {
                target_service_plan_name,
                ..
            } => write!(f, "resize to '{target_service_plan_name}'"),
        }
    }
}

/// What the out-of-licenses ticket says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketDetails {
    /// The customer id that prefixes the subject (e.g. `Contoso`).
    pub customer_id: String,
    /// The license group (dedicated) or the Frontline plan/allotment (shared) that is exhausted.
    pub license_name: String,
    /// SKU part number (dedicated) or Frontline service plan name (shared).
    pub sku_part_number: String,
    /// Who ran the command.
    pub caller: String,
    /// The user the license was for.
    pub user_principal_name: String,
    /// `true` for the Frontline path: the subject says "licenses/seats".
    pub seats: bool,
}

/// One change (or one bounded wait) an operation performs. Verb-object, like the runbook's steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Step {
    /// Add the user to a group (`POST /groups/{id}/members/$ref`); already a member counts as done.
    AddUserToGroup {
        user: UserRef,
        group: GroupRef,
        role: GroupRole,
    },
    /// Remove the user from a group (`DELETE /groups/{id}/members/{user}/$ref`); not a member counts as done.
    RemoveUserFromGroup {
        user: UserRef,
        group: GroupRef,
        role: GroupRole,
        reason: String,
    },
    /// Wait until the directory shows the user as a member of these groups (Entra ID replicates).
    WaitForGroupMemberships {
        user: UserRef,
        groups: Vec<GroupRef>,
    },
    /// Wait until group-based licensing reports the SKU as granted to the user.
    ConfirmLicenseAssigned {
        user: UserRef,
        #[serde(rename = "licenseGroup")]
        license_group: GroupRef,
        sku: SkuRef,
    },
    /// Wait for the user's Cloud PC to appear and finish provisioning.
    WaitForCloudPc {
        user: UserRef,
        target: CloudPcTarget,
    },
    /// Send the "your Cloud PC is ready" mail to the user (skipped when the user has no mailbox).
    SendReadyMail {
        from: String,
        user: UserRef,
        #[serde(rename = "customMessage")]
        custom_message: Option<String>,
    },
    /// Tell the user they have access to the shared (pooled) Cloud PCs of a Frontline policy in
    /// shared mode (`sharedByEntraGroup`): there is no personal Cloud PC to wait for. Skipped when
    /// the user has no mailbox.
    SendAccessGrantedMail {
        from: String,
        user: UserRef,
        #[serde(rename = "policyName")]
        policy_name: String,
        #[serde(rename = "customMessage")]
        custom_message: Option<String>,
    },
    /// Send the out-of-licenses ticket to the ticket queue.
    SendOutOfLicensesTicket {
        from: String,
        to: String,
        ticket: TicketDetails,
    },
    /// Run an action on a Cloud PC (`POST .../cloudPCs/{id}/{action}`).
    RunCloudPcAction {
        #[serde(rename = "cloudPc")]
        cloud_pc: CloudPcRef,
        #[serde(rename = "cloudPcAction")]
        action: CloudPcAction,
    },
    /// Wait (bounded) until the user's Cloud PC is in its grace period, then end it (destructive).
    /// A Cloud PC that is already gone or deprovisioning counts as done.
    EndGracePeriod {
        user: UserRef,
        target: CloudPcTarget,
    },
    /// Tell the user that their Cloud PC is being reprovisioned (skipped without a mailbox).
    SendReprovisioningMail {
        from: String,
        user: UserRef,
        #[serde(rename = "customMessage")]
        custom_message: Option<String>,
    },
}

impl Step {
    /// Whether the step changes anything in the tenant (or sends mail). Waits and checks do not.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Step::AddUserToGroup { .. }
                | Step::RemoveUserFromGroup { .. }
                | Step::SendReadyMail { .. }
                | Step::SendAccessGrantedMail { .. }
                | Step::SendOutOfLicensesTicket { .. }
                | Step::RunCloudPcAction { .. }
                | Step::EndGracePeriod { .. }
                | Step::SendReprovisioningMail { .. }
        )
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::AddUserToGroup { user, group, role } => {
                write!(f, "add {user} to the {role} {group}")
            }
            Step::RemoveUserFromGroup {
                user,
                group,
                role,
                reason,
            } => write!(f, "remove {user} from the {role} {group} ({reason})"),
            Step::WaitForGroupMemberships { groups, .. } => {
                let names: Vec<String> = groups.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "wait until the membership in {} is visible",
                    names.join(" and ")
                )
            }
            Step::ConfirmLicenseAssigned {
                user,
                license_group,
                sku,
            } => write!(
                f,
                "confirm that {user} was granted {sku} through {license_group}"
            ),
            Step::WaitForCloudPc { user, target } => {
                write!(
                    f,
                    "wait for the Cloud PC of {user} ({target}) to be provisioned"
                )
            }
            Step::SendReadyMail { from, user, .. } => match &user.mail {
                Some(mail) => write!(f, "send the 'Cloud PC ready' mail from {from} to {mail}"),
                None => write!(
                    f,
                    "send the 'Cloud PC ready' mail from {from} to {user} (if they have a mailbox)"
                ),
            },
            Step::SendAccessGrantedMail {
                from,
                user,
                policy_name,
                ..
            } => write!(
                f,
                "send the 'access to shared Cloud PCs' mail ('{policy_name}') from {from} to {}",
                user.mail.as_deref().unwrap_or(&user.user_principal_name)
            ),
            Step::SendOutOfLicensesTicket { from, to, .. } => {
                write!(f, "send the out-of-licenses ticket from {from} to {to}")
            }
            Step::RunCloudPcAction { cloud_pc, action } => {
                write!(f, "{action} the Cloud PC {cloud_pc}")
            }
            Step::EndGracePeriod { user, target } => write!(
                f,
                "wait until the Cloud PC of {user} ({target}) is in its grace period, then end it (deletes the Cloud PC)"
            ),
            Step::SendReprovisioningMail { from, user, .. } => match &user.mail {
                Some(mail) => write!(
                    f,
                    "send the 'Cloud PC is being reprovisioned' mail from {from} to {mail}"
                ),
                None => write!(
                    f,
                    "send the 'Cloud PC is being reprovisioned' mail from {from} to {user} (if they have a mailbox)"
                ),
            },
        }
    }
}

/// Asked once a plan is made and before any of it is carried out (never for a dry run or an
/// empty plan): `false` stops the operation with nothing changed. The CLI asks the operator for
/// consent here, so the plan that is shown is the plan that runs.
pub type Approval<'a> = &'a mut (dyn FnMut(&Plan) -> bool + Send);

/// A plan: the steps to run, in order. Serializes as a JSON array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Step> {
        self.steps.iter()
    }

    /// Number of steps that change something.
    pub fn writes(&self) -> usize {
        self.steps.iter().filter(|s| s.is_write()).count()
    }
}

impl From<Vec<Step>> for Plan {
    fn from(steps: Vec<Step>) -> Self {
        Self { steps }
    }
}

impl<'a> IntoIterator for &'a Plan {
    type Item = &'a Step;
    type IntoIter = std::slice::Iter<'a, Step>;
    fn into_iter(self) -> Self::IntoIter {
        self.steps.iter()
    }
}

/// Numbered, one step per line.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("nothing to do");
        }
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{:>2}. {step}", i + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserRef {
        UserRef {
            id: "u1".into(),
            user_principal_name: "o'brien@contoso.com".into(),
            display_name: Some("Pat O'Brien".into()),
            mail: None,
        }
    }

    fn group(name: &str) -> GroupRef {
        GroupRef {
            id: format!("id-{name}"),
            display_name: name.into(),
        }
    }

    #[test]
    fn plan_prints_numbered_steps() {
        let plan = Plan::from(vec![
            Step::AddUserToGroup {
                user: user(),
                group: group("cfg - P"),
                role: GroupRole::Provisioning,
            },
            Step::WaitForGroupMemberships {
                user: user(),
                groups: vec![group("cfg - P"), group("cfg - U")],
            },
        ]);
        assert_eq!(
            plan.to_string(),
            " 1. add o'brien@contoso.com to the provisioning group 'cfg - P'\n \
             2. wait until the membership in 'cfg - P' and 'cfg - U' is visible"
        );
        assert_eq!(plan.writes(), 1);
        assert_eq!(Plan::new().to_string(), "nothing to do");
    }

    #[test]
    fn cloud_pc_steps_print_and_round_trip() {
        let pc = CloudPcRef {
            id: "pc1".into(),
            display_name: Some("Pat's PC".into()),
            user_principal_name: None,
        };
        let step = Step::RunCloudPcAction {
            cloud_pc: pc,
            action: CloudPcAction::Rename {
                display_name: "New".into(),
            },
        };
        assert_eq!(
            step.to_string(),
            "rename to 'New' the Cloud PC 'Pat's PC' (pc1)"
        );
        assert!(step.is_write());
        let json = serde_json::to_value(&step).unwrap();
        assert_eq!(json["action"], "runCloudPcAction");
        assert_eq!(json["cloudPcAction"]["kind"], "rename");
        assert_eq!(json["cloudPcAction"]["displayName"], "New");
        let back: Step = serde_json::from_value(json).unwrap();
        assert_eq!(back, step);
    }

    #[test]
    fn steps_serialize_with_an_action_tag_and_round_trip() {
        let step = Step::SendReadyMail {
            from: "runbooks@contoso.com".into(),
            user: user(),
            custom_message: None,
        };
        let json = serde_json::to_value(&step).unwrap();
        assert_eq!(json["action"], "sendReadyMail");
        assert_eq!(json["user"]["userPrincipalName"], "o'brien@contoso.com");
        let back: Step = serde_json::from_value(json).unwrap();
        assert_eq!(back, step);
        let plan = Plan::from(vec![step]);
        assert!(serde_json::to_value(&plan).unwrap().is_array());
    }
}
