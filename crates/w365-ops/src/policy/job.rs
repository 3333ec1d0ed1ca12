//! The policy operations of the API and the jobs (`policy.create`, `policy.update`,
//! `policy.delete`, `policy.assign`, `policy.unassign`, `policy.apply` and the `user-settings.*`
//! ones, declared in [`crate::spec`]). Their validated parameters become the same specs and plans
//! that `w365 policy` and `w365 user-settings` make from their flags ([`super::fields`],
//! [`super::ops`]), carried out by the same [`execute`]. An API request is the consent the CLI asks
//! for at the terminal; a dry run answers the plan.
//!
//! A job needs no checkpoint: every change is idempotent and a plan made again after a retry
//! finds what is done done (an empty plan when everything is).

use serde_json::{Value, json};
use w365_graph::Client;
use w365_graph::models::PolicySettingType;

use super::diff::PolicyPlan;
use super::execute::{ExecReport, execute};
use super::fields::{self, BadChoice, Frontline, PolicyFields, UserSettingsFields};
use super::ops;
use super::spec::{ObjectKind, PolicySpec, Spec, UserSettingsSpec};
use crate::error::{Error, Result};
use crate::execute::{Event, Observer};
use crate::spec::ValidatedInput;

/// `apply`'s settings as the CLI spells them (`--setting region|single-sign-on`).
pub const SETTINGS: &[&str] = &["region", "single-sign-on"];

/// The object kind and verb of a policy operation: `policy.assign` → (provisioning policy,
/// `assign`), `user-settings.delete` → (user settings policy, `delete`); `None` for the others.
pub fn operation(name: &str) -> Option<(ObjectKind, &str)> {
    let (object, verb) = name.split_once('.')?;
    let kind = match object {
        "policy" => ObjectKind::ProvisioningPolicy,
        "user-settings" => ObjectKind::UserSettings,
        _ => return None,
    };
    Some((kind, verb))
}

fn text(input: &ValidatedInput, name: &str) -> Option<String> {
    input.str(name).map(|s| s.trim().to_owned())
}

fn flag(input: &ValidatedInput, name: &str) -> Option<bool> {
    input.get(name).and_then(Value::as_bool)
}

fn invalid(reason: String) -> Error {
    Error::InvalidInput { reason }
}

/// The policy file given as `file` (its text), checked to describe `kind`.
fn file_spec(input: &ValidatedInput, kind: ObjectKind) -> Result<Option<Spec>> {
    let Some(text) = input.str("file") else {
        return Ok(None);
    };
    let spec = Spec::from_toml(text).map_err(|e| invalid(e.located("file")))?;
    if spec.kind() != kind {
        return Err(invalid(format!(
            "file describes a {}, not a {kind}",
            spec.kind()
        )));
    }
    Ok(Some(spec))
}

/// The spec the parameters describe: the file's (if given) with the other parameters over it.
fn spec_of(input: &ValidatedInput, kind: ObjectKind) -> Result<Spec> {
    let bad = |e: BadChoice| invalid(e.to_string());
    let file = file_spec(input, kind)?;
    match kind {
        ObjectKind::UserSettings => {
            let base = match file {
                Some(Spec::UserSettings(s)) => s,
                _ => UserSettingsSpec::default(),
            };
            let fields = UserSettingsFields {
                display_name: text(input, "displayName"),
                local_admin: flag(input, "localAdmin"),
                reset: flag(input, "reset"),
                restore_frequency: text(input, "restoreFrequency"),
                user_restore: flag(input, "userRestore"),
                restart_prompts_disabled: flag(input, "restartPromptsDisabled"),
            };
            Ok(Spec::UserSettings(fields.apply(base).map_err(bad)?))
        }
        _ => {
            let base = match file {
                Some(Spec::Policy(p)) => p,
                _ => PolicySpec::default(),
            };
            let fields = PolicyFields {
                display_name: text(input, "displayName"),
                description: text(input, "description"),
                image_id: text(input, "imageId"),
                image_display_name: text(input, "imageDisplayName"),
                image_type: text(input, "imageType"),
                provisioning_type: text(input, "provisioningType"),
                naming_template: text(input, "namingTemplate"),
                join_type: text(input, "joinType"),
                region_name: text(input, "regionName"),
                region_group: text(input, "regionGroup"),
                on_premises_connection_id: text(input, "onPremisesConnectionId"),
                single_sign_on: flag(input, "singleSignOn"),
                local_admin: flag(input, "localAdmin"),
                locale: text(input, "locale"),
                managed_type: text(input, "managedType"),
                autopatch_group_id: text(input, "autopatchGroupId"),
                user_experience_type: text(input, "userExperienceType"),
            };
            Ok(Spec::Policy(fields.apply(base).map_err(bad)?))
        }
    }
}

/// The `group` parameter: group names or ids.
fn groups(input: &ValidatedInput) -> Vec<String> {
    input
        .get("group")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(|g| g.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn frontline(input: &ValidatedInput) -> Frontline {
    Frontline {
        service_plan: text(input, "servicePlan"),
        allotment_name: text(input, "allotmentName"),
        allotment_count: input
            .int("allotmentCount")
            .and_then(|n| i32::try_from(n).ok()),
    }
}

fn setting(input: &ValidatedInput) -> PolicySettingType {
    match input.str("setting") {
        Some(s) if s.eq_ignore_ascii_case("single-sign-on") => PolicySettingType::SingleSignOn,
        _ => PolicySettingType::Region,
    }
}

/// The plan of a policy operation (reads only), as `w365 policy|user-settings <verb> --dry-run`
/// makes it.
pub async fn plan(client: &Client, input: &ValidatedInput) -> Result<PolicyPlan> {
    let not_policy = || invalid(format!("'{}' is not a policy operation", input.operation));
    let (kind, verb) = operation(&input.operation).ok_or_else(not_policy)?;
    let target = text(input, "policy").unwrap_or_default();
    match verb {
        "create" => {
            let mut spec = spec_of(input, kind)?;
            let groups = groups(input);
            if !groups.is_empty() {
                let assignments = fields::assignment_specs(&groups, &frontline(input));
                match &mut spec {
                    Spec::Policy(p) => p.assignments = assignments,
                    Spec::UserSettings(s) => s.assignments = assignments,
                }
            }
            ops::plan_create(client, spec).await
        }
        "update" => {
            // Only the properties given: no new name unless displayName; never the assignments.
            let mut spec = spec_of(input, kind)?;
            let renamed = text(input, "displayName").is_some();
            match &mut spec {
                Spec::Policy(p) => {
                    if !renamed {
                        p.display_name.clear();
                    }
                    p.assignments.clear();
                }
                Spec::UserSettings(s) => {
                    if !renamed {
                        s.display_name.clear();
                    }
                    s.assignments.clear();
                }
            }
            ops::plan_update(client, &target, spec).await
        }
        "delete" => ops::plan_delete(client, kind, &target, input.bool("unassignFirst")).await,
        "assign" => {
            let specs = fields::assignment_specs(&groups(input), &frontline(input));
            ops::plan_assign(client, kind, &target, &specs, input.bool("replace")).await
        }
        "unassign" => ops::plan_unassign(client, kind, &target, &groups(input)).await,
        "apply" if kind == ObjectKind::ProvisioningPolicy => {
            ops::plan_apply(client, &target, setting(input)).await
        }
        _ => Err(not_policy()),
    }
}

/// The result document's body: the plan, the changes carried out with their outcomes, and the
/// objects created (the fields of `w365 policy ... -o json`).
pub fn body(plan: Option<&PolicyPlan>, report: Option<&ExecReport>, dry_run: bool) -> Value {
    let (results, created) = match report {
        Some(r) => (
            serde_json::to_value(&r.changes).unwrap_or_default(),
            serde_json::to_value(&r.created).unwrap_or_default(),
        ),
        None => (json!([]), json!([])),
    };
    json!({
        "dryRun": dry_run,
        "plan": plan.map(|p| serde_json::to_value(p).unwrap_or_default()),
        "results": results,
        "created": created,
    })
}

/// Plans and carries out a policy operation; the result body ([`body`]) and the error that
/// stopped it, if any (changes carried out before it stay made: a new run continues from there).
pub async fn run(
    client: &Client,
    input: &ValidatedInput,
    observer: &dyn Observer,
) -> (Value, Option<Error>) {
    let before = client.stats().requests;
    let with_requests = |mut body: Value| {
        body["graphRequests"] = json!(client.stats().requests.saturating_sub(before));
        body
    };
    observer.on_event(&Event::Planning {
        what: &input.operation,
    });
    let plan = match plan(client, input).await {
        Ok(plan) => plan,
        Err(e) => return (with_requests(body(None, None, false)), Some(e)),
    };
    if plan.is_empty() {
        observer.on_event(&Event::Note(
            "nothing to do: the tenant already is as asked",
        ));
        let done = body(Some(&plan), Some(&ExecReport::default()), false);
        return (with_requests(done), None);
    }
    observer.on_event(&Event::Note(&format!("plan:\n{plan}")));
    let mut report = ExecReport::default();
    let error = execute(client, &plan, observer, &mut report).await.err();
    (
        with_requests(body(Some(&plan), Some(&report), false)),
        error,
    )
}
