//! Windows 365 state: provisioning policies, user settings, service plans, Frontline plans, Cloud PCs.
//!
//! Plain synchronous model (no HTTP types). Request bodies come in as `serde_json::Value` and are
//! validated here; answers go out through [`render`]. Errors are [`Windows365Error`]s that know
//! their Graph status. The lifecycle (what happens over time) lives in [`crate::lifecycle`].

mod actions;
pub mod audit;
pub mod bulk_actions;
mod catalog;
mod cloud_pc;
pub mod connections;
mod error;
mod faults;
mod ids;
pub mod images;
mod input;
mod naming;
pub mod network;
pub mod org_settings;
mod policy;
pub mod render;
pub mod snapshots;
mod timings;
mod user_settings;

use serde::{Deserialize, Serialize};

pub use catalog::{
    FrontlinePlan, PlanProvisioningType, ServicePlan, ServicePlanType, SharedUseServicePlan,
    default_catalog, frontline_display_name, plan_ids,
};
pub use cloud_pc::{
    CloudPc, CloudPcStatus, ConnectionSetting, EngineData, KeyValuePair, LoginResult, OsVersion,
    PowerState, ProductType, RemoteActionResult, ReprovisionOptions, StatusDetail, UserAccountType,
};
pub use error::{Result, Windows365Error};
pub use faults::{ForcedOutcome, OutcomeKind, ProvisioningFaults};
pub use ids::{DEFAULT_SEED, IdGenerator};
pub use naming::{DEFAULT_TEMPLATE, MAX_NAME_LEN, MIN_RAND, NamingTemplate};
pub use policy::{
    Autopatch, AutopilotConfiguration, DomainJoinConfiguration, DomainJoinType, ImageType,
    MAX_ALLOTMENT, ManagedType, MicrosoftManagedDesktop, PolicyAssignment, ProvisioningPolicy,
    ProvisioningType, UserExperienceType, UserSettingsPersistenceConfiguration, WindowsSetting,
    WindowsSettings,
};
pub use render::{ApiVersion, Render};
pub use snapshots::{PendingSnapshot, Snapshot, SnapshotType, Snapshots};
pub use timings::Timings;
pub use user_settings::{
    FrequencyType, NotificationSetting, ProvisioningSourceType, RestorePointSetting, UserSetting,
    UserSettingAssignment,
};

/// Mixed into the seed of [`Windows365State::infra_ids`].
const INFRA_SEED: u64 = 0x6e65_7477_6f72_6b73;

/// A licensed (and possibly targeted) user noticed by the service, waiting for the detection delay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    pub user_id: String,
    pub service_plan_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub due: time::OffsetDateTime,
    /// The Frontline assignment whose seat this detection reserves.
    #[serde(default)]
    pub assignment_id: Option<String>,
}

/// All Windows 365 state of one tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Windows365State {
    /// Lifecycle durations.
    pub timings: Timings,
    /// Forced provisioning outcomes.
    pub faults: ProvisioningFaults,
    pub(crate) service_plans: Vec<ServicePlan>,
    pub(crate) frontline_plans: Vec<FrontlinePlan>,
    pub(crate) shared_use_service_plans: Vec<SharedUseServicePlan>,
    pub(crate) policies: Vec<ProvisioningPolicy>,
    pub(crate) user_settings: Vec<UserSetting>,
    pub(crate) cloud_pcs: Vec<CloudPc>,
    pub(crate) ids: IdGenerator,
    pub(crate) assignment_sequence: u64,
    pub(crate) detections: Vec<Detection>,
    /// Restore points and their schedule (see [`snapshots`]).
    pub(crate) snapshots: Snapshots,
    /// Audit events of the changes made through the API (see [`audit`]).
    pub(crate) audit: audit::AuditLog,
    /// Bulk actions and their per-device outcomes (see [`bulk_actions`]).
    pub(crate) bulk_actions: bulk_actions::BulkActions,
    /// When the engine last looked at every user (see [`crate::lifecycle`]).
    #[serde(skip)]
    pub(crate) last_full_scan: Option<time::OffsetDateTime>,
    /// Ids of network connections, their checks and images: a generator of their own, so adding
    /// them leaves every other seeded id as it was.
    pub(crate) infra_ids: IdGenerator,
    /// Azure network connections (see [`network`]).
    pub(crate) network_connections: Vec<network::NetworkConnection>,
    /// Custom images (see [`images`]).
    pub(crate) device_images: Vec<images::DeviceImage>,
    /// The service's gallery images.
    pub(crate) gallery_images: Vec<images::GalleryImage>,
    /// The tenant's organization settings (see [`org_settings`]).
    pub(crate) organization_settings: org_settings::OrganizationSettings,
}

impl Default for Windows365State {
    fn default() -> Self {
        Self {
            timings: Timings::default(),
            faults: ProvisioningFaults::default(),
            service_plans: default_catalog(),
            frontline_plans: Vec::new(),
            shared_use_service_plans: Vec::new(),
            policies: Vec::new(),
            user_settings: Vec::new(),
            cloud_pcs: Vec::new(),
            ids: IdGenerator::default(),
            assignment_sequence: 0,
            detections: Vec::new(),
            snapshots: Snapshots::default(),
            audit: audit::AuditLog::default(),
            bulk_actions: bulk_actions::BulkActions::default(),
            last_full_scan: None,
            infra_ids: IdGenerator::new(DEFAULT_SEED ^ INFRA_SEED),
            network_connections: Vec::new(),
            device_images: Vec::new(),
            gallery_images: images::default_gallery(),
            organization_settings: org_settings::OrganizationSettings::default(),
        }
    }
}

/// A Frontline plan with its computed counters (`cloudPcFrontLineServicePlan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontlinePlanCounts {
    pub id: String,
    pub display_name: String,
    pub total_count: u32,
    /// Licences in use by Cloud PCs holding a seat of this plan (three Cloud PCs per licence in
    /// dedicated mode).
    pub used_count: u32,
    /// Seats allotted to groups through shared policy assignments.
    pub allotment_licenses_count: u32,
}

impl Windows365State {
    /// The place of `group_id`'s assignment in the tenant-wide assignment order (a user matched by
    /// several policies gets the first assigned): an existing assignment of the group keeps its
    /// place, a new one comes last.
    pub(crate) fn assignment_sequence_for<'a>(
        &mut self,
        mut existing: impl Iterator<Item = (&'a str, u64)>,
        group_id: &str,
    ) -> u64 {
        match existing.find(|(g, _)| g.eq_ignore_ascii_case(group_id)) {
            Some((_, sequence)) => sequence,
            None => {
                self.assignment_sequence += 1;
                self.assignment_sequence
            }
        }
    }

    /// Empty state with the given timings and id seed.
    pub fn new(timings: Timings, seed: u64) -> Self {
        Self {
            timings,
            ids: IdGenerator::new(seed),
            infra_ids: IdGenerator::new(seed ^ INFRA_SEED),
            ..Self::default()
        }
    }

    /// Restarts the id/name generator (the `/_sim/seed` of moto).
    pub fn reseed(&mut self, seed: u64) {
        self.ids = IdGenerator::new(seed);
        self.infra_ids = IdGenerator::new(seed ^ INFRA_SEED);
    }

    /// The service-plan catalog (`servicePlans`).
    pub fn service_plans(&self) -> &[ServicePlan] {
        &self.service_plans
    }

    /// A catalog entry.
    pub fn service_plan(&self, id: &str) -> Option<&ServicePlan> {
        self.service_plans
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
    }

    /// Replaces the catalog (a seed may add preview plans).
    pub fn set_service_plans(&mut self, plans: Vec<ServicePlan>) {
        self.service_plans = plans;
    }

    /// Records that the tenant bought `total_count` seats of a Frontline plan from the catalog
    /// (replacing an earlier count).
    pub fn set_frontline_plan(&mut self, service_plan_id: &str, total_count: u32) -> Result<()> {
        let plan = self
            .service_plan(service_plan_id)
            .filter(|p| p.provisioning_type == PlanProvisioningType::Shared)
            .ok_or_else(|| {
                Windows365Error::invalid(format!(
                    "'{service_plan_id}' is not a Frontline service plan"
                ))
            })?;
        let entry = FrontlinePlan {
            id: plan.id.clone(),
            display_name: frontline_display_name(plan),
            total_count,
        };
        match self.frontline_plans.iter_mut().find(|p| p.id == entry.id) {
            Some(p) => *p = entry,
            None => self.frontline_plans.push(entry),
        }
        Ok(())
    }

    pub(crate) fn frontline_plan(&self, id: &str) -> Result<&FrontlinePlan> {
        self.frontline_plans
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| {
                Windows365Error::invalid(format!("the tenant has no Frontline service plan '{id}'"))
            })
    }

    /// The tenant's Frontline plans with their counters.
    pub fn frontline_plans(&self) -> Vec<FrontlinePlanCounts> {
        self.frontline_plans
            .iter()
            .map(|p| self.frontline_counts(p))
            .collect()
    }

    /// One Frontline plan with its counters.
    pub fn frontline_plan_counts(&self, id: &str) -> Result<FrontlinePlanCounts> {
        self.frontline_plans
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
            .map(|p| self.frontline_counts(p))
            .ok_or_else(|| Windows365Error::not_found("cloudPcFrontLineServicePlan", id))
    }

    fn frontline_counts(&self, p: &FrontlinePlan) -> FrontlinePlanCounts {
        // Licences in use: in dedicated mode one licence serves up to three Cloud PCs, so an
        // assignment holding n Cloud PCs uses ceil(n / 3) licences (see crate::lifecycle).
        let per = crate::lifecycle::CLOUD_PCS_PER_FRONTLINE_LICENCE as usize;
        let mut by_assignment: std::collections::BTreeMap<String, usize> =
            std::collections::BTreeMap::new();
        for c in self.cloud_pcs.iter().filter(|c| {
            !c.engine.pooled && c.holds_seat() && c.service_plan_id.eq_ignore_ascii_case(&p.id)
        }) {
            let key = c
                .engine
                .assignment_id
                .clone()
                .unwrap_or_else(|| c.id.clone())
                .to_lowercase();
            *by_assignment.entry(key).or_default() += 1;
        }
        // A pooled (shared-mode) Cloud PC is one licence each.
        let pooled = self
            .cloud_pcs
            .iter()
            .filter(|c| {
                c.engine.pooled && c.holds_seat() && c.service_plan_id.eq_ignore_ascii_case(&p.id)
            })
            .count();
        let used: usize = by_assignment
            .values()
            .map(|n| n.div_ceil(per))
            .sum::<usize>()
            + pooled;
        let allotted = self
            .policies
            .iter()
            .flat_map(|pol| pol.assignments.iter())
            .filter(|a| {
                a.service_plan_id
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&p.id))
            })
            .filter_map(|a| a.allotment_licenses_count)
            .sum();
        FrontlinePlanCounts {
            id: p.id.clone(),
            display_name: p.display_name.clone(),
            total_count: p.total_count,
            used_count: u32::try_from(used).unwrap_or(u32::MAX),
            allotment_licenses_count: allotted,
        }
    }

    /// The legacy `sharedUseServicePlans` (empty unless configured, as Graph answers today).
    pub fn shared_use_service_plans(&self) -> &[SharedUseServicePlan] {
        &self.shared_use_service_plans
    }

    /// Configures the legacy `sharedUseServicePlans` answer.
    pub fn set_shared_use_service_plans(&mut self, plans: Vec<SharedUseServicePlan>) {
        self.shared_use_service_plans = plans;
    }

    /// All Cloud PCs (including `notProvisioned` records), in creation order.
    pub fn cloud_pcs(&self) -> &[CloudPc] {
        &self.cloud_pcs
    }

    /// One Cloud PC.
    pub fn cloud_pc(&self, id: &str) -> Result<&CloudPc> {
        self.cloud_pcs
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPC", id))
    }

    pub(crate) fn cloud_pc_index(&self, id: &str) -> Result<usize> {
        self.cloud_pcs
            .iter()
            .position(|c| c.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPC", id))
    }

    /// The Cloud PCs of one user (object id).
    pub fn cloud_pcs_of_user(&self, user_id: &str) -> Vec<&CloudPc> {
        self.cloud_pcs
            .iter()
            .filter(|c| c.engine.user_id.eq_ignore_ascii_case(user_id))
            .collect()
    }

    /// Users noticed by the service and waiting for the detection delay.
    pub fn pending_detections(&self) -> &[Detection] {
        &self.detections
    }

    /// Adds a Cloud PC record as it is (seeds only: existing PCs of a demo tenant).
    pub fn insert_cloud_pc(&mut self, pc: CloudPc) {
        self.cloud_pcs.push(pc);
    }

    /// Plays the due steps of network health checks and image uploads.
    pub fn run_infrastructure(&mut self, now: time::OffsetDateTime) {
        network::run_due(self, now);
        images::run_due(self, now);
    }

    /// When the next network health check step or image upload is due.
    pub fn infrastructure_next_due(&self) -> Option<time::OffsetDateTime> {
        [network::next_due(self), images::next_due(self)]
            .into_iter()
            .flatten()
            .min()
    }

    /// A fresh GUID from the state's generator.
    pub fn new_id(&mut self) -> String {
        self.ids.guid()
    }
}

#[cfg(test)]
mod tests;
