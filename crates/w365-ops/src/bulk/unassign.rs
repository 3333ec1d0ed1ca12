//! `unassign --from FILE`: bulk offboarding (issue 14).
//!
//! Planning reads the whole file first, with reads only and few requests: the users by
//! `userPrincipalName in (...)` in batches (as `assign --from`), the named licence groups once, the
//! provisioning policies and the subscribed SKUs once, each Frontline assignment group once, and
//! each user's groups and Cloud PCs 20 reads per `$batch`
//! (<https://learn.microsoft.com/en-us/graph/json-batching>; Cloud PCs are read on `beta`, where
//! they have their status). Each row is then decided with the single unassign's rules
//! ([`crate::unassign`]): the same steps, the same reasons to keep the prefix groups.
//!
//! Execution runs each row's steps with the same executor as `w365 unassign`, row after row; a
//! failed row does not stop the others. A journal (JSON lines, `FILE.unassign.journal` by default)
//! records each finished row, so a re-run (or a run resumed after an interruption) re-reads the
//! tenant, finds nothing left to do for the finished rows and reports them as unassigned.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use w365_graph::models::{CloudPc, Group};
use w365_graph::{ApiVersion, BatchRequest, Client, Filter, GraphPath, Query};

use super::journal::{JournalHome, JournalSink, JournalState, RunStart, begin, fail_row};
use super::{
    Outcome, ParsedInput, Progress, RowResult, batch_pages, batch_pages_on, invalid_rows,
    read_users, row_result, unknown_user_row,
};
use crate::assign::{find_groups, user_ref};
use crate::error::{Error, GraphContext, Result};
use crate::execute::{Event, ExecState, Executor, Observer, permissions};
use crate::plan::{GroupRef, Plan};
use crate::unassign::{
    Reads, UnassignOptions, decide, named_frontline_policy, read_frontline_group,
};

const STEP_UNASSIGNED: &str = "unassigned";

/// How a bulk unassignment is configured (the flags; rows override the licence group and the
/// prefixes).
#[derive(Debug, Clone)]
pub struct BulkUnassignOptions {
    /// The command's flags; `user` is ignored.
    pub base: UnassignOptions,
    /// Any invalid row stops the whole run before anything is changed.
    pub strict: bool,
    /// The journal file (default: the input's path with `.unassign.journal` appended).
    pub journal: Option<PathBuf>,
    /// Keeps the run's directory writes under Graph's write budget ([`w365_graph::limits`]).
    pub pacer: w365_graph::WritePacer,
}

/// The plan for a whole file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkUnassignPlan {
    pub rows: Vec<RowResult>,
    pub empty_rows: Vec<u64>,
    /// Graph requests sent while planning.
    pub graph_requests: u64,
    #[serde(skip)]
    work: Vec<Work>,
    #[serde(skip)]
    journal: JournalHome,
}

#[derive(Debug, Clone)]
struct Work {
    /// Index into `rows`.
    index: usize,
    upn: String,
    plan: Plan,
}

impl BulkUnassignPlan {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.rows.iter().filter(|r| r.outcome == outcome).count()
    }

    /// Whether executing changes anything.
    pub fn has_changes(&self) -> bool {
        !self.work.is_empty()
    }

    /// Every step of every row, numbered (for the consent question).
    pub fn steps(&self) -> String {
        let mut out = Vec::new();
        let mut n = 0;
        for w in &self.work {
            for step in &w.plan.steps {
                n += 1;
                out.push(format!("{n:>3}. {step}"));
            }
        }
        out.join("\n")
    }
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkUnassignReport {
    pub rows: Vec<RowResult>,
    /// Graph requests of planning and execution.
    pub graph_requests: u64,
}

/// The journal's default place: next to the input (not the one of `assign --from`).
pub fn default_journal(input: &Path) -> PathBuf {
    let mut name = input.as_os_str().to_owned();
    name.push(".unassign.journal");
    PathBuf::from(name)
}

fn effective(base: &UnassignOptions, row: &super::InputRow) -> UnassignOptions {
    let mut o = base.clone();
    o.user = row.user.clone();
    let r = &row.overrides;
    for (slot, v) in [
        (&mut o.license_group, &r.license_group),
        (&mut o.license_group_prefix, &r.license_group_prefix),
        (
            &mut o.provisioning_group_prefix,
            &r.provisioning_group_prefix,
        ),
        (
            &mut o.user_settings_group_prefix,
            &r.user_settings_group_prefix,
        ),
    ] {
        if let Some(v) = v {
            slot.clone_from(v);
        }
    }
    o.dry_run = true;
    o
}

/// The columns of an assign file that mean nothing to unassign.
fn assign_only_column(row: &super::InputRow) -> Option<&'static str> {
    let r = &row.overrides;
    if r.provisioning_group.is_some() {
        Some("provisioning-group")
    } else if r.user_settings_group.is_some() {
        Some("user-settings-group")
    } else if row.priority.is_some() {
        Some("priority")
    } else if r.notify.is_some() {
        Some("notify")
    } else if r.message.is_some() {
        Some("message")
    } else {
        None
    }
}

fn invalid_row(row: u64, user: &str, column: Option<&str>, e: &Error, fix: &str) -> RowResult {
    RowResult {
        column: column.map(str::to_owned),
        fix: Some(fix.to_owned()),
        error_kind: Some(format!("{:?}", e.kind()).to_lowercase()),
        ..row_result(row, user, Outcome::Invalid, e.to_string())
    }
}

/// Plans the whole file with reads only.
pub async fn plan(
    client: &Client,
    opts: &BulkUnassignOptions,
    input: ParsedInput,
    input_path: &Path,
    observer: &dyn Observer,
) -> Result<BulkUnassignPlan> {
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

/// Plans the rows of a job, whose journal is kept in the job; run it with [`execute_in_job`].
pub async fn plan_in_job(
    client: &Client,
    opts: &BulkUnassignOptions,
    input: ParsedInput,
    journal: JournalState,
    observer: &dyn Observer,
) -> Result<BulkUnassignPlan> {
    let home = JournalHome::Job(journal.clone());
    plan_with(client, opts, input, home, journal, observer).await
}

async fn plan_with(
    client: &Client,
    opts: &BulkUnassignOptions,
    input: ParsedInput,
    journal_home: JournalHome,
    journal: JournalState,
    observer: &dyn Observer,
) -> Result<BulkUnassignPlan> {
    let requests_before = client.stats().requests;
    let ParsedInput {
        rows: input_rows,
        invalid,
        empty_rows,
    } = input;
    let mut results = invalid_rows(invalid);
    // Rows that can be planned, with their options.
    let mut rows = Vec::new();
    for row in input_rows {
        if let Some(column) = assign_only_column(&row) {
            results.push(RowResult {
                column: Some(column.into()),
                fix: Some(format!(
                    "remove the column: unassign reads user, license-group and the prefixes ({column} belongs to `assign --from`)"
                )),
                error_kind: Some("validation".into()),
                ..row_result(
                    row.row,
                    &row.user,
                    Outcome::Invalid,
                    format!("{column} is not an unassign column"),
                )
            });
            continue;
        }
        let o = effective(&opts.base, &row);
        if let Err(e) = o.validate() {
            results.push(invalid_row(
                row.row,
                &row.user,
                None,
                &e,
                "correct the value in the row or the flag",
            ));
            continue;
        }
        rows.push((row, o));
    }
    let mut names: Vec<String> = Vec::new();
    for (_, o) in &rows {
        if !names
            .iter()
            .any(|x| x.eq_ignore_ascii_case(o.license_group.trim()))
        {
            names.push(o.license_group.trim().to_owned());
        }
    }
    let upns: Vec<String> = rows.iter().map(|(r, _)| r.user.clone()).collect();
    observer.on_event(&Event::Planning {
        what: "reading the users, the named groups, the policies and the SKUs",
    });
    let (users, groups, policies, skus) = futures::try_join!(
        read_users(client, &upns),
        async {
            find_groups(client, &names).await.graph_ctx(
                || "look up the licence groups".into(),
                permissions::READ_GROUPS,
            )
        },
        async {
            client
                .provisioning_policies()
                .list(Query::new().expand("assignments"))
                .await
                .graph_ctx(
                    || "read the provisioning policies".into(),
                    permissions::READ_CLOUD_PCS,
                )
        },
        async {
            client.subscribed_skus().list().await.graph_ctx(
                || "read the tenant's subscribed SKUs".into(),
                permissions::READ_ORGANIZATION,
            )
        },
    )?;
    // Each Frontline assignment group once.
    let mut frontline: HashMap<String, GroupRef> = HashMap::new();
    for (_, o) in &rows {
        if let Ok(Some(policy)) = named_frontline_policy(o, &policies) {
            let key = policy.id.clone().unwrap_or_default();
            if !frontline.contains_key(&key)
                && let Ok(group) = read_frontline_group(client, policy).await
            {
                frontline.insert(key, group);
            }
        }
    }
    // Each user's groups and Cloud PCs, 20 reads per batch.
    let found: Vec<&w365_graph::models::User> = rows
        .iter()
        .filter_map(|(r, _)| users.get(&r.user.to_lowercase()))
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
    let pc_requests: Vec<BatchRequest> = found
        .iter()
        .enumerate()
        .map(|(i, u)| {
            BatchRequest::get(
                format!("c{i}"),
                &GraphPath::new(["deviceManagement", "virtualEndpoint", "cloudPCs"]),
                &Query::new().filter(Filter::eq("userPrincipalName", &u.user_principal_name)),
            )
            // Cloud PC statuses added after this client was written are passed through.
            .header("Prefer", "include-unknown-enum-members")
        })
        .collect();
    let (member_pages, pc_pages) = if found.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        futures::try_join!(
            batch_pages::<Group>(client, member_requests, "read the users' group memberships"),
            batch_pages_on::<CloudPc>(
                client,
                ApiVersion::Beta,
                pc_requests,
                "read the users' Cloud PCs"
            ),
        )?
    };
    let member_of: HashMap<String, Vec<Group>> = found
        .iter()
        .map(|u| u.id.clone())
        .zip(member_pages)
        .collect();
    let pcs: HashMap<String, Vec<CloudPc>> = found
        .iter()
        .zip(pc_pages)
        .map(|(u, pcs)| {
            // A lenient server filter never hands over someone else's Cloud PC.
            let own = pcs
                .into_iter()
                .filter(|pc| {
                    pc.user_principal_name
                        .as_deref()
                        .is_none_or(|p| p.eq_ignore_ascii_case(&u.user_principal_name))
                })
                .collect();
            (u.id.clone(), own)
        })
        .collect();

    // Decide each row with the single unassign's rules.
    let mut work = Vec::new();
    for (row, o) in &rows {
        let Some(user) = users.get(&row.user.to_lowercase()) else {
            results.push(unknown_user_row(row.row, &row.user));
            continue;
        };
        let frontline_group = match named_frontline_policy(o, &policies) {
            Ok(Some(policy)) => {
                match frontline.get(&policy.id.clone().unwrap_or_default()) {
                    Some(g) => Some(g.clone()),
                    // Read again for this row's error (what is wrong with the policy).
                    None => match read_frontline_group(client, policy).await {
                        Ok(g) => Some(g),
                        Err(e) => {
                            results.push(invalid_row(
                                row.row,
                                &row.user,
                                Some("license-group"),
                                &e,
                                "check the Frontline policy's assignment, or name another licence group",
                            ));
                            continue;
                        }
                    },
                }
            }
            _ => None,
        };
        let empty = Vec::new();
        let reads = Reads {
            user: user_ref(user),
            groups: &groups,
            policies: &policies,
            skus: &skus,
            pcs: pcs.get(&user.id).unwrap_or(&empty),
            member_of: member_of.get(&user.id).map_or(&[][..], Vec::as_slice),
            frontline_group,
        };
        let decided = match decide(o, &reads, observer) {
            Ok(d) => d,
            Err(e) => {
                results.push(invalid_row(
                    row.row,
                    &row.user,
                    Some("license-group"),
                    &e,
                    "name a licence group (or Frontline policy) that exists once",
                ));
                continue;
            }
        };
        let mut r = row_result(row.row, &row.user, Outcome::Unassign, String::new());
        r.license_group = Some(o.license_group.clone());
        if decided.plan.is_empty() {
            let done_before = journal.has(&row.user, STEP_UNASSIGNED);
            if done_before {
                r.outcome = Outcome::Unassigned;
                r.detail = "unassigned by an earlier run of this file".into();
            } else {
                r.outcome = Outcome::NothingToDo;
                r.detail = format!("nothing of '{}' is left", o.license_group);
            }
        } else {
            let steps: Vec<String> = decided.plan.steps.iter().map(|s| s.to_string()).collect();
            r.detail = steps.join("; ");
            work.push(Work {
                index: results.len(),
                upn: row.user.clone(),
                plan: decided.plan,
            });
        }
        results.push(r);
    }
    // Rows in file order; the work follows its rows.
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by_key(|&i| results[i].row);
    let mut position = vec![0; results.len()];
    for (new, &old) in order.iter().enumerate() {
        position[old] = new;
    }
    let mut sorted: Vec<Option<RowResult>> = results.into_iter().map(Some).collect();
    let rows_sorted: Vec<RowResult> = order.iter().filter_map(|&i| sorted[i].take()).collect();
    for w in &mut work {
        w.index = position[w.index];
    }
    Ok(BulkUnassignPlan {
        rows: rows_sorted,
        empty_rows,
        graph_requests: client.stats().requests.saturating_sub(requests_before),
        work,
        journal: journal_home,
    })
}

/// Runs a plan: each row's steps as `w365 unassign` runs them. Invalid rows never stop the valid
/// ones unless `strict`.
pub async fn execute(
    client: &Client,
    opts: &BulkUnassignOptions,
    plan: BulkUnassignPlan,
    observer: &dyn Observer,
    progress: &dyn Progress,
) -> Result<BulkUnassignReport> {
    execute_with(client, opts, plan, None, observer, progress).await
}

/// Runs a plan of [`plan_in_job`], each journal entry saved through `sink` (the job's checkpoint).
pub async fn execute_in_job(
    client: &Client,
    opts: &BulkUnassignOptions,
    plan: BulkUnassignPlan,
    sink: &dyn JournalSink,
    observer: &dyn Observer,
    progress: &dyn Progress,
) -> Result<BulkUnassignReport> {
    execute_with(client, opts, plan, Some(sink), observer, progress).await
}

async fn execute_with(
    client: &Client,
    opts: &BulkUnassignOptions,
    mut plan: BulkUnassignPlan,
    sink: Option<&dyn JournalSink>,
    observer: &dyn Observer,
    progress: &dyn Progress,
) -> Result<BulkUnassignReport> {
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
    let executor = Executor::new(client, opts.base.waits, observer);
    for (done, w) in plan.work.iter().enumerate() {
        let mut state = ExecState::default();
        let r = &mut plan.rows[w.index];
        opts.pacer.acquire(directory_writes(&w.plan)).await;
        match executor.run(&w.plan, &mut state).await {
            Ok(()) => {
                journal.record([w.upn.as_str()], STEP_UNASSIGNED).await?;
                r.outcome = Outcome::Unassigned;
                r.detail = format!("done: {}", r.detail);
            }
            Err(e) => fail_row(r, &e),
        }
        progress.rows(done as u64 + 1, total);
    }
    Ok(BulkUnassignReport {
        rows: plan.rows,
        graph_requests: plan.graph_requests
            + client.stats().requests.saturating_sub(requests_before),
    })
}

/// The directory writes of a row's plan (memberships removed), for the write budget.
fn directory_writes(plan: &Plan) -> u32 {
    let n = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s,
                crate::plan::Step::AddUserToGroup { .. }
                    | crate::plan::Step::RemoveUserFromGroup { .. }
            )
        })
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}
