//! The declared Cloud PC transitions. Every status change of a Cloud PC goes through [`fire`], which
//! looks the (status, trigger) pair up in [`TRANSITIONS`]; a pair that is not in the table is
//! refused, which is also how actions learn that they "do not fit the current state".
//!
//! Records are born as `notProvisioned` (a licensed user without a policy, or without a free
//! Frontline seat) and receive [`Trigger::Detected`] at once when the user is licensed and targeted.

use time::{Duration, OffsetDateTime};

use crate::state::windows365::{
    CloudPc, CloudPcStatus, ConnectionSetting, ForcedOutcome, IdGenerator, NamingTemplate,
    OsVersion, PowerState, ProvisioningFaults, ProvisioningPolicy, ServicePlan, ServicePlanType,
    Timings, Windows365Error,
};

use CloudPcStatus::{
    Deprovisioning, Failed, InGracePeriod, MovingRegion, NotProvisioned, Provisioned,
    ProvisionedWithWarnings, Provisioning, ResizePendingLicense, Resizing, Restoring,
    UpdatingSingleSignOn,
};

/// What happened to a Cloud PC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The service noticed a licensed, targeted user (with a seat, for Frontline).
    Detected,
    /// The running step's timer ran out.
    TimerElapsed,
    /// The licence or the policy targeting is gone.
    EntitlementLost,
    /// Licence and targeting are back.
    EntitlementRestored,
    /// A `notProvisioned` record no longer has a reason to exist (licence gone / left the group).
    ReasonGone,
    /// The `endGracePeriod` action.
    EndGracePeriod,
    /// The `reprovision` action.
    Reprovision,
    /// The `resize` action when the user holds the target plan's licence.
    Resize,
    /// The `resize` action when the user does not (yet) hold the target plan's licence.
    ResizeAwaitingLicense,
    /// The target licence of a pending resize arrived.
    TargetLicenseHeld,
    /// The `restore` action.
    Restore,
    /// Policy `apply`/`applyConfig` with `region`.
    ApplyRegion,
    /// Policy `apply`/`applyConfig` with `singleSignOn`.
    ApplySingleSignOn,
}

impl Trigger {
    fn action_name(self) -> &'static str {
        match self {
            Self::Detected => "provisioning",
            Self::TimerElapsed => "completion",
            Self::EntitlementLost => "grace period",
            Self::EntitlementRestored => "restoring the licence",
            Self::ReasonGone => "removal",
            Self::EndGracePeriod => "endGracePeriod",
            Self::Reprovision => "reprovision",
            Self::Resize | Self::ResizeAwaitingLicense | Self::TargetLicenseHeld => "resize",
            Self::Restore => "restore",
            Self::ApplyRegion => "apply (region)",
            Self::ApplySingleSignOn => "apply (singleSignOn)",
        }
    }
}

/// Where a transition leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    To(CloudPcStatus),
    /// `provisioned`, `provisionedWithWarnings` or `failed`, as the faults decide.
    ProvisioningOutcome,
    /// Back to the status remembered when the temporary one began.
    Resume,
    /// The record disappears.
    Removed,
}

/// The timed step a transition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Provisioning,
    Reprovision,
    Resize,
    Restore,
    Deprovisioning,
    GracePeriod,
    MoveRegion,
    SingleSignOn,
}

/// Side effects on the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Clear device identity and details; a (re)provisioning starts.
    StartProvisioning,
    /// Fill device name and ids (success) or the failure detail.
    FinishProvisioning,
    /// Remember the status and set `gracePeriodEndDateTime`.
    StartGrace,
    /// Clear `gracePeriodEndDateTime`.
    EndGrace,
    /// Signed out, on the way out.
    Deprovision,
    /// Remember the status to resume.
    Remember,
    /// Move to the resize target plan.
    FinishResize,
    /// Land in the policy's region.
    FinishMoveRegion,
    /// Take the policy's single sign-on setting.
    FinishSingleSignOn,
}

/// One declared transition.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub from: &'static [CloudPcStatus],
    pub on: Trigger,
    pub to: Next,
    pub timer: Option<Step>,
    pub effect: Effect,
}

const fn t(
    from: &'static [CloudPcStatus],
    on: Trigger,
    to: Next,
    timer: Option<Step>,
    effect: Effect,
) -> Transition {
    Transition {
        from,
        on,
        to,
        timer,
        effect,
    }
}

const RUNNING: &[CloudPcStatus] = &[Provisioned, ProvisionedWithWarnings];

/// Statuses in which a Cloud PC is usable and accepts remote actions that do not change its status
/// (reboot, troubleshoot, powerOn, powerOff).
pub const OPERABLE: &[CloudPcStatus] = RUNNING;

/// Statuses in which a Cloud PC can be renamed (it exists and is not on its way out).
pub const RENAMABLE: &[CloudPcStatus] = &[
    Provisioning,
    Provisioned,
    ProvisionedWithWarnings,
    Failed,
    InGracePeriod,
    Resizing,
    Restoring,
    ResizePendingLicense,
    MovingRegion,
    UpdatingSingleSignOn,
];

/// The whole Cloud PC lifecycle (reference §9), one row per (from, trigger).
pub const TRANSITIONS: &[Transition] = &[
    t(
        &[NotProvisioned],
        Trigger::Detected,
        Next::To(Provisioning),
        Some(Step::Provisioning),
        Effect::StartProvisioning,
    ),
    t(
        &[NotProvisioned],
        Trigger::ReasonGone,
        Next::Removed,
        None,
        Effect::None,
    ),
    t(
        &[Provisioning],
        Trigger::TimerElapsed,
        Next::ProvisioningOutcome,
        None,
        Effect::FinishProvisioning,
    ),
    t(
        RUNNING,
        Trigger::EntitlementLost,
        Next::To(InGracePeriod),
        Some(Step::GracePeriod),
        Effect::StartGrace,
    ),
    t(
        &[Failed],
        Trigger::EntitlementLost,
        Next::To(Deprovisioning),
        Some(Step::Deprovisioning),
        Effect::Deprovision,
    ),
    t(
        &[InGracePeriod],
        Trigger::EntitlementRestored,
        Next::Resume,
        None,
        Effect::EndGrace,
    ),
    t(
        &[InGracePeriod],
        Trigger::TimerElapsed,
        Next::To(Deprovisioning),
        Some(Step::Deprovisioning),
        Effect::Deprovision,
    ),
    t(
        &[InGracePeriod],
        Trigger::EndGracePeriod,
        Next::To(Deprovisioning),
        Some(Step::Deprovisioning),
        Effect::Deprovision,
    ),
    t(
        &[Deprovisioning],
        Trigger::TimerElapsed,
        Next::Removed,
        None,
        Effect::None,
    ),
    t(
        &[Provisioned, ProvisionedWithWarnings, Failed],
        Trigger::Reprovision,
        Next::To(Provisioning),
        Some(Step::Reprovision),
        Effect::StartProvisioning,
    ),
    t(
        RUNNING,
        Trigger::Resize,
        Next::To(Resizing),
        Some(Step::Resize),
        Effect::Remember,
    ),
    t(
        RUNNING,
        Trigger::ResizeAwaitingLicense,
        Next::To(ResizePendingLicense),
        None,
        Effect::Remember,
    ),
    t(
        &[ResizePendingLicense],
        Trigger::TargetLicenseHeld,
        Next::To(Resizing),
        Some(Step::Resize),
        Effect::None,
    ),
    t(
        &[Resizing],
        Trigger::TimerElapsed,
        Next::To(Provisioned),
        None,
        Effect::FinishResize,
    ),
    t(
        RUNNING,
        Trigger::Restore,
        Next::To(Restoring),
        Some(Step::Restore),
        Effect::Remember,
    ),
    t(
        &[Restoring],
        Trigger::TimerElapsed,
        Next::Resume,
        None,
        Effect::None,
    ),
    t(
        RUNNING,
        Trigger::ApplyRegion,
        Next::To(MovingRegion),
        Some(Step::MoveRegion),
        Effect::Remember,
    ),
    t(
        &[MovingRegion],
        Trigger::TimerElapsed,
        Next::Resume,
        None,
        Effect::FinishMoveRegion,
    ),
    t(
        RUNNING,
        Trigger::ApplySingleSignOn,
        Next::To(UpdatingSingleSignOn),
        Some(Step::SingleSignOn),
        Effect::Remember,
    ),
    t(
        &[UpdatingSingleSignOn],
        Trigger::TimerElapsed,
        Next::Resume,
        None,
        Effect::FinishSingleSignOn,
    ),
];

/// The row for a status and trigger.
pub fn find(status: CloudPcStatus, on: Trigger) -> Option<&'static Transition> {
    TRANSITIONS
        .iter()
        .find(|t| t.on == on && t.from.contains(&status))
}

/// Whether the trigger would be accepted now.
pub fn allows(status: CloudPcStatus, on: Trigger) -> bool {
    find(status, on).is_some()
}

/// The error an action gets when its trigger has no row for the Cloud PC's status: 409 while a
/// timed step is running, 400 otherwise, naming the statuses that would have worked.
pub fn refusal(pc: &CloudPc, on: Trigger) -> Windows365Error {
    let allowed: Vec<&str> = TRANSITIONS
        .iter()
        .filter(|t| t.on == on)
        .flat_map(|t| t.from.iter().map(|s| s.as_str()))
        .collect();
    let message = format!(
        "{} is not possible for Cloud PC '{}' in status '{}'; it needs status {}",
        on.action_name(),
        pc.id,
        pc.status.as_str(),
        allowed.join(" or ")
    );
    if pc.engine.timer.is_some() && pc.status != InGracePeriod {
        Windows365Error::Conflict { message }
    } else {
        Windows365Error::InvalidState { message }
    }
}

/// What [`fire`] needs besides the record.
pub(crate) struct Env<'a> {
    pub timings: &'a Timings,
    pub policies: &'a [ProvisioningPolicy],
    pub service_plans: &'a [ServicePlan],
    pub ids: &'a mut IdGenerator,
    pub faults: &'a mut ProvisioningFaults,
}

/// Whether the record survived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fired {
    Kept,
    Removed,
}

fn policy_of<'a>(pc: &CloudPc, env: &Env<'a>) -> Option<&'a ProvisioningPolicy> {
    let id = pc.provisioning_policy_id.as_deref()?;
    env.policies.iter().find(|p| p.id.eq_ignore_ascii_case(id))
}

fn step_duration(step: Step, pc: &CloudPc, env: &Env<'_>) -> Duration {
    let t = env.timings;
    match step {
        Step::Provisioning => t.provisioning,
        Step::Reprovision => t.reprovision,
        Step::Resize => t.resize,
        Step::Restore => t.restore,
        Step::Deprovisioning => t.deprovisioning,
        Step::MoveRegion => t.move_region,
        Step::SingleSignOn => t.single_sign_on,
        Step::GracePeriod => {
            let hours =
                policy_of(pc, env).map_or(t.grace_period_hours, |p| p.grace_period_in_hours);
            Duration::hours(i64::from(hours))
        }
    }
}

fn os_from_image(image_id: &str) -> Option<OsVersion> {
    let lower = image_id.to_lowercase();
    if lower.contains("win10") || lower.contains("windows-10") {
        Some(OsVersion::Windows10)
    } else if lower.contains("win11") || lower.contains("windows-11") {
        Some(OsVersion::Windows11)
    } else {
        None
    }
}

fn finish_provisioning(
    pc: &mut CloudPc,
    outcome: &ForcedOutcome,
    at: OffsetDateTime,
    env: &mut Env<'_>,
) {
    let options = pc.engine.reprovision.take().unwrap_or_default();
    pc.status_detail = outcome.status_detail();
    if outcome.outcome.status() == Failed {
        pc.managed_device_name = None;
        pc.managed_device_id = None;
        pc.aad_device_id = None;
        pc.power_state = PowerState::Unknown;
        return;
    }
    let policy = policy_of(pc, env);
    let template = policy.map_or_else(
        || {
            NamingTemplate::parse(crate::state::windows365::DEFAULT_TEMPLATE)
                .expect("default template is valid")
        },
        ProvisioningPolicy::naming_template,
    );
    pc.managed_device_name = Some(template.render(&pc.user_principal_name, env.ids));
    pc.aad_device_id = Some(env.ids.guid());
    pc.managed_device_id =
        (pc.service_plan_type != ServicePlanType::Business).then(|| env.ids.guid());
    pc.provisioned_date_time = Some(at);
    pc.power_state = PowerState::Running;
    pc.disk_encryption_state = Some("encryptedUsingPlatformManagedKey".to_owned());
    if let Some(p) = policy {
        pc.os_version = options.os_version.or_else(|| os_from_image(&p.image_id));
        pc.device_region_name = Some(p.region_name());
        pc.connection_setting = Some(ConnectionSetting {
            enable_single_sign_on: p.enable_single_sign_on,
        });
        pc.image_display_name = Some(p.image_display_name.clone());
    } else if let Some(os) = options.os_version {
        pc.os_version = Some(os);
    }
    if let Some(account) = options.user_account_type {
        pc.user_account_type = Some(account);
    }
}

fn apply_effect(effect: Effect, pc: &mut CloudPc, at: OffsetDateTime, env: &mut Env<'_>) {
    match effect {
        Effect::None | Effect::FinishProvisioning => {}
        Effect::StartProvisioning => {
            pc.status_detail = None;
            pc.managed_device_name = None;
            pc.managed_device_id = None;
            pc.aad_device_id = None;
            pc.provisioned_date_time = None;
            pc.grace_period_end_date_time = None;
            pc.disk_encryption_state = None;
            pc.power_state = PowerState::Unknown;
        }
        Effect::StartGrace => {
            pc.engine.resume = Some(pc.status);
            pc.grace_period_end_date_time = Some(at + step_duration(Step::GracePeriod, pc, env));
        }
        Effect::EndGrace => pc.grace_period_end_date_time = None,
        Effect::Deprovision => {
            pc.grace_period_end_date_time = None;
            pc.engine.resume = None;
            pc.power_state = PowerState::PoweredOff;
        }
        Effect::Remember => pc.engine.resume = Some(pc.status),
        Effect::FinishResize => {
            pc.engine.resume = None;
            pc.status_detail = None;
            if let Some(target) = pc.engine.resize_target.take() {
                if let Some(plan) = env
                    .service_plans
                    .iter()
                    .find(|p| p.id.eq_ignore_ascii_case(&target))
                {
                    pc.service_plan_name = plan.display_name.clone();
                    pc.service_plan_type = plan.plan_type;
                }
                pc.service_plan_id = target;
            }
        }
        Effect::FinishMoveRegion => {
            if let Some(p) = policy_of(pc, env) {
                pc.device_region_name = Some(p.region_name());
            }
        }
        Effect::FinishSingleSignOn => {
            if let Some(p) = policy_of(pc, env) {
                pc.connection_setting = Some(ConnectionSetting {
                    enable_single_sign_on: p.enable_single_sign_on,
                });
            }
        }
    }
}

/// Plays `on` on the record at time `at`, or refuses it.
pub(crate) fn fire(
    pc: &mut CloudPc,
    on: Trigger,
    at: OffsetDateTime,
    env: &mut Env<'_>,
) -> Result<Fired, Windows365Error> {
    let Some(row) = find(pc.status, on) else {
        return Err(refusal(pc, on));
    };
    let next = match row.to {
        Next::Removed => return Ok(Fired::Removed),
        Next::To(s) => s,
        Next::Resume => pc.engine.resume.take().unwrap_or(Provisioned),
        Next::ProvisioningOutcome => {
            let outcome = env
                .faults
                .take_outcome(&pc.engine.user_id, &pc.user_principal_name);
            finish_provisioning(pc, &outcome, at, env);
            outcome.outcome.status()
        }
    };
    apply_effect(row.effect, pc, at, env);
    pc.engine.timer = row.timer.map(|step| at + step_duration(step, pc, env));
    pc.status = next;
    pc.last_modified_date_time = at;
    Ok(Fired::Kept)
}
