//! The human summaries of the operations (assign, unassign, reprovision, resize, the Cloud PC
//! actions), written from their **result documents** (the `--output json` document): the inline
//! run renders its own document, and `w365 --server URL …` renders the document the job returned
//! (or the plan of a dry run), so both print the same lines.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use w365_ops::execute::{CloudPcReport, MailKind, MailReport, StepReport};
use w365_ops::plan::{GroupRef, GroupRole, Plan, SkuRef, Step, UserRef};

use super::lifecycle::{Ending, plan_and_steps};

/// The summary of `command` (`assign`, `unassign`, `reprovision`, `resize`, `cloudpc ACTION`)
/// from its result document; `None` for other commands.
pub(crate) fn render(command: &str, doc: &Value, ending: &Ending<'_>) -> Option<String> {
    Some(match command {
        "assign" => assign(&view(doc), ending),
        "unassign" => unassign(&view(doc), ending),
        "reprovision" => reprovision(&view(doc), ending),
        "resize" => resize(&view(doc), ending),
        c if c.starts_with("cloudpc ") => action(&view(doc), ending),
        _ => return None,
    })
}

/// A summary closure for [`super::lifecycle::conclude`]: the report as its document, rendered.
pub(crate) fn of<R: serde::Serialize>(command: &'static str) -> impl Fn(&R, &Ending<'_>) -> String {
    move |report, ending| {
        let doc = serde_json::to_value(report).unwrap_or(Value::Null);
        render(command, &doc, ending).unwrap_or_default()
    }
}

/// The fields a summary reads; whatever the document lacks stays empty.
fn view<T: DeserializeOwned + Default>(doc: &Value) -> T {
    serde_json::from_value(doc.clone()).unwrap_or_default()
}

fn upn(user: Option<&UserRef>, requested: &str) -> String {
    user.map_or(requested.to_owned(), |u| u.user_principal_name.clone())
}

fn cloud_pc_line(pc: &CloudPcReport, with_detail: bool) -> String {
    format!(
        "  Cloud PC: {} ({}){}",
        pc.display_name.as_deref().unwrap_or(&pc.id),
        pc.status.as_deref().unwrap_or("unknown status"),
        if with_detail {
            pc.status_detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        } else {
            String::new()
        }
    )
}

fn mail_lines(mails: &[MailReport], kinds: bool) -> Vec<String> {
    mails
        .iter()
        .map(|m| {
            let kind = match m.kind {
                MailKind::OutOfLicensesTicket if kinds => "ticket",
                _ => "mail",
            };
            format!(
                "  {kind} sent: \"{}\" from {} to {}",
                m.subject, m.from, m.to
            )
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AssignView {
    requested_user: String,
    user: Option<UserRef>,
    path: Option<Value>,
    dry_run: bool,
    kept_memberships: Vec<KeptView>,
    capacity: Option<CapacityView>,
    blocked: Option<BlockedView>,
    plan: Plan,
    cloud_pc: Option<CloudPcReport>,
    mails: Vec<MailReport>,
    graph_requests: u64,
}

#[derive(Debug, Deserialize)]
struct KeptView {
    role: GroupRole,
    group: GroupRef,
}

#[derive(Debug, Deserialize)]
struct CapacityView {
    name: String,
    total: i64,
    available: i64,
}

#[derive(Debug, Deserialize)]
struct BlockedView {
    detail: String,
}

/// `v[key][field]` as text.
fn field(v: &Value, key: &str, field: &str) -> String {
    v[key][field].as_str().unwrap_or_default().to_owned()
}

fn assign(r: &AssignView, e: &Ending<'_>) -> String {
    let (target, ok) = (e.target, e.ok);
    let mut lines = Vec::new();
    let user = upn(r.user.as_ref(), &r.requested_user);
    let path = match &r.path {
        Some(p) if p["kind"] == "dedicated" => format!(
            "dedicated: {} through '{}'",
            field(p, "sku", "skuPartNumber"),
            field(p, "licenseGroup", "displayName")
        ),
        Some(p) if p["kind"] == "frontline" => format!(
            "Frontline: policy '{}' through '{}'",
            field(p, "policy", "displayName"),
            field(p, "assignmentGroup", "displayName")
        ),
        _ => String::new(),
    };
    if r.dry_run {
        lines.push(format!(
            "Dry run for {user} on {target}{}: nothing was changed, no mail was sent.",
            if path.is_empty() {
                String::new()
            } else {
                format!(" ({path})")
            }
        ));
        for kept in &r.kept_memberships {
            lines.push(format!(
                "  keeps the {} '{}'",
                kept.role, kept.group.display_name
            ));
        }
        if let Some(c) = &r.capacity {
            lines.push(format!(
                "  free: {} of {} {}",
                c.available.max(0),
                c.total,
                c.name
            ));
        }
        if let Some(blocked) = &r.blocked {
            lines.push(format!("  would stop: {}", blocked.detail));
        }
        lines.push("Plan:".into());
        lines.push(r.plan.to_string());
    } else if ok {
        lines.push(format!(
            "Done: {user} is assigned a Windows 365 Cloud PC on {target} ({path})."
        ));
        for kept in &r.kept_memberships {
            lines.push(format!(
                "  kept the {} '{}'",
                kept.role, kept.group.display_name
            ));
        }
    }
    if let Some(pc) = &r.cloud_pc {
        lines.push(cloud_pc_line(pc, true));
    }
    lines.extend(mail_lines(&r.mails, true));
    lines.push(format!("  Graph requests: {}", r.graph_requests));
    lines.join("\n")
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GroupsView {
    prefix_groups: Vec<GroupRef>,
    remove: bool,
    kept_because: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct UnassignView {
    requested_user: String,
    user: Option<UserRef>,
    path: Option<Value>,
    dry_run: bool,
    cloud_pc: Option<CloudPcReport>,
    groups: GroupsView,
    plan: Plan,
    steps: Vec<StepReport>,
    graph_requests: u64,
}

fn unassign(r: &UnassignView, e: &Ending<'_>) -> String {
    let (target, ok) = (e.target, e.ok);
    let mut lines = Vec::new();
    let user = upn(r.user.as_ref(), &r.requested_user);
    let what = match &r.path {
        Some(p) if p["kind"] == "dedicated" => {
            format!(
                "license group '{}'",
                field(p, "licenseGroup", "displayName")
            )
        }
        Some(p) if p["kind"] == "frontline" => {
            format!("Frontline policy '{}'", field(p, "policy", "displayName"))
        }
        _ => String::new(),
    };
    if ok && !r.dry_run {
        lines.push(if r.plan.is_empty() {
            format!("Nothing to do: {user} has nothing left of the {what} on {target}.")
        } else {
            format!("Done: {user} is unassigned from the {what} on {target}.")
        });
    } else if r.dry_run {
        lines.push(format!("Dry run for {user} on {target} ({what})."));
    } else if e.refused {
        lines.push(format!(
            "Not carried out for {user} on {target} ({what}): nothing was changed."
        ));
    }
    // Only what ran may be called removed; a plan speaks of what it would do.
    let carried_out = ok && !r.dry_run;
    if !r.groups.prefix_groups.is_empty() {
        let names: Vec<String> = r
            .groups
            .prefix_groups
            .iter()
            .map(|g| format!("'{}'", g.display_name))
            .collect();
        if r.groups.remove && carried_out {
            lines.push(format!("  groups removed: {}", names.join(", ")));
        } else if r.groups.remove {
            lines.push(format!("  groups to remove: {}", names.join(", ")));
        } else {
            lines.push(format!(
                "  groups kept: {} ({})",
                names.join(", "),
                r.groups.kept_because.join("; ")
            ));
        }
    }
    if let Some(pc) = &r.cloud_pc {
        lines.push(cloud_pc_line(pc, false));
    }
    lines.extend(plan_and_steps(r.dry_run, e, &r.plan, &r.steps));
    lines.push(format!("  Graph requests: {}", r.graph_requests));
    lines.join("\n")
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ReprovisionView {
    requested_user: String,
    user: Option<UserRef>,
    dry_run: bool,
    cloud_pc: Option<CloudPcReport>,
    plan: Plan,
    steps: Vec<StepReport>,
    mails: Vec<MailReport>,
}

fn reprovision(r: &ReprovisionView, e: &Ending<'_>) -> String {
    let (target, ok) = (e.target, e.ok);
    let mut lines = Vec::new();
    let user = upn(r.user.as_ref(), &r.requested_user);
    if ok && !r.dry_run {
        lines.push(format!(
            "Done: the Cloud PC of {user} on {target} is being reprovisioned."
        ));
    }
    if let Some(pc) = &r.cloud_pc {
        lines.push(format!(
            "  Cloud PC: {} (was {})",
            pc.display_name.as_deref().unwrap_or(&pc.id),
            pc.status.as_deref().unwrap_or("unknown status")
        ));
    }
    lines.extend(plan_and_steps(r.dry_run, e, &r.plan, &r.steps));
    lines.extend(mail_lines(&r.mails, false));
    lines.join("\n")
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ResizeView {
    requested_user: String,
    user: Option<UserRef>,
    from_sku: Option<SkuRef>,
    to_sku: Option<SkuRef>,
    kept_groups: Vec<GroupRef>,
    dry_run: bool,
    cloud_pc: Option<CloudPcReport>,
    plan: Plan,
    steps: Vec<StepReport>,
    mails: Vec<MailReport>,
}

fn resize(r: &ResizeView, e: &Ending<'_>) -> String {
    let (target, ok) = (e.target, e.ok);
    let mut lines = Vec::new();
    let user = upn(r.user.as_ref(), &r.requested_user);
    let sku = |s: &Option<SkuRef>| {
        s.as_ref()
            .map_or_else(|| "?".to_owned(), |s| s.sku_part_number.clone())
    };
    if ok && !r.dry_run {
        lines.push(format!(
            "Done: the Cloud PC of {user} on {target} is resized from {} to {}.",
            sku(&r.from_sku),
            sku(&r.to_sku)
        ));
    }
    for g in &r.kept_groups {
        lines.push(format!("  keeps '{}'", g.display_name));
    }
    if let Some(pc) = &r.cloud_pc {
        lines.push(cloud_pc_line(pc, false));
    }
    lines.extend(plan_and_steps(r.dry_run, e, &r.plan, &r.steps));
    lines.extend(mail_lines(&r.mails, false));
    lines.join("\n")
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ActionView {
    requested: String,
    dry_run: bool,
    cloud_pc: Option<CloudPcReport>,
    plan: Plan,
    steps: Vec<StepReport>,
}

fn action(r: &ActionView, e: &Ending<'_>) -> String {
    let mut lines = Vec::new();
    let pc = r.cloud_pc.as_ref().map_or(r.requested.clone(), |pc| {
        pc.display_name.clone().unwrap_or_else(|| pc.id.clone())
    });
    // The action as planned (the plan's one step names it).
    let action = r.plan.steps.iter().find_map(|s| match s {
        Step::RunCloudPcAction { action, .. } => Some(action.to_string()),
        _ => None,
    });
    if e.ok && !r.dry_run {
        lines.push(format!(
            "Done on {}: {} {pc}.",
            e.target,
            action.unwrap_or_default()
        ));
    }
    lines.extend(plan_and_steps(r.dry_run, e, &r.plan, &r.steps));
    lines.join("\n")
}
