//! Carries out a [`PolicyPlan`]. Assignment changes of one object are applied together: the
//! current assignments are read again (`$expand=assignments`) right before the write, the
//! changes are merged into them, and the full set is written back, so an assignment made by
//! someone else in the meantime is never lost. Every change is idempotent: creating what now
//! exists, deleting what is gone, or assigning what is assigned counts as already done.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use w365_graph::Client;
use w365_graph::models::{
    AssignmentTarget, CloudPcUserSetting, GROUP_ASSIGNMENT_TARGET, OrganizationSettings,
    ProvisioningPolicy, ProvisioningPolicyAssignment,
};

use super::diff::{Change, PolicyPlan, ResolvedAssignment};
use super::spec::ObjectKind;
use super::tenant::{self, TenantObject, WRITE_CLOUD_PC};
use crate::error::{Error, GraphContext, Result};
use crate::execute::{Event, Observer, StepOutcome};

/// A change and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeReport {
    pub change: Change,
    #[serde(flatten)]
    pub outcome: StepOutcome,
}

/// What the execution did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecReport {
    pub changes: Vec<ChangeReport>,
    /// Objects created: (kind, name) → id.
    pub created: Vec<Created>,
}

/// An object the execution created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub object: ObjectKind,
    pub name: String,
    pub id: String,
}

/// Runs every change in order and records each outcome in `report`; stops at the first failure.
pub async fn execute(
    client: &Client,
    plan: &PolicyPlan,
    observer: &dyn Observer,
    report: &mut ExecReport,
) -> Result<()> {
    let mut ids: HashMap<(ObjectKind, String), String> = HashMap::new();
    let mut done = vec![false; plan.changes.len()];
    for i in 0..plan.changes.len() {
        if done[i] {
            continue;
        }
        let change = &plan.changes[i];
        let result = match change {
            Change::Assign { object, name, .. } | Change::Unassign { object, name, .. } => {
                // Every assignment change of this object, applied in one write.
                let batch: Vec<usize> = (i..plan.changes.len())
                    .filter(|j| {
                        matches!(&plan.changes[*j],
                            Change::Assign { object: o, name: n, .. } | Change::Unassign { object: o, name: n, .. }
                            if o == object && n == name)
                    })
                    .collect();
                let changes: Vec<&Change> = batch.iter().map(|j| &plan.changes[*j]).collect();
                let outcome = set_assignments(client, &changes, &ids).await;
                for j in &batch[1..] {
                    done[*j] = true;
                }
                match outcome {
                    Ok(outcome) => {
                        for j in &batch[1..] {
                            record(observer, report, &plan.changes[*j], outcome.clone());
                        }
                        Ok(outcome)
                    }
                    Err(e) => Err(e),
                }
            }
            other => run_one(client, other, &mut ids, report).await,
        };
        match result {
            Ok(outcome) => record(observer, report, change, outcome),
            Err(e) => {
                record(
                    observer,
                    report,
                    change,
                    StepOutcome::Failed {
                        error: e.to_string(),
                    },
                );
                return Err(e);
            }
        }
    }
    Ok(())
}

fn record(observer: &dyn Observer, report: &mut ExecReport, change: &Change, outcome: StepOutcome) {
    let first_line = change.to_string();
    let first_line = first_line.lines().next().unwrap_or_default().to_owned();
    observer.on_event(&Event::Note(&format!(
        "{}: {first_line} — {}",
        outcome.label(),
        outcome.detail()
    )));
    report.changes.push(ChangeReport {
        change: change.clone(),
        outcome,
    });
}

async fn run_one(
    client: &Client,
    change: &Change,
    ids: &mut HashMap<(ObjectKind, String), String>,
    report: &mut ExecReport,
) -> Result<StepOutcome> {
    match change {
        Change::Create {
            object, name, body, ..
        } => {
            // Idempotent: a re-run after a partial failure finds the object already there.
            if *object == ObjectKind::NetworkConnection {
                let all = crate::network::list(client).await?;
                if let Ok(c) = crate::network::find(&all, name) {
                    return Ok(StepOutcome::AlreadyDone {
                        detail: format!("'{name}' already exists ({})", c.id),
                    });
                }
                let id = create(client, *object, name, body).await?;
                report.created.push(Created {
                    object: *object,
                    name: name.clone(),
                    id: id.clone(),
                });
                return Ok(StepOutcome::Done {
                    detail: format!("created '{name}' ({id})"),
                });
            }
            let existing = tenant::list(client, *object).await?;
            let same: Vec<&TenantObject> = existing
                .iter()
                .filter(|o| o.name().to_lowercase() == name.to_lowercase())
                .collect();
            if let [one] = same.as_slice() {
                ids.insert((*object, name.clone()), one.id().to_owned());
                return Ok(StepOutcome::AlreadyDone {
                    detail: format!("'{name}' already exists ({})", one.id()),
                });
            }
            let id = create(client, *object, name, body).await?;
            ids.insert((*object, name.clone()), id.clone());
            report.created.push(Created {
                object: *object,
                name: name.clone(),
                id: id.clone(),
            });
            Ok(StepOutcome::Done {
                detail: format!("created '{name}' ({id})"),
            })
        }
        Change::Update {
            object,
            id,
            name,
            patch,
            fields,
        } => {
            let result = match object {
                ObjectKind::ProvisioningPolicy => {
                    client
                        .provisioning_policies()
                        .update_properties(id, patch)
                        .await
                }
                ObjectKind::UserSettings => {
                    client.user_settings().update_properties(id, patch).await
                }
                ObjectKind::OrganizationSettings => {
                    let settings: OrganizationSettings = serde_json::from_value(patch.clone())
                        .map_err(|e| Error::InvalidInput {
                            reason: format!("the {object} change cannot be sent: {e}"),
                        })?;
                    client.organization_settings().update(&settings).await
                }
                ObjectKind::NetworkConnection => {
                    client
                        .network_connections()
                        .update(id, &super::network::input_of(patch)?)
                        .await
                }
            };
            result.graph_ctx(|| format!("update the {object} '{name}'"), WRITE_CLOUD_PC)?;
            Ok(StepOutcome::Done {
                detail: format!(
                    "updated {} propert{}",
                    fields.len(),
                    if fields.len() == 1 { "y" } else { "ies" }
                ),
            })
        }
        Change::Delete { object, id, name } => {
            let result = match object {
                ObjectKind::ProvisioningPolicy => client.provisioning_policies().delete(id).await,
                ObjectKind::UserSettings => client.user_settings().delete(id).await,
                ObjectKind::NetworkConnection => client.network_connections().delete(id).await,
                ObjectKind::OrganizationSettings => return Err(tenant::not_named(*object)),
            };
            match result {
                Ok(()) => Ok(StepOutcome::Done {
                    detail: format!("deleted '{name}'"),
                }),
                Err(e) if e.is_not_found() => Ok(StepOutcome::AlreadyDone {
                    detail: format!("'{name}' was already deleted"),
                }),
                Err(e) => Err(Error::from_graph(
                    e,
                    &format!("delete the {object} '{name}'"),
                    WRITE_CLOUD_PC,
                )),
            }
        }
        Change::Apply { id, name, setting } => {
            client
                .provisioning_policies()
                .apply(id, setting.clone())
                .await
                .graph_ctx(
                    || format!("apply the provisioning policy '{name}'"),
                    WRITE_CLOUD_PC,
                )?;
            Ok(StepOutcome::Done {
                detail: format!("apply ({setting}) requested"),
            })
        }
        Change::ApplyConfig {
            cloud_pc_ids,
            setting,
        } => {
            client
                .provisioning_policies()
                .apply_config(cloud_pc_ids, setting.clone())
                .await
                .graph_ctx(
                    || "apply the policy configuration to the Cloud PCs".into(),
                    WRITE_CLOUD_PC,
                )?;
            Ok(StepOutcome::Done {
                detail: format!(
                    "applyConfig ({setting}) requested for {} Cloud PC(s)",
                    cloud_pc_ids.len()
                ),
            })
        }
        Change::Assign { .. } | Change::Unassign { .. } => Err(Error::InvalidInput {
            reason: "assignment changes are applied together".into(),
        }),
    }
}

async fn create(client: &Client, kind: ObjectKind, name: &str, body: &Value) -> Result<String> {
    let invalid = |e: serde_json::Error| Error::InvalidInput {
        reason: format!("the {kind} '{name}' cannot be sent: {e}"),
    };
    let id = match kind {
        ObjectKind::ProvisioningPolicy => {
            let policy: ProvisioningPolicy =
                serde_json::from_value(body.clone()).map_err(invalid)?;
            client
                .provisioning_policies()
                .create(&policy)
                .await
                .graph_ctx(|| format!("create the {kind} '{name}'"), WRITE_CLOUD_PC)?
                .id
        }
        ObjectKind::UserSettings => {
            let setting: CloudPcUserSetting =
                serde_json::from_value(body.clone()).map_err(invalid)?;
            client
                .user_settings()
                .create(&setting)
                .await
                .graph_ctx(|| format!("create the {kind} '{name}'"), WRITE_CLOUD_PC)?
                .id
        }
        ObjectKind::NetworkConnection => Some(
            client
                .network_connections()
                .create(&super::network::input_of(body)?)
                .await
                .graph_ctx(|| format!("create the {kind} '{name}'"), WRITE_CLOUD_PC)?
                .id,
        ),
        ObjectKind::OrganizationSettings => return Err(tenant::not_named(kind)),
    };
    id.ok_or_else(|| Error::InvalidInput {
        reason: format!("Graph created the {kind} '{name}' but returned no id"),
    })
}

fn target(kind: ObjectKind, a: &ResolvedAssignment) -> ProvisioningPolicyAssignment {
    let mut t = AssignmentTarget::group(a.group.id.clone());
    t.odata_type = Some(GROUP_ASSIGNMENT_TARGET.to_owned());
    if kind == ObjectKind::ProvisioningPolicy {
        t.service_plan_id = a.service_plan_id.clone();
        t.allotment_display_name = a.allotment_display_name.clone();
        t.allotment_licenses_count = a.allotment_licenses_count;
    }
    ProvisioningPolicyAssignment {
        id: None,
        target: t,
    }
}

/// Re-reads the object's assignments, merges the changes in, writes the full set back.
async fn set_assignments(
    client: &Client,
    changes: &[&Change],
    ids: &HashMap<(ObjectKind, String), String>,
) -> Result<StepOutcome> {
    let (kind, name, planned_id) = match changes[0] {
        Change::Assign {
            object, name, id, ..
        } => (*object, name.clone(), id.clone()),
        Change::Unassign {
            object, name, id, ..
        } => (*object, name.clone(), Some(id.clone())),
        _ => unreachable_change()?,
    };
    let id = match planned_id.or_else(|| ids.get(&(kind, name.clone())).cloned()) {
        Some(id) => id,
        None => tenant::find(client, kind, &name).await?.id().to_owned(),
    };
    let current = read_assignments(client, kind, &id, &name).await?;
    let mut next: Vec<ProvisioningPolicyAssignment> = current
        .iter()
        .map(|a| ProvisioningPolicyAssignment {
            id: None,
            target: AssignmentTarget {
                odata_type: Some(GROUP_ASSIGNMENT_TARGET.to_owned()),
                ..a.target.clone()
            },
        })
        .collect();
    let mut added = 0usize;
    let mut removed = 0usize;
    for change in changes {
        match change {
            Change::Assign { assignment, .. } => {
                let wanted = target(kind, assignment);
                match next
                    .iter_mut()
                    .find(|a| a.target.group_id.eq_ignore_ascii_case(&assignment.group.id))
                {
                    Some(existing) if existing.target == wanted.target => {}
                    Some(existing) => {
                        *existing = wanted;
                        added += 1;
                    }
                    None => {
                        next.push(wanted);
                        added += 1;
                    }
                }
            }
            Change::Unassign { assignment, .. } => {
                let before = next.len();
                next.retain(|a| !a.target.group_id.eq_ignore_ascii_case(&assignment.group.id));
                removed += before - next.len();
            }
            _ => {}
        }
    }
    if added == 0 && removed == 0 {
        return Ok(StepOutcome::AlreadyDone {
            detail: format!("the assignments of '{name}' already are as planned"),
        });
    }
    let result = match kind {
        ObjectKind::ProvisioningPolicy => client.provisioning_policies().assign(&id, &next).await,
        ObjectKind::UserSettings => client.user_settings().assign(&id, &next).await,
        ObjectKind::OrganizationSettings | ObjectKind::NetworkConnection => {
            return Err(tenant::not_named(kind));
        }
    };
    result.graph_ctx(
        || format!("write the assignments of the {kind} '{name}'"),
        WRITE_CLOUD_PC,
    )?;
    Ok(StepOutcome::Done {
        detail: format!(
            "'{name}' now has {} assignment{} ({added} added or changed, {removed} removed, the others kept)",
            next.len(),
            if next.len() == 1 { "" } else { "s" },
        ),
    })
}

fn unreachable_change<T>() -> Result<T> {
    Err(Error::InvalidInput {
        reason: "not an assignment change".into(),
    })
}

/// The current assignments (`$expand=assignments`; there is no working `/assignments` route).
pub async fn read_assignments(
    client: &Client,
    kind: ObjectKind,
    id: &str,
    name: &str,
) -> Result<Vec<ProvisioningPolicyAssignment>> {
    let action = || format!("read the assignments of the {kind} '{name}'");
    Ok(match kind {
        ObjectKind::ProvisioningPolicy => client
            .provisioning_policies()
            .get(id, true)
            .await
            .graph_ctx(action, crate::execute::permissions::READ_CLOUD_PCS)?
            .assignments
            .unwrap_or_default(),
        ObjectKind::UserSettings => client
            .user_settings()
            .get(id, true)
            .await
            .graph_ctx(action, crate::execute::permissions::READ_CLOUD_PCS)?
            .assignments
            .unwrap_or_default(),
        ObjectKind::OrganizationSettings | ObjectKind::NetworkConnection => {
            return Err(super::tenant::not_named(kind));
        }
    })
}
