//! Desired (files or flags) against observed (the tenant): a field-by-field plan of changes.
//! Pure: no I/O. [`super::execute`] carries a plan out.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use w365_graph::models::{PolicySettingType, ProvisioningType};

use super::spec::{ObjectKind, POLICY_KEYS, Spec, USER_SETTINGS_KEYS, is_updatable, to_graph};
use super::validate::{Problem, provisioning_type_change};
use crate::plan::GroupRef;

/// An assignment with its group resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedAssignment {
    pub group: GroupRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_plan_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allotment_display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allotment_licenses_count: Option<i32>,
}

impl ResolvedAssignment {
    /// A plain group assignment.
    pub fn group(group: GroupRef) -> Self {
        ResolvedAssignment {
            group,
            service_plan_id: None,
            allotment_display_name: None,
            allotment_licenses_count: None,
        }
    }

    /// Whether `self` (desired) is satisfied by `observed`: same group, and every Frontline
    /// detail that `self` gives is the same.
    pub fn satisfied_by(&self, observed: &ResolvedAssignment) -> bool {
        self.group.id.eq_ignore_ascii_case(&observed.group.id)
            && self.service_plan_id.as_deref().is_none_or(|p| {
                observed
                    .service_plan_id
                    .as_deref()
                    .is_some_and(|o| o.eq_ignore_ascii_case(p))
            })
            && (self.allotment_display_name.is_none()
                || self.allotment_display_name == observed.allotment_display_name)
            && (self.allotment_licenses_count.is_none()
                || self.allotment_licenses_count == observed.allotment_licenses_count)
    }

    fn details(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.service_plan_id {
            parts.push(format!("service plan {p}"));
        }
        if let Some(n) = &self.allotment_display_name {
            parts.push(format!("allotment '{n}'"));
        }
        if let Some(c) = self.allotment_licenses_count {
            parts.push(format!("{c} license{}", if c == 1 { "" } else { "s" }));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }
}

/// What a tenant object looks like, with its assignments' groups resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub id: String,
    /// Properties from Graph (its `assignments` are empty; see `assignments`).
    pub spec: Spec,
    pub assignments: Vec<ResolvedAssignment>,
}

impl Observed {
    pub fn kind(&self) -> ObjectKind {
        self.spec.kind()
    }

    pub fn name(&self) -> &str {
        self.spec.display_name()
    }
}

/// What a file (or the flags) ask for, with the assignments' groups resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub spec: Spec,
    pub assignments: Vec<ResolvedAssignment>,
    /// The file it came from (for messages).
    pub source: Option<String>,
}

/// One property that differs. `from` is absent for a create, `to` absent when not managed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// The file key, dotted for nested values (`windows_setting.locale`).
    pub field: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.from, &self.to) {
            (None, Some(to)) => write!(f, "+ {} = {}", self.field, to),
            (Some(from), Some(to)) => write!(f, "~ {}: {} → {}", self.field, from, to),
            (Some(from), None) => write!(f, "- {} (was {})", self.field, from),
            (None, None) => write!(f, "~ {}", self.field),
        }
    }
}

/// One change to the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Change {
    /// `POST` the object (`body` is the Graph request body).
    Create {
        object: ObjectKind,
        name: String,
        fields: Vec<FieldChange>,
        body: Value,
    },
    /// `PATCH` the changed properties.
    Update {
        object: ObjectKind,
        id: String,
        name: String,
        fields: Vec<FieldChange>,
        patch: Value,
    },
    /// Add (or change) one group assignment; the others are kept.
    Assign {
        object: ObjectKind,
        /// `None` while the object is still to be created.
        id: Option<String>,
        name: String,
        assignment: ResolvedAssignment,
        /// The assignment this one replaces (a Frontline allotment change).
        previous: Option<ResolvedAssignment>,
    },
    /// Remove one group assignment; the others are kept.
    Unassign {
        object: ObjectKind,
        id: String,
        name: String,
        assignment: ResolvedAssignment,
    },
    /// `DELETE` the object (its assignments are removed first by `Unassign` changes).
    Delete {
        object: ObjectKind,
        id: String,
        name: String,
    },
    /// Provisioning policy `apply`: push a setting to the policy's existing Cloud PCs.
    Apply {
        id: String,
        name: String,
        setting: PolicySettingType,
    },
    /// `applyConfig`: push a setting to the given Cloud PCs.
    ApplyConfig {
        cloud_pc_ids: Vec<String>,
        setting: PolicySettingType,
    },
}

impl Change {
    /// The object the change is about: (kind, name).
    pub fn object(&self) -> Option<(ObjectKind, &str)> {
        match self {
            Change::Create { object, name, .. }
            | Change::Update { object, name, .. }
            | Change::Assign { object, name, .. }
            | Change::Unassign { object, name, .. }
            | Change::Delete { object, name, .. } => Some((*object, name)),
            Change::Apply { name, .. } => Some((ObjectKind::ProvisioningPolicy, name)),
            Change::ApplyConfig { .. } => None,
        }
    }

    /// Short verb for summaries.
    pub fn verb(&self) -> &'static str {
        match self {
            Change::Create { .. } => "create",
            Change::Update { .. } => "update",
            Change::Assign { .. } => "assign",
            Change::Unassign { .. } => "unassign",
            Change::Delete { .. } => "delete",
            Change::Apply { .. } => "apply",
            Change::ApplyConfig { .. } => "applyConfig",
        }
    }
}

fn setting_text(s: &PolicySettingType) -> &str {
    match s {
        PolicySettingType::Region => "region",
        PolicySettingType::SingleSignOn => "single sign-on",
        other => other.as_str(),
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Create {
                object,
                name,
                fields,
                ..
            } => {
                write!(f, "create {object} '{name}'")?;
                for c in fields {
                    write!(f, "\n      {c}")?;
                }
                Ok(())
            }
            Change::Update {
                object,
                name,
                fields,
                ..
            } => {
                write!(f, "update {object} '{name}'")?;
                for c in fields {
                    write!(f, "\n      {c}")?;
                }
                Ok(())
            }
            Change::Assign {
                object,
                name,
                assignment,
                previous,
                ..
            } => match previous {
                None => write!(
                    f,
                    "assign {object} '{name}' to the group {}{}",
                    assignment.group,
                    assignment.details()
                ),
                Some(prev) => write!(
                    f,
                    "change the assignment of {object} '{name}' to the group {}:{} →{}",
                    assignment.group,
                    prev.details(),
                    assignment.details()
                ),
            },
            Change::Unassign {
                object,
                name,
                assignment,
                ..
            } => write!(
                f,
                "unassign {object} '{name}' from the group {}",
                assignment.group
            ),
            Change::Delete { object, name, id } => write!(f, "delete {object} '{name}' ({id})"),
            Change::Apply { name, setting, .. } => write!(
                f,
                "apply the {} setting of provisioning policy '{name}' to its Cloud PCs",
                setting_text(setting)
            ),
            Change::ApplyConfig {
                cloud_pc_ids,
                setting,
            } => write!(
                f,
                "apply the {} setting of their policies to {} Cloud PC{} ({})",
                setting_text(setting),
                cloud_pc_ids.len(),
                if cloud_pc_ids.len() == 1 { "" } else { "s" },
                cloud_pc_ids.join(", ")
            ),
        }
    }
}

/// A tenant object that no file describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unmanaged {
    pub object: ObjectKind,
    pub id: String,
    pub name: String,
}

/// The changes, in the order they run: creates and updates, then assignment changes, then deletes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPlan {
    pub changes: Vec<Change>,
    /// Tenant objects no file describes (deleted only with `--prune`).
    pub unmanaged: Vec<Unmanaged>,
}

impl PolicyPlan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.changes.len()
    }
}

/// Numbered, one change per line (field changes indented below).
impl fmt::Display for PolicyPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            f.write_str("no changes")?;
        }
        for (i, c) in self.changes.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{:>2}. {c}", i + 1)?;
        }
        Ok(())
    }
}

/// Whether `desired` is satisfied by `observed`: keys missing from `desired` are not managed;
/// objects compare key by key, arrays element by element, scalars by equality.
pub fn satisfies(desired: &Value, observed: Option<&Value>) -> bool {
    match desired {
        Value::Null => true,
        Value::Object(d) => {
            let empty = Map::new();
            let o = match observed {
                Some(Value::Object(o)) => o,
                None | Some(Value::Null) => &empty,
                Some(_) => return false,
            };
            d.iter().all(|(k, v)| satisfies(v, o.get(k)))
        }
        Value::Array(d) => match observed {
            Some(Value::Array(o)) => {
                d.len() == o.len() && d.iter().zip(o).all(|(d, o)| satisfies(d, Some(o)))
            }
            None | Some(Value::Null) => d.is_empty(),
            _ => false,
        },
        scalar => observed == Some(scalar),
    }
}

/// `desired` laid over `observed`: what to send so that properties not managed keep their value.
pub fn overlay(observed: Option<&Value>, desired: &Value) -> Value {
    match (observed, desired) {
        (Some(Value::Object(o)), Value::Object(d)) => {
            let mut out = o.clone();
            for (k, v) in d {
                let merged = overlay(o.get(k), v);
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(o)), Value::Array(d)) if o.len() == d.len() => {
            Value::Array(o.iter().zip(d).map(|(o, d)| overlay(Some(o), d)).collect())
        }
        (_, d) => d.clone(),
    }
}

fn field_changes(
    prefix: &str,
    desired: &Value,
    observed: Option<&Value>,
    out: &mut Vec<FieldChange>,
) {
    if satisfies(desired, observed) {
        return;
    }
    if let (Value::Object(d), Some(Value::Object(o))) = (desired, observed) {
        for (k, v) in d {
            field_changes(&format!("{prefix}.{k}"), v, o.get(k), out);
        }
        return;
    }
    out.push(FieldChange {
        field: prefix.to_owned(),
        from: observed.filter(|v| !v.is_null()).cloned(),
        to: Some(desired.clone()),
    });
}

fn keys(kind: ObjectKind) -> &'static [&'static str] {
    match kind {
        ObjectKind::ProvisioningPolicy => POLICY_KEYS,
        ObjectKind::UserSettings => USER_SETTINGS_KEYS,
        // Not a `Spec`: planned by `super::org_settings`.
        ObjectKind::OrganizationSettings | ObjectKind::NetworkConnection => &[],
    }
}

/// The property changes that turn `observed` into `desired`, and the PATCH body (Graph JSON).
/// Refuses a `provisioning_type` change.
pub fn diff_properties(
    desired: &Spec,
    observed: &Spec,
) -> Result<(Vec<FieldChange>, Value), Problem> {
    let kind = desired.kind();
    let d = desired.properties();
    let o = observed.properties();
    if let (Spec::Policy(dp), Spec::Policy(op)) = (desired, observed)
        && let (Some(to), Some(from)) = (&dp.provisioning_type, &op.provisioning_type)
        && to != from
        && !(matches!(from, ProvisioningType::UnknownFutureValue))
    {
        return Err(provisioning_type_change(from, to));
    }
    let mut fields = Vec::new();
    let mut patch = Map::new();
    for key in keys(kind) {
        if !is_updatable(kind, key) {
            continue;
        }
        let Some(dv) = d.get(*key) else { continue };
        let before = fields.len();
        field_changes(key, dv, o.get(*key), &mut fields);
        if fields.len() > before {
            patch.insert((*key).to_owned(), overlay(o.get(*key), dv));
        }
    }
    Ok((fields, Value::Object(to_graph(&patch))))
}

/// The create body and the fields it sets.
pub fn create_change(desired: &Desired) -> Change {
    let props = desired.spec.properties();
    let kind = desired.spec.kind();
    let fields = keys(kind)
        .iter()
        .filter_map(|k| {
            props.get(*k).map(|v| FieldChange {
                field: (*k).to_owned(),
                from: None,
                to: Some(v.clone()),
            })
        })
        .collect();
    Change::Create {
        object: kind,
        name: desired.spec.display_name().to_owned(),
        fields,
        body: Value::Object(to_graph(&props)),
    }
}

/// The assignment changes from `observed` to `desired` (the complete set).
pub fn diff_assignments(
    kind: ObjectKind,
    id: Option<&str>,
    name: &str,
    desired: &[ResolvedAssignment],
    observed: &[ResolvedAssignment],
) -> Vec<Change> {
    let mut out = Vec::new();
    for d in desired {
        let current = observed
            .iter()
            .find(|o| o.group.id.eq_ignore_ascii_case(&d.group.id));
        match current {
            Some(o) if d.satisfied_by(o) => {}
            previous => out.push(Change::Assign {
                object: kind,
                id: id.map(str::to_owned),
                name: name.to_owned(),
                assignment: d.clone(),
                previous: previous.cloned(),
            }),
        }
    }
    if let Some(id) = id {
        for o in observed {
            if !desired
                .iter()
                .any(|d| d.group.id.eq_ignore_ascii_case(&o.group.id))
            {
                out.push(Change::Unassign {
                    object: kind,
                    id: id.to_owned(),
                    name: name.to_owned(),
                    assignment: o.clone(),
                });
            }
        }
    }
    out
}

/// The whole plan: every desired object against the tenant (matched by kind and display name,
/// case-insensitively). With `prune`, tenant objects no file describes are unassigned and
/// deleted; without it they are listed as unmanaged. The caller has made sure that names are
/// unique on both sides. Refuses (returns the problems) when a change is not allowed.
pub fn plan(
    desired: &[Desired],
    observed: &[Observed],
    prune: bool,
) -> Result<PolicyPlan, Vec<Problem>> {
    let mut writes = Vec::new();
    let mut assigns = Vec::new();
    let mut deletes = Vec::new();
    let mut problems = Vec::new();
    let mut unmanaged = Vec::new();
    for d in desired {
        let kind = d.spec.kind();
        let name = d.spec.display_name();
        let current = observed
            .iter()
            .find(|o| o.kind() == kind && o.name().to_lowercase() == name.to_lowercase());
        match current {
            None => {
                writes.push(create_change(d));
                assigns.extend(diff_assignments(kind, None, name, &d.assignments, &[]));
            }
            Some(o) => {
                match diff_properties(&d.spec, &o.spec) {
                    Ok((fields, patch)) if !fields.is_empty() => writes.push(Change::Update {
                        object: kind,
                        id: o.id.clone(),
                        name: o.name().to_owned(),
                        fields,
                        patch,
                    }),
                    Ok(_) => {}
                    Err(mut p) => {
                        if let Some(src) = &d.source {
                            p.field = format!("{src}: {}", p.field);
                        }
                        problems.push(p);
                    }
                }
                assigns.extend(diff_assignments(
                    kind,
                    Some(&o.id),
                    o.name(),
                    &d.assignments,
                    &o.assignments,
                ));
            }
        }
    }
    for o in observed {
        let described = desired.iter().any(|d| {
            d.spec.kind() == o.kind()
                && d.spec.display_name().to_lowercase() == o.name().to_lowercase()
        });
        if described {
            continue;
        }
        if prune {
            deletes.extend(diff_assignments(
                o.kind(),
                Some(&o.id),
                o.name(),
                &[],
                &o.assignments,
            ));
            deletes.push(Change::Delete {
                object: o.kind(),
                id: o.id.clone(),
                name: o.name().to_owned(),
            });
        } else {
            unmanaged.push(Unmanaged {
                object: o.kind(),
                id: o.id.clone(),
                name: o.name().to_owned(),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut changes = writes;
    changes.extend(assigns);
    changes.extend(deletes);
    Ok(PolicyPlan { changes, unmanaged })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::spec::{PolicySpec, WindowsSettingSpec};
    use serde_json::json;
    use w365_graph::models::ImageType;

    fn g(id: &str) -> GroupRef {
        GroupRef {
            id: id.into(),
            display_name: format!("group {id}"),
        }
    }

    fn policy(name: &str) -> PolicySpec {
        PolicySpec {
            display_name: name.into(),
            image_id: Some("a_b_c".into()),
            image_display_name: Some("Win".into()),
            image_type: Some(ImageType::Gallery),
            provisioning_type: Some(ProvisioningType::Dedicated),
            enable_single_sign_on: Some(true),
            windows_setting: Some(WindowsSettingSpec {
                locale: Some("en-US".into()),
            }),
            ..PolicySpec::default()
        }
    }

    fn observed(name: &str, groups: &[&str]) -> Observed {
        Observed {
            id: format!("id-{name}"),
            spec: Spec::Policy(policy(name)),
            assignments: groups
                .iter()
                .map(|x| ResolvedAssignment::group(g(x)))
                .collect(),
        }
    }

    fn desired(spec: PolicySpec, groups: &[&str]) -> Desired {
        Desired {
            spec: Spec::Policy(spec),
            assignments: groups
                .iter()
                .map(|x| ResolvedAssignment::group(g(x)))
                .collect(),
            source: Some("p.toml".into()),
        }
    }

    #[test]
    fn same_state_gives_an_empty_plan_and_unset_keys_are_not_managed() {
        let mut sparse = policy("P");
        sparse.windows_setting = None;
        sparse.enable_single_sign_on = None;
        let p = plan(
            &[desired(sparse, &["g1"])],
            &[observed("P", &["g1"])],
            false,
        )
        .unwrap();
        assert!(p.is_empty(), "{p}");
    }

    #[test]
    fn field_by_field_update_and_assignment_changes() {
        let mut spec = policy("P");
        spec.enable_single_sign_on = Some(false);
        spec.windows_setting = Some(WindowsSettingSpec {
            locale: Some("de-DE".into()),
        });
        let p = plan(
            &[desired(spec, &["g1", "g3"])],
            &[observed("P", &["g1", "g2"])],
            false,
        )
        .unwrap();
        assert_eq!(p.len(), 3, "{p}");
        let Change::Update { fields, patch, .. } = &p.changes[0] else {
            panic!("update first: {p}")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            vec!["enable_single_sign_on", "windows_setting.locale"]
        );
        assert_eq!(
            patch,
            &json!({"enableSingleSignOn": false, "windowsSetting": {"locale": "de-DE"}})
        );
        assert!(
            matches!(&p.changes[1], Change::Assign { assignment, previous: None, .. } if assignment.group.id == "g3")
        );
        assert!(
            matches!(&p.changes[2], Change::Unassign { assignment, .. } if assignment.group.id == "g2")
        );
        let text = p.to_string();
        assert!(
            text.contains("~ enable_single_sign_on: true → false"),
            "{text}"
        );
        assert!(
            text.contains("unassign provisioning policy 'P' from the group 'group g2'"),
            "{text}"
        );
    }

    #[test]
    fn create_prune_and_unmanaged() {
        let p = plan(
            &[desired(policy("New"), &["g1"])],
            &[observed("Old", &["g2"])],
            false,
        )
        .unwrap();
        assert!(matches!(&p.changes[0], Change::Create { name, .. } if name == "New"));
        assert!(matches!(&p.changes[1], Change::Assign { id: None, .. }));
        assert_eq!(p.unmanaged.len(), 1);
        let p = plan(&[], &[observed("Old", &["g2"])], true).unwrap();
        assert_eq!(p.changes.len(), 2);
        assert!(matches!(&p.changes[0], Change::Unassign { .. }));
        assert!(matches!(&p.changes[1], Change::Delete { .. }));
        let Change::Create { body, .. } = &plan(&[desired(policy("N"), &[])], &[], false)
            .unwrap()
            .changes[0]
        else {
            panic!()
        };
        assert_eq!(body["imageId"], "a_b_c");
        assert_eq!(body["windowsSetting"]["locale"], "en-US");
    }

    #[test]
    fn provisioning_type_change_is_refused() {
        let mut spec = policy("P");
        spec.provisioning_type = Some(ProvisioningType::Shared);
        let err = plan(&[desired(spec, &[])], &[observed("P", &[])], false).unwrap_err();
        assert!(err[0].field.starts_with("p.toml: provisioning_type"));
    }

    #[test]
    fn frontline_allotment_change_is_an_assign_with_previous() {
        let mut o = observed("F", &[]);
        o.assignments = vec![ResolvedAssignment {
            group: g("g1"),
            service_plan_id: Some("sp".into()),
            allotment_display_name: Some("A".into()),
            allotment_licenses_count: Some(3),
        }];
        let mut d = desired(policy("F"), &[]);
        d.assignments = vec![ResolvedAssignment {
            allotment_licenses_count: Some(2),
            ..o.assignments[0].clone()
        }];
        let p = plan(&[d], &[o], false).unwrap();
        assert_eq!(p.len(), 1);
        assert!(
            p.to_string()
                .contains("3 licenses) → (service plan sp, allotment 'A', 2 licenses)"),
            "{p}"
        );
    }

    #[test]
    fn overlay_keeps_unmanaged_sub_properties() {
        let o = json!([{"domain_join_type": "azureADJoin", "region_name": "automatic", "region_group": "default"}]);
        let d = json!([{"domain_join_type": "azureADJoin", "region_name": "westeurope"}]);
        assert!(!satisfies(&d, Some(&o)));
        assert_eq!(overlay(Some(&o), &d)[0]["region_group"], "default");
        assert!(satisfies(&json!({"a": 1}), Some(&json!({"a": 1, "b": 2}))));
    }
}
