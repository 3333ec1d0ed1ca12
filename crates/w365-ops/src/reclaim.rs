//! `reclaim --idle-days N`: take the Windows 365 licence back from Cloud PCs nobody used for N days.
//!
//! Planning only reads: the Cloud PCs that are provisioned, their usage over the last N days from
//! the remote connection report ([`crate::usage`]), the users' groups and the tenant's SKUs. A
//! Cloud PC with no connection in the period is idle. For each idle one, the licence group among
//! the user's groups (by the license group prefix) that grants the Cloud PC's service plan is taken
//! away through the very plan of `unassign` ([`crate::unassign::plan`]); by default the grace
//! period is kept, so the user keeps the Cloud PC for the policy's grace period and an admin can
//! still undo it. Protected users and members of protected groups (the profile) are never touched.
//!
//! Cost: the monthly price per SKU part number comes from the profile (`[tenants.NAME.prices]`);
//! otherwise from [`DEFAULT_PRICES`] (shown as `default`); otherwise it is unknown and not counted.
//!
//! Execution runs each Cloud PC's unassign plan in turn and stops at the first failure; a re-run
//! converges (what was done is no longer idle-and-licensed, or yields an empty plan).

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use w365_graph::Client;
use w365_graph::models::{CloudPc, CloudPcStatus};

use crate::assign::starts_with_ignore_case;
use crate::cloud_pc::{Failure, exists, find_user};
use crate::error::{Error, GraphContext, Result};
use crate::execute::{ExecState, Executor, Observer, StepReport, Waits, permissions};
use crate::licensing::{Windows365Catalog, license_group_plans};
use crate::plan::{GroupRef, Plan, SkuRef, UserRef};
use crate::unassign::{DEFAULT_LICENSE_GROUP_PREFIX, UnassignOptions};

/// Indicative list prices (USD per user per month) for the Windows 365 Enterprise sizes the source
/// names, used when the profile has no price for the SKU. Source (third-party, indicative, not a
/// Microsoft price list; set `[tenants.NAME.prices]` for your agreement):
/// <https://thenegotiationexperts.com/blog/windows-365-licensing-cloud-pc-cost/> ("2 vCPU / 4 GB /
/// 128 GB ~$31", "2 vCPU / 8 GB / 128 GB ~$41", "4 vCPU / 16 GB / 128 GB ~$66",
/// "8 vCPU / 32 GB / 128 GB ~$123").
pub const DEFAULT_PRICES: &[(&str, f64)] = &[
    ("CPC_E_2C_4GB_128GB", 31.0),
    ("CPC_E_2C_8GB_128GB", 41.0),
    ("CPC_E_4C_16GB_128GB", 66.0),
    ("CPC_E_8C_32GB_128GB", 123.0),
];

/// Where the currency of [`DEFAULT_PRICES`] is stated.
pub const DEFAULT_CURRENCY: &str = "USD";

/// Where a monthly price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PriceSource {
    /// `[tenants.NAME.prices]`.
    Profile,
    /// [`DEFAULT_PRICES`].
    Default,
}

impl PriceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceSource::Profile => "profile",
            PriceSource::Default => "default",
        }
    }
}

/// Everything `reclaim` needs to know.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReclaimOptions {
    pub idle_days: u32,
    /// Monthly price per SKU part number (the profile's).
    pub prices: BTreeMap<String, f64>,
    pub currency: String,
    /// UPNs never reclaimed.
    pub protected_users: Vec<String>,
    /// Display names or ids of groups whose members are never reclaimed.
    pub protected_groups: Vec<String>,
    pub license_group_prefix: String,
    pub provisioning_group_prefix: String,
    pub user_settings_group_prefix: String,
    /// End the grace period too (the Cloud PC is deleted at once); off by default.
    pub skip_grace_period: bool,
    pub dry_run: bool,
    pub waits: Waits,
}

impl ReclaimOptions {
    pub fn new(idle_days: u32) -> Self {
        let u = UnassignOptions::new("unused@example.invalid");
        Self {
            idle_days,
            prices: BTreeMap::new(),
            currency: DEFAULT_CURRENCY.into(),
            protected_users: Vec::new(),
            protected_groups: Vec::new(),
            license_group_prefix: DEFAULT_LICENSE_GROUP_PREFIX.into(),
            provisioning_group_prefix: u.provisioning_group_prefix,
            user_settings_group_prefix: u.user_settings_group_prefix,
            skip_grace_period: false,
            dry_run: false,
            waits: Waits::realistic(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.idle_days == 0 || self.idle_days > crate::usage::MAX_DAYS {
            return Err(Error::InvalidInput {
                reason: format!(
                    "--idle-days must be between 1 and {}; got {}",
                    crate::usage::MAX_DAYS,
                    self.idle_days
                ),
            });
        }
        if let Some((sku, p)) = self
            .prices
            .iter()
            .find(|(_, p)| !p.is_finite() || **p < 0.0)
        {
            return Err(Error::InvalidInput {
                reason: format!(
                    "the price of {sku} in the profile's [prices] table is {p}; give a monthly price of 0 or more"
                ),
            });
        }
        if self.license_group_prefix.trim().is_empty() {
            return Err(Error::InvalidInput {
                reason: "--license-group-prefix is empty".into(),
            });
        }
        Ok(())
    }

    /// The monthly price of a SKU and where it came from.
    pub fn price_of(&self, sku_part_number: &str) -> Option<(f64, PriceSource)> {
        if let Some((_, p)) = self
            .prices
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(sku_part_number))
        {
            return Some((*p, PriceSource::Profile));
        }
        DEFAULT_PRICES
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(sku_part_number))
            .map(|(_, p)| (*p, PriceSource::Default))
    }
}

/// An idle Cloud PC whose licence is taken back.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub cloud_pc_id: String,
    pub display_name: Option<String>,
    pub user: UserRef,
    /// `None`: no connection in the period.
    pub days_since_last_use: Option<i64>,
    pub license_group: GroupRef,
    pub sku: Option<SkuRef>,
    pub monthly_price: Option<f64>,
    pub price_source: Option<PriceSource>,
    /// The unassign plan for this user and licence group.
    pub plan: Plan,
}

/// An idle Cloud PC left alone, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Excluded {
    pub cloud_pc_id: String,
    pub display_name: Option<String>,
    pub user_principal_name: String,
    pub reason: String,
}

/// One candidate's execution.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub cloud_pc_id: String,
    pub user_principal_name: String,
    pub steps: Vec<StepReport>,
}

/// What `reclaim` found (and did).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReclaimReport {
    pub idle_days: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    pub dry_run: bool,
    pub skip_grace_period: bool,
    pub currency: String,
    pub candidates: Vec<Candidate>,
    pub excluded: Vec<Excluded>,
    /// Sum of the known monthly prices of the candidates.
    pub monthly_cost_recovered: f64,
    /// Candidates whose SKU has no known price (not in the sum).
    pub unpriced: usize,
    pub outcomes: Vec<Outcome>,
}

impl ReclaimReport {
    /// Every candidate's plan, one after the other.
    pub fn combined_plan(&self) -> Plan {
        let mut plan = Plan::new();
        for c in &self.candidates {
            for s in &c.plan.steps {
                plan.push(s.clone());
            }
        }
        plan
    }
}

fn in_use(pc: &CloudPc) -> bool {
    matches!(
        pc.status,
        Some(CloudPcStatus::Provisioned | CloudPcStatus::ProvisionedWithWarnings)
    ) && pc.user_principal_name.is_some()
}

/// Reads what reclamation needs and returns the report with its plan. Never writes.
pub async fn plan(
    client: &Client,
    opts: &ReclaimOptions,
    observer: &dyn Observer,
) -> Result<ReclaimReport> {
    opts.validate()?;
    // Both reads run at once, but their errors are reported in this order (not whichever answer
    // came first), so a caller missing both permissions always hears about the Cloud PCs first.
    let (pcs, skus) = futures::join!(
        async {
            client
                .cloud_pcs()
                .list(None)
                .await
                .graph_ctx(|| "list the Cloud PCs".into(), permissions::READ_CLOUD_PCS)
        },
        async {
            client.subscribed_skus().list().await.graph_ctx(
                || "read the tenant's subscribed SKUs".into(),
                permissions::READ_ORGANIZATION,
            )
        },
    );
    let (pcs, skus) = (pcs?, skus?);
    let pcs: Vec<CloudPc> = pcs.into_iter().filter(|p| exists(p) && in_use(p)).collect();
    let usage = crate::usage::usage_of(client, &pcs, opts.idle_days).await?;
    let catalog = Windows365Catalog::default();
    let mut report = ReclaimReport {
        idle_days: opts.idle_days,
        as_of: usage.as_of,
        dry_run: opts.dry_run,
        skip_grace_period: opts.skip_grace_period,
        currency: opts.currency.clone(),
        candidates: Vec::new(),
        excluded: Vec::new(),
        monthly_cost_recovered: 0.0,
        unpriced: 0,
        outcomes: Vec::new(),
    };
    let idle_days = i64::from(opts.idle_days);
    for (pc, u) in pcs.iter().zip(&usage.cloud_pcs) {
        if u.days_since_last_use.is_some_and(|d| d < idle_days) {
            continue;
        }
        let upn = pc.user_principal_name.clone().unwrap_or_default();
        let exclude = |reason: String| Excluded {
            cloud_pc_id: pc.id.clone(),
            display_name: pc.display_name.clone(),
            user_principal_name: upn.clone(),
            reason,
        };
        if opts
            .protected_users
            .iter()
            .any(|p| p.trim().eq_ignore_ascii_case(&upn))
        {
            report
                .excluded
                .push(exclude("protected user (profile)".into()));
            continue;
        }
        let user = find_user(client, &upn).await?;
        let member_of = client.users().member_of_groups(&user.id).await.graph_ctx(
            || format!("read the group memberships of {user}"),
            permissions::READ_GROUPS,
        )?;
        if let Some(g) = member_of.iter().find(|g| {
            opts.protected_groups.iter().any(|p| {
                p.trim().eq_ignore_ascii_case(&g.display_name)
                    || p.trim().eq_ignore_ascii_case(&g.id)
            })
        }) {
            report.excluded.push(exclude(format!(
                "member of the protected group '{}' (profile)",
                g.display_name
            )));
            continue;
        }
        let plan_id = pc.service_plan_id.as_deref().unwrap_or_default();
        let licensed_by = member_of
            .iter()
            .filter(|g| starts_with_ignore_case(&g.display_name, &opts.license_group_prefix))
            .map(|g| (g, license_group_plans(Some(g), &skus, &catalog)))
            .find(|(_, (_, plans))| plans.iter().any(|p| p.eq_ignore_ascii_case(plan_id)));
        let Some((group, (sku, _))) = licensed_by else {
            report.excluded.push(exclude(format!(
                "no group of the user with the prefix '{}' grants its service plan (a direct or Frontline licence is not reclaimed)",
                opts.license_group_prefix
            )));
            continue;
        };
        let mut u_opts = UnassignOptions::new(upn.clone());
        u_opts.license_group = group.id.clone();
        u_opts.license_group_prefix = opts.license_group_prefix.clone();
        u_opts.provisioning_group_prefix = opts.provisioning_group_prefix.clone();
        u_opts.user_settings_group_prefix = opts.user_settings_group_prefix.clone();
        u_opts.skip_grace_period = opts.skip_grace_period;
        u_opts.dry_run = true;
        u_opts.waits = opts.waits;
        let planned = crate::unassign::plan(client, &u_opts, observer).await?;
        if planned.plan.is_empty() {
            // Already taken back (a re-run): nothing left to do for it.
            report.excluded.push(exclude(format!(
                "nothing left to take back from the group '{}'",
                group.display_name
            )));
            continue;
        }
        let price = sku.as_ref().and_then(|s| opts.price_of(&s.sku_part_number));
        match price {
            Some((p, _)) => report.monthly_cost_recovered += p,
            None => report.unpriced += 1,
        }
        report.candidates.push(Candidate {
            cloud_pc_id: pc.id.clone(),
            display_name: pc.display_name.clone(),
            user: planned.user,
            days_since_last_use: u.days_since_last_use,
            license_group: GroupRef {
                id: group.id.clone(),
                display_name: group.display_name.clone(),
            },
            sku,
            monthly_price: price.map(|(p, _)| p),
            price_source: price.map(|(_, s)| s),
            plan: planned.plan,
        });
    }
    Ok(report)
}

/// Runs every candidate's plan, in order; stops at the first failure (the report says how far it
/// got). Re-running `reclaim` converges.
pub async fn execute(
    client: &Client,
    mut report: ReclaimReport,
    waits: Waits,
    observer: &dyn Observer,
) -> std::result::Result<ReclaimReport, Failure<ReclaimReport>> {
    let executor = Executor::new(client, waits, observer);
    for i in 0..report.candidates.len() {
        let c = &report.candidates[i];
        let mut state = ExecState::default();
        let run = executor.run(&c.plan, &mut state).await;
        let outcome = Outcome {
            cloud_pc_id: c.cloud_pc_id.clone(),
            user_principal_name: c.user.user_principal_name.clone(),
            steps: state.steps,
        };
        report.outcomes.push(outcome);
        if let Err(error) = run {
            return Err(Failure {
                report: Box::new(report),
                error,
            });
        }
    }
    Ok(report)
}
