//! `assign`: provision a Windows 365 Cloud PC for a user (the "Assign Windows365" runbook).
//!
//! Planning only reads, in one round trip whatever the size of the groups: the user with their
//! licences, their direct groups, the three named groups and the subscribed SKUs in one `$batch`
//! request, concurrently with the policy lookup (and, with `notify` or tickets, the sender check).
//! Execution then adds at most three memberships (the first two together), confirms visibility with
//! `checkMemberGroups`, and confirms the licence this group assigned through the user's
//! `licenseAssignmentStates`: seven requests when no wait has to poll twice.
//!
//! Dedicated path (issue 5, steps 1-9; issue 10's licensing truth):
//! 1. validate the inputs; resolve the user by UPN with their licences; check the sender;
//! 2. look up the provisioning policy named like the provisioning group; a Frontline policy
//!    (`shared`, `sharedByUser`, `sharedByEntraGroup`) takes the Frontline path;
//! 3. resolve the three groups by exact display name (none → error naming it, several → error
//!    listing the ids);
//! 4. the license group's Windows 365 SKU, picked by its service plans
//!    ([`crate::licensing::LicenseGroupLicense`]); none → "not a Windows 365 license group";
//! 5. already holding a Windows 365 licence from any source (this group, a direct assignment, any
//!    other Windows 365 group) → [`Error::AlreadyAssigned`] naming it, no change. (Checked before
//!    capacity: a fully used SKU is normal once everyone has one, and must not raise a ticket for a
//!    user who already holds the license.)
//! 6. capacity: no free unit → ticket (if enabled) and [`Error::OutOfLicenses`];
//! 7. keep existing prefix-group memberships, otherwise add the named groups; wait until the
//!    added memberships are visible; add the license group;
//! 8. confirm the licence assigned by this group (`assignedByGroup`), never another assignment of
//!    the same SKU; on CountViolation (the race for the last unit) remove the user from the
//!    license group again, ticket (if enabled), fail as out of licenses;
//! 9. with notify: wait for the Cloud PC, then mail the user (or report that they have no mailbox).
//!
//! Frontline path: seats of the policy's assignment ([`crate::licensing::FrontlineSeats`]: three
//! Cloud PCs per licence in dedicated mode, one pooled Cloud PC per licence in shared mode); a
//! member of the assignment group is already assigned; with notify, dedicated mode waits for the
//! personal Cloud PC, shared mode (pooled) sends an "access granted" mail at once.

use serde::Serialize;
use w365_graph::Client;
use w365_graph::models::{Group, ProvisioningPolicy, ProvisioningType, SubscribedSku, User};

use crate::cloud_pc::validate_upn;
use crate::error::{Error, GraphContext, Result};
use crate::execute::{
    CloudPcReport, Event, ExecState, Executor, MailReport, Observer, StepReport, Waits, permissions,
};
use crate::licensing::{
    FrontlineMode, FrontlineSeats, LicenseGroupLicense, Windows365Catalog, frontline_assignments,
    held_windows365_licenses,
};
use crate::mail::{validate_custom_message, verify_sender};
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
/// The runbook's demo `fromMailAddress`: a sandbox default only. Against a real tenant the sender
/// is set explicitly (flag or profile) and checked while planning.
pub const SANDBOX_FROM_MAILBOX: &str = "runbooks@contoso.com";
/// The runbook's demo `ticketCustomerId`: a sandbox default only.
pub const SANDBOX_TICKET_CUSTOMER_ID: &str = "Contoso";
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
    /// The mailbox mails and tickets are sent from. Required for `notify` and tickets; it has no
    /// default for a real tenant ([`AssignOptions::with_sandbox_defaults`] sets the demo one).
    pub from_mailbox: Option<String>,
    /// Prefixes the ticket subject; required for tickets (sandbox default: `Contoso`).
    pub ticket_customer_id: Option<String>,
    /// Who runs the command (recorded in the report and in tickets).
    pub caller: String,
    /// Plan only: all the reads, no write, no mail.
    pub dry_run: bool,
    pub waits: Waits,
}

impl AssignOptions {
    /// The runbook's defaults for everything but the user; no sender, no ticket queue or customer
    /// id, realistic waits.
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
            from_mailbox: None,
            ticket_customer_id: None,
            caller: caller.into(),
            dry_run: false,
            waits: Waits::realistic(),
        }
    }

    /// Fills what is not set with the sandbox's demo values (sender `runbooks@contoso.com`,
    /// customer id `Contoso`). Only for the sandbox: a real tenant sets its own.
    pub fn with_sandbox_defaults(mut self) -> Self {
        self.from_mailbox
            .get_or_insert_with(|| SANDBOX_FROM_MAILBOX.to_owned());
        self.ticket_customer_id
            .get_or_insert_with(|| SANDBOX_TICKET_CUSTOMER_ID.to_owned());
        self
    }

    /// Step 1: refuses bad input before anything is read or changed.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidInput { reason });
        validate_upn(&self.user)?;
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
            ("--caller", &self.caller),
        ] {
            if value.trim().is_empty() {
                return invalid(format!("{what} is empty"));
            }
        }
        if let Some(from) = &self.from_mailbox
            && !from.contains('@')
        {
            return invalid(format!("--from-mailbox '{from}' is not a mail address"));
        }
        let sender_set = self
            .from_mailbox
            .as_deref()
            .is_some_and(|f| !f.trim().is_empty());
        if self.notify && !sender_set {
            return Err(Error::SenderNotSet {
                what: "--notify".into(),
            });
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
            if !sender_set {
                return Err(Error::SenderNotSet {
                    what: "--ticket-when-out-of-licenses".into(),
                });
            }
            if self
                .ticket_customer_id
                .as_deref()
                .is_none_or(|c| c.trim().is_empty())
            {
                return invalid(
                    "--ticket-when-out-of-licenses needs a customer id for the ticket subject (--ticket-customer-id or the profile's ticket_customer_id)"
                        .into(),
                );
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
    /// Frontline: a seat through the policy's assignment group (dedicated mode: a personal Cloud
    /// PC, three per licence; shared mode: access to the group's pooled Cloud PCs).
    #[serde(rename_all = "camelCase")]
    Frontline {
        policy: PolicyRef,
        assignment_group: GroupRef,
        user_settings_group: GroupRef,
        service_plan_id: String,
        service_plan_name: String,
        mode: FrontlineMode,
        seats: FrontlineSeats,
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
    let from = opts.from_mailbox.clone()?;
    let customer_id = opts.ticket_customer_id.clone()?;
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
        from,
        to,
        ticket: TicketDetails {
            customer_id,
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
/// Adds the groups whose id is among `names_or_ids` and not yet in `groups`.
async fn add_groups_by_id(
    client: &Client,
    names_or_ids: &[String],
    groups: &mut Vec<Group>,
) -> w365_graph::Result<()> {
    for key in names_or_ids.iter().map(|k| k.trim()) {
        if crate::policy::tenant::looks_like_guid(key)
            && !groups.iter().any(|g| g.id.eq_ignore_ascii_case(key))
            && let Some(g) = client.groups().get_opt(key).await?
        {
            groups.push(g);
        }
    }
    Ok(())
}

pub(crate) async fn find_groups(
    client: &Client,
    names_or_ids: &[String],
) -> w365_graph::Result<Vec<Group>> {
    let names: Vec<String> = names_or_ids
        .iter()
        .map(|k| k.trim().to_owned())
        .filter(|k| !crate::policy::tenant::looks_like_guid(k))
        .collect();
    let mut groups = if names.is_empty() {
        Vec::new()
    } else {
        client.groups().find_by_display_names(&names).await?
    };
    add_groups_by_id(client, names_or_ids, &mut groups).await?;
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
        what: "reading the user, the groups, the licenses and the provisioning policy",
    });
    let upn = opts.user.trim();
    // Every planning read is independent of the others: the user with their licences, their
    // groups, the named groups and the SKUs go in one $batch request, concurrently with the
    // (beta) policy lookup and the sender check: one round trip.
    let names = [
        opts.provisioning_group.clone(),
        opts.user_settings_group.clone(),
        opts.license_group.clone(),
    ];
    let sender_needed = match (opts.notify, opts.ticket_when_out_of_licenses) {
        (true, _) => Some("--notify"),
        (false, true) => Some("--ticket-when-out-of-licenses"),
        (false, false) => None,
    };
    let (reads, policies, ()) = futures::try_join!(
        async {
            client
                .users()
                .read_for_assignment(upn, &names)
                .await
                .graph_ctx(
                    || format!("read the user '{upn}', their groups and the licenses"),
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
        },
        async {
            // The sender must exist and have a mailbox before anything is changed (never find
            // out after the licence is consumed).
            match sender_needed {
                Some(what) => {
                    verify_sender(client, opts.from_mailbox.as_deref(), what).await?;
                    Ok(())
                }
                None => Ok(()),
            }
        }
    )?;
    let w365_graph::resources::AssignmentReads {
        user: full_user,
        member_of,
        groups,
        skus,
    } = reads;
    let full_user = full_user
        .graph_ctx(
            || format!("look up the user '{upn}'"),
            permissions::READ_USERS,
        )?
        .ok_or_else(|| Error::UserNotFound { upn: upn.into() })?;
    let user = user_ref(&full_user);
    let member_of = member_of.graph_ctx(
        || format!("read the group memberships of {user}"),
        permissions::READ_GROUPS,
    )?;
    let mut groups = groups.graph_ctx(
        || "look up the groups by name".into(),
        permissions::READ_GROUPS,
    )?;
    // A group option may be an id instead of a name: those are read by id (the batch only
    // matched display names).
    add_groups_by_id(client, &names, &mut groups)
        .await
        .graph_ctx(
            || "look up the groups by id".into(),
            permissions::READ_GROUPS,
        )?;
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
            plan_frontline(client, opts, observer, user, policy, groups, member_of).await
        }
        policy => {
            let skus = skus.graph_ctx(
                || "read the tenant's subscribed SKUs".into(),
                permissions::READ_ORGANIZATION,
            )?;
            let read = Reads {
                user: &full_user,
                groups,
                member_of,
                skus,
            };
            plan_dedicated(opts, observer, user, read, policy)
        }
    }
}

/// What planning read, for the dedicated path.
pub(crate) struct Reads<'a> {
    pub(crate) user: &'a User,
    pub(crate) groups: Vec<Group>,
    pub(crate) member_of: Vec<Group>,
    pub(crate) skus: Vec<SubscribedSku>,
}

pub(crate) fn plan_dedicated(
    opts: &AssignOptions,
    observer: &dyn Observer,
    user: UserRef,
    read: Reads<'_>,
    policy: Option<ProvisioningPolicy>,
) -> Result<AssignPlan> {
    let Reads {
        user: full_user,
        groups,
        member_of,
        skus,
    } = read;

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

    // Step 4: the license group's Windows 365 SKU, picked by its service plans (a group may carry
    // other products too), and that the tenant has it.
    let catalog = Windows365Catalog::default();
    let license = LicenseGroupLicense::of(license_group, &skus, &catalog)?;
    let sku = license.sku.clone();
    let service_plan_ids = license.service_plan_ids.clone();
    let group_skus: Vec<&SubscribedSku> = license.all_skus.iter().collect();
    let main_sku = group_skus
        .iter()
        .find(|s| s.sku_id == sku.sku_id)
        .copied()
        .ok_or_else(|| Error::SkuNotInTenant {
            group: license_group_ref.display_name.clone(),
            sku_id: sku.sku_id.to_string(),
        })?;

    // Step 5: already assigned, from any source: this license group (even while its licence is
    // still being processed), or a Windows 365 licence held directly or through any other group.
    // Checked before capacity, so a full SKU never raises a ticket for a user who holds one.
    let held = held_windows365_licenses(full_user, &skus, &catalog, &member_of);
    let in_license_group = member_of
        .iter()
        .any(|g| g.id.eq_ignore_ascii_case(&license_group_ref.id));
    let other_w365_group = member_of.iter().find(|g| {
        !g.id.eq_ignore_ascii_case(&license_group_ref.id)
            && LicenseGroupLicense::of(g, &skus, &catalog).is_ok_and(|l| l.is_dedicated(&catalog))
    });
    let held_by = if let Some(h) = held.first() {
        Some(h.to_string())
    } else if in_license_group {
        Some(format!(
            "member of the license group {} (the licence is still being processed)",
            license_group_ref
        ))
    } else {
        other_w365_group.map(|g| {
            format!(
                "member of the Windows 365 license group '{}' (the licence is still being processed)",
                g.display_name
            )
        })
    };
    if let Some(held_by) = held_by {
        return Err(Error::AlreadyAssigned {
            user: user.user_principal_name.clone(),
            held_by,
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
    let exhausted = group_skus
        .iter()
        .copied()
        .find(|s| s.available_units() <= 0);
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
            from: opts.from_mailbox.clone().unwrap_or_default(),
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
    groups: Vec<Group>,
    member_of: Vec<Group>,
) -> Result<AssignPlan> {
    let reads = read_frontline(client, observer, policy).await?;
    decide_frontline(opts, observer, user, &reads, &groups, &member_of)
}

/// What the Frontline path reads once per policy (a bulk file reads it once for all its rows).
#[derive(Debug, Clone)]
pub(crate) struct FrontlineReads {
    pub(crate) policy: PolicyRef,
    pub(crate) mode: FrontlineMode,
    pub(crate) assignments: Vec<crate::licensing::FrontlineAssignment>,
    pub(crate) assignment: crate::licensing::FrontlineAssignment,
    pub(crate) assignment_group: GroupRef,
    pub(crate) plan_name: String,
    /// Members of the assignment group using a seat (dedicated mode; shared mode: 0).
    pub(crate) in_use: i64,
}

/// Reads a Frontline policy's assignment group, its members and its plan's name.
pub(crate) async fn read_frontline(
    client: &Client,
    observer: &dyn Observer,
    policy: ProvisioningPolicy,
) -> Result<FrontlineReads> {
    let policy_info = policy_ref(&policy);
    let mode =
        FrontlineMode::of(policy.provisioning_type.as_ref()).unwrap_or(FrontlineMode::Dedicated);
    let assignments = frontline_assignments(&policy);
    let Some(assignment) = assignments.first().cloned() else {
        return Err(Error::FrontlinePolicyWithoutAssignment {
            policy: policy_info.display_name,
        });
    };
    let group_id = assignment.group_id.clone();
    let service_plan_id = assignment.service_plan_id.clone();
    observer.on_event(&Event::Planning {
        what: "resolving the Frontline group, the user's memberships and the seats",
    });
    let (assignment_group, members, plans) = futures::try_join!(
        async {
            client.groups().get_opt(&group_id).await.graph_ctx(
                || format!("read the Frontline assignment group {group_id}"),
                permissions::READ_GROUPS,
            )
        },
        async {
            // Dedicated mode: every member holds (or waits for) a personal Cloud PC of the
            // allotment. Shared mode: members share the group's pooled Cloud PCs.
            if mode == FrontlineMode::Shared {
                return Ok(Vec::new());
            }
            client
                .groups()
                .members(&group_id)
                .collect_all()
                .await
                .graph_ctx(
                    || format!("list the members of the Frontline group {group_id}"),
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
    let assignment_group =
        assignment_group
            .map(|g| group_ref(&g))
            .ok_or_else(|| Error::ObjectNotFound {
                kind: "group",
                id: group_id.clone(),
            })?;
    // The plan's name: frontLineServicePlans, falling back to the legacy sharedUseServicePlans.
    let plan_name = match plans
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(&service_plan_id))
    {
        Some(p) => Some(p.display_name.clone()),
        None => client
            .service_plans()
            .shared_use_get(&service_plan_id)
            .await
            .graph_ctx(
                || format!("read the shared-use service plan {service_plan_id}"),
                permissions::READ_CLOUD_PCS,
            )?
            .map(|p| p.display_name),
    };
    let Some(plan_name) = plan_name else {
        return Err(Error::FrontlinePlanNotFound { service_plan_id });
    };
    let in_use = i64::try_from(members.iter().filter(|m| m.is_user()).count()).unwrap_or(i64::MAX);
    Ok(FrontlineReads {
        policy: policy_info,
        mode,
        assignments,
        assignment,
        assignment_group,
        plan_name,
        in_use,
    })
}

/// The Frontline path for one user, from the policy's reads.
pub(crate) fn decide_frontline(
    opts: &AssignOptions,
    observer: &dyn Observer,
    user: UserRef,
    reads: &FrontlineReads,
    groups: &[Group],
    member_of: &[Group],
) -> Result<AssignPlan> {
    let FrontlineReads {
        policy: policy_info,
        mode,
        assignments,
        assignment,
        assignment_group,
        plan_name,
        in_use,
    } = reads.clone();
    let service_plan_id = assignment.service_plan_id.clone();
    let user_settings_group = one_group(groups, &opts.user_settings_group)?;

    // Already in one of the policy's Frontline groups: already assigned, as on the dedicated path.
    if let Some(group) = member_of.iter().find(|g| {
        assignments
            .iter()
            .any(|a| a.group_id.eq_ignore_ascii_case(&g.id))
    }) {
        return Err(Error::AlreadyAssigned {
            user: user.user_principal_name.clone(),
            held_by: format!(
                "a Frontline seat ({} mode) through the group '{}' of the provisioning policy '{}'",
                mode.as_str(),
                group.display_name,
                policy_info.display_name
            ),
        });
    }

    // Seats of this assignment: its allotment (three Cloud PCs per licence in dedicated mode, one
    // pooled Cloud PC per licence in shared mode) minus what it already uses, clamped at zero.
    let seats = FrontlineSeats::new(mode, assignment.allotted_licenses, in_use);
    let capacity = Capacity {
        name: format!(
            "{plan_name}, allotment {}",
            assignment
                .allotment_display_name
                .as_deref()
                .map_or_else(|| assignment_group.to_string(), |a| format!("'{a}'"))
        ),
        total: seats.cloud_pc_capacity,
        used: seats.in_use,
        available: seats.free,
    };
    let path = AssignPath::Frontline {
        policy: policy_info.clone(),
        assignment_group: assignment_group.clone(),
        user_settings_group: user_settings_group.clone(),
        service_plan_id,
        service_plan_name: plan_name.clone(),
        mode,
        seats: seats.clone(),
    };
    let mut planned = AssignPlan {
        user: user.clone(),
        path,
        kept_memberships: Vec::new(),
        capacity: Some(capacity),
        plan: Plan::new(),
        blocked: None,
    };
    if seats.free <= 0 {
        let detail = match mode {
            FrontlineMode::Dedicated => format!(
                "no free Frontline seat for the group {assignment_group} of policy '{}': its allotment of {} license(s) allows {} Cloud PC(s) (three per license, dedicated mode) and {} are taken",
                policy_info.display_name,
                seats.allotted_licenses,
                seats.cloud_pc_capacity,
                seats.in_use
            ),
            FrontlineMode::Shared => format!(
                "the group {assignment_group} of policy '{}' has no Frontline license allotted, so it has no shared Cloud PC",
                policy_info.display_name
            ),
        };
        if let Some(ticket) = ticket_step(opts, &planned, true) {
            planned.plan.push(ticket);
        }
        planned.blocked = Some(Blocked::OutOfLicenses {
            what: "licenses/seats",
            detail,
        });
        return Ok(planned);
    }
    planned.plan.push(Step::AddUserToGroup {
        user: user.clone(),
        group: assignment_group.clone(),
        role: GroupRole::FrontlineAssignment,
    });
    membership_decision(
        member_of,
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
        let from = opts.from_mailbox.clone().unwrap_or_default();
        match mode {
            FrontlineMode::Dedicated => {
                planned.plan.push(Step::WaitForCloudPc {
                    user: user.clone(),
                    target: CloudPcTarget::ProvisioningPolicy {
                        policy_id: policy_info.id.clone(),
                        policy_name: policy_info.display_name.clone(),
                    },
                });
                planned.plan.push(Step::SendReadyMail {
                    from,
                    user,
                    custom_message: opts.custom_message.clone(),
                });
            }
            // Pooled: there is no personal Cloud PC to wait for.
            FrontlineMode::Shared => planned.plan.push(Step::SendAccessGrantedMail {
                from,
                user,
                policy_name: policy_info.display_name.clone(),
                custom_message: opts.custom_message.clone(),
            }),
        }
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
        assert_eq!(o.from_mailbox, None, "no demo sender outside the sandbox");
        assert_eq!(o.ticket_customer_id, None);
        let sandbox = o.clone().with_sandbox_defaults();
        assert_eq!(
            sandbox.from_mailbox.as_deref(),
            Some("runbooks@contoso.com")
        );
        assert_eq!(sandbox.ticket_customer_id.as_deref(), Some("Contoso"));
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
        assert!(
            matches!(o.validate(), Err(Error::SenderNotSet { .. })),
            "a ticket needs a sender set explicitly"
        );
        o = o.with_sandbox_defaults();
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
