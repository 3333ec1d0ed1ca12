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
        if crate::lifecycle::next_due(&self.w365).is_some_and(|due| due <= now) {
            let view = TenantDirectoryView::new(&self.directory, &self.licensing);
            crate::lifecycle::run_due(&mut self.w365, &view, now);
        }
    }

    /// Earliest time this tenant has work due.
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        [
            self.directory.next_visible_at(),
            self.licensing.next_due(),
            crate::lifecycle::next_due(&self.w365),
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
