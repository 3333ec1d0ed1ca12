//! The narrow read-only view of directory and licensing state that the Windows 365 model and its
//! lifecycle engine need. The directory/licensing model implements it; the Windows 365 model only
//! ever sees this trait, so the two halves of the simulator stay independent.

/// A user as the Windows 365 model sees one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    /// `None` when the user has no mailbox.
    pub mail: Option<String>,
}

/// Read-only directory + licensing facts, as visible to the Windows 365 service.
pub trait DirectoryView {
    /// A user by object id.
    fn user(&self, user_id: &str) -> Option<UserSummary>;
    /// Whether a group with this object id exists.
    fn group_exists(&self, group_id: &str) -> bool;
    /// Direct (not transitive) membership of a user in a group.
    fn is_direct_member(&self, group_id: &str, user_id: &str) -> bool;
    /// Object ids of the users that are direct members of the group, in a stable order.
    fn direct_member_users(&self, group_id: &str) -> Vec<String>;
    /// Service plan ids (GUID strings) the user holds through licenses whose assignment state is
    /// `Active` (group-based or direct). A license in `Error` (e.g. CountViolation) contributes nothing.
    fn active_service_plans(&self, user_id: &str) -> Vec<String>;
    /// Object ids of every user of the tenant that holds at least one `Active` license (users
    /// without one can never be entitled to a Cloud PC, so a large tenant stays cheap to scan).
    /// The Windows 365 engine uses it to find licensed users who are in no policy group (they get
    /// a `notProvisioned` record); with the default (empty) answer only users in policy groups or
    /// with a Cloud PC are considered.
    fn all_user_ids(&self) -> Vec<String> {
        Vec::new()
    }
}

use super::directory::{Directory, ObjectKind};
use super::licensing::Licensing;

/// [`DirectoryView`] over a tenant's directory and licensing state (visible, replicated state).
#[derive(Debug, Clone, Copy)]
pub struct TenantDirectoryView<'a> {
    directory: &'a Directory,
    licensing: &'a Licensing,
}

impl<'a> TenantDirectoryView<'a> {
    /// A view borrowing the two halves of a tenant.
    pub fn new(directory: &'a Directory, licensing: &'a Licensing) -> Self {
        Self {
            directory,
            licensing,
        }
    }
}

impl DirectoryView for TenantDirectoryView<'_> {
    fn user(&self, user_id: &str) -> Option<UserSummary> {
        self.directory.user(user_id).map(|u| UserSummary {
            id: u.id.clone(),
            user_principal_name: u.user_principal_name.clone(),
            display_name: u.display_name.clone(),
            mail: u.mail.clone(),
        })
    }

    fn group_exists(&self, group_id: &str) -> bool {
        self.directory.group(group_id).is_some()
    }

    fn is_direct_member(&self, group_id: &str, user_id: &str) -> bool {
        self.directory.is_member(group_id, user_id)
    }

    fn direct_member_users(&self, group_id: &str) -> Vec<String> {
        self.directory
            .members(group_id)
            .into_iter()
            .flatten()
            .filter(|m| self.directory.object_kind(m) == Some(ObjectKind::User))
            .cloned()
            .collect()
    }

    fn all_user_ids(&self) -> Vec<String> {
        self.directory
            .users()
            .filter(|u| {
                u.license_assignment_states
                    .iter()
                    .any(|s| s.state == "Active")
            })
            .map(|u| u.id.clone())
            .collect()
    }

    fn active_service_plans(&self, user_id: &str) -> Vec<String> {
        let Some(user) = self.directory.user(user_id) else {
            return Vec::new();
        };
        let mut plans = Vec::new();
        for state in user
            .license_assignment_states
            .iter()
            .filter(|s| s.state == "Active")
        {
            let Some(sku) = self.licensing.sku(&state.sku_id) else {
                continue;
            };
            for plan in &sku.service_plans {
                let disabled = state
                    .disabled_plans
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&plan.service_plan_id));
                if !disabled && !plans.contains(&plan.service_plan_id) {
                    plans.push(plan.service_plan_id.clone());
                }
            }
        }
        plans
    }
}
