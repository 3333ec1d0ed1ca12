//! The operations behind `w365 policy ...` and `w365 user-settings ...`: each plans first (reads
//! only) and returns a [`PolicyPlan`]; [`super::execute::execute`] carries it out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use w365_graph::Client;
use w365_graph::models::{
    AssignmentTarget, PolicySettingType, ProvisioningPolicy, ProvisioningType,
};

use super::diff::{self, Change, Desired, PolicyPlan, ResolvedAssignment};
use super::network::NetworkConnectionSpec;
use super::org_settings::OrgSettingsSpec;
use super::spec::{AssignmentSpec, ObjectKind, PolicySpec, Spec, file_stem};
use super::tenant::{self, Details, Groups, TenantObject};
use super::validate::{self, Mode, Problem, describe, is_frontline};
use crate::error::{Error, GraphContext, Result};
use crate::execute::permissions;

fn refuse(what: &str, problems: &[Problem]) -> Error {
    Error::InvalidInput {
        reason: describe(what, problems),
    }
}

/// Filters of `list`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only policies of this provisioning type (`shared` also matches the other Frontline kinds).
    pub provisioning_type: Option<ProvisioningType>,
    /// Only names starting with this (case-insensitive).
    pub name_starts_with: Option<String>,
}

fn type_matches(wanted: &ProvisioningType, object: &TenantObject) -> bool {
    let TenantObject::Policy(p) = object else {
        return true;
    };
    let actual = p
        .provisioning_type
        .as_ref()
        .unwrap_or(&ProvisioningType::Dedicated);
    if matches!(wanted, ProvisioningType::Shared) {
        is_frontline(Some(actual))
    } else {
        actual == wanted
    }
}

/// Every object of a kind, with details, filtered, sorted by name.
pub async fn list(client: &Client, kind: ObjectKind, filter: &ListFilter) -> Result<Vec<Details>> {
    let all = tenant::list(client, kind).await?;
    let mut groups = Groups::new(client);
    let mut out = Vec::new();
    for o in &all {
        if let Some(t) = &filter.provisioning_type
            && !type_matches(t, o)
        {
            continue;
        }
        if let Some(prefix) = &filter.name_starts_with
            && !o.name().to_lowercase().starts_with(&prefix.to_lowercase())
        {
            continue;
        }
        out.push(tenant::details(&mut groups, o).await?);
    }
    out.sort_by_key(|d| d.display_name.to_lowercase());
    Ok(out)
}

/// One object by name or id, with details.
pub async fn show(client: &Client, kind: ObjectKind, name_or_id: &str) -> Result<Details> {
    let object = tenant::find(client, kind, name_or_id).await?;
    tenant::details(&mut Groups::new(client), &object).await
}

fn check(spec: &Spec, mode: Mode, existing_type: Option<&ProvisioningType>) -> Vec<Problem> {
    match spec {
        Spec::Policy(p) => validate::check_policy(p, mode, existing_type),
        Spec::UserSettings(s) => validate::check_user_settings(s),
    }
}

/// The region names of a provisioning policy that Windows 365 does not support
/// ([`crate::regions`]).
async fn region_problems(client: &Client, spec: &Spec) -> Result<Vec<Problem>> {
    match spec {
        Spec::Policy(p) => crate::regions::check_policy(client, p).await,
        Spec::UserSettings(_) => Ok(Vec::new()),
    }
}

async fn resolve_all(
    groups: &mut Groups<'_>,
    specs: &[AssignmentSpec],
) -> Result<Vec<ResolvedAssignment>> {
    let mut out = Vec::with_capacity(specs.len());
    for a in specs {
        out.push(groups.resolve(a).await?);
    }
    Ok(out)
}

/// `create`: validates, refuses a name that already exists, resolves the assignment groups.
pub async fn plan_create(client: &Client, mut spec: Spec) -> Result<PolicyPlan> {
    super::references::resolve(client, &mut spec).await?;
    let kind = spec.kind();
    let what = format!("{kind} '{}'", spec.display_name());
    let mut problems = check(&spec, Mode::Create, None);
    problems.extend(region_problems(client, &spec).await?);
    if !problems.is_empty() {
        return Err(refuse(&what, &problems));
    }
    let existing = tenant::list(client, kind).await?;
    let same: Vec<&TenantObject> = existing
        .iter()
        .filter(|o| o.name().to_lowercase() == spec.display_name().to_lowercase())
        .collect();
    if !same.is_empty() {
        let ids: Vec<&str> = same.iter().map(|o| o.id()).collect();
        return Err(refuse(
            &what,
            &[Problem {
                field: "display_name".into(),
                message: format!("a {kind} with this name already exists ({})", ids.join(", ")),
                fix: "choose another name (names must be unique so that w365 finds the policy by name), or change the existing one with update".into(),
            }],
        ));
    }
    let mut groups = Groups::new(client);
    let assignments = resolve_all(&mut groups, spec.assignments()).await?;
    if let Spec::Policy(p) = &spec
        && is_frontline(p.provisioning_type.as_ref())
    {
        // A new policy: every existing allotment counts against the plan.
        check_frontline_allotments(client, "", &assignments, false).await?;
    }
    let desired = Desired {
        spec,
        assignments,
        source: None,
    };
    diff::plan(&[desired], &[], false).map_err(|p| refuse(&what, &p))
}

/// `update`: only the properties set in `changes` (an empty `display_name` keeps the name);
/// assignments are not touched (use assign/unassign or sync). Refuses a provisioning type change.
pub async fn plan_update(
    client: &Client,
    name_or_id: &str,
    mut changes: Spec,
) -> Result<PolicyPlan> {
    super::references::resolve(client, &mut changes).await?;
    let kind = changes.kind();
    let all = tenant::list(client, kind).await?;
    let object = tenant::pick(&all, kind, name_or_id)?;
    let what = format!("{kind} '{}'", object.name());
    let new_name = changes.display_name().to_owned();
    if new_name.is_empty() {
        set_name(&mut changes, object.name());
    } else if let Some(other) = all
        .iter()
        .find(|o| o.id() != object.id() && o.name().to_lowercase() == new_name.to_lowercase())
    {
        return Err(refuse(
            &what,
            &[Problem {
                field: "display_name".into(),
                message: format!(
                    "another {kind} is already named '{new_name}' ({})",
                    other.id()
                ),
                fix: "choose a name no other policy has".into(),
            }],
        ));
    }
    let existing_type = match object {
        TenantObject::Policy(p) => p.provisioning_type.clone(),
        TenantObject::UserSettings(_) => None,
    };
    let mut problems = check(&changes, Mode::Update, existing_type.as_ref());
    problems.extend(region_problems(client, &changes).await?);
    if !problems.is_empty() {
        return Err(refuse(&what, &problems));
    }
    let observed = object.spec();
    let (fields, patch) =
        diff::diff_properties(&changes, &observed).map_err(|p| refuse(&what, &[p]))?;
    let mut plan = PolicyPlan::default();
    if !fields.is_empty() {
        plan.changes.push(Change::Update {
            object: kind,
            id: object.id().to_owned(),
            name: object.name().to_owned(),
            fields,
            patch,
        });
    }
    Ok(plan)
}

fn set_name(spec: &mut Spec, name: &str) {
    match spec {
        Spec::Policy(p) => p.display_name = name.to_owned(),
        Spec::UserSettings(s) => s.display_name = name.to_owned(),
    }
}

/// `delete`: refused while assigned unless `unassign_first` (then the plan unassigns every group
/// first).
pub async fn plan_delete(
    client: &Client,
    kind: ObjectKind,
    name_or_id: &str,
    unassign_first: bool,
) -> Result<PolicyPlan> {
    let object = tenant::find(client, kind, name_or_id).await?;
    let mut groups = Groups::new(client);
    let observed = groups.observe(&object).await?;
    if !observed.assignments.is_empty() && !unassign_first {
        let names: Vec<String> = observed
            .assignments
            .iter()
            .map(|a| a.group.to_string())
            .collect();
        return Err(refuse(
            &format!("{kind} '{}'", object.name()),
            &[Problem {
                field: "assignments".into(),
                message: format!(
                    "it is still assigned to {} group{} ({}); Graph refuses to delete an assigned policy{}",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", "),
                    if kind == ObjectKind::ProvisioningPolicy {
                        ", and unassigning a provisioning policy puts its Cloud PCs into their grace period"
                    } else {
                        ""
                    }
                ),
                fix: format!(
                    "unassign it first (w365 {} unassign), or pass --unassign-first to do both",
                    if kind == ObjectKind::ProvisioningPolicy {
                        "policy"
                    } else {
                        "user-settings"
                    }
                ),
            }],
        ));
    }
    let mut changes = diff::diff_assignments(
        kind,
        Some(&observed.id),
        object.name(),
        &[],
        &observed.assignments,
    );
    changes.push(Change::Delete {
        object: kind,
        id: observed.id.clone(),
        name: object.name().to_owned(),
    });
    Ok(PolicyPlan {
        changes,
        unmanaged: Vec::new(),
    })
}

/// `assign`: adds (or changes) the given assignments and keeps the others; with `replace` the
/// given ones are the complete set (the others are unassigned).
pub async fn plan_assign(
    client: &Client,
    kind: ObjectKind,
    name_or_id: &str,
    assignments: &[AssignmentSpec],
    replace: bool,
) -> Result<PolicyPlan> {
    let object = tenant::find(client, kind, name_or_id).await?;
    let what = format!("{kind} '{}'", object.name());
    let frontline = match &object {
        TenantObject::Policy(p) => is_frontline(p.provisioning_type.as_ref()),
        TenantObject::UserSettings(_) => false,
    };
    let mut problems = Vec::new();
    validate::check_assignments(assignments, frontline, &mut problems);
    if !problems.is_empty() {
        return Err(refuse(&what, &problems));
    }
    let mut groups = Groups::new(client);
    let observed = groups.observe(&object).await?;
    let desired = resolve_all(&mut groups, assignments).await?;
    if frontline {
        check_frontline_allotments(client, object.id(), &desired, replace).await?;
    }
    let changes = if replace {
        diff::diff_assignments(
            kind,
            Some(&observed.id),
            object.name(),
            &desired,
            &observed.assignments,
        )
    } else {
        diff::diff_assignments(
            kind,
            Some(&observed.id),
            object.name(),
            &desired,
            &observed.assignments,
        )
        .into_iter()
        .filter(|c| matches!(c, Change::Assign { .. }))
        .collect()
    };
    Ok(PolicyPlan {
        changes,
        unmanaged: Vec::new(),
    })
}

/// Refuses Frontline allotments the plan cannot cover, before anything is sent: per Frontline
/// service plan, the licences requested for the groups of `policy_id` must fit in the plan's
/// `totalCount` minus what every other assignment (other policies, and other groups of this
/// policy unless `replace`) already has allotted. A plan the tenant does not list cannot be
/// checked here (Graph then decides).
async fn check_frontline_allotments(
    client: &Client,
    policy_id: &str,
    desired: &[ResolvedAssignment],
    replace: bool,
) -> Result<()> {
    let wanted: Vec<&ResolvedAssignment> = desired.iter().collect();
    check_allotments(client, &wanted, |policy, target| {
        policy
            .id
            .as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(policy_id))
            && (replace
                || desired
                    .iter()
                    .any(|w| w.group.id.eq_ignore_ascii_case(&target.group_id)))
    })
    .await
}

/// The check behind [`check_frontline_allotments`]: the Frontline assignments in `wanted` must fit
/// in each plan's licences minus the allotments of every tenant assignment that stays (those for
/// which `replaced` is false).
async fn check_allotments(
    client: &Client,
    wanted: &[&ResolvedAssignment],
    replaced: impl Fn(&ProvisioningPolicy, &AssignmentTarget) -> bool,
) -> Result<()> {
    let wanted: Vec<&ResolvedAssignment> = wanted
        .iter()
        .copied()
        .filter(|a| a.service_plan_id.is_some())
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let (plans, policies) = futures::try_join!(
        async {
            match client.service_plans().frontline().await {
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                other => other.graph_ctx(
                    || "read the Frontline service plans".into(),
                    permissions::READ_CLOUD_PCS,
                ),
            }
        },
        tenant::list_policies(client)
    )?;
    let mut plan_ids: Vec<&str> = wanted
        .iter()
        .filter_map(|a| a.service_plan_id.as_deref())
        .collect();
    plan_ids.sort_unstable();
    plan_ids.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    for plan_id in plan_ids {
        let Some(plan) = plans.iter().find(|p| p.id.eq_ignore_ascii_case(plan_id)) else {
            continue;
        };
        let requested: i64 = wanted
            .iter()
            .filter(|a| {
                a.service_plan_id
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(plan_id))
            })
            .map(|a| i64::from(a.allotment_licenses_count.unwrap_or(0)))
            .sum();
        let allotted_elsewhere: i64 = policies
            .iter()
            .flat_map(|p| {
                p.assignments
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .map(move |a| (p, a))
            })
            .filter(|(p, a)| {
                !replaced(p, &a.target)
                    && a.target
                        .service_plan_id
                        .as_deref()
                        .is_some_and(|id| id.eq_ignore_ascii_case(plan_id))
            })
            .map(|(_, a)| i64::from(a.target.allotment_licenses_count.unwrap_or(0)))
            .sum();
        let total = i64::from(plan.total_count);
        let free = (total - allotted_elsewhere).max(0);
        if requested > free {
            let group = wanted
                .iter()
                .filter(|a| {
                    a.service_plan_id
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case(plan_id))
                })
                .map(|a| a.group.display_name.clone())
                .collect::<Vec<_>>()
                .join("', '");
            return Err(Error::AllotmentExceedsPlan {
                group,
                plan: plan.display_name.clone(),
                requested,
                free,
                total,
                allotted_elsewhere,
            });
        }
    }
    Ok(())
}

/// `unassign`: removes the given groups and keeps the others. A group that is not assigned
/// needs nothing.
pub async fn plan_unassign(
    client: &Client,
    kind: ObjectKind,
    name_or_id: &str,
    group_names: &[String],
) -> Result<PolicyPlan> {
    let object = tenant::find(client, kind, name_or_id).await?;
    let mut groups = Groups::new(client);
    let observed = groups.observe(&object).await?;
    let mut plan = PolicyPlan::default();
    for name in group_names {
        // An assignment to a group that no longer exists can still be removed by its id.
        if let Some(a) = observed
            .assignments
            .iter()
            .find(|a| a.group.id.eq_ignore_ascii_case(name))
        {
            plan.changes.push(Change::Unassign {
                object: kind,
                id: observed.id.clone(),
                name: object.name().to_owned(),
                assignment: a.clone(),
            });
            continue;
        }
        let group = groups.by_name_or_id(name).await?;
        if let Some(a) = observed
            .assignments
            .iter()
            .find(|a| a.group.id.eq_ignore_ascii_case(&group.id))
        {
            plan.changes.push(Change::Unassign {
                object: kind,
                id: observed.id.clone(),
                name: object.name().to_owned(),
                assignment: a.clone(),
            });
        }
    }
    Ok(plan)
}

/// `apply`: push a setting to the policy's existing Cloud PCs.
pub async fn plan_apply(
    client: &Client,
    name_or_id: &str,
    setting: PolicySettingType,
) -> Result<PolicyPlan> {
    let object = tenant::find(client, ObjectKind::ProvisioningPolicy, name_or_id).await?;
    if setting == PolicySettingType::Region {
        // The region the Cloud PCs would move to must be one Windows 365 supports.
        let problems = region_problems(client, &object.spec()).await?;
        if !problems.is_empty() {
            return Err(refuse(
                &format!("apply the region of '{}'", object.name()),
                &problems,
            ));
        }
    }
    Ok(PolicyPlan {
        changes: vec![Change::Apply {
            id: object.id().to_owned(),
            name: object.name().to_owned(),
            setting,
        }],
        unmanaged: Vec::new(),
    })
}

/// `apply-config`: push a setting to the given Cloud PCs (each must exist).
pub async fn plan_apply_config(
    client: &Client,
    cloud_pc_ids: &[String],
    setting: PolicySettingType,
) -> Result<PolicyPlan> {
    if cloud_pc_ids.is_empty() {
        return Err(Error::InvalidInput {
            reason: "no Cloud PC given; pass --cloud-pc ID (one or more)".into(),
        });
    }
    let mut ids = Vec::new();
    for id in cloud_pc_ids {
        let found = client.cloud_pcs().get_opt(id).await.graph_ctx(
            || format!("read the Cloud PC {id}"),
            permissions::READ_CLOUD_PCS,
        )?;
        let Some(pc) = found else {
            return Err(Error::ObjectNotFound {
                kind: "Cloud PC",
                id: id.clone(),
            });
        };
        if !ids.contains(&pc.id) {
            ids.push(pc.id);
        }
    }
    Ok(PolicyPlan {
        changes: vec![Change::ApplyConfig {
            cloud_pc_ids: ids,
            setting,
        }],
        unmanaged: Vec::new(),
    })
}

/// A policy file read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub spec: Spec,
}

/// Collects the `*.toml` files under `dir`. Symbolic links to directories are not followed
/// (one pointing at an ancestor, such as `ln -s . self`, would make the walk endless); they are
/// collected in `dir_links` so the caller can name them. Links to files are read like files.
fn toml_files(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    dir_links: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_type().ok().map(|t| (e.path(), t)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (p, file_type) in entries {
        if file_type.is_symlink() && p.is_dir() {
            dir_links.push(p);
        } else if file_type.is_dir() {
            toml_files(&p, out, dir_links)?;
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads and validates every `*.toml` file under `dir` (recursively). All problems of all files
/// are reported together; two files with the same kind and name are refused.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedFile>> {
    Ok(load_all(dir)?.files)
}

/// The files of a policy directory: the named objects, and the organization settings file.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedDir {
    pub files: Vec<LoadedFile>,
    pub org_settings: Option<(PathBuf, OrgSettingsSpec)>,
    pub network_connections: Vec<(PathBuf, NetworkConnectionSpec)>,
}

/// [`load_dir`], with the organization settings file (at most one).
pub fn load_all(dir: &Path) -> Result<LoadedDir> {
    let mut paths = Vec::new();
    let mut dir_links = Vec::new();
    toml_files(dir, &mut paths, &mut dir_links).map_err(|e| Error::InvalidInput {
        reason: format!("cannot read the policy directory {}: {e}", dir.display()),
    })?;
    if !dir_links.is_empty() {
        let shown: Vec<String> = dir_links
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
            .collect();
        return Err(Error::InvalidInput {
            reason: format!(
                "{} contains a symbolic link to a directory ({}); policy commands do not follow directory links, because one can point back into the tree and loop: replace the link with the directory itself, or remove it",
                dir.display(),
                shown.join(", ")
            ),
        });
    }
    if paths.is_empty() {
        return Err(Error::InvalidInput {
            reason: format!(
                "{} has no policy files (*.toml); run `w365 policy export --dir {}` to start from the tenant",
                dir.display(),
                dir.display()
            ),
        });
    }
    let mut problems = Vec::new();
    let mut files: Vec<LoadedFile> = Vec::new();
    let mut org_settings: Option<(PathBuf, OrgSettingsSpec)> = None;
    let mut network_connections = Vec::new();
    let mut seen: HashMap<(ObjectKind, String), PathBuf> = HashMap::new();
    for path in paths {
        let shown = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem {
                    field: shown,
                    message: format!("cannot be read: {e}"),
                    fix: "check the file's permissions".into(),
                });
                continue;
            }
        };
        if super::org_settings::is_org_settings_file(&text) {
            match (super::org_settings::parse(&text), &org_settings) {
                (Ok(_), Some((first, _))) => problems.push(Problem {
                    field: shown.clone(),
                    message: format!(
                        "describes the {} like {}",
                        super::org_settings::NAME,
                        first.strip_prefix(dir).unwrap_or(first).display()
                    ),
                    fix: "keep one organization settings file (the tenant has one)".into(),
                }),
                (Ok(spec), None) => org_settings = Some((path.clone(), spec)),
                (Err(e), _) => problems.push(Problem {
                    field: shown.clone(),
                    message: e.to_string(),
                    fix: "correct the file (see the policy file format in the README)".into(),
                }),
            }
            continue;
        }
        if super::spec::declares_kind(&text, ObjectKind::NetworkConnection) {
            match super::network::parse(&text) {
                Ok(spec) => {
                    let key = (
                        ObjectKind::NetworkConnection,
                        spec.display_name.to_lowercase(),
                    );
                    if let Some(first) = seen.get(&key) {
                        problems.push(Problem {
                            field: shown.clone(),
                            message: format!(
                                "describes the same {} '{}' as {}",
                                ObjectKind::NetworkConnection,
                                spec.display_name,
                                first.strip_prefix(dir).unwrap_or(first).display()
                            ),
                            fix: "keep one file per connection".into(),
                        });
                    } else {
                        seen.insert(key, path.clone());
                    }
                    network_connections.push((path.clone(), spec));
                }
                Err(e) => problems.push(Problem {
                    field: shown.clone(),
                    message: e.to_string(),
                    fix: "correct the file (see the policy file format in the README)".into(),
                }),
            }
            continue;
        }
        let spec = match Spec::from_toml(&text) {
            Ok(s) => s,
            Err(e) => {
                // "x.toml:3: image: unknown field ...", as the validation problems below.
                let (field, message) = match &e {
                    super::spec::SpecError::Syntax {
                        message,
                        line: Some(line),
                        key,
                    } => (
                        match key {
                            Some(key) => format!("{shown}:{line}: {key}"),
                            None => format!("{shown}:{line}"),
                        },
                        message.clone(),
                    ),
                    other => (shown.clone(), other.to_string()),
                };
                problems.push(Problem {
                    field,
                    message,
                    fix: "correct the file (see the policy file format in the README)".into(),
                });
                continue;
            }
        };
        for mut p in check(&spec, Mode::Create, None) {
            p.field = match super::spec::line_of(&text, &p.field) {
                Some(line) => format!("{shown}:{line}: {}", p.field),
                None => format!("{shown}: {}", p.field),
            };
            problems.push(p);
        }
        let key = (spec.kind(), spec.display_name().to_lowercase());
        if let Some(first) = seen.get(&key) {
            problems.push(Problem {
                field: shown.clone(),
                message: format!(
                    "describes the same {} '{}' as {}",
                    spec.kind(),
                    spec.display_name(),
                    first.strip_prefix(dir).unwrap_or(first).display()
                ),
                fix: "keep one file per policy".into(),
            });
        } else {
            seen.insert(key, path.clone());
        }
        files.push(LoadedFile { path, spec });
    }
    if !problems.is_empty() {
        return Err(refuse(
            &format!("the policy files in {}", dir.display()),
            &problems,
        ));
    }
    Ok(LoadedDir {
        files,
        org_settings,
        network_connections,
    })
}

/// `diff` / `sync` planning: the files in `dir` against the tenant.
pub async fn plan_sync(client: &Client, dir: &Path, prune: bool) -> Result<PolicyPlan> {
    let LoadedDir {
        files,
        org_settings,
        network_connections,
    } = load_all(dir)?;
    let mut groups = Groups::new(client);
    let mut desired = Vec::with_capacity(files.len());
    // Region names are checked as create/update/apply check them, every file's problems together;
    // the supported regions are read once, when a file names one.
    let mut region_issues = Vec::new();
    let mut regions = None;
    for mut f in files {
        super::references::resolve(client, &mut f.spec).await?;
        let source = f
            .path
            .strip_prefix(dir)
            .unwrap_or(&f.path)
            .display()
            .to_string();
        let found = match &f.spec {
            Spec::Policy(p) if crate::regions::names_a_region(p) => {
                if regions.is_none() {
                    regions = Some(crate::regions::list(client).await?);
                }
                crate::regions::problems(p, regions.as_deref().unwrap_or_default())
            }
            _ => Vec::new(),
        };
        for mut p in found {
            p.field = format!("{source}: {}", p.field);
            region_issues.push(p);
        }
        let assignments = resolve_all(&mut groups, f.spec.assignments()).await?;
        desired.push(Desired {
            source: Some(source),
            spec: f.spec,
            assignments,
        });
    }
    if !region_issues.is_empty() {
        return Err(refuse(
            &format!("the policy files in {}", dir.display()),
            &region_issues,
        ));
    }
    let mut observed = Vec::new();
    for kind in [ObjectKind::ProvisioningPolicy, ObjectKind::UserSettings] {
        let objects = tenant::list(client, kind).await?;
        for d in desired.iter().filter(|d| d.spec.kind() == kind) {
            let same: Vec<&TenantObject> = objects
                .iter()
                .filter(|o| o.name().to_lowercase() == d.spec.display_name().to_lowercase())
                .collect();
            if same.len() > 1 {
                return Err(Error::AmbiguousName {
                    kind: kind.label(),
                    name: d.spec.display_name().to_owned(),
                    count: same.len(),
                    ids: same.iter().map(|o| o.id().to_owned()).collect(),
                });
            }
        }
        for o in &objects {
            observed.push(groups.observe(o).await?);
        }
    }
    // Frontline allotments of every file must fit the plans, with the allotments the sync keeps:
    // those of policies no file describes (unless --prune unassigns them).
    let described: Vec<String> = desired
        .iter()
        .filter(|d| d.spec.kind() == ObjectKind::ProvisioningPolicy)
        .map(|d| d.spec.display_name().to_lowercase())
        .collect();
    let wanted: Vec<&ResolvedAssignment> = desired
        .iter()
        .filter(
            |d| matches!(&d.spec, Spec::Policy(p) if is_frontline(p.provisioning_type.as_ref())),
        )
        .flat_map(|d| d.assignments.iter())
        .collect();
    if !wanted.is_empty() {
        check_allotments(client, &wanted, |policy, _| {
            prune || described.contains(&policy.display_name.to_lowercase())
        })
        .await?;
    }
    let mut plan = diff::plan(&desired, &observed, prune)
        .map_err(|p| refuse(&format!("the policy files in {}", dir.display()), &p))?;
    // Connections before the policies that name them; deleted after the policies that used them.
    // A file naming a connection that this sync creates resolves only once it exists (run sync
    // again): the names are resolved at plan time.
    // Connections are managed (and pruned) only when DIR has connection files, so a directory
    // exported before they were never deletes them.
    let connections = crate::network::list(client).await?;
    if !network_connections.is_empty() {
        let policies = crate::network::all_policies(client).await?;
        let (writes, deletes, unmanaged) =
            super::network::plan(&network_connections, &connections, &policies, prune)?;
        plan.changes.splice(0..0, writes);
        plan.changes.extend(deletes);
        plan.unmanaged.extend(unmanaged);
    } else {
        plan.unmanaged
            .extend(connections.iter().map(|c| diff::Unmanaged {
                object: ObjectKind::NetworkConnection,
                id: c.id.clone(),
                name: c.display_name.clone().unwrap_or_default(),
            }));
    }
    // The organization settings first: provisioning policies created after them get them.
    if let Some((_, wanted)) = &org_settings
        && let Some(change) = super::org_settings::plan_against_tenant(client, wanted).await?
    {
        plan.changes.insert(0, change);
    }
    Ok(plan)
}

/// One file `export` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedFile {
    pub object: ObjectKind,
    pub id: String,
    pub display_name: String,
    pub path: PathBuf,
}

/// What `export` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    pub dir: PathBuf,
    pub files: Vec<ExportedFile>,
    /// `*.toml` files already in the folders that this export did not write (they would show up
    /// in a diff as policies to create).
    pub stale: Vec<PathBuf>,
    /// Names that several tenant objects share (diff and sync refuse them until renamed).
    pub shared_names: Vec<String>,
}

/// The tenant as specs (with assignments by group name), one per object.
pub async fn snapshot(client: &Client) -> Result<Vec<(TenantObject, Spec)>> {
    let mut groups = Groups::new(client);
    let mut out = Vec::new();
    for kind in [ObjectKind::ProvisioningPolicy, ObjectKind::UserSettings] {
        for object in tenant::list(client, kind).await? {
            let observed = groups.observe(&object).await?;
            let mut assignments = Vec::new();
            for a in &observed.assignments {
                let deleted = a.group.display_name.starts_with("(deleted group");
                let shared = !deleted && groups.name_is_shared(&a.group.display_name).await?;
                assignments.push(AssignmentSpec {
                    group: a.group.display_name.clone(),
                    group_id: (deleted || shared).then(|| a.group.id.clone()),
                    service_plan_id: a.service_plan_id.clone(),
                    allotment_display_name: a.allotment_display_name.clone(),
                    allotment_licenses_count: a.allotment_licenses_count,
                });
            }
            let spec = match observed.spec {
                Spec::Policy(p) => Spec::Policy(PolicySpec { assignments, ..p }),
                Spec::UserSettings(s) => {
                    Spec::UserSettings(super::spec::UserSettingsSpec { assignments, ..s })
                }
            };
            out.push((object, spec));
        }
    }
    Ok(out)
}

/// `export`: writes every provisioning and user settings policy to `dir/provisioning-policies/`
/// and `dir/user-settings/`, one file each, and the organization settings to
/// `dir/organization-settings/organization-settings.toml`.
pub async fn export(client: &Client, dir: &Path) -> Result<ExportReport> {
    let objects = snapshot(client).await?;
    let io = |e: std::io::Error, p: &Path| Error::InvalidInput {
        reason: format!("cannot write {}: {e}", p.display()),
    };
    let mut report = ExportReport {
        dir: dir.to_path_buf(),
        ..ExportReport::default()
    };
    let mut used: HashMap<PathBuf, usize> = HashMap::new();
    let mut names: HashMap<(ObjectKind, String), usize> = HashMap::new();
    for (object, spec) in &objects {
        *names
            .entry((object.kind(), object.name().to_lowercase()))
            .or_default() += 1;
        let folder = dir.join(object.kind().folder());
        std::fs::create_dir_all(&folder).map_err(|e| io(e, &folder))?;
        let stem = file_stem(object.name());
        let mut path = folder.join(format!("{stem}.toml"));
        let n = used.entry(path.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            path = folder.join(format!("{stem}-{n}.toml"));
        }
        std::fs::write(&path, spec.to_toml()).map_err(|e| io(e, &path))?;
        report.files.push(ExportedFile {
            object: object.kind(),
            id: object.id().to_owned(),
            display_name: object.name().to_owned(),
            path,
        });
    }
    let settings = crate::org_settings::show(client).await?;
    let folder = dir.join(ObjectKind::OrganizationSettings.folder());
    std::fs::create_dir_all(&folder).map_err(|e| io(e, &folder))?;
    let path = folder.join(super::org_settings::FILE_NAME);
    std::fs::write(&path, OrgSettingsSpec::from_graph(&settings).to_toml())
        .map_err(|e| io(e, &path))?;
    report.files.push(ExportedFile {
        object: ObjectKind::OrganizationSettings,
        id: settings.id.clone().unwrap_or_default(),
        display_name: super::org_settings::NAME.to_owned(),
        path,
    });
    let folder = dir.join(ObjectKind::NetworkConnection.folder());
    for c in crate::network::list(client).await? {
        let spec = NetworkConnectionSpec::from_graph(&c);
        std::fs::create_dir_all(&folder).map_err(|e| io(e, &folder))?;
        let stem = file_stem(&spec.display_name);
        let mut path = folder.join(format!("{stem}.toml"));
        let n = used.entry(path.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            path = folder.join(format!("{stem}-{n}.toml"));
        }
        std::fs::write(&path, spec.to_toml()).map_err(|e| io(e, &path))?;
        *names
            .entry((
                ObjectKind::NetworkConnection,
                spec.display_name.to_lowercase(),
            ))
            .or_default() += 1;
        report.files.push(ExportedFile {
            object: ObjectKind::NetworkConnection,
            id: c.id.clone(),
            display_name: spec.display_name,
            path,
        });
    }
    for kind in [
        ObjectKind::ProvisioningPolicy,
        ObjectKind::UserSettings,
        ObjectKind::OrganizationSettings,
        ObjectKind::NetworkConnection,
    ] {
        let mut present = Vec::new();
        let folder = dir.join(kind.folder());
        if folder.is_dir() {
            // Links to directories are not followed here either (nothing stale behind them).
            let mut dir_links = Vec::new();
            toml_files(&folder, &mut present, &mut dir_links).map_err(|e| io(e, &folder))?;
        }
        for p in present {
            if !report.files.iter().any(|f| f.path == p) {
                report.stale.push(p);
            }
        }
    }
    for f in report
        .files
        .iter()
        .filter(|f| f.object == ObjectKind::NetworkConnection)
    {
        if names
            .get(&(f.object, f.display_name.to_lowercase()))
            .is_some_and(|n| *n > 1)
            && !report.shared_names.contains(&f.display_name)
        {
            report.shared_names.push(f.display_name.clone());
        }
    }
    for (object, _) in &objects {
        if names
            .get(&(object.kind(), object.name().to_lowercase()))
            .copied()
            .unwrap_or(0)
            > 1
            && !report.shared_names.iter().any(|n| n == object.name())
        {
            report.shared_names.push(object.name().to_owned());
        }
    }
    Ok(report)
}
