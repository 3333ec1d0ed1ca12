//! One tenant and its domain operations: membership writes, the group-licensing engine, mail.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::apps::AppRegistrations;
use super::directory::{Directory, MembershipChange, ObjectKind};
use super::ids::IdGen;
use super::licensing::{LicenseAssignmentState, LicenseJob, LicenseProcessingState, Licensing};
use super::mail::{MailAddress, Outbox, SentMail};
use super::view::TenantDirectoryView;
use super::windows365::Windows365State;
use super::{DirectoryTimings, StateError};

/// Most references one `members@odata.bind` PATCH may carry.
pub const MAX_BIND_REFERENCES: usize = 20;

/// All state of one tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantState {
    /// Tenant GUID (lowercase).
    pub tenant_id: String,
    pub display_name: String,
    /// Verified domains, e.g. `contoso.onmicrosoft.com`.
    pub domains: Vec<String>,
    /// Tenant country, used by group-based licensing for users without `usageLocation`.
    #[serde(default)]
    pub country_letter_code: Option<String>,
    pub timings: DirectoryTimings,
    pub directory: Directory,
    pub licensing: Licensing,
    pub outbox: Outbox,
    /// App registrations (service principals) that may get tokens for this tenant.
    #[serde(default)]
    pub apps: AppRegistrations,
    pub w365: Windows365State,
    pub ids: IdGen,
    /// Something the Windows 365 engine reads changed since it last ran (membership, licenses,
    /// or a write through the API): the next tick runs it even if no timer is due.
    #[serde(skip, default = "dirty")]
    lifecycle_dirty: bool,
}

fn dirty() -> bool {
    true
}

/// A message to send, already parsed from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub subject: String,
    pub content_type: String,
    pub body: String,
    pub to: Vec<MailAddress>,
    pub cc: Vec<MailAddress>,
    pub bcc: Vec<MailAddress>,
    pub save_to_sent_items: bool,
}

impl TenantState {
    /// An empty tenant.
    pub fn new(tenant_id: &str, display_name: &str, domains: &[&str], id_seed: u64) -> Self {
        Self {
            tenant_id: tenant_id.to_lowercase(),
            display_name: display_name.to_owned(),
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            country_letter_code: None,
            timings: DirectoryTimings::default(),
            directory: Directory::default(),
            licensing: Licensing::default(),
            outbox: Outbox::default(),
            apps: AppRegistrations::default(),
            w365: Windows365State::default(),
            ids: IdGen::new(id_seed),
            lifecycle_dirty: true,
        }
    }

    /// The read-only view the Windows 365 model uses.
    pub fn view(&self) -> TenantDirectoryView<'_> {
        TenantDirectoryView::new(&self.directory, &self.licensing)
    }

    /// Plays everything due at `now`: replication, license processing, then the Windows 365
    /// lifecycle.
    pub fn tick(&mut self, now: OffsetDateTime) {
        let changes = self.directory.apply_due(now);
        for change in changes {
            self.on_visible_change(&change, now);
        }
        self.process_licenses(now);
        // Network health checks and image uploads (cheap when none is due).
        self.w365.run_infrastructure(now);
        // The engine reacts to directory and licence changes and to API writes (both mark the
        // tenant dirty), not only to its own timers; skipping quiet ticks keeps reads cheap.
        if self.lifecycle_dirty
            || crate::lifecycle::next_due(&self.w365).is_some_and(|due| due <= now)
        {
            self.lifecycle_dirty = false;
            let view = TenantDirectoryView::new(&self.directory, &self.licensing);
            crate::lifecycle::run_due(&mut self.w365, &view, now);
        }
        // Restore points on the schedule of each user's user settings policy (cheap when none is due).
        let view = TenantDirectoryView::new(&self.directory, &self.licensing);
        self.w365.run_snapshot_schedule(&view, now);
        self.w365.run_bulk_actions(&view, now);
    }

    /// Marks the tenant as changed: the next tick runs the Windows 365 engine (called after every
    /// successful write request, and by the directory and licensing changes themselves).
    pub fn touch(&mut self) {
        self.lifecycle_dirty = true;
    }

    /// Earliest time strictly after `after` at which this tenant has work due.
    pub fn next_due_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        [
            self.directory.next_visible_at().filter(|d| *d > after),
            self.licensing.next_due_after(after),
            crate::lifecycle::next_due(&self.w365).filter(|d| *d > after),
            self.w365.bulk_actions_next_due().filter(|d| *d > after),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Earliest time this tenant has work due.
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        [
            self.directory.next_visible_at(),
            self.licensing.next_due(),
            crate::lifecycle::next_due(&self.w365),
            self.w365.bulk_actions_next_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- membership writes -------------------------------------------------------------------

    /// `POST /groups/{id}/members/$ref`: adds one direct member.
    pub fn add_member(
        &mut self,
        group_id: &str,
        member_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        self.add_members(group_id, &[member_id.to_owned()], now)
    }

    /// `PATCH /groups/{id}` with `members@odata.bind`: adds up to 20 members, all or nothing.
    pub fn add_members(
        &mut self,
        group_id: &str,
        member_ids: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        if member_ids.len() > MAX_BIND_REFERENCES {
            return Err(StateError::TooManyReferences {
                max: MAX_BIND_REFERENCES,
                got: member_ids.len(),
            });
        }
        let group = self
            .directory
            .group(group_id)
            .ok_or_else(|| StateError::GroupNotFound {
                id: group_id.to_owned(),
            })?;
        if group.is_dynamic() {
            return Err(StateError::DynamicGroup {
                id: group.id.clone(),
            });
        }
        let group_id = group.id.clone();
        let mut resolved = Vec::with_capacity(member_ids.len());
        for id in member_ids {
            let member = self
                .directory
                .canonical_object_id(id)
                .ok_or_else(|| StateError::ObjectNotFound { id: id.clone() })?;
            if member == group_id {
                return Err(StateError::Invalid(
                    "a group cannot be a member of itself".to_owned(),
                ));
            }
            if self.directory.is_member_committed(&group_id, &member) || resolved.contains(&member)
            {
                return Err(StateError::AlreadyMember);
            }
            resolved.push(member);
        }
        let visible_at = now + self.timings.replication_lag;
        for member in resolved {
            if let Some(change) = self
                .directory
                .commit_membership(&group_id, &member, true, now, visible_at)
            {
                self.on_visible_change(&change, now);
            }
        }
        self.process_licenses(now);
        Ok(())
    }

    /// `DELETE /groups/{id}/members/{member}/$ref`.
    pub fn remove_member(
        &mut self,
        group_id: &str,
        member_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        let group = self
            .directory
            .group(group_id)
            .ok_or_else(|| StateError::GroupNotFound {
                id: group_id.to_owned(),
            })?;
        if group.is_dynamic() {
            return Err(StateError::DynamicGroup {
                id: group.id.clone(),
            });
        }
        let group_id = group.id.clone();
        let member = self
            .directory
            .canonical_object_id(member_id)
            .filter(|m| self.directory.is_member_committed(&group_id, m))
            .ok_or_else(|| StateError::NotMember {
                member_id: member_id.to_owned(),
            })?;
        let visible_at = now + self.timings.replication_lag;
        if let Some(change) = self
            .directory
            .commit_membership(&group_id, &member, false, now, visible_at)
        {
            self.on_visible_change(&change, now);
        }
        self.process_licenses(now);
        Ok(())
    }

    /// `PATCH /groups/{id}` of `displayName` / `description`.
    pub fn rename_group(
        &mut self,
        group_id: &str,
        display_name: Option<&str>,
        description: Option<Option<&str>>,
    ) -> Result<(), StateError> {
        self.directory
            .update_group(group_id, display_name, description)
    }

    // ---- group-based licensing ---------------------------------------------------------------

    fn on_visible_change(&mut self, change: &MembershipChange, now: OffsetDateTime) {
        self.lifecycle_dirty = true;
        if self.directory.object_kind(&change.member_id) != Some(ObjectKind::User) {
            // Group-based licensing does not flow through nested groups.
            return;
        }
        let Some(group) = self.directory.group_mut(&change.group_id) else {
            return;
        };
        if group.assigned_licenses.is_empty() {
            return;
        }
        let in_progress = group
            .license_processing_state
            .as_ref()
            .is_some_and(|s| s.state == "ProcessingInProgress");
        if !in_progress {
            group.license_processing_state =
                Some(LicenseProcessingState::new("QueuedForProcessing"));
        }
        self.licensing.enqueue(LicenseJob {
            group_id: change.group_id.clone(),
            user_id: change.member_id.clone(),
            add: change.add,
            queued_at: now,
            due: now + self.timings.license_processing,
        });
    }

    /// Asks the licensing engine to process the group again (as the portal's "Reprocess"):
    /// members whose assignment from this group is in error are retried.
    pub fn reprocess_group(
        &mut self,
        group_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        let group = self
            .directory
            .group(group_id)
            .ok_or_else(|| StateError::GroupNotFound {
                id: group_id.to_owned(),
            })?;
        let group_id = group.id.clone();
        let members: Vec<String> = self
            .directory
            .members(&group_id)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for member in members {
            let retry = self.directory.user_mut(&member).is_some_and(|user| {
                let before = user.license_assignment_states.len();
                user.license_assignment_states.retain(|s| {
                    !(s.assigned_by_group.as_deref() == Some(group_id.as_str())
                        && s.state == "Error")
                });
                before != user.license_assignment_states.len()
            });
            if retry {
                let change = MembershipChange {
                    group_id: group_id.clone(),
                    member_id: member,
                    add: true,
                };
                self.on_visible_change(&change, now);
            }
        }
        self.process_licenses(now);
        Ok(())
    }

    /// Plays due license jobs and moves groups through their processing states.
    pub(crate) fn process_licenses(&mut self, now: OffsetDateTime) {
        while self.licensing.jobs.first().is_some_and(|j| j.due <= now) {
            let job = self.licensing.jobs.remove(0);
            self.lifecycle_dirty = true;
            if job.add {
                self.apply_group_licenses(&job.group_id, &job.user_id, now);
            } else {
                self.release_group_licenses(&job.group_id, &job.user_id);
            }
            if !self
                .licensing
                .jobs
                .iter()
                .any(|j| j.group_id == job.group_id)
                && let Some(group) = self.directory.group_mut(&job.group_id)
            {
                group.license_processing_state =
                    Some(LicenseProcessingState::new("ProcessingComplete"));
            }
        }
        for job in &self.licensing.jobs {
            let started = job.queued_at + (job.due - job.queued_at) / 2;
            if started <= now
                && let Some(group) = self.directory.group_mut(&job.group_id)
                && group
                    .license_processing_state
                    .as_ref()
                    .is_none_or(|s| s.state == "QueuedForProcessing")
            {
                group.license_processing_state =
                    Some(LicenseProcessingState::new("ProcessingInProgress"));
            }
        }
    }

    fn apply_group_licenses(&mut self, group_id: &str, user_id: &str, now: OffsetDateTime) {
        if !self.directory.is_member(group_id, user_id) {
            return;
        }
        let Some(group) = self.directory.group(group_id) else {
            return;
        };
        let licenses = group.assigned_licenses.clone();
        let Some(user) = self.directory.user(user_id) else {
            return;
        };
        if user
            .license_assignment_states
            .iter()
            .any(|s| s.assigned_by_group.as_deref() == Some(group_id))
        {
            return;
        }
        // Decide for every product first: the group's products are applied all or nothing.
        let mut needs_unit = Vec::new();
        let mut errors = Vec::new();
        for license in &licenses {
            let held = user
                .license_assignment_states
                .iter()
                .any(|s| s.state == "Active" && s.sku_id.eq_ignore_ascii_case(&license.sku_id));
            match self.licensing.sku(&license.sku_id) {
                None => errors.push((license.sku_id.clone(), "Other")),
                Some(_) if held => {}
                Some(sku) if sku.available_units() == 0 => {
                    errors.push((license.sku_id.clone(), "CountViolation"))
                }
                Some(_) => needs_unit.push(license.sku_id.clone()),
            }
        }
        let failed = !errors.is_empty();
        if !failed {
            for sku_id in &needs_unit {
                if let Some(sku) = self.licensing.sku_mut(sku_id) {
                    sku.consumed_units += 1;
                }
            }
        }
        let Some(user) = self.directory.user_mut(user_id) else {
            return;
        };
        for license in licenses {
            let error = errors
                .iter()
                .find(|(id, _)| *id == license.sku_id)
                .map_or(if failed { "Other" } else { "None" }, |(_, e)| *e);
            user.license_assignment_states.push(LicenseAssignmentState {
                sku_id: license.sku_id,
                disabled_plans: license.disabled_plans,
                assigned_by_group: Some(group_id.to_owned()),
                state: if failed { "Error" } else { "Active" }.to_owned(),
                error: error.to_owned(),
                last_updated_date_time: Some(now),
            });
        }
    }

    fn release_group_licenses(&mut self, group_id: &str, user_id: &str) {
        if self.directory.is_member(group_id, user_id) {
            // Re-added before the removal was processed.
            return;
        }
        let Some(user) = self.directory.user_mut(user_id) else {
            return;
        };
        let (removed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut user.license_assignment_states)
            .into_iter()
            .partition(|s| s.assigned_by_group.as_deref() == Some(group_id));
        user.license_assignment_states = kept;
        let mut freed = Vec::new();
        for state in removed.into_iter().filter(|s| s.state == "Active") {
            let still_held = user
                .license_assignment_states
                .iter()
                .any(|s| s.state == "Active" && s.sku_id.eq_ignore_ascii_case(&state.sku_id));
            if !still_held && !freed.contains(&state.sku_id) {
                freed.push(state.sku_id);
            }
        }
        for sku_id in freed {
            if let Some(sku) = self.licensing.sku_mut(&sku_id) {
                sku.consumed_units = sku.consumed_units.saturating_sub(1);
            }
        }
    }

    /// Assigns a licence to the user directly (`POST /users/{id}/assignLicense`,
    /// `addLicenses`): a `licenseAssignmentStates` entry with no `assignedByGroup`. A licence the
    /// user already holds (from a group or directly) consumes no second unit; without a free unit
    /// Graph refuses the request (here: [`StateError::Invalid`], a 400).
    pub fn assign_direct_license(
        &mut self,
        user_key: &str,
        sku_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StateError> {
        let sku = self
            .licensing
            .sku(sku_id)
            .ok_or_else(|| StateError::SkuNotFound {
                id: sku_id.to_owned(),
            })?
            .clone();
        let user =
            self.directory
                .user_by_key(user_key)
                .ok_or_else(|| StateError::UserNotFound {
                    key: user_key.to_owned(),
                })?;
        let user_id = user.id.clone();
        if user
            .license_assignment_states
            .iter()
            .any(|s| s.assigned_by_group.is_none() && s.sku_id.eq_ignore_ascii_case(&sku.sku_id))
        {
            return Ok(());
        }
        let held = user
            .license_assignment_states
            .iter()
            .any(|s| s.state == "Active" && s.sku_id.eq_ignore_ascii_case(&sku.sku_id));
        if !held {
            if sku.available_units() == 0 {
                return Err(StateError::Invalid(format!(
                    "License assignment failed because no more licenses are available for {}.",
                    sku.sku_part_number
                )));
            }
            if let Some(s) = self.licensing.sku_mut(&sku.sku_id) {
                s.consumed_units += 1;
            }
        }
        if let Some(user) = self.directory.user_mut(&user_id) {
            user.license_assignment_states.push(LicenseAssignmentState {
                sku_id: sku.sku_id.clone(),
                disabled_plans: Vec::new(),
                assigned_by_group: None,
                state: "Active".to_owned(),
                error: "None".to_owned(),
                last_updated_date_time: Some(now),
            });
        }
        self.lifecycle_dirty = true;
        Ok(())
    }

    /// Removes a direct licence (`assignLicense`, `removeLicenses`). The unit is freed unless a
    /// group still assigns the same SKU to the user. Removing a licence the user does not hold
    /// directly is refused, as Graph does.
    pub fn remove_direct_license(
        &mut self,
        user_key: &str,
        sku_id: &str,
    ) -> Result<(), StateError> {
        let user_id = self
            .directory
            .user_by_key(user_key)
            .ok_or_else(|| StateError::UserNotFound {
                key: user_key.to_owned(),
            })?
            .id
            .clone();
        let Some(user) = self.directory.user_mut(&user_id) else {
            return Ok(());
        };
        let before = user.license_assignment_states.len();
        user.license_assignment_states
            .retain(|s| !(s.assigned_by_group.is_none() && s.sku_id.eq_ignore_ascii_case(sku_id)));
        if before == user.license_assignment_states.len() {
            return Err(StateError::Invalid(format!(
                "User does not have a corresponding license: {sku_id}."
            )));
        }
        let still_held = user
            .license_assignment_states
            .iter()
            .any(|s| s.state == "Active" && s.sku_id.eq_ignore_ascii_case(sku_id));
        if !still_held && let Some(sku) = self.licensing.sku_mut(sku_id) {
            sku.consumed_units = sku.consumed_units.saturating_sub(1);
        }
        self.lifecycle_dirty = true;
        Ok(())
    }

    /// Whether any visible member of the group holds an errored assignment from it.
    pub fn has_members_with_license_errors(&self, group_id: &str) -> bool {
        self.directory
            .members(group_id)
            .into_iter()
            .flatten()
            .any(|member| {
                self.directory.user(member).is_some_and(|u| {
                    u.license_assignment_states.iter().any(|s| {
                        s.assigned_by_group.as_deref() == Some(group_id) && s.state == "Error"
                    })
                })
            })
    }

    // ---- mail --------------------------------------------------------------------------------

    /// `POST /users/{id|upn}/sendMail`: accepts the message into the outbox.
    pub fn send_mail(
        &mut self,
        sender_key: &str,
        mail: OutgoingMail,
        now: OffsetDateTime,
    ) -> Result<String, StateError> {
        let sender = self.directory.user_by_key(sender_key).ok_or_else(|| {
            StateError::MailSenderNotFound {
                key: sender_key.to_owned(),
            }
        })?;
        let from = sender
            .mail
            .clone()
            .ok_or_else(|| StateError::MailboxNotEnabled {
                user: sender.user_principal_name.clone(),
            })?;
        if mail.to.is_empty() && mail.cc.is_empty() && mail.bcc.is_empty() {
            return Err(StateError::Invalid(
                "At least one recipient is required.".to_owned(),
            ));
        }
        let sender_id = sender.id.clone();
        let id = self.ids.next_id();
        self.outbox.messages.push(SentMail {
            id: id.clone(),
            sender_id,
            from,
            subject: mail.subject,
            content_type: mail.content_type,
            body: mail.body,
            to: mail.to,
            cc: mail.cc,
            bcc: mail.bcc,
            save_to_sent_items: mail.save_to_sent_items,
            sent_at: now,
        });
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::macros::datetime;

    use super::*;
    use crate::state::directory::{Group, User};
    use crate::state::licensing::{AssignedLicense, SubscribedSku, catalog_entry};
    use crate::state::view::DirectoryView;

    const SKU_128: &str = "226ca751-f0a4-4232-9be5-73c02a92555e";
    const SKU_256: &str = "5265a84e-8def-4fa2-ab4b-5dc278df5025";
    const T0: OffsetDateTime = datetime!(2026-01-05 08:00 UTC);

    /// A tenant with `units` of each SKU, users u0..u4 and groups: lic128, lic256, both (128+256).
    fn tenant(units: u32, lag: Duration) -> TenantState {
        let mut t = TenantState::new("00000000-0000-4000-8000-0000000000aa", "T", &["t.com"], 9);
        t.timings = DirectoryTimings {
            replication_lag: lag,
            license_processing: Duration::from_secs(60),
        };
        for part in ["CPC_E_2C_4GB_128GB", "CPC_E_2C_4GB_256GB"] {
            let entry = catalog_entry(part).expect("catalog");
            t.licensing
                .skus
                .push(SubscribedSku::from_catalog(entry, units, "sub".to_owned()));
        }
        for n in 0..5 {
            let user = User::new(
                format!("u{n}"),
                &format!("u{n}@t.com"),
                &format!("User {n}"),
            );
            t.directory.insert_user(user).expect("user");
        }
        for (id, skus) in [
            ("lic128", vec![SKU_128]),
            ("lic256", vec![SKU_256]),
            ("both", vec![SKU_128, SKU_256]),
        ] {
            let mut g = Group::new_security(id.to_owned(), id);
            g.assigned_licenses = skus
                .iter()
                .map(|s| AssignedLicense {
                    sku_id: (*s).to_owned(),
                    disabled_plans: Vec::new(),
                })
                .collect();
            t.directory.insert_group(g).expect("group");
        }
        t.directory
            .insert_group(Group::new_security("plain".to_owned(), "plain"))
            .expect("group");
        t
    }

    fn consumed(t: &TenantState, sku: &str) -> u32 {
        t.licensing.sku(sku).expect("sku").consumed_units
    }

    fn states(t: &TenantState, user: &str) -> Vec<(String, String, String)> {
        t.directory
            .user(user)
            .expect("user")
            .license_assignment_states
            .iter()
            .map(|s| (s.sku_id.clone(), s.state.clone(), s.error.clone()))
            .collect()
    }

    #[test]
    fn licenses_arrive_after_processing_and_count_violations_consume_nothing() {
        let mut t = tenant(1, Duration::ZERO);
        t.add_member("lic128", "u0", T0).expect("add");
        t.add_member("lic128", "u1", T0).expect("add");
        assert_eq!(
            t.directory
                .group("lic128")
                .expect("g")
                .license_processing_state
                .as_ref()
                .expect("state")
                .state,
            "QueuedForProcessing"
        );
        assert!(states(&t, "u0").is_empty());
        t.tick(T0 + Duration::from_secs(30));
        assert_eq!(
            t.directory
                .group("lic128")
                .expect("g")
                .license_processing_state
                .as_ref()
                .expect("state")
                .state,
            "ProcessingInProgress"
        );
        t.tick(T0 + Duration::from_secs(60));
        assert_eq!(
            t.directory
                .group("lic128")
                .expect("g")
                .license_processing_state
                .as_ref()
                .expect("state")
                .state,
            "ProcessingComplete"
        );
        assert_eq!(
            states(&t, "u0"),
            vec![(SKU_128.to_owned(), "Active".to_owned(), "None".to_owned())]
        );
        assert_eq!(
            states(&t, "u1"),
            vec![(
                SKU_128.to_owned(),
                "Error".to_owned(),
                "CountViolation".to_owned()
            )]
        );
        assert_eq!(consumed(&t, SKU_128), 1);
        assert!(
            t.directory
                .user("u1")
                .expect("u1")
                .assigned_licenses()
                .is_empty()
        );
        assert!(t.has_members_with_license_errors("lic128"));
        let view = t.view();
        assert!(
            view.active_service_plans("u0")
                .contains(&"545e3611-3af8-49a5-9a0a-b7867968f4b0".to_owned())
        );
        assert!(view.active_service_plans("u1").is_empty());
    }

    #[test]
    fn leaving_frees_the_unit_and_reprocessing_uses_it() {
        let mut t = tenant(1, Duration::ZERO);
        t.add_member("lic128", "u0", T0).expect("add");
        t.add_member("lic128", "u1", T0).expect("add");
        t.tick(T0 + Duration::from_secs(60));
        t.remove_member("lic128", "u0", T0 + Duration::from_secs(60))
            .expect("remove");
        assert_eq!(consumed(&t, SKU_128), 1, "freed only once processed");
        t.tick(T0 + Duration::from_secs(120));
        assert_eq!(consumed(&t, SKU_128), 0);
        assert!(states(&t, "u0").is_empty());
        assert_eq!(
            states(&t, "u1")[0].1,
            "Error",
            "errors stay until reprocessed"
        );
        t.reprocess_group("lic128", T0 + Duration::from_secs(120))
            .expect("reprocess");
        t.tick(T0 + Duration::from_secs(180));
        assert_eq!(states(&t, "u1")[0].1, "Active");
        assert_eq!(consumed(&t, SKU_128), 1);
    }

    #[test]
    fn a_group_with_several_products_applies_all_or_nothing() {
        let mut t = tenant(1, Duration::ZERO);
        t.add_member("lic256", "u0", T0).expect("add");
        t.tick(T0 + Duration::from_secs(60));
        t.add_member("both", "u1", T0 + Duration::from_secs(60))
            .expect("add");
        t.tick(T0 + Duration::from_secs(120));
        let u1 = states(&t, "u1");
        assert_eq!(u1.len(), 2);
        assert!(u1.iter().all(|(_, state, _)| state == "Error"));
        assert!(
            u1.iter()
                .any(|(sku, _, error)| sku == SKU_256 && error == "CountViolation")
        );
        assert_eq!(
            consumed(&t, SKU_128),
            0,
            "the 128 GB unit is not taken either"
        );
    }

    #[test]
    fn one_unit_per_user_and_sku_across_groups() {
        let mut t = tenant(5, Duration::ZERO);
        t.add_member("lic128", "u0", T0).expect("add");
        t.add_member("both", "u0", T0).expect("add");
        t.tick(T0 + Duration::from_secs(60));
        assert_eq!(consumed(&t, SKU_128), 1);
        assert_eq!(consumed(&t, SKU_256), 1);
        assert_eq!(
            t.directory
                .user("u0")
                .expect("u0")
                .assigned_licenses()
                .len(),
            2
        );
        t.remove_member("both", "u0", T0 + Duration::from_secs(60))
            .expect("remove");
        t.tick(T0 + Duration::from_secs(120));
        assert_eq!(consumed(&t, SKU_128), 1, "still held through lic128");
        assert_eq!(consumed(&t, SKU_256), 0);
    }

    #[test]
    fn replication_lag_delays_visibility_but_not_the_primary() {
        let mut t = tenant(5, Duration::from_millis(1500));
        t.add_member("plain", "u0", T0).expect("add");
        assert!(!t.directory.is_member("plain", "u0"));
        assert!(t.directory.is_member_committed("plain", "u0"));
        assert_eq!(
            t.add_member("plain", "u0", T0),
            Err(StateError::AlreadyMember)
        );
        assert!(t.view().direct_member_users("plain").is_empty());
        t.tick(T0 + Duration::from_millis(1499));
        assert!(!t.directory.is_member("plain", "u0"));
        t.tick(T0 + Duration::from_millis(1500));
        assert!(t.directory.is_member("plain", "u0"));
        assert_eq!(
            t.directory.member_of("u0").cloned().collect::<Vec<_>>(),
            vec!["plain".to_owned()]
        );
        t.remove_member("plain", "u0", T0 + Duration::from_secs(2))
            .expect("remove");
        assert!(
            t.directory.is_member("plain", "u0"),
            "removal not visible yet"
        );
        assert_eq!(
            t.remove_member("plain", "u0", T0 + Duration::from_secs(2)),
            Err(StateError::NotMember {
                member_id: "u0".to_owned()
            })
        );
        t.tick(T0 + Duration::from_secs(4));
        assert!(!t.directory.is_member("plain", "u0"));
    }

    #[test]
    fn licensing_starts_when_the_membership_becomes_visible() {
        let mut t = tenant(5, Duration::from_secs(10));
        t.add_member("lic128", "u0", T0).expect("add");
        assert!(t.licensing.jobs.is_empty());
        t.tick(T0 + Duration::from_secs(10));
        assert_eq!(t.licensing.jobs.len(), 1);
        t.tick(T0 + Duration::from_secs(69));
        assert_eq!(consumed(&t, SKU_128), 0);
        t.tick(T0 + Duration::from_secs(70));
        assert_eq!(consumed(&t, SKU_128), 1);
    }

    #[test]
    fn bind_is_all_or_nothing_and_bounded() {
        let mut t = tenant(5, Duration::ZERO);
        t.add_member("plain", "u1", T0).expect("add");
        let refs = vec!["u0".to_owned(), "u1".to_owned()];
        assert_eq!(
            t.add_members("plain", &refs, T0),
            Err(StateError::AlreadyMember)
        );
        assert!(!t.directory.is_member("plain", "u0"));
        let refs = vec!["u0".to_owned(), "ghost".to_owned()];
        assert!(matches!(
            t.add_members("plain", &refs, T0),
            Err(StateError::ObjectNotFound { .. })
        ));
        assert!(!t.directory.is_member("plain", "u0"));
        let many: Vec<String> = (0..21).map(|n| format!("x{n}")).collect();
        assert!(matches!(
            t.add_members("plain", &many, T0),
            Err(StateError::TooManyReferences { max: 20, got: 21 })
        ));
        t.add_members("plain", &["u0".to_owned(), "u2".to_owned()], T0)
            .expect("bind");
        assert_eq!(t.directory.members("plain").map(|m| m.len()), Some(3));
    }

    #[test]
    fn mail_needs_a_known_sender_with_a_mailbox() {
        let mut t = tenant(1, Duration::ZERO);
        t.directory.user_mut("u4").expect("u4").mail = None;
        let mail = OutgoingMail {
            subject: "s".to_owned(),
            content_type: "Text".to_owned(),
            body: "b".to_owned(),
            to: vec![MailAddress {
                address: "x@t.com".to_owned(),
                name: None,
            }],
            cc: Vec::new(),
            bcc: Vec::new(),
            save_to_sent_items: true,
        };
        assert!(matches!(
            t.send_mail("nobody@t.com", mail.clone(), T0),
            Err(StateError::MailSenderNotFound { .. })
        ));
        assert!(matches!(
            t.send_mail("u4@t.com", mail.clone(), T0),
            Err(StateError::MailboxNotEnabled { .. })
        ));
        t.send_mail("U0@T.COM", mail, T0).expect("sent");
        assert_eq!(t.outbox.messages.len(), 1);
        assert_eq!(t.outbox.messages[0].from, "u0@t.com");
    }
}
