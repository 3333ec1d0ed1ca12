//! `capacity`: what is left before the next assign. Reads only.
//!
//! - per Windows 365 SKU (a subscribed SKU with a service plan from the Windows 365 catalog, or a
//!   `CPC_` / `Windows_365` part number): total (`prepaidUnits.enabled`), consumed and free;
//! - per Frontline plan (`frontLineServicePlans`): licences bought, used, allotted and free;
//! - per Frontline assignment: the allotment in Cloud PCs (three per licence in dedicated mode,
//!   one pooled Cloud PC per licence in shared mode, see [`crate::licensing::FrontlineMode`]),
//!   what it uses and what is free;
//! - Cloud PCs by status;
//! - users in a license group (display name with the license-group prefix) without a Cloud PC of
//!   that group's license (grace-period and deprovisioning Cloud PCs do not count);
//! - Cloud PCs in their grace period, with the date they go.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use w365_graph::Client;
use w365_graph::models::DirectoryObject;
use w365_graph::odata::Query;

use crate::assign::group_ref;
use crate::cloud_pc::{is_leaving, status_name};
use crate::error::{GraphContext, Result};
use crate::execute::permissions;
use crate::licensing::{
    FrontlineMode, FrontlineSeats, Windows365Catalog, frontline_assignments, frontline_plan_free,
    license_group_plans,
};
use crate::plan::GroupRef;
use crate::unassign::DEFAULT_LICENSE_GROUP_PREFIX;

/// Options of `capacity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityOptions {
    /// Groups whose name starts with this are license groups.
    pub license_group_prefix: String,
}

impl Default for CapacityOptions {
    fn default() -> Self {
        Self {
            license_group_prefix: DEFAULT_LICENSE_GROUP_PREFIX.into(),
        }
    }
}

/// One Windows 365 SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkuCapacity {
    pub sku_id: String,
    pub sku_part_number: String,
    pub total: i64,
    pub consumed: i64,
    /// `total - consumed`, never below zero.
    pub free: i64,
}

/// One Frontline plan (counted in licences).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontlineCapacity {
    pub service_plan_id: String,
    pub display_name: String,
    /// Licences bought (`totalCount`).
    pub total: i64,
    /// Licences in use (`usedCount`).
    pub used: i64,
    /// Licences allotted to groups (`allotmentLicensesCount`), when Graph says.
    pub allotted: Option<i64>,
    /// Licences not yet allotted to any group (what a new or larger allotment can take).
    pub free: i64,
}

/// One Frontline assignment (policy → group) and its seats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontlineAssignmentCapacity {
    pub policy: String,
    pub group_id: String,
    pub service_plan_id: String,
    pub allotment_display_name: Option<String>,
    pub seats: FrontlineSeats,
}

/// A user in a license group without a Cloud PC of that license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserWithoutCloudPc {
    pub user_principal_name: String,
    pub user_id: String,
    pub license_group: GroupRef,
    /// Status of the record Windows 365 keeps for the user, if any (e.g. `notProvisioned`).
    pub status: Option<String>,
}

/// A Cloud PC in its grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraceCloudPc {
    pub id: String,
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub grace_period_end_date_time: Option<OffsetDateTime>,
}

/// The capacity report.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityReport {
    pub skus: Vec<SkuCapacity>,
    pub frontline_plans: Vec<FrontlineCapacity>,
    pub frontline_assignments: Vec<FrontlineAssignmentCapacity>,
    /// Status name → number of Cloud PCs.
    pub cloud_pcs_by_status: BTreeMap<String, usize>,
    pub cloud_pcs_total: usize,
    pub users_without_cloud_pc: Vec<UserWithoutCloudPc>,
    pub grace_period: Vec<GraceCloudPc>,
    pub graph_requests: u64,
}

/// Reads the capacity of the tenant.
pub async fn capacity(client: &Client, opts: &CapacityOptions) -> Result<CapacityReport> {
    let before = client.stats().requests;
    let prefix = opts.license_group_prefix.trim().to_owned();
    let (skus, catalog, frontline, pcs, groups, policies) = futures::try_join!(
        async {
            client.subscribed_skus().list().await.graph_ctx(
                || "read the tenant's subscribed SKUs".into(),
                permissions::READ_ORGANIZATION,
            )
        },
        async {
            client.service_plans().list().await.graph_ctx(
                || "read the Windows 365 service plans".into(),
                permissions::READ_CLOUD_PCS,
            )
        },
        async {
            client.service_plans().frontline().await.graph_ctx(
                || "read the Frontline service plans".into(),
                permissions::READ_CLOUD_PCS,
            )
        },
        async {
            client
                .cloud_pcs()
                .list(None)
                .await
                .graph_ctx(|| "list the Cloud PCs".into(), permissions::READ_CLOUD_PCS)
        },
        async {
            if prefix.is_empty() {
                return Ok(Vec::new());
            }
            client
                .groups()
                .find_by_display_name_prefix(&prefix)
                .await
                .graph_ctx(
                    || format!("list the groups named '{prefix}…'"),
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
    )?;
    let catalog = Windows365Catalog::new(catalog);

    let mut report = CapacityReport::default();
    for sku in &skus {
        if !catalog.is_windows365_subscription(sku) {
            continue;
        }
        report.skus.push(SkuCapacity {
            sku_id: sku.sku_id.to_string(),
            sku_part_number: sku.sku_part_number.clone(),
            total: sku.prepaid_units.enabled,
            consumed: sku.consumed_units,
            free: sku.available_units().max(0),
        });
    }
    for plan in &frontline {
        let total = i64::from(plan.total_count);
        let used = i64::from(plan.used_count);
        let allotted = plan.allotment_licenses_count.map(i64::from);
        report.frontline_plans.push(FrontlineCapacity {
            service_plan_id: plan.id.clone(),
            display_name: plan.display_name.clone(),
            total,
            used,
            allotted,
            free: frontline_plan_free(total, used, allotted),
        });
    }
    // Per Frontline assignment: its allotment in Cloud PCs (three per licence in dedicated mode,
    // one pooled Cloud PC per licence in shared mode) and what it uses.
    for policy in &policies {
        let Some(mode) = FrontlineMode::of(policy.provisioning_type.as_ref()) else {
            continue;
        };
        let policy_id = policy.id.clone().unwrap_or_default();
        for a in frontline_assignments(policy) {
            let in_use = match mode {
                FrontlineMode::Dedicated => {
                    let members: Vec<DirectoryObject> = client
                        .groups()
                        .members(&a.group_id)
                        .collect_all()
                        .await
                        .graph_ctx(
                            || format!("list the members of the Frontline group {}", a.group_id),
                            permissions::READ_GROUPS,
                        )?;
                    i64::try_from(members.iter().filter(|m| m.is_user()).count())
                        .unwrap_or(i64::MAX)
                }
                FrontlineMode::Shared => i64::try_from(
                    pcs.iter()
                        .filter(|pc| {
                            pc.provisioning_policy_id
                                .as_deref()
                                .is_some_and(|p| p.eq_ignore_ascii_case(&policy_id))
                                && !is_leaving(pc)
                        })
                        .count(),
                )
                .unwrap_or(i64::MAX),
            };
            report
                .frontline_assignments
                .push(FrontlineAssignmentCapacity {
                    policy: policy.display_name.clone(),
                    group_id: a.group_id.clone(),
                    service_plan_id: a.service_plan_id.clone(),
                    allotment_display_name: a.allotment_display_name.clone(),
                    seats: FrontlineSeats::new(mode, a.allotted_licenses, in_use),
                });
        }
    }
    for pc in &pcs {
        *report
            .cloud_pcs_by_status
            .entry(status_name(pc))
            .or_default() += 1;
        if pc.status == Some(w365_graph::models::CloudPcStatus::InGracePeriod) {
            report.grace_period.push(GraceCloudPc {
                id: pc.id.clone(),
                display_name: pc.display_name.clone(),
                user_principal_name: pc.user_principal_name.clone(),
                grace_period_end_date_time: pc.grace_period_end_date_time,
            });
        }
    }
    report.cloud_pcs_total = pcs.len();
    report
        .grace_period
        .sort_by_key(|g| g.grace_period_end_date_time);

    for group in groups
        .iter()
        .filter(|g| g.assigned_licenses.as_ref().is_some_and(|l| !l.is_empty()))
    {
        let (_, plans) = license_group_plans(Some(group), &skus, &catalog);
        let members: Vec<DirectoryObject> = client
            .groups()
            .members(&group.id)
            .collect_all()
            .await
            .graph_ctx(
                || format!("list the members of '{}'", group.display_name),
                permissions::READ_GROUPS,
            )?;
        for member in members.iter().filter(|m| m.is_user()) {
            let Some(upn) = member.user_principal_name.as_deref() else {
                continue;
            };
            let records: Vec<_> = pcs
                .iter()
                .filter(|pc| {
                    pc.user_principal_name
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(upn))
                })
                .filter(|pc| {
                    pc.service_plan_id
                        .as_deref()
                        .is_some_and(|p| plans.iter().any(|x| x.eq_ignore_ascii_case(p)))
                })
                .collect();
            let has_one = records.iter().any(|pc| {
                !is_leaving(pc)
                    && pc.status != Some(w365_graph::models::CloudPcStatus::NotProvisioned)
            });
            if !has_one {
                report.users_without_cloud_pc.push(UserWithoutCloudPc {
                    user_principal_name: upn.to_owned(),
                    user_id: member.id.clone(),
                    license_group: group_ref(group),
                    status: records.first().map(|pc| status_name(pc)),
                });
            }
        }
    }
    report.graph_requests = client.stats().requests.saturating_sub(before);
    Ok(report)
}
