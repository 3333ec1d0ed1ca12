//! `assign --from FILE`: bulk onboarding (issue 14), dedicated (Enterprise) path.
//!
//! Planning reads the whole file first, with reads only and few requests:
//! - users by `userPrincipalName in (...)`, 15 values per clause (Graph's known issues: "the
//!   request is limited to 15 expressions in the filter clause by default",
//!   <https://developer.microsoft.com/en-us/graph/known-issues/?search=13635>), 20 such GETs per `$batch`
//!   (<https://learn.microsoft.com/en-us/graph/json-batching>): 300 users per request;
//! - each user's groups (`memberOf`), 20 per `$batch`;
//! - the named groups once (`displayName in (...)`), the subscribed SKUs once, the provisioning
//!   policy of each provisioning group once.
//!
//! Each row is then decided with the single assign's rules ([`crate::assign::plan_dedicated`]):
//! assign, already assigned (and by what), invalid (row, column, problem, fix); the free units
//! are handed out in `priority` then file order, and the rows beyond them are blocked.
//!
//! Execution adds memberships with `PATCH members@odata.bind` (20 references per PATCH, reference
//! §3.4: <https://learn.microsoft.com/en-us/graph/api/group-update>), 20 PATCHes per `$batch`; a
//! throttled item is resent after its `Retry-After` by the batch handler. It waits until the new
//! memberships are listed (each waiting user's groups, 20 reads per `$batch`), adds the licence
//! groups the same way, and confirms the licences of all users in one polling loop (`id in (...)`
//! with `licenseAssignmentStates`, in batches). Rows out of licences get one ticket for the whole
//! run.
//!
//! A journal (JSON lines, next to the input by default) records each user's finished steps, so a
//! run interrupted at any point and started again with the same command continues: planning
//! re-reads the tenant (memberships already made are kept, not made twice) and the journal tells
//! a licence this file already assigned from one that was there before.
//!
//! Frontline rows (a provisioning group whose policy is Frontline, dedicated or shared) take the
//! single assign's Frontline path ([`crate::assign::decide_frontline`]): each policy's assignment
//! group, members and plan are read once; the free seats of each assignment group are handed out
//! over the whole file like licence units, and the rows beyond them are blocked and listed in the
//! run's one ticket. A seat is granted by the membership: there is no licence to confirm.
//!
//! Directory writes are paced under Graph's write budget ([`w365_graph::limits`]): each `$batch`
//! takes as many writes from [`BulkOptions::pacer`] as it carries.
//!
//! `--notify` ([`notify`]): after the licences, one polling loop over the Cloud PCs of all rows
//! mails each user once when their Cloud PC is provisioned (pooled Frontline seats: at once).

pub mod input;
mod journal;
mod notify;
pub mod unassign;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use w365_graph::models::{Group, SubscribedSku, User};
use w365_graph::{BatchRequest, Client, Filter, GraphPath, Page, Query, WritePacer};

use crate::assign::{
    AssignOptions, FrontlineReads, Reads, decide_frontline, is_shared, plan_dedicated,
    read_frontline, user_ref,
};
use crate::error::{Error, GraphContext, Result};
use crate::execute::{Event, ExecState, Executor, Observer, permissions};
use crate::licensing::{FrontlineMode, FrontlineSeats, LicenseGroupLicense, Windows365Catalog};
use crate::plan::{CloudPcTarget, GroupRef, GroupRole, Plan, SkuRef, Step, TicketDetails, UserRef};
use crate::wait::{Check, WaitOutcome, wait_for};
use journal::{JournalHome, RunStart, begin, fail_row};
pub use notify::NotifyCursor;
use notify::{Notify, NotifyEnd, NotifyMail, NotifyMode};

pub use input::{InputError, InputRow, InvalidRow, ParsedInput, RowOverrides};
pub use journal::{JournalSink, JournalState};

/// Values per `in (...)` clause on directory objects (reference §2.1).
const IN_MAX: usize = 15;
/// References per `members@odata.bind` PATCH (reference §3.4).
const BIND_MAX: usize = 20;

/// How a bulk run is configured (the flags; rows override the group names and prefixes).
#[derive(Debug, Clone)]
pub struct BulkOptions {
    /// The command's flags; `user` is ignored.
    pub base: AssignOptions,
    /// Any invalid row stops the whole run before anything is changed.
    pub strict: bool,
    /// The journal file (default: the input's path with `.journal` appended).
    pub journal: Option<PathBuf>,
    /// Keeps the run's directory writes under Graph's write budget
    /// ([`w365_graph::limits`]; default [`w365_graph::WritePace::GRAPH_DEFAULT`]).
    pub pacer: WritePacer,
}

/// What happens (or happened) to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Planned: will be assigned.
    Assign,
    /// Done by this run (or an interrupted earlier run of the same file).
    Assigned,
    AlreadyAssigned,
    /// Out of licences.
    Blocked,
    Invalid,
    /// A step failed.
    Failed,
    /// `unassign --from`, planned: will be unassigned.
    Unassign,
    /// `unassign --from`: done by this run (or an interrupted earlier run of the same file).
    Unassigned,
    /// `unassign --from`: nothing of the licence is left.
    NothingToDo,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Assign => "assign",
            Outcome::Assigned => "assigned",
            Outcome::AlreadyAssigned => "already assigned",
            Outcome::Blocked => "blocked",
            Outcome::Invalid => "invalid",
            Outcome::Failed => "failed",
            Outcome::Unassign => "unassign",
            Outcome::Unassigned => "unassigned",
            Outcome::NothingToDo => "nothing to do",
        }
    }
}

/// One row of the plan and of the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    pub row: u64,
    pub user: String,
    pub outcome: Outcome,
    /// Already assigned: by what. Blocked: why. Invalid/failed: the problem.
    pub detail: String,
    /// Invalid: the column at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Invalid: how to fix the row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Failed/invalid: the error kind (as the CLI's exit codes name them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// The licence group the row uses (when resolved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_group: Option<String>,
    /// The groups the row is added to, besides the licence group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_to: Vec<String>,
    /// `--notify`: the user's Cloud PC, once listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_pc: Option<String>,
    /// `--notify`: what became of the user's mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
}

/// Free units of one SKU at planning time and how the plan uses them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkuCapacity {
    pub sku: String,
    pub available: i64,
    pub planned: i64,
    pub blocked: i64,
}

/// The plan for a whole file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkPlan {
    pub rows: Vec<RowResult>,
    pub capacity: Vec<SkuCapacity>,
    pub empty_rows: Vec<u64>,
    /// Graph requests sent while planning.
    pub graph_requests: u64,
    #[serde(skip)]
    work: Vec<Work>,
    /// Rows an earlier run of this file assigned whose user is still to be mailed (`--notify`).
    #[serde(skip)]
    notify: Vec<Notify>,
    /// Some blocked row lacks a Frontline seat (the ticket says "licenses/seats").
    #[serde(skip)]
    seats_blocked: bool,
    #[serde(skip)]
    journal: JournalHome,
}

impl BulkPlan {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.rows.iter().filter(|r| r.outcome == outcome).count()
    }
}

/// What a row needs done, by index into `rows`.
#[derive(Debug, Clone)]
struct Work {
    index: usize,
    /// The file's UPN (the journal's key).
    upn: String,
    user: UserRef,
    adds: Vec<GroupRef>,
    /// The group that grants the Cloud PC: the licence group, or the Frontline assignment group.
    license_group: GroupRef,
    kind: WorkKind,
    /// The licence (or seat) group was added by an earlier run of this file (journal).
    license_added: bool,
    /// The row's mail when the Cloud PC is ready: `None` when the row does not notify, else the
    /// custom text (if any; the row's `message`, or `--message`).
    mail: Option<Option<String>>,
}

/// The path of a row, as the single assign takes it.
#[derive(Debug, Clone)]
enum WorkKind {
    /// Group-based licensing: the licence is confirmed, the Cloud PC matched by its service plans.
    Dedicated {
        sku: SkuRef,
        service_plan_ids: Vec<String>,
    },
    /// A Frontline seat through the policy's assignment group (no licence to confirm).
    Frontline {
        mode: FrontlineMode,
        policy: crate::assign::PolicyRef,
    },
}

impl Work {
    /// The row's mail, when it notifies.
    fn notify(&self) -> Option<Notify> {
        let message = self.mail.clone()?;
        Some(notify_of(
            self.index, &self.upn, &self.user, &self.kind, message,
        ))
    }
}

/// Whether a row's user is mailed (its `notify` column, else `--notify`) and with which text (its
/// `message` column, else `--message`): `None` when not mailed.
fn row_mail(base: &AssignOptions, row: &InputRow) -> Option<Option<String>> {
    row.overrides.notify.unwrap_or(base.notify).then(|| {
        row.overrides
            .message
            .clone()
            .or(base.custom_message.clone())
    })
}

fn notify_of(
    index: usize,
    upn: &str,
    user: &UserRef,
    kind: &WorkKind,
    custom_message: Option<String>,
) -> Notify {
    let mail = match kind {
        WorkKind::Dedicated {
            sku,
            service_plan_ids,
        } => NotifyMail::Ready(CloudPcTarget::ServicePlans {
            sku: sku.clone(),
            service_plan_ids: service_plan_ids.clone(),
        }),
        WorkKind::Frontline {
            mode: FrontlineMode::Dedicated,
            policy,
        } => NotifyMail::Ready(CloudPcTarget::ProvisioningPolicy {
            policy_id: policy.id.clone(),
            policy_name: policy.display_name.clone(),
        }),
        WorkKind::Frontline {
            mode: FrontlineMode::Shared,
            policy,
        } => NotifyMail::AccessGranted {
            policy_name: policy.display_name.clone(),
        },
    };
    Notify {
        index,
        upn: upn.to_owned(),
        user: user.clone(),
        mail,
        custom_message,
    }
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkReport {
    pub rows: Vec<RowResult>,
    pub capacity: Vec<SkuCapacity>,
    /// Where the out-of-licences ticket went (one for the run), if one was sent.
    pub ticket_sent_to: Option<String>,
    /// Graph requests of planning and execution.
    pub graph_requests: u64,
}

/// How a job's run of a bulk assign ended.
#[derive(Debug, Clone)]
pub enum BulkJobRun {
    /// Every row is done (the mails of `notify` sent, or given up on).
    Done(BulkReport),
    /// `notify` waits for Cloud PCs: resume the job at `until` with `cursor` (every step before
    /// is done and journaled; the rows' mails so far are in the journal).
    Parked {
        until: time::OffsetDateTime,
        reason: String,
        cursor: NotifyCursor,
    },
}

/// Rows done so far, for a progress bar.
pub trait Progress: Send + Sync {
    fn rows(&self, done: u64, total: u64);
}

impl Progress for () {
    fn rows(&self, _done: u64, _total: u64) {}
}

/// The journal's default place: next to the input.
pub fn default_journal(input: &Path) -> PathBuf {
    let mut name = input.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// Journal steps of `assign --from`.
const STEP_GROUPS: &str = "groups";
const STEP_LICENSE: &str = "license";
const STEP_CONFIRMED: &str = "confirmed";
/// A blocked row's user is listed in the run's ticket: begun (before it is sent), sent (after).
const STEP_TICKETING: &str = "ticketing";
const STEP_TICKETED: &str = "ticketed";

fn effective(base: &AssignOptions, row: &InputRow) -> AssignOptions {
    let mut o = base.clone();
    o.user = row.user.clone();
    let set = |slot: &mut String, v: &Option<String>| {
        if let Some(v) = v {
            slot.clone_from(v);
        }
    };
    let r = &row.overrides;
    set(&mut o.provisioning_group, &r.provisioning_group);
    set(&mut o.user_settings_group, &r.user_settings_group);
    set(&mut o.license_group, &r.license_group);
    set(
        &mut o.provisioning_group_prefix,
        &r.provisioning_group_prefix,
    );
    set(
        &mut o.user_settings_group_prefix,
        &r.user_settings_group_prefix,
    );
    o.notify = false;
    o.dry_run = true;
    o
}

pub(crate) fn row_result(row: u64, user: &str, outcome: Outcome, detail: String) -> RowResult {
    RowResult {
        row,
        user: user.to_owned(),
        outcome,
        detail,
        column: None,
        fix: None,
        error_kind: None,
        license_group: None,
        add_to: Vec::new(),
        cloud_pc: None,
        mail: None,
    }
}

fn user_select() -> Vec<&'static str> {
    vec![
        "id",
        "userPrincipalName",
        "displayName",
        "mail",
        "accountEnabled",
        "usageLocation",
        "assignedLicenses",
        "licenseAssignmentStates",
    ]
}

/// Reads the users named in `upns` (`in` filters in batches). Keyed by lower-case UPN.
pub(crate) async fn read_users(client: &Client, upns: &[String]) -> Result<HashMap<String, User>> {
    let requests: Vec<BatchRequest> = upns
        .chunks(IN_MAX)
        .enumerate()
        .map(|(i, chunk)| {
            BatchRequest::get(
                format!("u{i}"),
                &GraphPath::new(["users"]),
                &Query::new()
                    .filter(Filter::in_("userPrincipalName", chunk))
                    .select(user_select()),
            )
        })
        .collect();
    let mut out = HashMap::new();
    for page in batch_pages::<User>(client, requests, "read the users of the file").await? {
        for user in page {
            out.insert(user.user_principal_name.to_lowercase(), user);
        }
    }
    Ok(out)
}

/// Sends GETs in batches and decodes each answer as one page of `T` (a failed item is an error).
pub(crate) async fn batch_pages<T: serde::de::DeserializeOwned + Send + 'static>(
    client: &Client,
    requests: Vec<BatchRequest>,
    what: &str,
) -> Result<Vec<Vec<T>>> {
    batch_pages_on(client, w365_graph::ApiVersion::V1, requests, what).await
}

/// As [`batch_pages`], to the `$batch` of `version`.
pub(crate) async fn batch_pages_on<T: serde::de::DeserializeOwned + Send + 'static>(
    client: &Client,
    version: w365_graph::ApiVersion,
    requests: Vec<BatchRequest>,
    what: &str,
) -> Result<Vec<Vec<T>>> {
    let responses = client
        .batch()
        .version(version)
        .send(requests)
        .await
        .graph_ctx(|| what.to_owned(), permissions::READ_USERS)?;
    let mut out = Vec::with_capacity(responses.len());
    for r in responses {
        if let Some(e) = r.error() {
            return Err(e).graph_ctx(|| what.to_owned(), permissions::READ_USERS);
        }
        let page: Page<T> = r
            .json()
            .graph_ctx(|| what.to_owned(), permissions::READ_USERS)?;
        let mut items = page.value;
        if let Some(link) = page.next_link {
            let rest: Vec<T> = w365_graph::Pager::from_next_link(client.clone(), &link)
                .collect_all()
                .await
                .graph_ctx(|| what.to_owned(), permissions::READ_USERS)?;
            items.extend(rest);
        }
        out.push(items);
    }
    Ok(out)
}

/// Plans the whole file with reads only.
pub async fn plan(
    client: &Client,
    opts: &BulkOptions,
    input: ParsedInput,
    input_path: &Path,
    observer: &dyn Observer,
) -> Result<BulkPlan> {
    let journal_path = opts
        .journal
        .clone()
        .unwrap_or_else(|| default_journal(input_path));
    let journal = JournalState::read(&journal_path)?;
    plan_with(
        client,
        opts,
        input,
        JournalHome::File(journal_path),
        journal,
        observer,
    )
    .await
}

/// Plans the rows of a job, whose journal is kept in the job (what earlier runs of it recorded:
/// `journal`); run it with [`execute_in_job`].
pub async fn plan_in_job(
    client: &Client,
    opts: &BulkOptions,
    input: ParsedInput,
    journal: JournalState,
    observer: &dyn Observer,
) -> Result<BulkPlan> {
    let home = JournalHome::Job(journal.clone());
    plan_with(client, opts, input, home, journal, observer).await
}

async fn plan_with(
    client: &Client,
    opts: &BulkOptions,
    input: ParsedInput,
    journal_home: JournalHome,
    journal: JournalState,
    observer: &dyn Observer,
) -> Result<BulkPlan> {
    let requests_before = client.stats().requests;
    if input
        .rows
        .iter()
        .any(|r| r.overrides.notify.unwrap_or(opts.base.notify))
    {
        // The sender must exist and have a mailbox before anything is changed.
        crate::mail::verify_sender(client, opts.base.from_mailbox.as_deref(), "--notify").await?;
    }
    let ParsedInput {
        rows: input_rows,
        invalid,
        empty_rows,
    } = input;
    // The run's own options are checked once (with the first row's user).
    if let Some(first) = input_rows.first() {
        let mut o = opts.base.clone();
        o.user = first.user.clone();
        o.validate()?;
    }
    let mut results = invalid_rows(invalid);
    let row_opts: Vec<AssignOptions> = input_rows
        .iter()
        .map(|r| effective(&opts.base, r))
        .collect();
    let mut names: Vec<String> = Vec::new();
    let mut provisioning_names: Vec<String> = Vec::new();
    for o in &row_opts {
        for n in [
            &o.provisioning_group,
            &o.user_settings_group,
            &o.license_group,
        ] {
            if !names.iter().any(|x| x.eq_ignore_ascii_case(n)) {
                names.push(n.clone());
            }
        }
        if !provisioning_names
            .iter()
            .any(|x| x.eq_ignore_ascii_case(&o.provisioning_group))
        {
            provisioning_names.push(o.provisioning_group.clone());
        }
    }
    let upns: Vec<String> = input_rows.iter().map(|r| r.user.clone()).collect();
    observer.on_event(&Event::Planning {
        what: "reading the users, their licences, the named groups, the SKUs and the policies",
    });
    let (users, groups, skus, policies) = futures::try_join!(
        read_users(client, &upns),
        async {
            client
                .groups()
                .find_by_display_names(&names)
                .await
                .graph_ctx(
                    || "look up the groups by name".into(),
                    permissions::READ_GROUPS,
                )
        },
        async {
            client.subscribed_skus().list().await.graph_ctx(
                || "read the tenant's subscribed SKUs".into(),
                permissions::READ_ORGANIZATION,
            )
        },
        async {
            let lookups = provisioning_names.iter().map(|name| async move {
                client
                    .provisioning_policies()
                    .find_by_display_name(name)
                    .await
                    .map(|p| (name.to_lowercase(), p))
            });
            futures::future::try_join_all(lookups)
                .await
                .graph_ctx(
                    || "look up the provisioning policies".into(),
                    permissions::READ_CLOUD_PCS,
                )
                .map(|v| v.into_iter().collect::<HashMap<_, _>>())
        }
    )?;
    // Memberships of every user found, 20 reads per batch.
    let found: Vec<&User> = input_rows
        .iter()
        .filter_map(|r| users.get(&r.user.to_lowercase()))
        .collect();
    let member_requests: Vec<BatchRequest> = found
        .iter()
        .enumerate()
        .map(|(i, u)| {
            BatchRequest::get(
                format!("m{i}"),
                &GraphPath::new(["users", &u.id, "memberOf", "microsoft.graph.group"]),
                &Query::new()
                    .select(["id", "displayName", "assignedLicenses"])
                    .top(999),
            )
        })
        .collect();
    let member_pages = if member_requests.is_empty() {
        Vec::new()
    } else {
        batch_pages::<Group>(client, member_requests, "read the users' group memberships").await?
    };
    let member_of: HashMap<String, Vec<Group>> = found
        .iter()
        .map(|u| u.id.clone())
        .zip(member_pages)
        .collect();

    // Each Frontline policy's group, members and plan, once.
    let mut frontline: HashMap<String, std::result::Result<FrontlineReads, String>> =
        HashMap::new();
    for o in &row_opts {
        if let Some(policy) = policies
            .get(&o.provisioning_group.to_lowercase())
            .and_then(|p| p.first())
            .filter(|p| is_shared(p))
        {
            let key = policy.id.clone().unwrap_or_default();
            if let std::collections::hash_map::Entry::Vacant(slot) = frontline.entry(key) {
                let reads = read_frontline(client, observer, policy.clone())
                    .await
                    .map_err(|e| e.to_string());
                slot.insert(reads);
            }
        }
    }

    // Decide each row with the single assign's rules.
    let catalog = Windows365Catalog::default();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut notify: Vec<Notify> = Vec::new();
    for (row, o) in input_rows.iter().zip(&row_opts) {
        let index = results.len();
        if row.overrides.license_group_prefix.is_some() {
            results.push(RowResult {
                column: Some("license-group-prefix".into()),
                fix: Some("remove the column: it belongs to `unassign --from`".into()),
                error_kind: Some("validation".into()),
                ..row_result(
                    row.row,
                    &row.user,
                    Outcome::Invalid,
                    "license-group-prefix is not an assign column".into(),
                )
            });
            continue;
        }
        let mail = row_mail(&opts.base, row);
        if row.overrides.message.is_some() && mail.is_none() {
            results.push(RowResult {
                column: Some("message".into()),
                fix: Some(
                    "set the row's notify column to true (or give --notify), or empty its message"
                        .into(),
                ),
                error_kind: Some("validation".into()),
                ..row_result(
                    row.row,
                    &row.user,
                    Outcome::Invalid,
                    "the message is the text of the ready mail, and this row sends none".into(),
                )
            });
            continue;
        }
        let Some(user) = users.get(&row.user.to_lowercase()) else {
            results.push(unknown_user_row(row.row, &row.user));
            continue;
        };
        let uref = user_ref(user);
        let member_of = member_of.get(&user.id).cloned().unwrap_or_default();
        let policy = policies
            .get(&o.provisioning_group.to_lowercase())
            .and_then(|p| p.first().cloned());
        // The row's path: the group that grants the Cloud PC, and what it grants.
        let (decided, path) = match policy.as_ref().filter(|p| is_shared(p)) {
            Some(p) => match frontline.get(&p.id.clone().unwrap_or_default()) {
                Some(Ok(reads)) => (
                    decide_frontline(
                        o,
                        &crate::execute::Silent,
                        uref.clone(),
                        reads,
                        &groups,
                        &member_of,
                    ),
                    Some((
                        reads.assignment_group.clone(),
                        WorkKind::Frontline {
                            mode: reads.mode,
                            policy: reads.policy.clone(),
                        },
                        RowCapacity::Seats {
                            key: reads.assignment_group.id.clone(),
                            name: format!(
                                "{}, group '{}'",
                                reads.plan_name, reads.assignment_group.display_name
                            ),
                            free: FrontlineSeats::new(
                                reads.mode,
                                reads.assignment.allotted_licenses,
                                reads.in_use,
                            )
                            .free,
                        },
                    )),
                ),
                Some(Err(e)) => (
                    Err(Error::InvalidInput {
                        reason: format!("the Frontline policy '{}': {e}", p.display_name),
                    }),
                    None,
                ),
                None => continue,
            },
            None => {
                let license = groups
                    .iter()
                    .find(|g| {
                        g.display_name.eq_ignore_ascii_case(&o.license_group)
                            || g.id.eq_ignore_ascii_case(&o.license_group)
                    })
                    .and_then(|g| {
                        LicenseGroupLicense::of(g, &skus, &catalog)
                            .ok()
                            .map(|l| (crate::assign::group_ref(g), l))
                    });
                let reads = Reads {
                    user,
                    groups: groups.clone(),
                    member_of: member_of.clone(),
                    skus: skus.clone(),
                };
                (
                    plan_dedicated(o, &crate::execute::Silent, uref.clone(), reads, policy),
                    license.map(|(g, l)| {
                        (
                            g,
                            WorkKind::Dedicated {
                                sku: l.sku.clone(),
                                service_plan_ids: l.service_plan_ids.clone(),
                            },
                            RowCapacity::Skus(l.all_skus.iter().map(|s| s.sku_id).collect()),
                        )
                    }),
                )
            }
        };
        match decided {
            Ok(planned) => {
                let Some((license_group, kind, capacity)) = path else {
                    continue;
                };
                let adds: Vec<GroupRef> = planned
                    .plan
                    .steps
                    .iter()
                    .filter_map(|s| match s {
                        Step::AddUserToGroup { group, role, .. }
                            if !matches!(
                                role,
                                GroupRole::License | GroupRole::FrontlineAssignment
                            ) =>
                        {
                            Some(group.clone())
                        }
                        _ => None,
                    })
                    .collect();
                results.push(RowResult {
                    license_group: Some(license_group.display_name.clone()),
                    add_to: adds.iter().map(|g| g.display_name.clone()).collect(),
                    ..row_result(row.row, &row.user, Outcome::Assign, String::new())
                });
                candidates.push(Candidate {
                    work: Work {
                        index,
                        upn: row.user.clone(),
                        user: uref,
                        adds,
                        license_group,
                        kind,
                        license_added: false,
                        mail: mail.clone(),
                    },
                    capacity,
                    priority: row.priority,
                });
            }
            Err(Error::AlreadyAssigned { held_by, .. }) => {
                // This file's earlier run added the licence (or seat) group: confirm it (or, when
                // confirmed, report the row as assigned and mail the user if still due).
                let in_group = |g: &GroupRef| member_of.iter().any(|x| x.id == g.id);
                match path {
                    Some((group, kind, _))
                        if journal.has(&row.user, STEP_LICENSE) && in_group(&group) =>
                    {
                        let confirmed = journal.has(&row.user, STEP_CONFIRMED);
                        let mut r = RowResult {
                            license_group: Some(group.display_name.clone()),
                            ..row_result(
                                row.row,
                                &row.user,
                                if confirmed {
                                    Outcome::Assigned
                                } else {
                                    Outcome::Assign
                                },
                                "added by an earlier run of this file".into(),
                            )
                        };
                        if let (true, Some(message)) = (confirmed, &mail) {
                            match notify::mail_recorded(|step| journal.has(&row.user, step)) {
                                Some(said) => r.mail = Some(said.to_owned()),
                                None => notify.push(notify_of(
                                    index,
                                    &row.user,
                                    &uref,
                                    &kind,
                                    message.clone(),
                                )),
                            }
                        }
                        results.push(r);
                        if !confirmed {
                            candidates.push(Candidate {
                                work: Work {
                                    index,
                                    upn: row.user.clone(),
                                    user: uref,
                                    adds: Vec::new(),
                                    license_group: group,
                                    kind,
                                    license_added: true,
                                    mail: mail.clone(),
                                },
                                capacity: RowCapacity::Skus(Vec::new()),
                                priority: None,
                            });
                        }
                    }
                    _ => results.push(row_result(
                        row.row,
                        &row.user,
                        Outcome::AlreadyAssigned,
                        held_by,
                    )),
                }
            }
            Err(e) => {
                let column = match &e {
                    Error::GroupNotFound { name } | Error::AmbiguousName { name, .. } => [
                        ("provisioning-group", &o.provisioning_group),
                        ("user-settings-group", &o.user_settings_group),
                        ("license-group", &o.license_group),
                    ]
                    .into_iter()
                    .find(|(_, v)| v.eq_ignore_ascii_case(name))
                    .map(|(c, _)| c.to_owned()),
                    Error::InvalidInput { .. } => Some("provisioning-group".to_owned()),
                    _ => None,
                };
                results.push(RowResult {
                    column,
                    fix: Some(
                        "correct the row (or the flag it inherits) and run the same command again"
                            .into(),
                    ),
                    error_kind: Some(format!("{:?}", e.kind()).to_lowercase()),
                    ..row_result(row.row, &row.user, Outcome::Invalid, e.to_string())
                });
            }
        }
    }

    // Hand out the free units and seats: priority first (lower first), then file order.
    let mut free: BTreeMap<String, (String, i64)> = skus
        .iter()
        .map(|s: &SubscribedSku| {
            (
                s.sku_id.to_string(),
                (s.sku_part_number.clone(), s.available_units()),
            )
        })
        .collect();
    for c in &candidates {
        if let RowCapacity::Seats { key, name, free: n } = &c.capacity {
            free.entry(format!("seats:{key}"))
                .or_insert_with(|| (name.clone(), *n));
        }
    }
    let mut capacity: BTreeMap<String, SkuCapacity> = BTreeMap::new();
    candidates.sort_by_key(|c| (c.priority.is_none(), c.priority, c.work.index));
    let mut work = Vec::new();
    let mut any_seats_blocked = false;
    for Candidate {
        work: w,
        capacity: needs,
        ..
    } in candidates
    {
        if w.license_added {
            work.push(w);
            continue;
        }
        let (keys, seats): (Vec<String>, bool) = match &needs {
            RowCapacity::Skus(ids) => (ids.iter().map(ToString::to_string).collect(), false),
            RowCapacity::Seats { key, .. } => (vec![format!("seats:{key}")], true),
        };
        let main = match &w.kind {
            WorkKind::Dedicated { sku, .. } => sku.sku_id.to_string(),
            WorkKind::Frontline { .. } => keys[0].clone(),
        };
        let (part, available) = free.get(&main).cloned().unwrap_or_default();
        let cap = capacity.entry(part.clone()).or_insert_with(|| SkuCapacity {
            sku: part.clone(),
            available: available.max(0),
            planned: 0,
            blocked: 0,
        });
        let short = keys
            .iter()
            .find(|id| free.get(*id).is_none_or(|(_, n)| *n <= 0));
        if let Some(id) = short {
            cap.blocked += 1;
            any_seats_blocked |= seats;
            let (name, _) = free.get(id).cloned().unwrap_or_default();
            let r = &mut results[w.index];
            r.outcome = Outcome::Blocked;
            r.detail = if seats {
                format!(
                    "out of Frontline seats: the {} free seat(s) of {name} go to rows before it (priority, then file order)",
                    cap.available
                )
            } else {
                format!(
                    "out of licences: the {} free {name} unit(s) go to rows before it (priority, then file order)",
                    cap.available
                )
            };
            r.add_to.clear();
            continue;
        }
        cap.planned += 1;
        for id in &keys {
            if let Some((_, n)) = free.get_mut(id) {
                *n -= 1;
            }
        }
        work.push(w);
    }
    results.sort_by_key(|r| r.row);
    // `work` indexes follow the unsorted order: remap to the sorted rows.
    let position: HashMap<u64, usize> = results
        .iter()
        .enumerate()
        .map(|(i, r)| (r.row, i))
        .collect();
    let by_user: HashMap<String, u64> = input_rows
        .iter()
        .map(|r| (r.user.to_lowercase(), r.row))
        .collect();
    let at = |upn: &str, index: usize| {
        by_user
            .get(&upn.to_lowercase())
            .map_or(index, |row| position[row])
    };
    for w in &mut work {
        w.index = at(&w.upn, w.index);
    }
    for n in &mut notify {
        n.index = at(&n.upn, n.index);
    }
    Ok(BulkPlan {
        rows: results,
        capacity: capacity.into_values().collect(),
        empty_rows,
        graph_requests: client.stats().requests.saturating_sub(requests_before),
        seats_blocked: any_seats_blocked,
        work,
        notify,
        journal: journal_home,
    })
}

/// A row that can be assigned, before the free units are handed out.
struct Candidate {
    work: Work,
    capacity: RowCapacity,
    priority: Option<i64>,
}

/// What a row uses up.
enum RowCapacity {
    /// A unit of each SKU the licence group assigns.
    Skus(Vec<uuid::Uuid>),
    /// A seat of a Frontline assignment group.
    Seats {
        key: String,
        name: String,
        free: i64,
    },
}

/// The rows the file itself made invalid (before any read).
pub(crate) fn invalid_rows(invalid: Vec<InvalidRow>) -> Vec<RowResult> {
    invalid
        .into_iter()
        .map(|i| RowResult {
            column: i.column,
            fix: Some(i.fix),
            error_kind: Some("validation".into()),
            ..row_result(
                i.row,
                i.user.as_deref().unwrap_or(""),
                Outcome::Invalid,
                i.problem,
            )
        })
        .collect()
}

/// A row naming a user the tenant does not have.
pub(crate) fn unknown_user_row(row: u64, user: &str) -> RowResult {
    RowResult {
        column: Some("user".into()),
        fix: Some("check the spelling of the user principal name, or remove the row".into()),
        error_kind: Some("notFound".into()),
        ..row_result(
            row,
            user,
            Outcome::Invalid,
            format!("no user '{user}' in the tenant"),
        )
    }
}

/// With `strict`, any invalid row refuses the whole run before anything is changed (assign and
/// unassign files alike).
pub(crate) fn refuse_invalid_rows_when_strict(strict: bool, rows: &[RowResult]) -> Result<()> {
    let mut invalid = rows.iter().filter(|r| r.outcome == Outcome::Invalid);
    let Some(first) = invalid.next() else {
        return Ok(());
    };
    if !strict {
        return Ok(());
    }
    Err(Error::InvalidInput {
        reason: format!(
            "{} invalid row(s) and --strict: nothing was changed (first: row {}: {})",
            1 + invalid.count(),
            first.row,
            first.detail
        ),
    })
}

/// Runs a plan. Invalid rows never stop the valid ones unless `strict`.
pub async fn execute(
    client: &Client,
    opts: &BulkOptions,
    plan: BulkPlan,
    observer: &dyn Observer,
    progress: &dyn Progress,
) -> Result<BulkReport> {
    let (report, _) = execute_with(
        client,
        opts,
        plan,
        None,
        NotifyMode::Inline,
        observer,
        progress,
    )
    .await?;
    Ok(report)
}

/// Runs a plan of [`plan_in_job`]: each journal entry is saved through `sink` (the job's
/// checkpoint) before the run goes on, so a resumed job does nothing twice. With `notify`, the
/// wait for the Cloud PCs checks for at most `inline_wait` and then parks
/// ([`BulkJobRun::Parked`]): keep the cursor in the job's checkpoint, and give it back here
/// (`cursor`) when the job resumes, after planning again.
#[allow(clippy::too_many_arguments)]
pub async fn execute_in_job(
    client: &Client,
    opts: &BulkOptions,
    plan: BulkPlan,
    sink: &dyn JournalSink,
    cursor: Option<NotifyCursor>,
    inline_wait: std::time::Duration,
    observer: &dyn Observer,
    progress: &dyn Progress,
) -> Result<BulkJobRun> {
    let mode = NotifyMode::Job {
        cursor,
        inline_wait,
    };
    let (report, end) =
        execute_with(client, opts, plan, Some(sink), mode, observer, progress).await?;
    Ok(match end {
        NotifyEnd::Done => BulkJobRun::Done(report),
        NotifyEnd::Park {
            until,
            reason,
            cursor,
        } => BulkJobRun::Parked {
            until,
            reason,
            cursor,
        },
    })
}

async fn execute_with(
    client: &Client,
    opts: &BulkOptions,
    mut plan: BulkPlan,
    sink: Option<&dyn JournalSink>,
    mode: NotifyMode,
    observer: &dyn Observer,
    progress: &dyn Progress,
) -> Result<(BulkReport, NotifyEnd)> {
    let RunStart {
        mut journal,
        requests_before,
        total,
    } = begin(
        client,
        opts.strict,
        &plan.rows,
        &plan.journal,
        sink,
        plan.work.len(),
        progress,
    )?;
    let mut failed: HashMap<usize, Error> = HashMap::new();

    // 1. Memberships (provisioning, user settings), per group, 20 per PATCH, 20 PATCHes per batch.
    let mut by_group: BTreeMap<String, (GroupRef, Vec<usize>)> = BTreeMap::new();
    for (i, w) in plan.work.iter().enumerate() {
        for g in &w.adds {
            by_group
                .entry(g.id.clone())
                .or_insert_with(|| (g.clone(), Vec::new()))
                .1
                .push(i);
        }
    }
    observer.on_event(&Event::Note(&format!(
        "adding {} user(s) to {} group(s)",
        plan.work.len(),
        by_group.len()
    )));
    for (group, members) in by_group.values() {
        let errs = add_members(client, &opts.pacer, group, members, &plan.work).await?;
        failed.extend(errs);
    }
    let grouped: Vec<&str> = plan
        .work
        .iter()
        .enumerate()
        .filter(|(i, w)| !w.adds.is_empty() && !failed.contains_key(i))
        .map(|(_, w)| w.upn.as_str())
        .collect();
    journal.record(grouped, STEP_GROUPS).await?;

    // 2. The new memberships are listed before the licence group is added.
    let mut expected: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for (group, members) in by_group.values() {
        for &i in members.iter().filter(|i| !failed.contains_key(i)) {
            expected
                .entry(plan.work[i].user.id.clone())
                .or_default()
                .insert(group.id.to_lowercase());
        }
    }
    wait_members(client, &opts.base, expected).await?;

    // 3. Licence groups and Frontline assignment groups.
    let mut by_license: BTreeMap<String, (GroupRef, Vec<usize>)> = BTreeMap::new();
    for (i, w) in plan.work.iter().enumerate() {
        if !w.license_added && !failed.contains_key(&i) && !journal.has(&w.upn, STEP_LICENSE) {
            by_license
                .entry(w.license_group.id.clone())
                .or_insert_with(|| (w.license_group.clone(), Vec::new()))
                .1
                .push(i);
        }
    }
    for (group, members) in by_license.values() {
        let errs = add_members(client, &opts.pacer, group, members, &plan.work).await?;
        let ok: Vec<&str> = members
            .iter()
            .filter(|i| !errs.contains_key(i))
            .map(|&i| plan.work[i].upn.as_str())
            .collect();
        journal.record(ok, STEP_LICENSE).await?;
        failed.extend(errs);
    }

    // 4. Confirm every licence in one polling loop (a Frontline seat has none to confirm).
    let (seats, pending): (Vec<usize>, Vec<usize>) = (0..plan.work.len())
        .filter(|i| !failed.contains_key(i))
        .partition(|&i| matches!(plan.work[i].kind, WorkKind::Frontline { .. }));
    let (mut confirmed, violated, errors) =
        confirm_licenses(client, &opts.base, &plan.work, &pending, progress, total).await?;
    confirmed.extend(seats);
    let upns: Vec<&str> = confirmed
        .iter()
        .map(|&i| plan.work[i].upn.as_str())
        .collect();
    journal.record(upns, STEP_CONFIRMED).await?;
    for &i in &confirmed {
        let w = &plan.work[i];
        let r = &mut plan.rows[w.index];
        r.outcome = Outcome::Assigned;
        r.detail = match &w.kind {
            WorkKind::Dedicated { sku, .. } => format!("{sku} granted"),
            WorkKind::Frontline { mode, .. } => format!(
                "Frontline seat ({} mode) through {}",
                mode.as_str(),
                w.license_group
            ),
        };
    }
    // Lost the race for the last units: out of the licence group again, blocked.
    for &i in &violated {
        let w = &plan.work[i];
        opts.pacer.acquire(1).await;
        let _ = client
            .groups()
            .remove_member(&w.license_group.id, &w.user.id)
            .await
            .graph_ctx(
                || format!("remove {} from {}", w.upn, w.license_group),
                permissions::WRITE_MEMBERS,
            )?;
        let r = &mut plan.rows[w.index];
        r.outcome = Outcome::Blocked;
        if let WorkKind::Dedicated { sku, .. } = &w.kind {
            r.detail = format!(
                "another assignment took the last {sku} licence; removed from the licence group again"
            );
        }
    }
    for (i, e) in failed.into_iter().chain(errors) {
        fail_row(&mut plan.rows[plan.work[i].index], &e);
    }
    progress.rows(total, total);

    // 5. One ticket for every blocked row.
    let ticket_sent_to = send_ticket(client, opts, &plan, &mut journal, observer).await?;

    // 6. `--notify`: each user once, when their Cloud PC is ready (one polling loop for all).
    let mut end = NotifyEnd::Done;
    let mut items = std::mem::take(&mut plan.notify);
    items.extend(confirmed.iter().filter_map(|&i| plan.work[i].notify()));
    if !items.is_empty() {
        end = notify::notify(
            client,
            &opts.base,
            items,
            &mut plan.rows,
            &mut journal,
            mode,
            observer,
            progress,
        )
        .await?;
    }
    let report = BulkReport {
        rows: plan.rows,
        capacity: plan.capacity,
        ticket_sent_to,
        graph_requests: plan.graph_requests
            + client.stats().requests.saturating_sub(requests_before),
    };
    Ok((report, end))
}

/// Adds `members` (indexes into `work`) to `group`: binds in batches, then, for a PATCH that
/// failed as a whole, one add per user (already a member counts as added). Returns the failures.
async fn add_members(
    client: &Client,
    pacer: &WritePacer,
    group: &GroupRef,
    members: &[usize],
    work: &[Work],
) -> Result<HashMap<usize, Error>> {
    let chunks: Vec<&[usize]> = members.chunks(BIND_MAX).collect();
    let mut requests = Vec::with_capacity(chunks.len());
    for (n, chunk) in chunks.iter().enumerate() {
        let ids: Vec<String> = chunk.iter().map(|&i| work[i].user.id.clone()).collect();
        requests.push(
            client
                .groups()
                .add_members_request(format!("b{n}"), &group.id, &ids)
                .graph_ctx(
                    || format!("add members to {group}"),
                    permissions::WRITE_MEMBERS,
                )?,
        );
    }
    let responses = client.batch().paced(pacer).send(requests).await.graph_ctx(
        || format!("add members to {group}"),
        permissions::WRITE_MEMBERS,
    )?;
    let mut failed = HashMap::new();
    for (chunk, response) in chunks.iter().zip(responses) {
        if response.is_success() {
            continue;
        }
        // All or nothing per PATCH (e.g. one user became a member meanwhile): one by one.
        for &i in *chunk {
            let w = &work[i];
            pacer.acquire(1).await;
            if let Err(e) = client
                .groups()
                .add_member(&group.id, &w.user.id)
                .await
                .graph_ctx(
                    || format!("add {} to {group}", w.upn),
                    permissions::WRITE_MEMBERS,
                )
            {
                failed.insert(i, e);
            }
        }
    }
    Ok(failed)
}

/// Waits until each user (by id) lists the groups (lower-case ids) they were just added to. Each
/// check reads the groups of the users still waiting (`memberOf`, ids only, 20 reads per
/// `$batch`): its cost follows the rows, never the size of the groups (listing the members of a
/// group of 50,000 would take dozens of pages on every check).
async fn wait_members(
    client: &Client,
    opts: &AssignOptions,
    expected: BTreeMap<String, HashSet<String>>,
) -> Result<()> {
    if expected.is_empty() {
        return Ok(());
    }
    let total = expected.len();
    let what = format!("the new group memberships of {total} user(s) to become visible");
    let pending = std::sync::Mutex::new(expected);
    let outcome = wait_for(
        &what,
        &opts.waits.memberships,
        |_| {},
        || async {
            let waiting: Vec<(String, HashSet<String>)> = pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(id, groups)| (id.clone(), groups.clone()))
                .collect();
            let requests: Vec<BatchRequest> = waiting
                .iter()
                .enumerate()
                .map(|(i, (id, _))| {
                    BatchRequest::get(
                        format!("v{i}"),
                        &GraphPath::new(["users", id, "memberOf", "microsoft.graph.group"]),
                        &Query::new().select(["id"]).top(999),
                    )
                })
                .collect();
            let pages =
                batch_pages::<Group>(client, requests, "read the new members' groups").await?;
            let mut still = pending.lock().unwrap_or_else(|p| p.into_inner());
            for ((id, want), groups) in waiting.iter().zip(pages) {
                let listed: HashSet<String> = groups.iter().map(|g| g.id.to_lowercase()).collect();
                if want.iter().all(|g| listed.contains(g)) {
                    still.remove(id);
                }
            }
            Ok::<_, Error>(if still.is_empty() {
                Check::Ready(())
            } else {
                Check::Pending(Some(format!(
                    "{} of {total} user(s) not listed in their new groups yet",
                    still.len()
                )))
            })
        },
    )
    .await?;
    match outcome {
        WaitOutcome::Ready(()) => Ok(()),
        WaitOutcome::TimedOut {
            waited, last_state, ..
        } => Err(Error::TimedOut {
            what,
            waited,
            last_state,
        }),
    }
}

type Confirmation = (Vec<usize>, Vec<usize>, Vec<(usize, Error)>);

/// Polls the licence states of all `pending` users together until each is granted or failed.
async fn confirm_licenses(
    client: &Client,
    opts: &AssignOptions,
    work: &[Work],
    pending: &[usize],
    progress: &dyn Progress,
    total: u64,
) -> Result<Confirmation> {
    use w365_graph::models::{LicenseAssignmentError, LicenseAssignmentStatus};
    let mut open: Vec<usize> = pending.to_vec();
    let mut confirmed = Vec::new();
    let mut violated = Vec::new();
    let mut errors = Vec::new();
    let what = "the licences to be granted";
    let waited_outcome;
    {
        let state = std::sync::Mutex::new((&mut open, &mut confirmed, &mut violated, &mut errors));
        let out = wait_for(
            what,
            &opts.waits.license,
            |_| {},
            || async {
                let ids: Vec<String> = {
                    let s = state.lock().expect("not poisoned");
                    s.0.iter().map(|&i| work[i].user.id.clone()).collect()
                };
                let requests: Vec<BatchRequest> = ids
                    .chunks(IN_MAX)
                    .enumerate()
                    .map(|(n, chunk)| {
                        BatchRequest::get(
                            format!("l{n}"),
                            &GraphPath::new(["users"]),
                            &Query::new()
                                .filter(Filter::in_("id", chunk))
                                .select(["id", "licenseAssignmentStates"]),
                        )
                    })
                    .collect();
                let users: Vec<User> = if requests.is_empty() {
                    Vec::new()
                } else {
                    batch_pages::<User>(client, requests, "read the users' licence states")
                        .await?
                        .into_iter()
                        .flatten()
                        .collect()
                };
                let by_id: HashMap<String, &User> =
                    users.iter().map(|u| (u.id.to_lowercase(), u)).collect();
                let mut s = state.lock().expect("not poisoned");
                let (open, confirmed, violated, errors) = &mut *s;
                let mut still = Vec::new();
                for &i in open.iter() {
                    let w = &work[i];
                    // Only dedicated rows are confirmed here.
                    let WorkKind::Dedicated { sku, .. } = &w.kind else {
                        confirmed.push(i);
                        continue;
                    };
                    let st = by_id.get(&w.user.id.to_lowercase()).and_then(|u| {
                        u.license_assignment_states.as_ref().and_then(|states| {
                            states
                                .iter()
                                .find(|s| {
                                    s.sku_id == sku.sku_id
                                        && s.assigned_by_group.as_deref().is_some_and(|g| {
                                            g.eq_ignore_ascii_case(&w.license_group.id)
                                        })
                                })
                                .cloned()
                        })
                    });
                    match st.map(|s| (s.state, s.error)) {
                        Some((
                            LicenseAssignmentStatus::Active
                            | LicenseAssignmentStatus::ActiveWithError,
                            _,
                        )) => confirmed.push(i),
                        Some((_, Some(LicenseAssignmentError::CountViolation))) => violated.push(i),
                        Some((LicenseAssignmentStatus::Error, e)) => errors.push((
                            i,
                            Error::LicenseNotGranted {
                                sku: sku.sku_part_number.clone(),
                                state: "Error".into(),
                                reason: e.map_or_else(
                                    || "unknown".to_owned(),
                                    |e| e.as_str().to_owned(),
                                ),
                            },
                        )),
                        _ => still.push(i),
                    }
                }
                **open = still;
                progress.rows(total - open.len() as u64, total);
                Ok::<_, Error>(if open.is_empty() {
                    Check::Ready(())
                } else {
                    Check::Pending(Some(format!(
                        "{} licence(s) still being processed",
                        open.len()
                    )))
                })
            },
        )
        .await?;
        waited_outcome = Some(out);
    }
    if let Some(WaitOutcome::TimedOut {
        waited, last_state, ..
    }) = waited_outcome
    {
        for &i in &open {
            errors.push((
                i,
                Error::TimedOut {
                    what: what.into(),
                    waited,
                    last_state: last_state.clone(),
                },
            ));
        }
    }
    Ok((confirmed, violated, errors))
}

/// Sends the run's one ticket for the blocked rows whose users no earlier run of this file (or
/// of this job) listed in a ticket: each such user is journaled before the ticket is sent and
/// after, so a resumed run never tickets a user twice.
async fn send_ticket(
    client: &Client,
    opts: &BulkOptions,
    plan: &BulkPlan,
    journal: &mut journal::Journal<'_>,
    observer: &dyn Observer,
) -> Result<Option<String>> {
    let blocked: Vec<&RowResult> = plan
        .rows
        .iter()
        .filter(|r| r.outcome == Outcome::Blocked)
        .filter(|r| !journal.has(&r.user, STEP_TICKETING) && !journal.has(&r.user, STEP_TICKETED))
        .collect();
    let o = &opts.base;
    if blocked.is_empty() || !o.ticket_when_out_of_licenses {
        // An earlier run of this file (or job) ticketed the blocked rows: say where it went.
        let earlier = plan
            .rows
            .iter()
            .any(|r| r.outcome == Outcome::Blocked && journal.has(&r.user, STEP_TICKETED));
        return Ok(if earlier && o.ticket_when_out_of_licenses {
            o.ticket_queue.clone()
        } else {
            None
        });
    }
    let (Some(to), Some(from), Some(customer_id)) = (
        o.ticket_queue.clone(),
        o.from_mailbox.clone(),
        o.ticket_customer_id.clone(),
    ) else {
        return Ok(None);
    };
    let mut groups: Vec<String> = blocked
        .iter()
        .map(|r| {
            r.license_group
                .clone()
                .unwrap_or_else(|| o.license_group.clone())
        })
        .collect();
    groups.dedup();
    let skus: Vec<&str> = plan
        .capacity
        .iter()
        .filter(|c| c.blocked > 0)
        .map(|c| c.sku.as_str())
        .collect();
    let users = blocked
        .iter()
        .map(|r| format!("{} (row {})", r.user, r.row))
        .collect::<Vec<_>>()
        .join(", ");
    let step = Step::SendOutOfLicensesTicket {
        from,
        to: to.clone(),
        ticket: TicketDetails {
            customer_id,
            license_name: groups.join("', '"),
            sku_part_number: skus.join(", "),
            caller: o.caller.clone(),
            user_principal_name: format!("{} user(s): {users}", blocked.len()),
            seats: plan.seats_blocked,
        },
    };
    let upns: Vec<String> = blocked.iter().map(|r| r.user.clone()).collect();
    journal
        .record(upns.iter().map(String::as_str), STEP_TICKETING)
        .await?;
    let mut state = ExecState::default();
    Executor::new(client, o.waits, observer)
        .run(&Plan::from(vec![step]), &mut state)
        .await?;
    journal
        .record(upns.iter().map(String::as_str), STEP_TICKETED)
        .await?;
    Ok(Some(to))
}

/// Writes one line per row: CSV, or JSON lines when the path ends in `.jsonl`.
pub fn write_results(path: &Path, rows: &[RowResult]) -> std::io::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"))
    {
        let mut file = file;
        for r in rows {
            serde_json::to_writer(&mut file, r)?;
            file.write_all(b"\n")?;
        }
        return file.flush();
    }
    write_csv(file, rows)
}

/// The rows as CSV (header
/// `row,user,outcome,detail,column,fix,errorKind,licenseGroup,addTo,cloudPc,mail`).
pub fn write_csv(out: impl Write, rows: &[RowResult]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "row",
        "user",
        "outcome",
        "detail",
        "column",
        "fix",
        "errorKind",
        "licenseGroup",
        "addTo",
        "cloudPc",
        "mail",
    ])?;
    for r in rows {
        let row = r.row.to_string();
        let add_to = r.add_to.join("; ");
        let cells = [
            row.as_str(),
            &r.user,
            r.outcome.as_str(),
            &r.detail,
            r.column.as_deref().unwrap_or(""),
            r.fix.as_deref().unwrap_or(""),
            r.error_kind.as_deref().unwrap_or(""),
            r.license_group.as_deref().unwrap_or(""),
            &add_to,
            r.cloud_pc.as_deref().unwrap_or(""),
            r.mail.as_deref().unwrap_or(""),
        ];
        // A user or detail taken from the input file must not run as a formula in a spreadsheet.
        w.write_record(
            cells
                .iter()
                .map(|c| crate::csv_cell::csv_cell(c).into_owned()),
        )?;
    }
    w.flush()
}
