//! Reading the tenant: policies with their assignments, groups by name or id, and name or id
//! resolution that refuses ambiguous names.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use w365_graph::Client;
use w365_graph::Query;
use w365_graph::models::{CloudPcUserSetting, ProvisioningPolicy, ProvisioningPolicyAssignment};

use super::diff::{Observed, ResolvedAssignment};
use super::spec::{
    AssignmentSpec, ObjectKind, Spec, policy_spec_from_graph, user_settings_spec_from_graph,
};
use crate::error::{Error, GraphContext, Result};
use crate::execute::permissions;
use crate::plan::GroupRef;

/// Application permission for writes to Windows 365 objects.
pub const WRITE_CLOUD_PC: &str = "CloudPC.ReadWrite.All";

impl ObjectKind {
    /// The kind as used in error messages.
    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::ProvisioningPolicy => "provisioning policy",
            ObjectKind::UserSettings => "user settings policy",
            ObjectKind::OrganizationSettings => "organization settings",
            ObjectKind::NetworkConnection => crate::network::KIND,
        }
    }
}

/// A tenant object of either kind, as read (with `$expand=assignments`).
#[allow(clippy::large_enum_variant, reason = "few, short-lived values")]
#[derive(Debug, Clone, PartialEq)]
pub enum TenantObject {
    Policy(ProvisioningPolicy),
    UserSettings(CloudPcUserSetting),
}

impl TenantObject {
    pub fn kind(&self) -> ObjectKind {
        match self {
            TenantObject::Policy(_) => ObjectKind::ProvisioningPolicy,
            TenantObject::UserSettings(_) => ObjectKind::UserSettings,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            TenantObject::Policy(p) => p.id.as_deref().unwrap_or_default(),
            TenantObject::UserSettings(s) => s.id.as_deref().unwrap_or_default(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            TenantObject::Policy(p) => &p.display_name,
            TenantObject::UserSettings(s) => &s.display_name,
        }
    }

    pub fn assignments(&self) -> &[ProvisioningPolicyAssignment] {
        match self {
            TenantObject::Policy(p) => p.assignments.as_deref().unwrap_or_default(),
            TenantObject::UserSettings(s) => s.assignments.as_deref().unwrap_or_default(),
        }
    }

    /// The writable properties as a spec (assignments empty).
    pub fn spec(&self) -> Spec {
        match self {
            TenantObject::Policy(p) => Spec::Policy(policy_spec_from_graph(p)),
            TenantObject::UserSettings(s) => Spec::UserSettings(user_settings_spec_from_graph(s)),
        }
    }

    /// The read-only and server-set properties (shown by `show`, never compared).
    pub fn read_only(&self) -> Value {
        let (json, keys): (Value, &[&str]) = match self {
            TenantObject::Policy(p) => (
                serde_json::to_value(p).unwrap_or_default(),
                &[
                    "id",
                    "gracePeriodInHours",
                    "cloudPcGroupDisplayName",
                    "alternateResourceUrl",
                    "managedBy",
                    "createdBy",
                    "createdDateTime",
                    "lastModifiedBy",
                    "lastModifiedDateTime",
                    "scopeIds",
                ],
            ),
            TenantObject::UserSettings(s) => (
                serde_json::to_value(s).unwrap_or_default(),
                &[
                    "id",
                    "createdDateTime",
                    "lastModifiedDateTime",
                    "provisioningSourceType",
                ],
            ),
        };
        let mut out = serde_json::Map::new();
        if let Value::Object(map) = json {
            for k in keys {
                if let Some(v) = map.get(*k).filter(|v| !v.is_null()) {
                    out.insert((*k).to_owned(), v.clone());
                }
            }
        }
        Value::Object(out)
    }
}

/// Every provisioning policy, assignments expanded.
pub async fn list_policies(client: &Client) -> Result<Vec<ProvisioningPolicy>> {
    client
        .provisioning_policies()
        .list(Query::new().expand("assignments"))
        .await
        .graph_ctx(
            || "list the provisioning policies".into(),
            permissions::READ_CLOUD_PCS,
        )
}

/// Every user settings policy, assignments expanded.
pub async fn list_user_settings(client: &Client) -> Result<Vec<CloudPcUserSetting>> {
    client
        .user_settings()
        .list(Query::new().expand("assignments"))
        .await
        .graph_ctx(
            || "list the user settings policies".into(),
            permissions::READ_CLOUD_PCS,
        )
}

/// The organization settings (one object without a name) and the Azure network connections
/// (`w365 network`) are not policies: they have no assignments and are not read here.
pub fn not_named(kind: ObjectKind) -> Error {
    let (command, what) = match kind {
        ObjectKind::NetworkConnection => ("w365 network", "Azure network connections"),
        _ => ("w365 org-settings", "organization settings"),
    };
    Error::InvalidInput {
        reason: format!(
            "the {what} are not policies: use `{command}`, or a kind = \"{}\" file with `w365 policy diff|sync`",
            kind.as_str()
        ),
    }
}

/// Every object of a kind.
pub async fn list(client: &Client, kind: ObjectKind) -> Result<Vec<TenantObject>> {
    Ok(match kind {
        ObjectKind::ProvisioningPolicy => list_policies(client)
            .await?
            .into_iter()
            .map(TenantObject::Policy)
            .collect(),
        ObjectKind::UserSettings => list_user_settings(client)
            .await?
            .into_iter()
            .map(TenantObject::UserSettings)
            .collect(),
        ObjectKind::OrganizationSettings | ObjectKind::NetworkConnection => {
            return Err(not_named(kind));
        }
    })
}

/// The one object whose id or display name (case-insensitive) is `name_or_id`. An id match wins;
/// a name shared by several objects is refused with their ids.
pub fn pick<'a>(
    objects: &'a [TenantObject],
    kind: ObjectKind,
    name_or_id: &str,
) -> Result<&'a TenantObject> {
    if let Some(o) = objects
        .iter()
        .find(|o| o.id().eq_ignore_ascii_case(name_or_id))
    {
        return Ok(o);
    }
    let wanted = name_or_id.to_lowercase();
    let named: Vec<&TenantObject> = objects
        .iter()
        .filter(|o| o.name().to_lowercase() == wanted)
        .collect();
    match named.as_slice() {
        [] => Err(Error::PolicyNotFound {
            kind: kind.label(),
            name: name_or_id.to_owned(),
        }),
        [one] => Ok(one),
        many => Err(Error::AmbiguousName {
            kind: kind.label(),
            name: name_or_id.to_owned(),
            count: many.len(),
            ids: many.iter().map(|o| o.id().to_owned()).collect(),
        }),
    }
}

/// Reads one object by name or id (with its assignments).
pub async fn find(client: &Client, kind: ObjectKind, name_or_id: &str) -> Result<TenantObject> {
    let all = list(client, kind).await?;
    pick(&all, kind, name_or_id).cloned()
}

/// Looks groups up by name or id, caching what it learned.
pub struct Groups<'a> {
    client: &'a Client,
    by_id: HashMap<String, Option<GroupRef>>,
}

impl<'a> Groups<'a> {
    pub fn new(client: &'a Client) -> Self {
        Groups {
            client,
            by_id: HashMap::new(),
        }
    }

    /// A group by id; `None` when it does not exist (any more).
    pub async fn by_id(&mut self, id: &str) -> Result<Option<GroupRef>> {
        let key = id.to_lowercase();
        if let Some(known) = self.by_id.get(&key) {
            return Ok(known.clone());
        }
        let group = self
            .client
            .groups()
            .get_opt(id)
            .await
            .graph_ctx(|| format!("read the group {id}"), permissions::READ_GROUPS)?
            .map(|g| GroupRef {
                id: g.id,
                display_name: g.display_name,
            });
        self.by_id.insert(key, group.clone());
        Ok(group)
    }

    /// A group by exact display name; none or several is an error (the latter lists the ids).
    pub async fn by_name(&mut self, name: &str) -> Result<GroupRef> {
        let found = self
            .client
            .groups()
            .find_by_display_name(name)
            .await
            .graph_ctx(
                || format!("find the group '{name}'"),
                permissions::READ_GROUPS,
            )?;
        match found.as_slice() {
            [] => Err(Error::GroupNotFound { name: name.into() }),
            [g] => {
                let r = GroupRef {
                    id: g.id.clone(),
                    display_name: g.display_name.clone(),
                };
                self.by_id.insert(g.id.to_lowercase(), Some(r.clone()));
                Ok(r)
            }
            many => Err(Error::AmbiguousName {
                kind: "group",
                name: name.into(),
                count: many.len(),
                ids: many.iter().map(|g| g.id.clone()).collect(),
            }),
        }
    }

    /// A group given by name or id (an id that exists wins).
    pub async fn by_name_or_id(&mut self, name_or_id: &str) -> Result<GroupRef> {
        if looks_like_guid(name_or_id)
            && let Some(g) = self.by_id(name_or_id).await?
        {
            return Ok(g);
        }
        self.by_name(name_or_id).await
    }

    /// Whether several groups share this display name.
    pub async fn name_is_shared(&mut self, name: &str) -> Result<bool> {
        let found = self
            .client
            .groups()
            .find_by_display_name(name)
            .await
            .graph_ctx(
                || format!("find the group '{name}'"),
                permissions::READ_GROUPS,
            )?;
        Ok(found.len() > 1)
    }

    /// A file's assignment with its group resolved (by `group_id` when given, else by name).
    pub async fn resolve(&mut self, spec: &AssignmentSpec) -> Result<ResolvedAssignment> {
        let group = match &spec.group_id {
            Some(id) => self.by_id(id).await?.ok_or_else(|| Error::ObjectNotFound {
                kind: "group",
                id: id.clone(),
            })?,
            None => self.by_name(&spec.group).await?,
        };
        Ok(ResolvedAssignment {
            group,
            service_plan_id: spec.service_plan_id.clone(),
            allotment_display_name: spec.allotment_display_name.clone(),
            allotment_licenses_count: spec.allotment_licenses_count,
        })
    }

    /// Graph assignments with group names (a deleted group shows its id as the name).
    pub async fn observed(
        &mut self,
        assignments: &[ProvisioningPolicyAssignment],
    ) -> Result<Vec<ResolvedAssignment>> {
        let mut out = Vec::with_capacity(assignments.len());
        for a in assignments {
            let t = &a.target;
            let group = self.by_id(&t.group_id).await?.unwrap_or_else(|| GroupRef {
                id: t.group_id.clone(),
                display_name: format!("(deleted group {})", t.group_id),
            });
            out.push(ResolvedAssignment {
                group,
                service_plan_id: t.service_plan_id.clone().filter(|s| !s.is_empty()),
                allotment_display_name: t.allotment_display_name.clone(),
                allotment_licenses_count: t.allotment_licenses_count,
            });
        }
        Ok(out)
    }

    /// A tenant object as the planner sees it.
    pub async fn observe(&mut self, object: &TenantObject) -> Result<Observed> {
        Ok(Observed {
            id: object.id().to_owned(),
            spec: object.spec(),
            assignments: self.observed(object.assignments()).await?,
        })
    }
}

/// Whether a string has the shape of a GUID (object ids are GUIDs).
pub fn looks_like_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// An object with everything `show` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    pub object: ObjectKind,
    pub id: String,
    pub display_name: String,
    /// The writable properties, as in a policy file (snake_case keys).
    pub properties: serde_json::Map<String, Value>,
    /// Read-only and server-set properties (Graph names).
    pub read_only: Value,
    pub assignments: Vec<ResolvedAssignment>,
}

/// Details of one object.
pub async fn details(groups: &mut Groups<'_>, object: &TenantObject) -> Result<Details> {
    Ok(Details {
        object: object.kind(),
        id: object.id().to_owned(),
        display_name: object.name().to_owned(),
        properties: object.spec().properties(),
        read_only: object.read_only(),
        assignments: groups.observed(object.assignments()).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str, name: &str) -> TenantObject {
        TenantObject::Policy(ProvisioningPolicy {
            id: Some(id.into()),
            display_name: name.into(),
            ..ProvisioningPolicy::default()
        })
    }

    #[test]
    fn pick_by_id_or_unique_name_and_refuse_ambiguity() {
        let all = vec![policy("1", "A"), policy("2", "B"), policy("3", "b")];
        let k = ObjectKind::ProvisioningPolicy;
        assert_eq!(pick(&all, k, "a").unwrap().id(), "1");
        assert_eq!(pick(&all, k, "3").unwrap().name(), "b");
        let err = pick(&all, k, "B").unwrap_err();
        assert!(matches!(&err, Error::AmbiguousName { ids, .. } if ids == &["2", "3"]));
        assert_eq!(
            err.to_string(),
            "the provisioning policy name 'B' is ambiguous: 2 objects have it (2, 3)"
        );
        let err = pick(&all, k, "C").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no provisioning policy has the name or id 'C'"
        );
    }
}
