//! Licensing facts the operations share, each in one place:
//!
//! - which subscribed SKUs are Windows 365 ones (by their service plans, never by the first
//!   `assignedLicenses` entry of a group);
//! - a licence group's Windows 365 SKU and service plans ([`LicenseGroupLicense::of`]);
//! - every Windows 365 licence a user already holds, and where it comes from (direct or which
//!   group), from the user's `licenseAssignmentStates` ([`held_windows365_licenses`]);
//! - Frontline seats of one assignment ([`FrontlineSeats`]).

use std::fmt;

use serde::Serialize;
use w365_graph::models::{
    Group, LicenseAssignmentStatus, ProvisioningPolicy, ProvisioningType, ServicePlan,
    ServicePlanInfo, SubscribedSku, User,
};

use crate::error::{Error, Result};
use crate::plan::{GroupRef, SkuRef};

/// The Windows 365 service plans of the tenant's catalog (`virtualEndpoint/servicePlans`).
///
/// A SKU is a Windows 365 SKU when one of its service plans is a Windows 365 plan: its id is in the
/// catalog, or (when the catalog could not be read) its name has the `CPC_` prefix that every
/// Windows 365 service plan has in Microsoft's licensing reference
/// (<https://learn.microsoft.com/en-us/entra/identity/users/licensing-service-plan-reference>,
/// e.g. `CPC_1`, `CPC_E_2C_4GB_256GB`, `CPC_B_2C_4RAM_128GB`, `CPC_S_2C_8GB_128GB`).
#[derive(Debug, Clone, Default)]
pub struct Windows365Catalog {
    plans: Vec<ServicePlan>,
}

impl Windows365Catalog {
    pub fn new(plans: Vec<ServicePlan>) -> Self {
        Self { plans }
    }

    /// The catalog entry of a service plan id.
    pub fn plan(&self, service_plan_id: &str) -> Option<&ServicePlan> {
        self.plans
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(service_plan_id))
    }

    /// Whether a service plan of a SKU is a Windows 365 (Cloud PC) plan.
    pub fn is_windows365_plan(&self, plan: &ServicePlanInfo) -> bool {
        self.plan(&plan.service_plan_id.to_string()).is_some()
            || plan
                .service_plan_name
                .to_ascii_uppercase()
                .starts_with("CPC_")
    }

    /// Whether a Windows 365 plan is a Frontline one (one licence shared: its catalog entry has a
    /// shared provisioning type, or its licensing name is `CPC_S_...`).
    pub fn is_frontline_plan(&self, plan: &ServicePlanInfo) -> bool {
        match self
            .plan(&plan.service_plan_id.to_string())
            .and_then(|p| p.provisioning_type.as_ref())
        {
            Some(t) => !matches!(t, ProvisioningType::Dedicated),
            None => plan
                .service_plan_name
                .to_ascii_uppercase()
                .starts_with("CPC_S_"),
        }
    }

    /// The Windows 365 service plan ids of a SKU.
    pub fn windows365_plans(&self, sku: &SubscribedSku) -> Vec<String> {
        sku.service_plans
            .iter()
            .filter(|p| self.is_windows365_plan(p))
            .map(|p| p.service_plan_id.to_string())
            .collect()
    }

    /// Whether the SKU carries a Windows 365 service plan.
    pub fn is_windows365_sku(&self, sku: &SubscribedSku) -> bool {
        sku.service_plans.iter().any(|p| self.is_windows365_plan(p))
    }

    /// Whether a subscribed SKU is a Windows 365 one for listing it (capacity, a user's licences):
    /// a Windows 365 service plan, or else a Windows 365 part number (`CPC_…`, `Windows_365…`).
    /// One test for the capacity report, the API's user picture and the portal.
    pub fn is_windows365_subscription(&self, sku: &SubscribedSku) -> bool {
        self.is_windows365_sku(sku) || is_windows365_part_number(&sku.sku_part_number)
    }

    /// Whether the SKU carries a dedicated (one user, one Cloud PC) Windows 365 plan.
    pub fn is_dedicated_windows365_sku(&self, sku: &SubscribedSku) -> bool {
        sku.service_plans
            .iter()
            .any(|p| self.is_windows365_plan(p) && !self.is_frontline_plan(p))
    }
}

/// Whether a SKU part number is a Windows 365 one: Cloud PC Enterprise, Business and Frontline part
/// numbers start with `CPC_` or `Windows_365` (Microsoft's licensing reference, above).
pub fn is_windows365_part_number(part: &str) -> bool {
    let upper = part.to_ascii_uppercase();
    upper.starts_with("CPC_") || upper.starts_with("WINDOWS_365")
}

/// The Windows 365 licence a licence group assigns.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseGroupLicense {
    /// The group's Windows 365 SKU.
    pub sku: SkuRef,
    /// The Windows 365 service plan ids of that SKU (what `cloudPC.servicePlanId` holds).
    pub service_plan_ids: Vec<String>,
    /// Every SKU the group assigns that the tenant has (group licensing applies them all or none).
    pub all_skus: Vec<SubscribedSku>,
}

impl LicenseGroupLicense {
    /// The group's Windows 365 SKU, picked by its service plans.
    ///
    /// - no licence at all → [`Error::LicenseGroupWithoutLicense`];
    /// - licences, none of them Windows 365 (e.g. `Engineering` carrying Microsoft 365 E3) →
    ///   [`Error::NotWindows365LicenseGroup`];
    /// - more than one Windows 365 SKU → [`Error::LicenseGroupNotSingleLicense`] (every member
    ///   would get two Cloud PCs);
    /// - a Windows 365 SKU the tenant does not have → [`Error::SkuNotInTenant`].
    pub fn of(group: &Group, skus: &[SubscribedSku], catalog: &Windows365Catalog) -> Result<Self> {
        let assigned = group.assigned_licenses.clone().unwrap_or_default();
        if assigned.is_empty() {
            return Err(Error::LicenseGroupWithoutLicense {
                group: group.display_name.clone(),
            });
        }
        let mut all_skus = Vec::new();
        let mut unknown = Vec::new();
        for license in &assigned {
            match skus.iter().find(|s| s.sku_id == license.sku_id) {
                Some(sku) => all_skus.push(sku.clone()),
                None => unknown.push(license.sku_id.to_string()),
            }
        }
        let windows365: Vec<&SubscribedSku> = all_skus
            .iter()
            .filter(|s| catalog.is_windows365_sku(s))
            .collect();
        match windows365.as_slice() {
            [one] => Ok(Self {
                sku: sku_ref(one),
                service_plan_ids: catalog.windows365_plans(one),
                all_skus: all_skus.clone(),
            }),
            [] if !unknown.is_empty() => Err(Error::SkuNotInTenant {
                group: group.display_name.clone(),
                sku_id: unknown.join(", "),
            }),
            [] => Err(Error::NotWindows365LicenseGroup {
                group: group.display_name.clone(),
                skus: all_skus.iter().map(|s| s.sku_part_number.clone()).collect(),
            }),
            many => Err(Error::LicenseGroupNotSingleLicense {
                group: group.display_name.clone(),
                count: many.len(),
            }),
        }
    }
}

impl LicenseGroupLicense {
    /// Whether the group's Windows 365 SKU is a dedicated one (Enterprise/Business; Frontline
    /// licences are not assigned to users).
    pub fn is_dedicated(&self, catalog: &Windows365Catalog) -> bool {
        self.all_skus
            .iter()
            .any(|s| s.sku_id == self.sku.sku_id && catalog.is_dedicated_windows365_sku(s))
    }
}

/// The lenient form of [`LicenseGroupLicense::of`] for operations that must work however odd the
/// group is (unassign, capacity): the group's Windows 365 SKU and its Windows 365 service plans
/// when it has exactly one; otherwise no SKU and the Windows 365 plans of every SKU of the group
/// the tenant has.
pub fn license_group_plans(
    group: Option<&Group>,
    skus: &[SubscribedSku],
    catalog: &Windows365Catalog,
) -> (Option<SkuRef>, Vec<String>) {
    let Some(group) = group else {
        return (None, Vec::new());
    };
    if let Ok(license) = LicenseGroupLicense::of(group, skus, catalog) {
        return (Some(license.sku), license.service_plan_ids);
    }
    let plans = group
        .assigned_licenses
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|l| skus.iter().find(|s| s.sku_id == l.sku_id))
        .flat_map(|s| catalog.windows365_plans(s))
        .collect();
    (None, plans)
}

/// The plan form of a subscribed SKU.
pub fn sku_ref(sku: &SubscribedSku) -> SkuRef {
    SkuRef {
        sku_id: sku.sku_id,
        sku_part_number: sku.sku_part_number.clone(),
    }
}

/// Where a licence a user holds comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum LicenseSource {
    /// Assigned to the user directly.
    Direct,
    /// Assigned through group-based licensing by this group.
    Group(GroupRef),
}

impl fmt::Display for LicenseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LicenseSource::Direct => f.write_str("a direct assignment"),
            LicenseSource::Group(g) => write!(f, "the group {g}"),
        }
    }
}

/// A Windows 365 licence the user already holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldLicense {
    pub sku: SkuRef,
    pub source: LicenseSource,
    /// `Active`, `ActiveWithError`, or a processing state that will become one.
    pub state: String,
}

impl fmt::Display for HeldLicense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} through {} ({})", self.sku, self.source, self.state)
    }
}

/// Every dedicated Windows 365 licence the user holds, from any source (direct, or any group),
/// read from `licenseAssignmentStates` (with `assignedLicenses` for licences the states do not
/// list). Assignments in error (`CountViolation`, ...) and disabled ones do not count: they give
/// no Cloud PC. `groups` names the assigning groups (the user's `memberOf`); an assigning group
/// not among them is shown by its id.
pub fn held_windows365_licenses(
    user: &User,
    skus: &[SubscribedSku],
    catalog: &Windows365Catalog,
    groups: &[Group],
) -> Vec<HeldLicense> {
    let is_w365 = |sku_id: &uuid::Uuid| {
        skus.iter()
            .find(|s| s.sku_id == *sku_id)
            .filter(|s| catalog.is_dedicated_windows365_sku(s))
    };
    let mut held = Vec::new();
    for state in user
        .license_assignment_states
        .as_deref()
        .unwrap_or_default()
    {
        let counts = matches!(
            state.state,
            LicenseAssignmentStatus::Active | LicenseAssignmentStatus::ActiveWithError
        );
        let Some(sku) = is_w365(&state.sku_id).filter(|_| counts) else {
            continue;
        };
        let source = match state.assigned_by_group.as_deref() {
            None | Some("") => LicenseSource::Direct,
            Some(id) => LicenseSource::Group(
                groups
                    .iter()
                    .find(|g| g.id.eq_ignore_ascii_case(id))
                    .map_or_else(
                        || GroupRef {
                            id: id.to_owned(),
                            display_name: id.to_owned(),
                        },
                        |g| GroupRef {
                            id: g.id.clone(),
                            display_name: g.display_name.clone(),
                        },
                    ),
            ),
        };
        held.push(HeldLicense {
            sku: sku_ref(sku),
            source,
            state: state.state.as_str().to_owned(),
        });
    }
    // A licence in assignedLicenses without any state (older data): direct.
    for license in user.assigned_licenses.as_deref().unwrap_or_default() {
        if held.iter().any(|h| h.sku.sku_id == license.sku_id) {
            continue;
        }
        if let Some(sku) = is_w365(&license.sku_id) {
            held.push(HeldLicense {
                sku: sku_ref(sku),
                source: LicenseSource::Direct,
                state: "Active".into(),
            });
        }
    }
    held
}

/// How Frontline provisioning uses a licence (Microsoft, "What is Windows 365 Frontline?",
/// <https://learn.microsoft.com/en-us/windows-365/enterprise/introduction-windows-365-frontline>):
/// - dedicated mode: "A single license lets you provision up to three Cloud PCs that can be used
///   nonconcurrently, each assigned to a single user" and "provides one concurrent session";
///   also the Graph resource: a Frontline service plan "provides an allotment of three Cloud PCs"
///   (<https://learn.microsoft.com/en-us/graph/api/resources/cloudpcfrontlineserviceplan>);
/// - shared mode: a single licence "lets you provision one Cloud PC that can be shared
///   noncurrently among a group of users".
///
/// Provisioning types (cloudPcProvisioningPolicy, beta: `shared` is retired on 2027-04-30 in favour
/// of `sharedByUser` and `sharedByEntraGroup`,
/// <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcprovisioningpolicy?view=graph-rest-beta>):
/// `shared` and `sharedByUser` are Frontline dedicated mode (a personal Cloud PC per user);
/// `sharedByEntraGroup` is Frontline shared mode (pooled Cloud PCs for the group, none personal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FrontlineMode {
    /// One licence: up to three personal Cloud PCs, one active session.
    Dedicated,
    /// One licence: one Cloud PC shared by the group, one user at a time.
    Shared,
}

/// Cloud PCs one Frontline licence provides in dedicated mode.
pub const CLOUD_PCS_PER_DEDICATED_FRONTLINE_LICENSE: i64 = 3;

impl FrontlineMode {
    /// The Frontline mode of a provisioning type (`None`: not a Frontline type).
    pub fn of(t: Option<&ProvisioningType>) -> Option<Self> {
        match t? {
            ProvisioningType::Shared | ProvisioningType::SharedByUser => Some(Self::Dedicated),
            ProvisioningType::SharedByEntraGroup => Some(Self::Shared),
            _ => None,
        }
    }

    /// Cloud PCs that `licenses` licences allow.
    pub fn cloud_pcs_for(self, licenses: i64) -> i64 {
        match self {
            Self::Dedicated => licenses.saturating_mul(CLOUD_PCS_PER_DEDICATED_FRONTLINE_LICENSE),
            Self::Shared => licenses,
        }
    }

    /// Licences that `cloud_pcs` Cloud PCs take.
    pub fn licenses_for(self, cloud_pcs: i64) -> i64 {
        match self {
            Self::Dedicated => {
                (cloud_pcs + CLOUD_PCS_PER_DEDICATED_FRONTLINE_LICENSE - 1)
                    / CLOUD_PCS_PER_DEDICATED_FRONTLINE_LICENSE
            }
            Self::Shared => cloud_pcs,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dedicated => "dedicated",
            Self::Shared => "shared",
        }
    }
}

/// The seats of one Frontline assignment (a policy assigned to a group with an allotment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontlineSeats {
    pub mode: FrontlineMode,
    /// `allotmentLicensesCount` of the assignment.
    pub allotted_licenses: i64,
    /// Cloud PCs the allotment allows (three per licence in dedicated mode).
    pub cloud_pc_capacity: i64,
    /// Cloud PCs (or, in dedicated mode, users holding one) the assignment already uses.
    pub in_use: i64,
    /// `cloud_pc_capacity - in_use`, clamped at zero.
    pub free: i64,
}

impl FrontlineSeats {
    /// Seats of an assignment with `allotted_licenses` that already uses `in_use` Cloud PCs.
    pub fn new(mode: FrontlineMode, allotted_licenses: i64, in_use: i64) -> Self {
        let allotted_licenses = allotted_licenses.max(0);
        let cloud_pc_capacity = mode.cloud_pcs_for(allotted_licenses);
        let in_use = in_use.max(0);
        Self {
            mode,
            allotted_licenses,
            cloud_pc_capacity,
            in_use,
            free: (cloud_pc_capacity - in_use).max(0),
        }
    }
}

/// A Frontline assignment of a shared provisioning policy: a group with a Frontline service plan
/// and an allotment of licences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontlineAssignment {
    pub group_id: String,
    pub service_plan_id: String,
    pub allotment_display_name: Option<String>,
    /// `allotmentLicensesCount` (0 when Graph gave none).
    pub allotted_licenses: i64,
}

/// The Frontline assignments of a policy (those with both a group and a service plan), in order.
pub fn frontline_assignments(policy: &ProvisioningPolicy) -> Vec<FrontlineAssignment> {
    policy
        .assignments
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| {
            let group_id = Some(a.target.group_id.clone()).filter(|g| !g.is_empty())?;
            let service_plan_id = a.target.service_plan_id.clone().filter(|p| !p.is_empty())?;
            Some(FrontlineAssignment {
                group_id,
                service_plan_id,
                allotment_display_name: a.target.allotment_display_name.clone(),
                allotted_licenses: i64::from(a.target.allotment_licenses_count.unwrap_or(0)),
            })
        })
        .collect()
}

/// Free Frontline licences of a plan: `totalCount` minus the licences already allotted to groups
/// (`allotmentLicensesCount`, summed by Graph), clamped at zero. `allotted` is the plan's
/// `allotmentLicensesCount`; `None` (older answers) falls back to `usedCount`.
pub fn frontline_plan_free(total: i64, used: i64, allotted: Option<i64>) -> i64 {
    (total - allotted.unwrap_or(used).max(used)).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontline_dedicated_licences_give_three_cloud_pcs_shared_ones_one() {
        let d = FrontlineSeats::new(FrontlineMode::Dedicated, 2, 5);
        assert_eq!((d.cloud_pc_capacity, d.free), (6, 1));
        let s = FrontlineSeats::new(FrontlineMode::Shared, 2, 5);
        assert_eq!((s.cloud_pc_capacity, s.free), (2, 0), "clamped at zero");
        assert_eq!(FrontlineMode::Dedicated.licenses_for(4), 2);
        assert_eq!(FrontlineMode::Shared.licenses_for(4), 4);
        assert_eq!(
            FrontlineMode::of(Some(&ProvisioningType::SharedByEntraGroup)),
            Some(FrontlineMode::Shared)
        );
        assert_eq!(
            FrontlineMode::of(Some(&ProvisioningType::Shared)),
            Some(FrontlineMode::Dedicated)
        );
        assert_eq!(FrontlineMode::of(Some(&ProvisioningType::Dedicated)), None);
    }

    #[test]
    fn plan_free_licences_subtract_the_allotments() {
        assert_eq!(frontline_plan_free(3, 1, Some(3)), 0);
        assert_eq!(frontline_plan_free(5, 0, Some(2)), 3);
        assert_eq!(frontline_plan_free(5, 4, None), 1);
        assert_eq!(frontline_plan_free(2, 0, Some(7)), 0);
    }
}
