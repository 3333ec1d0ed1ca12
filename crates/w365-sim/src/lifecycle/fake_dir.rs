//! An in-memory [`DirectoryView`] for unit tests of the Windows 365 model.

use std::collections::BTreeMap;

use crate::state::view::{DirectoryView, UserSummary};

#[derive(Debug, Default, Clone)]
pub(crate) struct FakeDir {
    users: BTreeMap<String, UserSummary>,
    groups: BTreeMap<String, Vec<String>>,
    plans: BTreeMap<String, Vec<String>>,
}

impl FakeDir {
    pub(crate) fn add_user(&mut self, id: &str, upn: &str, display_name: &str) {
        self.users.insert(
            id.to_owned(),
            UserSummary {
                id: id.to_owned(),
                user_principal_name: upn.to_owned(),
                display_name: display_name.to_owned(),
                mail: Some(upn.to_owned()),
            },
        );
    }

    pub(crate) fn add_group(&mut self, id: &str) {
        self.groups.entry(id.to_owned()).or_default();
    }

    pub(crate) fn add_member(&mut self, group: &str, user: &str) {
        let members = self.groups.entry(group.to_owned()).or_default();
        if !members.iter().any(|m| m == user) {
            members.push(user.to_owned());
        }
    }

    pub(crate) fn remove_member(&mut self, group: &str, user: &str) {
        if let Some(m) = self.groups.get_mut(group) {
            m.retain(|u| u != user);
        }
    }

    pub(crate) fn license(&mut self, user: &str, plan: &str) {
        self.plans
            .entry(user.to_owned())
            .or_default()
            .push(plan.to_owned());
    }

    pub(crate) fn unlicense(&mut self, user: &str, plan: &str) {
        if let Some(p) = self.plans.get_mut(user) {
            p.retain(|x| x != plan);
        }
    }
}

impl DirectoryView for FakeDir {
    fn user(&self, user_id: &str) -> Option<UserSummary> {
        self.users.get(user_id).cloned()
    }

    fn group_exists(&self, group_id: &str) -> bool {
        self.groups.contains_key(group_id)
    }

    fn is_direct_member(&self, group_id: &str, user_id: &str) -> bool {
        self.groups
            .get(group_id)
            .is_some_and(|m| m.iter().any(|u| u == user_id))
    }

    fn direct_member_users(&self, group_id: &str) -> Vec<String> {
        self.groups.get(group_id).cloned().unwrap_or_default()
    }

    fn active_service_plans(&self, user_id: &str) -> Vec<String> {
        self.plans.get(user_id).cloned().unwrap_or_default()
    }

    fn all_user_ids(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }
}
