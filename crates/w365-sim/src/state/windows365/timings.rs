//! How long each lifecycle step takes on the virtual clock.

use serde::{Deserialize, Serialize};
use time::Duration;

/// Durations of the Windows 365 lifecycle. Every value is configurable; serialized in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// From "licensed and targeted" (or "licensed only") becoming true until the service notices it.
    #[serde(with = "secs")]
    pub detection_delay: Duration,
    /// A first provisioning, from `provisioning` to its outcome.
    #[serde(with = "secs")]
    pub provisioning: Duration,
    /// A reprovision, from `provisioning` to its outcome.
    #[serde(with = "secs")]
    pub reprovision: Duration,
    /// `resizing` -> `provisioned`.
    #[serde(with = "secs")]
    pub resize: Duration,
    /// `restoring` -> back to the previous status.
    #[serde(with = "secs")]
    pub restore: Duration,
    /// `deprovisioning` -> the Cloud PC is gone.
    #[serde(with = "secs")]
    pub deprovisioning: Duration,
    /// `movingRegion` (policy `apply` with `region`) -> back.
    #[serde(with = "secs")]
    pub move_region: Duration,
    /// `updatingSingleSignOn` (policy `apply` with `singleSignOn`) -> back.
    #[serde(with = "secs")]
    pub single_sign_on: Duration,
    /// The grace period new policies get (`gracePeriodInHours`, read-only on the policy).
    pub grace_period_hours: u32,
}

impl Timings {
    /// Close to what a real tenant shows (reference §9: 30–60 min to provision, 7 days of grace).
    pub fn realistic() -> Self {
        Self {
            detection_delay: Duration::minutes(3),
            provisioning: Duration::minutes(45),
            reprovision: Duration::minutes(40),
            resize: Duration::minutes(30),
            restore: Duration::minutes(20),
            deprovisioning: Duration::minutes(15),
            move_region: Duration::minutes(60),
            single_sign_on: Duration::minutes(10),
            grace_period_hours: 168,
        }
    }

    /// Seconds instead of minutes, for the sandbox and tests. The grace period stays 168 hours
    /// (it is a policy property clients read).
    pub fn fast() -> Self {
        Self {
            detection_delay: Duration::seconds(2),
            provisioning: Duration::seconds(20),
            reprovision: Duration::seconds(15),
            resize: Duration::seconds(10),
            restore: Duration::seconds(10),
            deprovisioning: Duration::seconds(5),
            move_region: Duration::seconds(10),
            single_sign_on: Duration::seconds(5),
            grace_period_hours: 168,
        }
    }
}

impl Default for Timings {
    fn default() -> Self {
        Self::realistic()
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.whole_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = u32::deserialize(d)?;
        Ok(Duration::seconds(i64::from(secs)))
    }
}
