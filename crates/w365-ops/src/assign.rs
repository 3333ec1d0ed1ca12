//! `assign`: provision a Windows 365 Cloud PC for a user (the "Assign Windows365" runbook).
//!
//! Planning only reads, and reads little: for a dedicated assignment it makes five requests
//! (the user, the policy with the provisioning group's name, the three groups in one `in` query,
//! the user's own `memberOf`, the subscribed SKUs), whatever the size of the groups. Execution then
//! adds at most three memberships, confirms visibility with `checkMemberGroups`, and confirms the
//! license through the user's `licenseAssignmentStates`.
//!
//! Dedicated path (issue 5, steps 1-9):
//! 1. validate the inputs, resolve the user by UPN;
//! 2. look up the provisioning policy named like the provisioning group; a shared (Frontline)
//!    policy takes the Frontline path;
//! 3. resolve the three groups by exact display name (none → error naming it, several → error
//!    listing the ids);
//! 4. the license group's SKU must exist in the tenant;
//! 5. already a member of the license group → [`Error::AlreadyAssigned`], no change. (Checked
//!    before capacity: a fully used SKU is normal once everyone has one, and must not raise a
//!    ticket for a user who already holds the license.)
//! 6. capacity: no free unit → ticket (if enabled) and [`Error::OutOfLicenses`];
//! 7. keep existing prefix-group memberships, otherwise add the named groups; wait until the
//!    added memberships are visible; add the license group;
//! 8. confirm the license; on CountViolation (the race for the last unit) remove the user from the
//!    license group again, ticket (if enabled), fail as out of licenses;
//! 9. with notify: wait for the Cloud PC, then mail the user (or report that they have no mailbox).

use std::collections::HashMap;

use serde::Serialize;
use w365_graph::Client;
use w365_graph::models::{Group, ProvisioningPolicy, ProvisioningType, SubscribedSku, User};

use crate::error::{Error, GraphContext, Result};
use crate::execute::{
    CloudPcReport, Event, ExecState, Executor, MailReport, Observer, StepReport, Waits, permissions,
};
use crate::mail::validate_custom_message;
use crate::plan::{CloudPcTarget, GroupRef, GroupRole, Plan, SkuRef, Step, TicketDetails, UserRef};

/// Runbook default: `cfgProvisioningGroupName`.
pub const DEFAULT_PROVISIONING_GROUP: &str = "cfg - Windows 365 - Provisioning - Win11";
/// Runbook default: `cfgUserSettingsGroupName`.
pub const DEFAULT_USER_SETTINGS_GROUP: &str = "cfg - Windows 365 - User Settings - restore allowed";
/// Runbook default: `licWin365GroupName`.
pub const DEFAULT_LICENSE_GROUP: &str = "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB";
/// Runbook default: `cfgProvisioningGroupPrefix`.
pub const DEFAULT_PROVISIONING_GROUP_PREFIX: &str = "cfg - Windows 365 - Provisioning - ";
/// Runbook default: `cfgUserSettingsGroupPrefix`.
pub const DEFAULT_USER_SETTINGS_GROUP_PREFIX: &str = "cfg - Windows 365 - User Settings - ";
/// Runbook default: `fromMailAddress`.
pub const DEFAULT_FROM_MAILBOX: &str = "runbooks@contoso.com";
/// Runbook default: `ticketCustomerId`.
pub const DEFAULT_TICKET_CUSTOMER_ID: &str = "Contoso";
/// Runbook default ticket queue; used only in the sandbox (a real tenant must name its own).
pub const SANDBOX_TICKET_QUEUE: &str = "support@glueckkanja-gab.com";

/// Everything `assign` needs to know. [`AssignOptions::new`] fills in the runbook's defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignOptions {
    /// The user principal name.
    pub user: String,
    pub provisioning_group: String,
    pub user_settings_group: String,
    pub license_group: String,
    pub provisioning_group_prefix: String,
    pub user_settings_group_prefix: String,
    /// Wait for the Cloud PC and mail the user when it is ready.
    pub notify: bool,
    /// Replaces the built-in ready mail text (at most 3000 characters).
    pub custom_message: Option<String>,
    /// Send a ticket when no license (or seat) is free.
    pub ticket_when_out_of_licenses: bool,
    /// Where tickets go; required when tickets are enabled.
    pub ticket_queue: Option<String>,
    /// The mailbox mails and tickets are sent from.
    pub from_mailbox: String,
    pub ticket_customer_id: String,
    /// Who runs the command (recorded in the report and in tickets).
    pub caller: String,
    /// Plan only: all the reads, no write, no mail.
    pub dry_run: bool,
    pub waits: Waits,
}

impl AssignOptions {
    /// The runbook's defaults for everything but the user; no ticket queue, realistic waits.
    pub fn new(user: impl Into<String>, caller: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            provisioning_group: DEFAULT_PROVISIONING_GROUP.into(),
            user_settings_group: DEFAULT_USER_SETTINGS_GROUP.into(),
            license_group: DEFAULT_LICENSE_GROUP.into(),
            provisioning_group_prefix: DEFAULT_PROVISIONING_GROUP_PREFIX.into(),
            user_settings_group_prefix: DEFAULT_USER_SETTINGS_GROUP_PREFIX.into(),
            notify: false,
            custom_message: None,
            ticket_when_out_of_licenses: false,
            ticket_queue: None,
            from_mailbox: DEFAULT_FROM_MAILBOX.into(),
            ticket_customer_id: DEFAULT_TICKET_CUSTOMER_ID.into(),
            caller: caller.into(),
            dry_run: false,
            waits: Waits::realistic(),
        }
    }

    /// Step 1: refuses bad input before anything is read or changed.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidInput { reason });
        let upn = self.user.trim();
        if upn.is_empty() {
            return invalid("the user principal name is empty".into());
        }
        if !upn.contains('@') || upn.starts_with('@') || upn.ends_with('@') {
            return invalid(format!(
                "'{}' is not a user principal name (expected name@domain)",
                crate::policy::validate::clip(upn)
            ));
        }
        for (what, value) in [
            ("--provisioning-group", &self.provisioning_group),
            ("--user-settings-group", &self.user_settings_group),
            ("--license-group", &self.license_group),
            (
                "--provisioning-group-prefix",
                &self.provisioning_group_prefix,
            ),
            (
                "--user-settings-group-prefix",
                &self.user_settings_group_prefix,
            ),
            ("--from-mailbox", &self.from_mailbox),
            ("--ticket-customer-id", &self.ticket_customer_id),
            ("--caller", &self.caller),
        ] {
            if value.trim().is_empty() {
                return invalid(format!("{what} is empty"));
            }
        }
        if !self.from_mailbox.contains('@') {
            return invalid(format!(
                "--from-mailbox '{}' is not a mail address",
                self.from_mailbox
            ));
        }
        if self.ticket_when_out_of_licenses {
            match self.ticket_queue.as_deref().map(str::trim) {
                None | Some("") => {
                    return invalid(
                        "--ticket-when-out-of-licenses needs a ticket queue (--ticket-queue or the profile's ticket_queue)"
                            .into(),
                    );
                }
                Some(q) if !q.contains('@') => {
                    return invalid(format!("--ticket-queue '{q}' is not a mail address"));
                }
                Some(_) => {}
            }
        }
        if let Some(message) = &self.custom_message {
            validate_custom_message(message)?;
        }
        Ok(())
    }
}

/// Which path the assignment takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum AssignPath {
    /// Enterprise: group-based licensing plus a provisioning group.
    #[serde(rename_all = "camelCase")]
    Dedicated {
        provisioning_group: GroupRef,
        user_settings_group: GroupRef,
        license_group: GroupRef,
        sku: SkuRef,
        service_plan_ids: Vec<String>,
        /// The dedicated policy named like the provisioning group, if there is one.
        policy: Option<PolicyRef>,
    },
    /// Frontline (shared): a seat through the policy's assignment group.
    #[serde(rename_all = "camelCase")]
    Frontline {
        policy: PolicyRef,
        assignment_group: GroupRef,
        user_settings_group: GroupRef,
        service_plan_id: String,
        service_plan_name: String,
    },
}

impl AssignPath {
    pub fn name(&self) -> &'static str {
        match self {
            AssignPath::Dedicated { .. } => "dedicated",
            AssignPath::Frontline { .. } => "frontline",
        }
    }
}

/// A provisioning policy as the report refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    pub id: String,
    pub display_name: String,
    pub provisioning_type: String,
}

/// A membership that was already there and is kept (step 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptMembership {
    pub role: GroupRole,
    pub group: GroupRef,
}

/// Free licenses or seats seen while planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    /// SKU part number or Frontline plan name.
    pub name: String,
    pub total: i64,
    pub used: i64,
    pub available: i64,
}

/// Why the plan must stop after its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum Blocked {
    OutOfLicenses { what: &'static str, detail: String },
}

/// The result of planning.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignPlan {
    pub user: UserRef,
    pub path: AssignPath,
    pub kept_memberships: Vec<KeptMembership>,
    pub capacity: Option<Capacity>,
    pub plan: Plan,
    /// Set when the plan only sends a ticket and then fails.
    pub blocked: Option<Blocked>,
}

/// What `assign` did (or would do, with `dry_run`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignReport {
    /// The UPN that was asked for.
    pub requested_user: String,
    pub user: Option<UserRef>,
    pub path: Option<AssignPath>,
    pub caller: String,
    pub dry_run: bool,
    pub kept_memberships: Vec<KeptMembership>,
    pub capacity: Option<Capacity>,
    /// The planned steps.
    pub plan: Plan,
    pub blocked: Option<Blocked>,
    /// The steps that ran, with their outcomes.
    pub steps: Vec<StepReport>,
    pub cloud_pc: Option<CloudPcReport>,
    pub mails: Vec<MailReport>,
    /// HTTP requests sent to Graph (including retries), token requests excluded.
    pub graph_requests: u64,
}

/// `assign` failed; the report says how far it got.
#[derive(Debug)]
pub struct AssignFailure {
    pub report: Box<AssignReport>,
    pub error: Error,
}

/// Plans and (unless `dry_run`) executes an assignment.
pub async fn assign(
    client: &Client,
    opts: &AssignOptions,
    observer: &dyn Observer,
) -> std::result::Result<AssignReport, AssignFailure> {
    let requests_before = client.stats().requests;
    let mut report = AssignReport {
        requested_user: opts.user.clone(),
        caller: opts.caller.clone(),
        dry_run: opts.dry_run,
        ..AssignReport::default()
    };
    let planned = match plan(client, opts, observer).await {
        Ok(planned) => planned,
        Err(error) => {
            report.graph_requests = client.stats().requests.saturating_sub(requests_before);
            return Err(AssignFailure {
                report: Box::new(report),
                error,
            });
        }
    };
    let result = if opts.dry_run {
        report.fill_from_plan(&planned);
        match planned.blocked {
            Some(blocked) => Err(blocked_error(blocked, None)),
            None => Ok(()),
        }
    } else {
        run_plan(client, opts, &planned, observer, &mut report).await
    };
    report.graph_requests = client.stats().requests.saturating_sub(requests_before);
    match result {
        Ok(()) => Ok(report),
        Err(error) => Err(AssignFailure {
            report: Box::new(report),
            error,
        }),
    }
}

/// Executes a plan made by [`plan`] (with the same options). Useful when plans are made first and
/// run later, e.g. to review them.
pub async fn execute(
    client: &Client,
    opts: &AssignOptions,
    planned: &AssignPlan,
    observer: &dyn Observer,
) -> std::result::Result<AssignReport, AssignFailure> {
    let requests_before = client.stats().requests;
    let mut report = AssignReport {
        requested_user: opts.user.clone(),
        caller: opts.caller.clone(),
        ..AssignReport::default()
    };
    let result = run_plan(client, opts, planned, observer, &mut report).await;
    report.graph_requests = client.stats().requests.saturating_sub(requests_before);
    match result {
        Ok(()) => Ok(report),
        Err(error) => Err(AssignFailure {
            report: Box::new(report),
            error,
        }),
    }
}

impl AssignReport {
    fn fill_from_plan(&mut self, planned: &AssignPlan) {
        self.user = Some(planned.user.clone());
        self.path = Some(planned.path.clone());
        self.kept_memberships = planned.kept_memberships.clone();
        self.capacity = planned.capacity.clone();
        self.plan = planned.plan.clone();
        self.blocked = planned.blocked.clone();
    }
}

async fn run_plan(
    client: &Client,
    opts: &AssignOptions,
    planned: &AssignPlan,
    observer: &dyn Observer,
    report: &mut AssignReport,
) -> Result<()> {
    report.fill_from_plan(planned);
    let executor = Executor::new(client, opts.waits, observer);
    let mut state = ExecState::default();
    let result = executor.run(&planned.plan, &mut state).await;
    let result = match result {
        Err(Error::LicenseCountViolation { sku }) => {
            // The race for the last unit was lost: undo the license membership, ticket, stop.
            let (license_group, role, seats) = match &planned.path {
                AssignPath::Dedicated { license_group, .. } => {
                    (license_group.clone(), GroupRole::License, false)
                }
                AssignPath::Frontline {
                    assignment_group, ..
                } => (
                    assignment_group.clone(),
                    GroupRole::FrontlineAssignment,
                    true,
                ),
            };
            let mut undo = Plan::from(vec![Step::RemoveUserFromGroup {
                user: planned.user.clone(),
                group: license_group,
                role,
                reason: "the license engine reported CountViolation".into(),
            }]);
            if let Some(ticket) = ticket_step(opts, planned, seats) {
                undo.push(ticket);
            }
            report.plan.steps.extend(undo.steps.iter().cloned());
            match executor.run(&undo, &mut state).await {
                Ok(()) => Err(blocked_error(
                    Blocked::OutOfLicenses {
                        what: if seats { "licenses/seats" } else { "licenses" },
                        detail: format!(
                            "another assignment took the last {sku} license; {} was removed from the license group again",
                            planned.user
                        ),
                    },
                    ticket_recipient(&state),
                )),
                Err(e) => Err(e),
            }
        }
        other => other.and_then(|()| match planned.blocked.clone() {
            Some(blocked) => Err(blocked_error(blocked, ticket_recipient(&state))),
            None => Ok(()),
        }),
    };
    report.steps = state.steps;
    report.cloud_pc = state.cloud_pc;
    report.mails = state.mails;
    result
}

fn ticket_recipient(state: &ExecState) -> Option<String> {
    state
        .mails
        .iter()
        .find(|m| m.kind == crate::execute::MailKind::OutOfLicensesTicket)
        .map(|m| m.to.clone())
}

fn blocked_error(blocked: Blocked, ticket_sent_to: Option<String>) -> Error {
    match blocked {
        Blocked::OutOfLicenses { what, detail } => Error::OutOfLicenses {
            what,
            detail,
            ticket_sent_to,
        },
    }
}

fn ticket_step(opts: &AssignOptions, planned: &AssignPlan, seats: bool) -> Option<Step> {
    if !opts.ticket_when_out_of_licenses {
        return None;
    }
    let to = opts.ticket_queue.clone()?;
    let (license_name, sku_part_number) = match &planned.path {
        AssignPath::Dedicated {
            license_group, sku, ..
        } => (
            license_group.display_name.clone(),
            sku.sku_part_number.clone(),
        ),
        AssignPath::Frontline {
            assignment_group,
            service_plan_name,
            ..
        } => (
            assignment_group.display_name.clone(),
            service_plan_name.clone(),
        ),
    };
    Some(Step::SendOutOfLicensesTicket {
        from: opts.from_mailbox.clone(),
        to,
        ticket: TicketDetails {
            customer_id: opts.ticket_customer_id.clone(),
            license_name,
            sku_part_number,
            caller: opts.caller.clone(),
            user_principal_name: planned.user.user_principal_name.clone(),
            seats,
        },
    })
}

pub(crate) fn user_ref(user: &User) -> UserRef {
    UserRef {
        id: user.id.clone(),
        user_principal_name: user.user_principal_name.clone(),
        display_name: Some(user.display_name.clone()).filter(|n| !n.trim().is_empty()),
        mail: user.mail.clone().filter(|m| !m.trim().is_empty()),
    }
}

pub(crate) fn group_ref(group: &Group) -> GroupRef {
    GroupRef {
        id: group.id.clone(),
        display_name: group.display_name.clone(),
    }
}

fn provisioning_type_name(t: Option<&ProvisioningType>) -> String {
    t.map_or_else(|| "dedicated".to_owned(), |t| t.as_str().to_owned())
}

pub(crate) fn is_shared(policy: &ProvisioningPolicy) -> bool {
    matches!(
        policy.provisioning_type,
        Some(
            ProvisioningType::Shared
                | ProvisioningType::SharedByUser
                | ProvisioningType::SharedByEntraGroup
        )
    )
}

pub(crate) fn policy_ref(policy: &ProvisioningPolicy) -> PolicyRef {
    PolicyRef {
        id: policy.id.clone().unwrap_or_default(),
        display_name: policy.display_name.clone(),
        provisioning_type: provisioning_type_name(policy.provisioning_type.as_ref()),
    }
}

/// Picks exactly one group per name from the result of the `in` query.
/// Groups by display name or by id: the one helper behind every group option of assign,
/// unassign, reprovision and resize (pick with [`one_group`]). A GUID is read by id; the names
/// are looked up together (exact display name).
pub(crate) async fn find_groups(
    client: &Client,
    names_or_ids: &[String],
) -> w365_graph::Result<Vec<Group>> {
    let (ids, names): (Vec<String>, Vec<String>) = names_or_ids
        .iter()
        .map(|k| k.trim().to_owned())
        .partition(|k| crate::policy::tenant::looks_like_guid(k));
    let mut groups = if names.is_empty() {
        Vec::new()
    } else {
        client.groups().find_by_display_names(&names).await?
    };
    for id in ids {
        if let Some(g) = client.groups().get_opt(&id).await?
            && !groups.iter().any(|known| known.id == g.id)
        {
            groups.push(g);
        }
    }
    Ok(groups)
}

/// The one group named (or with the id) `name`; several with the name are refused with their ids.
pub(crate) fn one_group(groups: &[Group], name: &str) -> Result<GroupRef> {
    let name = name.trim();
    if crate::policy::tenant::looks_like_guid(name)
        && let Some(g) = groups.iter().find(|g| g.id.eq_ignore_ascii_case(name))
    {
        return Ok(group_ref(g));
    }
    let matching: Vec<&Group> = groups
        .iter()
        .filter(|g| g.display_name.eq_ignore_ascii_case(name))
        .collect();
    match matching.as_slice() {
        [] if crate::policy::tenant::looks_like_guid(name) => Err(Error::ObjectNotFound {
            kind: "group",
            id: name.into(),
        }),
        [] => Err(Error::GroupNotFound { name: name.into() }),
        [one] => Ok(group_ref(one)),
        many => Err(Error::AmbiguousName {
            kind: "group",
            name: name.into(),
            count: many.len(),
            ids: many.iter().map(|g| g.id.clone()).collect(),
        }),
    }
}

pub(crate) fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name.is_char_boundary(prefix.len())
        && name[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Step 6: keep memberships in groups with the prefix, else add the named group.
fn membership_decision(
    member_of: &[Group],
    prefix: &str,
    group: &GroupRef,
    role: GroupRole,
    user: &UserRef,
    kept: &mut Vec<KeptMembership>,
    plan: &mut Plan,
) -> bool {
    let with_prefix: Vec<GroupRef> = member_of
        .iter()
        .filter(|g| starts_with_ignore_case(&g.display_name, prefix))
        .map(group_ref)
        .collect();
    let already_in_named = member_of
        .iter()
        .any(|g| g.id.eq_ignore_ascii_case(&group.id));
    if !with_prefix.is_empty() || already_in_named {
        let keep = if with_prefix.is_empty() {
            vec![group.clone()]
        } else {
            with_prefix
        };
        kept.extend(keep.into_iter().map(|group| KeptMembership { role, group }));
        return false;
    }
    plan.push(Step::AddUserToGroup {
        user: user.clone(),
        group: group.clone(),
        role,
    });
    true
}

/// Reads what the assignment needs and returns the plan. Never writes.
pub async fn plan(
    client: &Client,
    opts: &AssignOptions,
    observer: &dyn Observer,
) -> Result<AssignPlan> {
    opts.validate()?;
    observer.on_event(&Event::Planning {
        what: "looking up the user and the provisioning policy",
    });
    let upn = opts.user.trim();
    let (user, policies) = futures::try_join!(
        async {
            client.users().find_by_upn(upn).await.graph_ctx(
                || format!("look up the user '{upn}'"),
                permissions::READ_USERS,
            )
        },
        async {
            client
                .provisioning_policies()
                .find_by_display_name(&opts.provisioning_group)
                .await
                .graph_ctx(
                    || {
                        format!(
                            "look up the provisioning policy '{}'",
                            opts.provisioning_group
                        )
                    },
                    permissions::READ_CLOUD_PCS,
                )
        }
    )?;
    let user = user.ok_or_else(|| Error::UserNotFound { upn: upn.into() })?;
    let user = user_ref(&user);
    let policy = match policies.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => {
            return Err(Error::AmbiguousName {
                kind: "provisioning policy",
                name: opts.provisioning_group.clone(),
                count: many.len(),
                ids: many
                    .iter()
                    .map(|p| p.id.clone().unwrap_or_default())
                    .collect(),
            });
        }
    };
    match policy {
        Some(policy) if is_shared(&policy) => {
            plan_frontline(client, opts, observer, user, policy).await
        }
        policy => plan_dedicated(client, opts, observer, user, policy).await,
    }
}

async fn plan_dedicated(
    client: &Client,
    opts: &AssignOptions,
    observer: &dyn Observer,
    user: UserRef,
    policy: Option<ProvisioningPolicy>,
) -> Result<AssignPlan> {
    observer.on_event(&Event::Planning {
        what: "resolving the groups, the user's memberships and the license capacity",
    });
    let names = [
        opts.provisioning_group.clone(),
        opts.user_settings_group.clone(),
        opts.license_group.clone(),
    ];
    let (groups, member_of, skus) = futures::try_join!(
        async {
            find_groups(client, &names).await.graph_ctx(
                || "look up the groups by name or id".into(),
                permissions::READ_GROUPS,
            )
        },
        async {
            client.users().member_of_groups(&user.id).await.graph_ctx(
                || format!("read the group memberships of {user}"),
                permissions::READ_GROUPS,
            )
        },
        async {
            client.subscribed_skus().list().await.graph_ctx(
                || "read the tenant's subscribed SKUs".into(),
                permissions::READ_ORGANIZATION,
            )
        }
    )?;

    // Step 3.
    let provisioning_group = one_group(&groups, &opts.provisioning_group)?;
    let user_settings_group = one_group(&groups, &opts.user_settings_group)?;
    let license_group_ref = one_group(&groups, &opts.license_group)?;
    let license_group = groups
        .iter()
        .find(|g| g.id == license_group_ref.id)
        .ok_or_else(|| Error::GroupNotFound {
            name: opts.license_group.clone(),
        })?;

    // Step 4: the license group's SKU, and that the tenant has it.
    let assigned = license_group.assigned_licenses.clone().unwrap_or_default();
    let Some(first) = assigned.first() else {
        return Err(Error::LicenseGroupWithoutLicense {
            group: license_group_ref.display_name.clone(),
        });
    };
    let sku_by_id: HashMap<_, &SubscribedSku> = skus.iter().map(|s| (s.sku_id, s)).collect();
    let mut group_skus = Vec::new();
    for license in &assigned {
        match sku_by_id.get(&license.sku_id) {
            Some(sku) => group_skus.push(*sku),
            None => {
                return Err(Error::SkuNotInTenant {
                    group: license_group_ref.display_name.clone(),
                    sku_id: license.sku_id.to_string(),
                });
            }
        }
    }
    let main_sku = sku_by_id[&first.sku_id];
    let sku = SkuRef {
        sku_id: main_sku.sku_id,
        sku_part_number: main_sku.sku_part_number.clone(),
    };
    let service_plan_ids: Vec<String> = group_skus
        .iter()
        .flat_map(|s| s.service_plans.iter())
        .map(|p| p.service_plan_id.to_string())
        .collect();

    // Step 5.
    if member_of
        .iter()
        .any(|g| g.id.eq_ignore_ascii_case(&license_group_ref.id))
    {
        return Err(Error::AlreadyAssigned {
            user: user.user_principal_name.clone(),
            group: license_group_ref.display_name.clone(),
        });
    }

    let path = AssignPath::Dedicated {
        provisioning_group: provisioning_group.clone(),
        user_settings_group: user_settings_group.clone(),
        license_group: license_group_ref.clone(),
        sku: sku.clone(),
        service_plan_ids: service_plan_ids.clone(),
        policy: policy.as_ref().map(policy_ref),
    };

    // Capacity: every SKU of the group needs a free unit (group licensing applies all or none).
    let exhausted = group_skus.iter().find(|s| s.available_units() <= 0);
    let capacity = Capacity {
        name: sku.sku_part_number.clone(),
        total: main_sku.prepaid_units.enabled,
        used: main_sku.consumed_units,
        available: main_sku.available_units(),
    };
    let mut planned = AssignPlan {
        user: user.clone(),
        path,
        kept_memberships: Vec::new(),
        capacity: Some(capacity),
        plan: Plan::new(),
        blocked: None,
    };
    if let Some(s) = exhausted {
        let detail = format!(
            "no free {} license for the license group '{}' ({} of {} in use)",
            s.sku_part_number,
            license_group_ref.display_name,
            s.consumed_units,
            s.prepaid_units.enabled
        );
        if let Some(ticket) = ticket_step(opts, &planned, false) {
            planned.plan.push(ticket);
        }
        planned.blocked = Some(Blocked::OutOfLicenses {
            what: "licenses",
            detail,
        });
        return Ok(planned);
    }

    // Step 6.
    let mut added = Vec::new();
    for (prefix, group, role) in [
        (
            &opts.provisioning_group_prefix,
            &provisioning_group,
            GroupRole::Provisioning,
        ),
        (
            &opts.user_settings_group_prefix,
            &user_settings_group,
            GroupRole::UserSettings,
        ),
    ] {
        if membership_decision(
            &member_of,
            prefix,
            group,
            role,
            &user,
            &mut planned.kept_memberships,
            &mut planned.plan,
        ) {
            added.push(group.clone());
        }
    }
    for kept in &planned.kept_memberships {
        observer.on_event(&Event::Note(&format!(
            "{user} already is in the {} {}; keeping it",
            kept.role, kept.group
        )));
    }
    // Step 7.
    if !added.is_empty() {
        planned.plan.push(Step::WaitForGroupMemberships {
            user: user.clone(),
            groups: added,
        });
    }
    planned.plan.push(Step::AddUserToGroup {
        user: user.clone(),
        group: license_group_ref.clone(),
        role: GroupRole::License,
    });
    // Step 8.
    planned.plan.push(Step::ConfirmLicenseAssigned {
        user: user.clone(),
        license_group: license_group_ref,
        sku: sku.clone(),
    });
    // Step 9.
    if opts.notify {
        planned.plan.push(Step::WaitForCloudPc {
            user: user.clone(),
            target: CloudPcTarget::ServicePlans {
                sku,
                service_plan_ids,
            },
        });
        planned.plan.push(Step::SendReadyMail {
            from: opts.from_mailbox.clone(),
            user: user.clone(),
            custom_message: opts.custom_message.clone(),
        });
    }
    Ok(planned)
}

async fn plan_frontline(
    client: &Client,
    opts: &AssignOptions,
    observer: &dyn Observer,
    user: UserRef,
    policy: ProvisioningPolicy,
) -> Result<AssignPlan> {
    let policy_info = policy_ref(&policy);
    let assignment = policy
        .assignments
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find_map(|a| {
            let group = Some(a.target.group_id.clone()).filter(|g| !g.is_empty())?;
            let plan = a.target.service_plan_id.clone().filter(|p| !p.is_empty())?;
            Some((group, plan))
        });
    let Some((group_id, service_plan_id)) = assignment else {
        return Err(Error::FrontlinePolicyWithoutAssignment {
            policy: policy_info.display_name,
        });
    };
    observer.on_event(&Event::Planning {
        what: "resolving the Frontline group, the user's memberships and the seats",
    });
    let (groups, assignment_group, member_of, plans) = futures::try_join!(
        async {
            find_groups(client, std::slice::from_ref(&opts.user_settings_group))
                .await
                .graph_ctx(
                    || "look up the groups by name or id".into(),
                    permissions::READ_GROUPS,
                )
        },
        async {
            client.groups().get_opt(&group_id).await.graph_ctx(
                || format!("read the Frontline assignment group {group_id}"),
                permissions::READ_GROUPS,
            )
        },
        async {
            client.users().member_of_groups(&user.id).await.graph_ctx(
                || format!("read the group memberships of {user}"),
                permissions::READ_GROUPS,
            )
        },
        async {
            // A cloud or tenant without the Frontline endpoint answers 404: fall back below.
            let plans = match client.service_plans().frontline().await {
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                other => other,
            };
            plans.graph_ctx(
                || "read the Frontline service plans".into(),
                permissions::READ_CLOUD_PCS,
            )
        }
    )?;
    let user_settings_group = one_group(&groups, &opts.user_settings_group)?;
    let assignment_group =
        assignment_group
            .map(|g| group_ref(&g))
            .ok_or_else(|| Error::ObjectNotFound {
                kind: "group",
                id: group_id.clone(),
            })?;

    // Seats: frontLineServicePlans, falling back to the legacy sharedUseServicePlans.
    let seats = match plans
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(&service_plan_id))
    {
        Some(p) => Some((
            p.display_name.clone(),
            i64::from(p.total_count),
            i64::from(p.used_count),
        )),
        None => client
            .service_plans()
            .shared_use_get(&service_plan_id)
            .await
            .graph_ctx(
                || format!("read the shared-use service plan {service_plan_id}"),
                permissions::READ_CLOUD_PCS,
            )?
            .map(|p| {
                (
                    p.display_name.clone(),
                    i64::from(p.total_count),
                    i64::from(p.used_count),
                )
            }),
    };
    let Some((plan_name, total, used)) = seats else {
        return Err(Error::FrontlinePlanNotFound { service_plan_id });
    };
    let capacity = Capacity {
        name: plan_name.clone(),
        total,
        used,
        available: total - used,
    };
    let path = AssignPath::Frontline {
        policy: policy_info.clone(),
        assignment_group: assignment_group.clone(),
        user_settings_group: user_settings_group.clone(),
        service_plan_id,
        service_plan_name: plan_name.clone(),
    };
    let mut planned = AssignPlan {
        user: user.clone(),
        path,
        kept_memberships: Vec::new(),
        capacity: Some(capacity.clone()),
        plan: Plan::new(),
        blocked: None,
    };
    let in_assignment_group = member_of
        .iter()
        .any(|g| g.id.eq_ignore_ascii_case(&assignment_group.id));
    if in_assignment_group {
        planned.kept_memberships.push(KeptMembership {
            role: GroupRole::FrontlineAssignment,
            group: assignment_group.clone(),
        });
    } else if capacity.available <= 0 {
        let detail = format!(
            "no free seat in the Frontline plan '{plan_name}' of policy '{}' ({used} of {total} in use)",
            policy_info.display_name
        );
        if let Some(ticket) = ticket_step(opts, &planned, true) {
            planned.plan.push(ticket);
        }
        planned.blocked = Some(Blocked::OutOfLicenses {
            what: "licenses/seats",
            detail,
        });
        return Ok(planned);
    } else {
        planned.plan.push(Step::AddUserToGroup {
            user: user.clone(),
            group: assignment_group.clone(),
            role: GroupRole::FrontlineAssignment,
        });
    }
    membership_decision(
        &member_of,
        &opts.user_settings_group_prefix,
        &user_settings_group,
        GroupRole::UserSettings,
        &user,
        &mut planned.kept_memberships,
        &mut planned.plan,
    );
    for kept in &planned.kept_memberships {
        observer.on_event(&Event::Note(&format!(
            "{user} already is in the {} {}; keeping it",
            kept.role, kept.group
        )));
    }
    if opts.notify {
        planned.plan.push(Step::WaitForCloudPc {
            user: user.clone(),
            target: CloudPcTarget::ProvisioningPolicy {
                policy_id: policy_info.id.clone(),
                policy_name: policy_info.display_name.clone(),
            },
        });
        planned.plan.push(Step::SendReadyMail {
            from: opts.from_mailbox.clone(),
            user,
            custom_message: opts.custom_message.clone(),
        });
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_runbooks() {
        let o = AssignOptions::new("a@contoso.com", "me");
        assert_eq!(
            o.provisioning_group,
            "cfg - Windows 365 - Provisioning - Win11"
        );
        assert_eq!(
            o.user_settings_group,
            "cfg - Windows 365 - User Settings - restore allowed"
        );
        assert_eq!(
            o.license_group,
            "lic - Windows 365 Enterprise - 2 vCPU 4 GB 128 GB"
        );
        assert_eq!(
            o.provisioning_group_prefix,
            "cfg - Windows 365 - Provisioning - "
        );
        assert_eq!(
            o.user_settings_group_prefix,
            "cfg - Windows 365 - User Settings - "
        );
        assert_eq!(o.from_mailbox, "runbooks@contoso.com");
        assert_eq!(o.ticket_customer_id, "Contoso");
        assert!(!o.notify && !o.ticket_when_out_of_licenses && !o.dry_run);
        o.validate().unwrap();
    }

    #[test]
    fn validation_refuses_before_any_change() {
        let mut o = AssignOptions::new("a@contoso.com", "me");
        o.custom_message = Some("x".repeat(3001));
        assert!(matches!(o.validate(), Err(Error::MessageTooLong { .. })));
        let mut o = AssignOptions::new("not-a-upn", "me");
        assert!(matches!(o.validate(), Err(Error::InvalidInput { .. })));
        o.user = "a@contoso.com".into();
        o.ticket_when_out_of_licenses = true;
        assert!(matches!(o.validate(), Err(Error::InvalidInput { .. })));
        o.ticket_queue = Some("queue@contoso.com".into());
        o.validate().unwrap();
        o.provisioning_group_prefix = " ".into();
        assert!(matches!(o.validate(), Err(Error::InvalidInput { .. })));
    }

    fn group(id: &str, name: &str) -> Group {
        Group {
            id: id.into(),
            display_name: name.into(),
            ..Group::default()
        }
    }

    fn user() -> UserRef {
        UserRef {
            id: "u".into(),
            user_principal_name: "u@contoso.com".into(),
            display_name: None,
            mail: None,
        }
    }

    #[test]
    fn a_group_with_the_prefix_is_kept_and_nothing_is_added() {
        let member_of = [
            group("g1", "Engineering"),
            group("g2", "CFG - Windows 365 - Provisioning - Win10"),
        ];
        let named = GroupRef {
            id: "g3".into(),
            display_name: DEFAULT_PROVISIONING_GROUP.into(),
        };
        let (mut kept, mut plan) = (Vec::new(), Plan::new());
        let added = membership_decision(
            &member_of,
            DEFAULT_PROVISIONING_GROUP_PREFIX,
            &named,
            GroupRole::Provisioning,
            &user(),
            &mut kept,
            &mut plan,
        );
        assert!(!added);
        assert!(plan.is_empty());
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].group.id, "g2");
    }

    #[test]
    fn without_a_prefix_group_the_named_group_is_added() {
        let named = GroupRef {
            id: "g3".into(),
            display_name: DEFAULT_USER_SETTINGS_GROUP.into(),
        };
        let (mut kept, mut plan) = (Vec::new(), Plan::new());
        let added = membership_decision(
            &[group("g1", "Engineering")],
            DEFAULT_USER_SETTINGS_GROUP_PREFIX,
            &named,
            GroupRole::UserSettings,
            &user(),
            &mut kept,
            &mut plan,
        );
        assert!(added);
        assert!(kept.is_empty());
        assert!(matches!(
            plan.steps.as_slice(),
            [Step::AddUserToGroup { group, role: GroupRole::UserSettings, .. }] if group.id == "g3"
        ));
    }

    #[test]
    fn one_group_per_name_or_a_clear_error() {
        let groups = [group("a", "Sales"), group("b", "sales"), group("c", "lic")];
        assert_eq!(one_group(&groups, "LIC").unwrap().id, "c");
        assert!(matches!(
            one_group(&groups, "none"),
            Err(Error::GroupNotFound { .. })
        ));
        match one_group(&groups, "Sales") {
            Err(Error::AmbiguousName { ids, count: 2, .. }) => assert_eq!(ids, vec!["a", "b"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn prefix_match_ignores_case_and_never_panics_on_char_boundaries() {
        assert!(starts_with_ignore_case(
            "CFG - Windows 365 - Provisioning - X",
            "cfg - windows 365 - provisioning - "
        ));
        assert!(!starts_with_ignore_case("cfg", "cfg - "));
        assert!(!starts_with_ignore_case("é-x", "e"));
    }
}
