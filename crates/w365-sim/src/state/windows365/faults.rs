//! Forced provisioning outcomes: "the next provisioning of user X fails", "the next one ends with
//! warnings", or a seeded failure/warning rate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cloud_pc::{CloudPcStatus, KeyValuePair, StatusDetail};
use super::ids::IdGenerator;

/// How a provisioning ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OutcomeKind {
    Provisioned,
    ProvisionedWithWarnings,
    Failed,
}

impl OutcomeKind {
    pub fn status(self) -> CloudPcStatus {
        match self {
            Self::Provisioned => CloudPcStatus::Provisioned,
            Self::ProvisionedWithWarnings => CloudPcStatus::ProvisionedWithWarnings,
            Self::Failed => CloudPcStatus::Failed,
        }
    }
}

/// One forced outcome, optionally with the `statusDetail` code and message to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForcedOutcome {
    pub outcome: OutcomeKind,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl ForcedOutcome {
    pub fn new(outcome: OutcomeKind) -> Self {
        Self {
            outcome,
            code: None,
            message: None,
        }
    }

    /// The `statusDetail` this outcome leaves on the Cloud PC (`None` for a clean success).
    pub fn status_detail(&self) -> Option<StatusDetail> {
        let (code, message, retriable) = match self.outcome {
            OutcomeKind::Provisioned => return None,
            // Shape from the beta cloudPC doc example (reference §6.1).
            OutcomeKind::Failed => (
                "intuneEnrollFailed",
                "We can’t complete MEM enrollment. Please check your Intune enrollment restrictions and try again.",
                "true",
            ),
            // Code not documented; the simulator's own wording.
            OutcomeKind::ProvisionedWithWarnings => (
                "provisionedWithWarnings",
                "The Cloud PC was provisioned, but some post-provisioning configuration did not complete.",
                "false",
            ),
        };
        Some(StatusDetail {
            code: self.code.clone().unwrap_or_else(|| code.to_owned()),
            message: self.message.clone().unwrap_or_else(|| message.to_owned()),
            additional_information: vec![
                KeyValuePair {
                    name: "retriable".to_owned(),
                    value: retriable.to_owned(),
                },
                KeyValuePair {
                    name: "failedAction".to_owned(),
                    value: "Provision".to_owned(),
                },
            ],
        })
    }
}

/// Provisioning faults of one tenant. Checked in order: the user's own queue, the global queue,
/// then the seeded dice (`failure_rate`, then `warning_rate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningFaults {
    /// Keyed by lowercased user principal name or user object id.
    #[serde(default)]
    pub per_user: BTreeMap<String, Vec<ForcedOutcome>>,
    #[serde(default)]
    pub next: Vec<ForcedOutcome>,
    #[serde(default)]
    pub failure_rate: f64,
    #[serde(default)]
    pub warning_rate: f64,
    #[serde(default)]
    dice: IdGenerator,
}

impl Default for ProvisioningFaults {
    fn default() -> Self {
        Self {
            per_user: BTreeMap::new(),
            next: Vec::new(),
            failure_rate: 0.0,
            warning_rate: 0.0,
            dice: IdGenerator::new(1),
        }
    }
}

impl ProvisioningFaults {
    /// Queues an outcome for the next provisioning of one user (UPN or object id).
    pub fn force_for_user(&mut self, user: &str, outcome: ForcedOutcome) {
        self.per_user
            .entry(user.to_lowercase())
            .or_default()
            .push(outcome);
    }

    /// Queues an outcome for the next provisioning of anyone.
    pub fn force_next(&mut self, outcome: ForcedOutcome) {
        self.next.push(outcome);
    }

    /// Random failures and warnings, reproducible through `seed`.
    pub fn set_rates(&mut self, failure_rate: f64, warning_rate: f64, seed: u64) {
        self.failure_rate = failure_rate.clamp(0.0, 1.0);
        self.warning_rate = warning_rate.clamp(0.0, 1.0);
        self.dice = IdGenerator::new(seed);
    }

    /// Drops every queued outcome and rate.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The outcome of a provisioning that is ending now.
    pub(crate) fn take_outcome(
        &mut self,
        user_id: &str,
        user_principal_name: &str,
    ) -> ForcedOutcome {
        for key in [user_principal_name.to_lowercase(), user_id.to_lowercase()] {
            if let Some(queue) = self.per_user.get_mut(&key)
                && !queue.is_empty()
            {
                let o = queue.remove(0);
                if queue.is_empty() {
                    self.per_user.remove(&key);
                }
                return o;
            }
        }
        if !self.next.is_empty() {
            return self.next.remove(0);
        }
        if self.failure_rate > 0.0 || self.warning_rate > 0.0 {
            let roll = self.dice.unit();
            if roll < self.failure_rate {
                return ForcedOutcome::new(OutcomeKind::Failed);
            }
            if roll < self.failure_rate + self.warning_rate {
                return ForcedOutcome::new(OutcomeKind::ProvisionedWithWarnings);
            }
        }
        ForcedOutcome::new(OutcomeKind::Provisioned)
    }
}
