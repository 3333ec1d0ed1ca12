//! Users, security groups and direct membership, with Entra ID's replication lag: a membership
//! change is committed at once (the "primary" knows it, so a second add is refused) but becomes
//! visible to reads only `replication_lag` of virtual time later.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::StateError;
use super::licensing::{AssignedLicense, LicenseAssignmentState, LicenseProcessingState};

/// A user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    /// `None`: the user has no Exchange Online mailbox.
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    #[serde(default)]
    pub usage_location: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub office_location: Option<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    #[serde(default)]
    pub preferred_language: Option<String>,
    /// `Member` or `Guest`.
    #[serde(default = "member")]
    pub user_type: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_date_time: Option<OffsetDateTime>,
    /// Per-SKU (and per assigning group) license states; `assignedLicenses` derives from it.
    #[serde(default)]
    pub license_assignment_states: Vec<LicenseAssignmentState>,
}

fn yes() -> bool {
    true
}

fn member() -> String {
    "Member".to_owned()
}

impl User {
    /// A minimal enabled member user with a mailbox equal to its UPN.
    pub fn new(id: String, user_principal_name: &str, display_name: &str) -> Self {
        Self {
            id,
            user_principal_name: user_principal_name.to_owned(),
            display_name: display_name.to_owned(),
            given_name: None,
            surname: None,
            mail: Some(user_principal_name.to_owned()),
            account_enabled: true,
            usage_location: None,
            job_title: None,
            department: None,
            office_location: None,
            mobile_phone: None,
            business_phones: Vec::new(),
            preferred_language: None,
            user_type: member(),
            created_date_time: None,
            license_assignment_states: Vec::new(),
        }
    }

    /// Licenses the user holds: one entry per SKU with at least one `Active` assignment state.
    pub fn assigned_licenses(&self) -> Vec<AssignedLicense> {
        let mut out: Vec<AssignedLicense> = Vec::new();
        for state in &self.license_assignment_states {
            if state.state == "Active" && !out.iter().any(|l| l.sku_id == state.sku_id) {
                out.push(AssignedLicense {
                    sku_id: state.sku_id.clone(),
                    disabled_plans: state.disabled_plans.clone(),
                });
            }
        }
        out
    }
}

/// A group (security, Microsoft 365 or mail-enabled security).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub display_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub mail_nickname: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default = "yes")]
    pub security_enabled: bool,
    #[serde(default)]
    pub mail_enabled: bool,
    /// e.g. `["Unified"]` for Microsoft 365 groups, `["DynamicMembership"]`; empty for security groups.
    #[serde(default)]
    pub group_types: Vec<String>,
    /// Group-based licensing: every member gets these products.
    #[serde(default)]
    pub assigned_licenses: Vec<AssignedLicense>,
    #[serde(default)]
    pub license_processing_state: Option<LicenseProcessingState>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_date_time: Option<OffsetDateTime>,
}

impl Group {
    /// A plain security group.
    pub fn new_security(id: String, display_name: &str) -> Self {
        Self {
            id,
            display_name: display_name.to_owned(),
            description: None,
            mail_nickname: None,
            mail: None,
            security_enabled: true,
            mail_enabled: false,
            group_types: Vec::new(),
            assigned_licenses: Vec::new(),
            license_processing_state: None,
            created_date_time: None,
        }
    }

    /// Whether membership is rule-based (manual adds and removals are refused).
    pub fn is_dynamic(&self) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("DynamicMembership"))
    }
}

/// What kind of directory object an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    User,
    Group,
}

/// A committed membership change that reads do not see yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingMembership {
    pub group_id: String,
    pub member_id: String,
    pub add: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub visible_at: OffsetDateTime,
}

/// A membership change that just became visible (input of the licensing engine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    pub group_id: String,
    pub member_id: String,
    pub add: bool,
}

/// Users, groups and direct membership of one tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    users: BTreeMap<String, User>,
    groups: BTreeMap<String, Group>,
    /// Visible direct members (user or group ids) of each group.
    members: BTreeMap<String, BTreeSet<String>>,
    /// Committed changes not yet visible, in `visible_at` order.
    #[serde(default)]
    pending: Vec<PendingMembership>,
    #[serde(skip)]
    index: Index,
}

#[derive(Debug, Clone, Default)]
struct Index {
    upn: HashMap<String, String>,
    group_names: HashMap<String, Vec<String>>,
    member_of: HashMap<String, BTreeSet<String>>,
}

impl Directory {
    /// Rebuilds the lookup indexes (after deserialization).
    pub fn rebuild_indexes(&mut self) {
        let mut index = Index::default();
        for user in self.users.values() {
            index
                .upn
                .insert(user.user_principal_name.to_lowercase(), user.id.clone());
        }
        for group in self.groups.values() {
            index
                .group_names
                .entry(group.display_name.to_lowercase())
                .or_default()
                .push(group.id.clone());
        }
        for (group, members) in &self.members {
            for member in members {
                index
                    .member_of
                    .entry(member.clone())
                    .or_default()
                    .insert(group.clone());
            }
        }
        self.index = index;
    }

    // ---- users -------------------------------------------------------------------------------

    /// Adds a user; its id and UPN (case-insensitive) must be unique.
    pub fn insert_user(&mut self, user: User) -> Result<(), StateError> {
        let upn = user.user_principal_name.to_lowercase();
        if self.users.contains_key(&user.id) || self.groups.contains_key(&user.id) {
            return Err(StateError::Conflict(format!(
                "object id {} already exists",
                user.id
            )));
        }
        if self.index.upn.contains_key(&upn) {
            return Err(StateError::Conflict(format!(
                "userPrincipalName {} already exists",
                user.user_principal_name
            )));
        }
        self.index.upn.insert(upn, user.id.clone());
        self.users.insert(user.id.clone(), user);
        Ok(())
    }

    /// A user by object id.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }

    /// A user by object id, mutable.
    pub fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        self.users.get_mut(id)
    }

    /// A user by object id (case-insensitive GUID) or userPrincipalName (case-insensitive).
    pub fn user_by_key(&self, key: &str) -> Option<&User> {
        if let Some(user) = self.users.get(key) {
            return Some(user);
        }
        let lower = key.to_lowercase();
        if let Some(user) = self.users.get(&lower) {
            return Some(user);
        }
        self.index.upn.get(&lower).and_then(|id| self.users.get(id))
    }

    /// All users in a stable (id) order.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// Number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    // ---- groups ------------------------------------------------------------------------------

    /// Adds a group; display names need not be unique.
    pub fn insert_group(&mut self, group: Group) -> Result<(), StateError> {
        if self.groups.contains_key(&group.id) || self.users.contains_key(&group.id) {
            return Err(StateError::Conflict(format!(
                "object id {} already exists",
                group.id
            )));
        }
        self.index
            .group_names
            .entry(group.display_name.to_lowercase())
            .or_default()
            .push(group.id.clone());
        self.members.entry(group.id.clone()).or_default();
        self.groups.insert(group.id.clone(), group);
        Ok(())
    }

    /// A group by object id (case-insensitive).
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups
            .get(id)
            .or_else(|| self.groups.get(&id.to_lowercase()))
    }

    /// Changes a group's display name and/or description (keeping the name index current).
    pub fn update_group(
        &mut self,
        id: &str,
        display_name: Option<&str>,
        description: Option<Option<&str>>,
    ) -> Result<(), StateError> {
        let group = self
            .groups
            .get_mut(id)
            .ok_or_else(|| StateError::GroupNotFound { id: id.to_owned() })?;
        if let Some(name) = display_name {
            let old = std::mem::replace(&mut group.display_name, name.to_owned()).to_lowercase();
            if let Some(ids) = self.index.group_names.get_mut(&old) {
                ids.retain(|g| g != id);
            }
            self.index
                .group_names
                .entry(name.to_lowercase())
                .or_default()
                .push(id.to_owned());
        }
        if let Some(description) = description {
            group.description = description.map(str::to_owned);
        }
        Ok(())
    }

    /// A group by object id, mutable.
    pub fn group_mut(&mut self, id: &str) -> Option<&mut Group> {
        self.groups.get_mut(id)
    }

    /// All groups in a stable (id) order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Ids of the groups whose display name equals `name` (case-insensitive).
    pub fn groups_named(&self, name: &str) -> &[String] {
        self.index
            .group_names
            .get(&name.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Ids of the users whose UPN equals `upn` (case-insensitive): zero or one.
    pub fn user_id_by_upn(&self, upn: &str) -> Option<&str> {
        self.index.upn.get(&upn.to_lowercase()).map(String::as_str)
    }

    /// The kind of the object with this id, if it exists.
    pub fn object_kind(&self, id: &str) -> Option<ObjectKind> {
        if self.users.contains_key(id) {
            Some(ObjectKind::User)
        } else if self.groups.contains_key(id) {
            Some(ObjectKind::Group)
        } else {
            None
        }
    }

    /// Normalizes an object id (GUIDs compare case-insensitively) to the stored form.
    pub fn canonical_object_id(&self, id: &str) -> Option<String> {
        if self.object_kind(id).is_some() {
            return Some(id.to_owned());
        }
        let lower = id.to_lowercase();
        self.object_kind(&lower).map(|_| lower)
    }

    // ---- membership --------------------------------------------------------------------------

    /// Bulk-adds visible members without replication or licensing (seed generators only).
    pub(crate) fn seed_members(&mut self, group_id: &str, members: Vec<String>) {
        for member in &members {
            self.index
                .member_of
                .entry(member.clone())
                .or_default()
                .insert(group_id.to_owned());
        }
        self.members
            .entry(group_id.to_owned())
            .or_default()
            .extend(members);
    }

    /// Visible direct members of a group (user and group ids, sorted).
    pub fn members(&self, group_id: &str) -> Option<&BTreeSet<String>> {
        self.members.get(group_id)
    }

    /// Visible groups the object is a direct member of (sorted ids).
    pub fn member_of(&self, object_id: &str) -> impl Iterator<Item = &String> {
        self.index.member_of.get(object_id).into_iter().flatten()
    }

    /// Visible direct membership.
    pub fn is_member(&self, group_id: &str, member_id: &str) -> bool {
        self.members
            .get(group_id)
            .is_some_and(|m| m.contains(member_id))
    }

    /// Committed direct membership (what the primary replica knows, pending changes included).
    pub fn is_member_committed(&self, group_id: &str, member_id: &str) -> bool {
        self.pending
            .iter()
            .rev()
            .find(|p| p.group_id == group_id && p.member_id == member_id)
            .map_or_else(|| self.is_member(group_id, member_id), |p| p.add)
    }

    /// Groups (ids) the object belongs to, directly or through nested groups (visible state).
    pub fn transitive_member_of(&self, object_id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = self.member_of(object_id).collect();
        while let Some(group) = stack.pop() {
            if seen.insert(group.clone()) {
                stack.extend(self.member_of(group));
            }
        }
        seen
    }

    /// Members of the group, directly or through nested groups (visible state; users and groups).
    pub fn transitive_members(&self, group_id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = self.members(group_id).into_iter().flatten().collect();
        while let Some(member) = stack.pop() {
            if member != group_id && seen.insert(member.clone()) {
                stack.extend(self.members(member).into_iter().flatten());
            }
        }
        seen
    }

    /// Records a committed membership change, visible at `visible_at`. Changes that are already
    /// visible (`visible_at <= now`) are applied at once and returned.
    pub(crate) fn commit_membership(
        &mut self,
        group_id: &str,
        member_id: &str,
        add: bool,
        now: OffsetDateTime,
        visible_at: OffsetDateTime,
    ) -> Option<MembershipChange> {
        if visible_at <= now {
            return self.apply_visible(group_id, member_id, add);
        }
        let pending = PendingMembership {
            group_id: group_id.to_owned(),
            member_id: member_id.to_owned(),
            add,
            visible_at,
        };
        let at = self.pending.partition_point(|p| p.visible_at <= visible_at);
        self.pending.insert(at, pending);
        None
    }

    /// Makes every pending change due at `now` visible; returns those that changed anything.
    pub(crate) fn apply_due(&mut self, now: OffsetDateTime) -> Vec<MembershipChange> {
        let due = self.pending.partition_point(|p| p.visible_at <= now);
        if due == 0 {
            return Vec::new();
        }
        let ready: Vec<PendingMembership> = self.pending.drain(..due).collect();
        ready
            .into_iter()
            .filter_map(|p| self.apply_visible(&p.group_id, &p.member_id, p.add))
            .collect()
    }

    /// When the next pending membership change becomes visible.
    pub fn next_visible_at(&self) -> Option<OffsetDateTime> {
        self.pending.first().map(|p| p.visible_at)
    }

    fn apply_visible(
        &mut self,
        group_id: &str,
        member_id: &str,
        add: bool,
    ) -> Option<MembershipChange> {
        let set = self.members.entry(group_id.to_owned()).or_default();
        let changed = if add {
            set.insert(member_id.to_owned())
        } else {
            set.remove(member_id)
        };
        if !changed {
            return None;
        }
        let groups = self
            .index
            .member_of
            .entry(member_id.to_owned())
            .or_default();
        if add {
            groups.insert(group_id.to_owned());
        } else {
            groups.remove(group_id);
        }
        Some(MembershipChange {
            group_id: group_id.to_owned(),
            member_id: member_id.to_owned(),
            add,
        })
    }
}
