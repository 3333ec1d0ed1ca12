//! `capacity`: what is left before the next assign. Reads only.
//!
//! - per Windows 365 SKU (a subscribed SKU with a service plan from the Windows 365 catalog, or a
//!   `CPC_` / `Windows_365` part number): total (`prepaidUnits.enabled`), consumed and free;
//! - per Frontline plan (`frontLineServicePlans`): total, used and free;
//! - Cloud PCs by status;
//! - users in a license group (display name with the license-group prefix) without a Cloud PC of
//!   that group's license (grace-period and deprovisioning Cloud PCs do not count);
//! - Cloud PCs in their grace period, with the date they go.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use w365_graph::Client;
use w365_graph::models::{DirectoryObject, Group};
use w365_graph::odata::{Filter, Query};
use w365_graph::{ApiVersion, GraphPath};

use crate::assign::group_ref;
use crate::cloud_pc::{is_leaving, status_name};
use crate::error::{GraphContext, Result};
use crate::execute::permissions;
use crate::plan::GroupRef;
use crate::unassign::{DEFAULT_LICENSE_GROUP_PREFIX, license_plans};

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

/// One Frontline plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontlineCapacity {
    pub service_plan_id: String,
    pub display_name: String,
    pub total: i64,
    pub used: i64,
    pub free: i64,
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
    /// Status name → number of Cloud PCs.
    pub cloud_pcs_by_status: BTreeMap<String, usize>,
    pub cloud_pcs_total: usize,
    pub users_without_cloud_pc: Vec<UserWithoutCloudPc>,
    pub grace_period: Vec<GraceCloudPc>,
    pub graph_requests: u64,
}

fn is_windows365_part_number(part: &str) -> bool {
    let upper = part.to_ascii_uppercase();
    upper.starts_with("CPC_") || upper.starts_with("WINDOWS_365")
}

/// Reads the capacity of the tenant.
pub async fn capacity(client: &Client, opts: &CapacityOptions) -> Result<CapacityReport> {
    let before = client.stats().requests;
    let prefix = opts.license_group_prefix.trim().to_owned();
    let (skus, catalog, frontline, pcs, groups) = futures::try_join!(
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
                .list::<Group>(
                    ApiVersion::V1,
                    &GraphPath::new(["groups"]),
                    &Query::new()
                        .filter(Filter::starts_with("displayName", &prefix))
                        .select(["id", "displayName", "assignedLicenses"])
                        .top(999),
                )
                .collect_all()
                .await
                .graph_ctx(
                    || format!("list the groups named '{prefix}…'"),
                    permissions::READ_GROUPS,
                )
        },
    )?;

    let mut report = CapacityReport::default();
    for sku in &skus {
        let in_catalog = sku.service_plans.iter().any(|p| {
            let id = p.service_plan_id.to_string();
            catalog.iter().any(|c| c.id.eq_ignore_ascii_case(&id))
        });
        if !in_catalog && !is_windows365_part_number(&sku.sku_part_number) {
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
        report.frontline_plans.push(FrontlineCapacity {
            service_plan_id: plan.id.clone(),
            display_name: plan.display_name.clone(),
            total,
            used,
            free: (total - used).max(0),
        });
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
        let (_, plans) = license_plans(Some(group), &skus);
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
