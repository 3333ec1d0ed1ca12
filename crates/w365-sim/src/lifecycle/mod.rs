//! The Windows 365 provisioning lifecycle: declared transitions ([`transitions`]) and the engine that
//! plays them on the virtual clock.
//!
//! Each [`run_due`] call (1) plays every timer and detection due by `now`, in time order and at
//! its own due time; (2) compares what the directory says now (licences, direct group membership,
//! policy assignments, Frontline seats) with the Cloud PCs and fires the matching triggers
//! (licence or targeting lost -> grace period, restored -> back, ...) and schedules detections of
//! newly licensed users; (3) plays anything that became due at `now`.
//!
//! Rules (reference §9):
//! - Dedicated: a user holding a Windows 365 dedicated service plan (active licence) and a direct
//!   member of a group assigned to a dedicated policy gets one Cloud PC per such plan, under the
//!   first assigned matching policy. Licensed but not targeted -> a `notProvisioned` record.
//! - Frontline dedicated mode (`shared`, `sharedByUser`): a direct member of a group assigned to the
//!   policy (with `servicePlanId`) gets a personal Cloud PC while the assignment's allotment allows:
//!   one licence serves up to three Cloud PCs with one active session ("What is Windows 365
//!   Frontline?", <https://learn.microsoft.com/en-us/windows-365/enterprise/introduction-windows-365-frontline>;
//!   a Frontline service plan "provides an allotment of three Cloud PCs",
//!   <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcfrontlineserviceplan>), so an
//!   allotment of N licences holds 3·N Cloud PCs and the plan's `totalCount` licences 3·total. With
//!   no seat left the user gets a `notProvisioned` record whose `statusDetail` (code
//!   `frontlineLicenseUnavailable`) says why — visible to admins in the cloudPCs list.
//! - Frontline shared mode (`sharedByEntraGroup`): one licence is one Cloud PC shared by the group
//!   (same page); members get no personal Cloud PC. Each assignment gets as many pooled Cloud PCs
//!   (no user, `userPrincipalName` empty) as its allotment has licences, detected and provisioned
//!   like the others; an allotment lowered or removed deprovisions the extra ones at once (shared
//!   mode has no grace period, reference §9).
//! - Detection of a newly licensed/targeted user waits `Timings::detection_delay`. Loss and
//!   restoration of licence/targeting are applied when observed.
//! - Reserve policies are stored but provision nothing.
//! - Pooled (`sharedByEntraGroup`) Cloud PCs have no session model: who is signed in, and the
//!   concurrency of dedicated-mode Frontline, are not emulated.
//!
//! LIMITATIONS (real-service behaviour not emulated):
//! - `pendingProvision` (more grace-period PCs than licences) is never produced: licences are per user
//!   here, so a returning licence always restores its own Cloud PC;
//! - Windows 365 Business Cloud PCs need a policy like Enterprise ones (the real service provisions
//!   Business licences without one);
//! - a failed provisioning is not retried by the service (the real one retries twice first), and
//!   failed attempts leave no Intune/Entra objects to clean up;
//! - every user of the tenant is scanned at most once per virtual instant (for `notProvisioned`
//!   records of licensed users outside policy groups); users in policy groups, with a Cloud PC or a
//!   pending detection are evaluated at every run.

pub mod transitions;

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use crate::state::view::{DirectoryView, UserSummary};
use crate::state::windows365::{
    CloudPc, CloudPcStatus, Detection, EngineData, KeyValuePair, PlanProvisioningType, PowerState,
    ProductType, ProvisioningType, ServicePlanType, StatusDetail, UserAccountType, Windows365State,
};
use transitions::{Env, Fired, Trigger, fire};

/// Plays every lifecycle transition that is due at `now`.
pub fn run_due(w365: &mut Windows365State, dir: &dyn DirectoryView, now: OffsetDateTime) {
    let mut cache = None;
    play_due(w365, dir, now, &mut cache);
    reconcile(w365, dir, now, &mut cache);
    reconcile_pools(w365, dir, now);
    play_due(w365, dir, now, &mut cache);
}

/// Frontline shared mode: every `sharedByEntraGroup` assignment holds one pooled Cloud PC per
/// allotted licence. Missing ones are created and provisioned; extra ones (allotment lowered,
/// assignment or policy removed) are deprovisioned at once, with no grace period.
fn reconcile_pools(w: &mut Windows365State, dir: &dyn DirectoryView, now: OffsetDateTime) {
    let wanted: Vec<(String, String, String, u32, Option<String>)> = w
        .policies
        .iter()
        .filter(|p| p.provisioning_type == ProvisioningType::SharedByEntraGroup)
        .flat_map(|p| {
            p.assignments.iter().filter_map(move |a| {
                Some((
                    p.id.clone(),
                    a.id.clone(),
                    a.service_plan_id.clone()?,
                    a.allotment_licenses_count.unwrap_or(0),
                    a.allotment_display_name.clone(),
                ))
            })
        })
        .collect();
    // Extra pooled Cloud PCs: not wanted any more (newest first).
    let mut i = w.cloud_pcs.len();
    while i > 0 {
        i -= 1;
        let pc = &w.cloud_pcs[i];
        if !pc.engine.pooled || pc.status == CloudPcStatus::Deprovisioning {
            continue;
        }
        let assignment = pc.engine.assignment_id.clone().unwrap_or_default();
        let allowed = wanted
            .iter()
            .find(|(_, a, ..)| a.eq_ignore_ascii_case(&assignment))
            .map_or(0, |(_, _, _, n, _)| *n as usize);
        let newer_or_same = w.cloud_pcs[..=i]
            .iter()
            .filter(|c| {
                c.engine.pooled
                    && c.status != CloudPcStatus::Deprovisioning
                    && c.engine
                        .assignment_id
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(&assignment))
            })
            .count();
        if newer_or_same > allowed {
            let (pcs, mut env) = split(w);
            let pc = &mut pcs[i];
            let _ = fire(pc, Trigger::EntitlementLost, now, &mut env)
                .and_then(|_| fire(pc, Trigger::EndGracePeriod, now, &mut env));
            if pc.status == CloudPcStatus::NotProvisioned {
                pcs.remove(i);
            }
        }
    }
    // Missing pooled Cloud PCs.
    for (policy_id, assignment_id, plan_id, licences, allotment) in wanted {
        let have = w
            .cloud_pcs
            .iter()
            .filter(|c| {
                c.engine.pooled
                    && c.status != CloudPcStatus::Deprovisioning
                    && c.engine
                        .assignment_id
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(&assignment_id))
            })
            .count();
        for _ in have..licences as usize {
            let pool = UserSummary {
                id: String::new(),
                user_principal_name: String::new(),
                display_name: allotment.clone().unwrap_or_else(|| "shared".to_owned()),
                mail: None,
            };
            let Some(mut pc) = new_record(w, &pool, &plan_id, now) else {
                break;
            };
            pc.engine.pooled = true;
            target_record(
                w,
                dir,
                &mut pc,
                &policy_id,
                &assignment_id,
                allotment.clone(),
            );
            pc.display_name = truncate(
                &format!(
                    "{} - {}",
                    pc.provisioning_policy_name.clone().unwrap_or_default(),
                    pool.display_name
                ),
                64,
            );
            w.cloud_pcs.push(pc);
            let index = w.cloud_pcs.len() - 1;
            let (pcs, mut env) = split(w);
            let _ = fire(&mut pcs[index], Trigger::Detected, now, &mut env);
        }
    }
}

/// When the next transition is due, if any.
pub fn next_due(w365: &Windows365State) -> Option<OffsetDateTime> {
    w365.cloud_pcs
        .iter()
        .filter_map(|c| c.engine.timer)
        .chain(w365.detections.iter().map(|d| d.due))
        .chain(w365.infrastructure_next_due())
        .min()
}

/// What the directory entitles a (user, service plan) pair to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Dedicated {
        policy_id: String,
        assignment_id: String,
    },
    Frontline {
        policy_id: String,
        assignment_id: String,
        allotment_display_name: Option<String>,
    },
    LicensedOnly,
    NoSeat {
        reason: String,
    },
}

impl Want {
    fn targeted(&self) -> bool {
        matches!(self, Self::Dedicated { .. } | Self::Frontline { .. })
    }
}

type Key = (String, String);
type Wants = BTreeMap<Key, Want>;

fn key(user_id: &str, plan_id: &str) -> Key {
    (user_id.to_lowercase(), plan_id.to_lowercase())
}

/// Cloud PCs one Frontline licence serves in dedicated mode (see the module documentation).
pub const CLOUD_PCS_PER_FRONTLINE_LICENCE: u32 = 3;

/// The Frontline no-seat code put in `statusDetail` (the simulator's own code; Graph's is not documented).
pub const NO_SEAT_CODE: &str = "frontlineLicenseUnavailable";

fn desired(w: &Windows365State, dir: &dyn DirectoryView, full_scan: bool) -> Wants {
    let mut wants = Wants::new();
    let dedicated_plans: BTreeSet<String> = w
        .service_plans
        .iter()
        .filter(|p| p.provisioning_type == PlanProvisioningType::Dedicated)
        .map(|p| p.id.to_lowercase())
        .collect();
    let mut dedicated: Vec<(u64, &str, &str, &str)> = w
        .policies
        .iter()
        .filter(|p| p.provisioning_type == ProvisioningType::Dedicated)
        .flat_map(|p| {
            p.assignments.iter().map(move |a| {
                (
                    a.sequence,
                    p.id.as_str(),
                    a.id.as_str(),
                    a.group_id.as_str(),
                )
            })
        })
        .collect();
    dedicated.sort_by_key(|(seq, ..)| *seq);

    // The users the engine can reach (policy groups, existing records, pending detections), plus
    // on a full scan every user of the tenant (licensed users in no policy group).
    let mut reachable: BTreeSet<String> = BTreeSet::new();
    for (_, _, _, group) in &dedicated {
        reachable.extend(dir.direct_member_users(group));
    }
    reachable.extend(w.cloud_pcs.iter().map(|c| c.engine.user_id.clone()));
    reachable.extend(w.detections.iter().map(|d| d.user_id.clone()));
    let mut users: Vec<String> = reachable.iter().cloned().collect();
    if full_scan {
        users.extend(
            dir.all_user_ids()
                .into_iter()
                .filter(|u| !reachable.contains(u)),
        );
    }

    for user in &users {
        let mut plans: Vec<String> = dir
            .active_service_plans(user)
            .into_iter()
            .filter(|p| dedicated_plans.contains(&p.to_lowercase()))
            .collect();
        if plans.is_empty() {
            continue;
        }
        plans.sort();
        plans.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        let target = dedicated
            .iter()
            .find(|(_, _, _, group)| dir.is_direct_member(group, user));
        for plan in plans {
            let want = match target {
                Some((_, policy_id, assignment_id, _)) => Want::Dedicated {
                    policy_id: (*policy_id).to_owned(),
                    assignment_id: (*assignment_id).to_owned(),
                },
                None => Want::LicensedOnly,
            };
            wants.insert(key(user, &plan), want);
        }
    }

    // Frontline seats: existing seats and pending reservations first, then new members in order.
    // Only dedicated-mode Frontline gives personal Cloud PCs (shared mode pools them by group).
    let mut frontline: Vec<(u64, &str, &str, &crate::state::windows365::PolicyAssignment)> = w
        .policies
        .iter()
        .filter(|p| {
            p.provisioning_type.is_frontline()
                && p.provisioning_type != ProvisioningType::SharedByEntraGroup
        })
        .flat_map(|p| {
            p.assignments
                .iter()
                .map(move |a| (a.sequence, p.id.as_str(), p.display_name.as_str(), a))
        })
        .filter(|(.., a)| a.service_plan_id.is_some())
        .collect();
    frontline.sort_by_key(|(seq, ..)| *seq);
    let mut used_plan: BTreeMap<String, u32> = BTreeMap::new();
    let mut used_assignment: BTreeMap<String, u32> = BTreeMap::new();
    for c in w.cloud_pcs.iter().filter(|c| c.holds_seat()) {
        // A pooled Cloud PC takes a whole licence (three dedicated-mode Cloud PCs' worth).
        *used_plan
            .entry(c.service_plan_id.to_lowercase())
            .or_default() += if c.engine.pooled {
            CLOUD_PCS_PER_FRONTLINE_LICENCE
        } else {
            1
        };
        if let Some(a) = &c.engine.assignment_id {
            *used_assignment.entry(a.to_lowercase()).or_default() += 1;
        }
    }
    for d in &w.detections {
        if let Some(a) = &d.assignment_id {
            *used_plan
                .entry(d.service_plan_id.to_lowercase())
                .or_default() += 1;
            *used_assignment.entry(a.to_lowercase()).or_default() += 1;
        }
    }
    for (_, policy_id, policy_name, a) in frontline {
        let plan = a
            .service_plan_id
            .as_deref()
            .unwrap_or_default()
            .to_lowercase();
        let (total, plan_name) = w
            .frontline_plans
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(&plan))
            .map_or((0, plan.clone()), |p| {
                (p.total_count, p.display_name.clone())
            });
        let licences = a.allotment_licenses_count.unwrap_or(0);
        let allotment = licences.saturating_mul(CLOUD_PCS_PER_FRONTLINE_LICENCE);
        let plan_capacity = total.saturating_mul(CLOUD_PCS_PER_FRONTLINE_LICENCE);
        for member in dir.direct_member_users(&a.group_id) {
            let k = key(&member, &plan);
            if wants.contains_key(&k) || dir.user(&member).is_none() {
                continue;
            }
            let holds = w.cloud_pcs.iter().any(|c| {
                c.holds_seat()
                    && c.engine.user_id.eq_ignore_ascii_case(&member)
                    && c.covers_plan(&plan)
            }) || w.detections.iter().any(|d| {
                d.assignment_id.is_some()
                    && d.user_id.eq_ignore_ascii_case(&member)
                    && d.service_plan_id.eq_ignore_ascii_case(&plan)
            });
            let a_used = used_assignment.entry(a.id.to_lowercase()).or_default();
            let p_used = used_plan.entry(plan.clone()).or_default();
            let want = if holds || (*a_used < allotment && *p_used < plan_capacity) {
                if !holds {
                    *a_used += 1;
                    *p_used += 1;
                }
                Want::Frontline {
                    policy_id: policy_id.to_owned(),
                    assignment_id: a.id.clone(),
                    allotment_display_name: a.allotment_display_name.clone(),
                }
            } else {
                Want::NoSeat {
                    reason: format!(
                        "No Frontline licence is free: the assignment of policy '{policy_name}' to group '{}' uses {}/{} Cloud PC(s) of its {} allotted licence(s) (three per licence) and plan '{plan_name}' uses {}/{} Cloud PC(s) of its {} licence(s).",
                        a.group_id, a_used, allotment, licences, p_used, plan_capacity, total
                    ),
                }
            };
            wants.insert(k, want);
        }
    }
    wants
}

fn no_seat_detail(reason: &str) -> StatusDetail {
    StatusDetail {
        code: NO_SEAT_CODE.to_owned(),
        message: reason.to_owned(),
        additional_information: vec![KeyValuePair {
            name: "retriable".to_owned(),
            value: "true".to_owned(),
        }],
    }
}

/// Splits the state into the Cloud PC list and the environment transitions need.
fn split(w: &mut Windows365State) -> (&mut Vec<CloudPc>, Env<'_>) {
    let Windows365State {
        cloud_pcs,
        timings,
        policies,
        service_plans,
        ids,
        faults,
        ..
    } = w;
    (
        cloud_pcs,
        Env {
            timings,
            policies,
            service_plans,
            ids,
            faults,
        },
    )
}

fn play_due(
    w: &mut Windows365State,
    dir: &dyn DirectoryView,
    now: OffsetDateTime,
    cache: &mut Option<Wants>,
) {
    loop {
        let timer = w
            .cloud_pcs
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.engine.timer.filter(|t| *t <= now).map(|t| (t, i)))
            .min();
        let detection = w
            .detections
            .iter()
            .enumerate()
            .filter(|(_, d)| d.due <= now)
            .map(|(i, d)| (d.due, i))
            .min();
        let timer_first = match (timer, detection) {
            (None, None) => break,
            (Some((at, _)), Some((dt, _))) => at <= dt,
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        if let (true, Some((at, i))) = (timer_first, timer) {
            let frontline = w.cloud_pcs[i].product_type == ProductType::Frontline;
            let (pcs, mut env) = split(w);
            match fire(&mut pcs[i], Trigger::TimerElapsed, at, &mut env) {
                Ok(Fired::Removed) => {
                    pcs.remove(i);
                }
                Ok(Fired::Kept) => {}
                // A timer without a row cannot happen through the engine; drop it rather than loop.
                Err(_) => pcs[i].engine.timer = None,
            }
            if frontline {
                *cache = None;
            }
        } else if let Some((at, i)) = detection {
            detect(w, dir, i, at, cache);
        }
    }
}

fn new_record(
    w: &mut Windows365State,
    user: &UserSummary,
    plan_id: &str,
    at: OffsetDateTime,
) -> Option<CloudPc> {
    let plan = w
        .service_plans
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(plan_id))?
        .clone();
    let (product_type, provisioning_type) = match (plan.provisioning_type, plan.plan_type) {
        (PlanProvisioningType::Shared, _) => (ProductType::Frontline, ProvisioningType::Shared),
        (_, ServicePlanType::Business) => (ProductType::Business, ProvisioningType::Dedicated),
        (_, ServicePlanType::Enterprise) => (ProductType::Enterprise, ProvisioningType::Dedicated),
    };
    Some(CloudPc {
        id: w.ids.guid(),
        display_name: truncate(
            &format!("{} - {}", plan.display_name, user.display_name),
            64,
        ),
        managed_device_name: None,
        managed_device_id: None,
        aad_device_id: None,
        user_principal_name: user.user_principal_name.clone(),
        service_plan_id: plan.id.clone(),
        service_plan_name: plan.display_name.clone(),
        service_plan_type: plan.plan_type,
        provisioning_policy_id: None,
        provisioning_policy_name: None,
        on_premises_connection_name: String::new(),
        image_display_name: None,
        provisioning_type,
        grace_period_end_date_time: None,
        last_modified_date_time: at,
        status: CloudPcStatus::NotProvisioned,
        status_detail: None,
        provisioned_date_time: None,
        device_region_name: None,
        disk_encryption_state: None,
        os_version: None,
        user_account_type: None,
        power_state: PowerState::Unknown,
        product_type,
        allotment_display_name: None,
        connection_setting: None,
        last_login_result: None,
        last_remote_action_result: None,
        partner_agent_install_results: Vec::new(),
        user_experience_type: None,
        scope_ids: vec!["0".to_owned()],
        engine: EngineData {
            user_id: user.id.clone(),
            ..EngineData::default()
        },
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Points a record at the policy (and assignment) that will provision it.
pub(crate) fn target_record(
    w: &Windows365State,
    dir: &dyn DirectoryView,
    pc: &mut CloudPc,
    policy_id: &str,
    assignment_id: &str,
    allotment_display_name: Option<String>,
) {
    let Some(policy) = w
        .policies
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(policy_id))
    else {
        return;
    };
    let user_display = dir
        .user(&pc.engine.user_id)
        .map_or_else(|| pc.user_principal_name.clone(), |u| u.display_name);
    let local_admin = policy.local_admin_enabled
        || w.user_setting_for(dir, &pc.engine.user_id)
            .is_some_and(|s| s.local_admin_enabled);
    pc.display_name = truncate(&format!("{} - {}", policy.display_name, user_display), 64);
    pc.provisioning_policy_id = Some(policy.id.clone());
    pc.provisioning_policy_name = Some(policy.display_name.clone());
    pc.image_display_name = Some(policy.image_display_name.clone());
    pc.provisioning_type = policy.provisioning_type;
    pc.user_experience_type = policy.user_experience_type;
    pc.scope_ids = policy.scope_ids.clone();
    pc.on_premises_connection_name = if policy.is_hybrid() {
        policy
            .domain_join_configurations
            .iter()
            .find_map(|c| c.on_premises_connection_id.clone())
            .or_else(|| policy.on_premises_connection_id.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    pc.user_account_type = Some(if local_admin {
        UserAccountType::Administrator
    } else {
        UserAccountType::StandardUser
    });
    pc.engine.assignment_id = Some(assignment_id.to_owned());
    if policy.provisioning_type.is_frontline() {
        pc.allotment_display_name = allotment_display_name;
    }
}

fn detect(
    w: &mut Windows365State,
    dir: &dyn DirectoryView,
    index: usize,
    at: OffsetDateTime,
    cache: &mut Option<Wants>,
) {
    if cache.is_none() {
        *cache = Some(desired(w, dir, false));
    }
    let d = w.detections.remove(index);
    let want = cache
        .as_ref()
        .and_then(|c| c.get(&key(&d.user_id, &d.service_plan_id)))
        .cloned();
    let (Some(want), Some(user)) = (want, dir.user(&d.user_id)) else {
        return;
    };
    let existing = w.cloud_pcs.iter().position(|c| {
        c.engine.user_id.eq_ignore_ascii_case(&user.id) && c.covers_plan(&d.service_plan_id)
    });
    let index = match existing {
        Some(i) if w.cloud_pcs[i].status == CloudPcStatus::NotProvisioned => i,
        Some(_) => return,
        None => {
            let Some(pc) = new_record(w, &user, &d.service_plan_id, at) else {
                return;
            };
            w.cloud_pcs.push(pc);
            w.cloud_pcs.len() - 1
        }
    };
    match want {
        Want::LicensedOnly => w.cloud_pcs[index].status_detail = None,
        Want::NoSeat { reason } => w.cloud_pcs[index].status_detail = Some(no_seat_detail(&reason)),
        Want::Dedicated {
            policy_id,
            assignment_id,
        } => {
            let mut pc = w.cloud_pcs[index].clone();
            target_record(w, dir, &mut pc, &policy_id, &assignment_id, None);
            w.cloud_pcs[index] = pc;
            let (pcs, mut env) = split(w);
            // A notProvisioned record always accepts Detected.
            let _ = fire(&mut pcs[index], Trigger::Detected, at, &mut env);
        }
        Want::Frontline {
            policy_id,
            assignment_id,
            allotment_display_name,
        } => {
            let mut pc = w.cloud_pcs[index].clone();
            target_record(
                w,
                dir,
                &mut pc,
                &policy_id,
                &assignment_id,
                allotment_display_name,
            );
            w.cloud_pcs[index] = pc;
            let (pcs, mut env) = split(w);
            let _ = fire(&mut pcs[index], Trigger::Detected, at, &mut env);
            *cache = None;
        }
    }
}

fn reconcile(
    w: &mut Windows365State,
    dir: &dyn DirectoryView,
    now: OffsetDateTime,
    cache: &mut Option<Wants>,
) {
    // Scanning every user of a large tenant is costly: do it once per virtual instant. Licensed
    // users outside policy groups then show notProvisioned from the next instant on; everything
    // about reachable users is current at every tick.
    let full_scan = w.last_full_scan != Some(now);
    w.last_full_scan = Some(now);
    let wants = match cache.take() {
        Some(c) if !full_scan => c,
        _ => desired(w, dir, full_scan),
    };

    let mut i = 0;
    while i < w.cloud_pcs.len() {
        let pc = &w.cloud_pcs[i];
        if pc.engine.pooled {
            // Pooled Cloud PCs follow their assignment's allotment (`reconcile_pools`).
            i += 1;
            continue;
        }
        let want = wants.get(&key(&pc.engine.user_id, &pc.service_plan_id));
        let entitled = match want {
            Some(Want::Frontline { .. }) => pc.product_type == ProductType::Frontline,
            Some(Want::Dedicated { .. }) => pc.product_type != ProductType::Frontline,
            _ => false,
        };
        let trigger = match pc.status {
            CloudPcStatus::NotProvisioned => match want {
                None => Some(Trigger::ReasonGone),
                Some(Want::NoSeat { reason }) => {
                    let detail = no_seat_detail(reason);
                    w.cloud_pcs[i].status_detail = Some(detail);
                    None
                }
                Some(Want::LicensedOnly) => {
                    w.cloud_pcs[i].status_detail = None;
                    None
                }
                Some(_) => None,
            },
            CloudPcStatus::Provisioned
            | CloudPcStatus::ProvisionedWithWarnings
            | CloudPcStatus::Failed => (!entitled).then_some(Trigger::EntitlementLost),
            CloudPcStatus::InGracePeriod => entitled.then_some(Trigger::EntitlementRestored),
            CloudPcStatus::ResizePendingLicense => {
                let target = pc.engine.resize_target.clone().unwrap_or_default();
                dir.active_service_plans(&pc.engine.user_id)
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(&target))
                    .then_some(Trigger::TargetLicenseHeld)
            }
            _ => None,
        };
        if let Some(trigger) = trigger {
            let (pcs, mut env) = split(w);
            if let Ok(Fired::Removed) = fire(&mut pcs[i], trigger, now, &mut env) {
                pcs.remove(i);
                continue;
            }
        }
        i += 1;
    }

    // Detections: every wanted pair without a record (or with a notProvisioned record that is now
    // targeted) waits for the detection delay; pairs no longer wanted are forgotten.
    let delay = w.timings.detection_delay;
    let mut keep: Vec<Detection> = Vec::new();
    // Each user's records and detections by lowercased user id, in their order (the first match
    // wins, as a scan would find it): one pass each, not one scan per wanted pair.
    let pcs_of = positions_by_user(w.cloud_pcs.iter().map(|c| c.engine.user_id.as_str()));
    let detections_of = positions_by_user(w.detections.iter().map(|d| d.user_id.as_str()));
    for (k, want) in &wants {
        // Wanted keys are lowercased (`key`).
        let record = pcs_of
            .get(&k.0)
            .into_iter()
            .flatten()
            .map(|&i| &w.cloud_pcs[i])
            .find(|c| c.covers_plan(&k.1));
        let needed = match record {
            None => true,
            Some(c) => c.status == CloudPcStatus::NotProvisioned && want.targeted(),
        };
        if !needed {
            continue;
        }
        let seat = match want {
            Want::Frontline { assignment_id, .. } => Some(assignment_id.clone()),
            _ => None,
        };
        let existing = detections_of
            .get(&k.0)
            .into_iter()
            .flatten()
            .map(|&i| &w.detections[i])
            .find(|d| d.service_plan_id.eq_ignore_ascii_case(&k.1));
        let (user_id, plan_id, due) = match existing {
            Some(d) => (d.user_id.clone(), d.service_plan_id.clone(), d.due),
            None => {
                let Some(user) = dir.user(&k.0) else { continue };
                let plan = w
                    .service_plans
                    .iter()
                    .find(|p| p.id.eq_ignore_ascii_case(&k.1))
                    .map_or_else(|| k.1.clone(), |p| p.id.clone());
                (user.id, plan, now + delay)
            }
        };
        keep.push(Detection {
            user_id,
            service_plan_id: plan_id,
            due,
            assignment_id: seat,
        });
    }
    w.detections = keep;
}

/// The positions of each user's items, by lowercased user id, in order.
fn positions_by_user<'a>(users: impl Iterator<Item = &'a str>) -> BTreeMap<String, Vec<usize>> {
    let mut of: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, user) in users.enumerate() {
        of.entry(user.to_lowercase()).or_default().push(i);
    }
    of
}

/// How a seeded Cloud PC should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeededStatus {
    Provisioned,
    ProvisionedWithWarnings,
    Failed,
    /// Provisioned, then lost its licence or targeting at the given time.
    InGracePeriod {
        since: OffsetDateTime,
    },
}

/// Creates an existing Cloud PC for a seed by playing the real transitions: detected
/// `timings.provisioning` before `provisioned_at`, provisioned (or failed) at `provisioned_at`,
/// and for `InGracePeriod` the loss of entitlement at `since`. The user must exist; the policy must
/// exist and the plan must be in the catalog. Returns the Cloud PC id.
pub fn seed_cloud_pc(
    w: &mut Windows365State,
    dir: &dyn DirectoryView,
    user_id: &str,
    policy_id: &str,
    service_plan_id: &str,
    status: SeededStatus,
    provisioned_at: OffsetDateTime,
) -> Result<String, crate::state::windows365::Windows365Error> {
    use crate::state::windows365::{ForcedOutcome, OutcomeKind, Windows365Error};
    let user = dir
        .user(user_id)
        .ok_or_else(|| Windows365Error::invalid(format!("no user '{user_id}'")))?;
    let policy = w.provisioning_policy(policy_id)?.clone();
    let assignment = policy
        .assignments
        .iter()
        .find(|a| dir.is_direct_member(&a.group_id, &user.id))
        .or_else(|| policy.assignments.first())
        .cloned();
    let started = provisioned_at - w.timings.provisioning;
    let mut pc = new_record(w, &user, service_plan_id, started).ok_or_else(|| {
        Windows365Error::invalid(format!(
            "'{service_plan_id}' is not in the service plan catalog"
        ))
    })?;
    target_record(
        w,
        dir,
        &mut pc,
        &policy.id,
        &assignment
            .as_ref()
            .map_or_else(|| format!("{}_", policy.id), |a| a.id.clone()),
        assignment.and_then(|a| a.allotment_display_name),
    );
    w.cloud_pcs.push(pc);
    let index = w.cloud_pcs.len() - 1;
    let outcome = match status {
        SeededStatus::Provisioned | SeededStatus::InGracePeriod { .. } => OutcomeKind::Provisioned,
        SeededStatus::ProvisionedWithWarnings => OutcomeKind::ProvisionedWithWarnings,
        SeededStatus::Failed => OutcomeKind::Failed,
    };
    let saved = std::mem::take(&mut w.faults);
    w.faults.force_next(ForcedOutcome::new(outcome));
    let played = (|| {
        let (pcs, mut env) = split(w);
        fire(&mut pcs[index], Trigger::Detected, started, &mut env)?;
        fire(
            &mut pcs[index],
            Trigger::TimerElapsed,
            provisioned_at,
            &mut env,
        )?;
        if let SeededStatus::InGracePeriod { since } = status {
            fire(&mut pcs[index], Trigger::EntitlementLost, since, &mut env)?;
        }
        Ok(pcs[index].id.clone())
    })();
    w.faults = saved;
    if played.is_err() {
        w.cloud_pcs.remove(index);
    }
    played
}

#[cfg(test)]
pub(crate) mod fake_dir;
#[cfg(test)]
mod tests;
