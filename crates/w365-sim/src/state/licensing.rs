//! Subscribed SKUs and group-based licensing.
//!
//! A member added to a group that carries `assignedLicenses` gets the group's products after the
//! tenant's license processing delay, if every product has a free unit (`consumedUnits <
//! prepaidUnits.enabled`); otherwise the user gets `state: Error, error: CountViolation` entries
//! for the group's products and nothing is consumed (all-or-nothing per group, as Entra ID does).
//! Leaving the group frees the unit, unless another assignment of the same SKU keeps it.
//! A user consumes one unit per SKU however many groups assign it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `{skuId, disabledPlans}` as on users and groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    pub sku_id: String,
    #[serde(default)]
    pub disabled_plans: Vec<String>,
}

/// One entry of a user's `licenseAssignmentStates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseAssignmentState {
    pub sku_id: String,
    #[serde(default)]
    pub disabled_plans: Vec<String>,
    /// The assigning group, `None` for a direct assignment.
    pub assigned_by_group: Option<String>,
    /// `Active`, `ActiveWithError`, `Disabled` or `Error`.
    pub state: String,
    /// `None`, `CountViolation`, ...
    pub error: String,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_updated_date_time: Option<OffsetDateTime>,
}

/// `{state}` of a group's license processing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseProcessingState {
    /// `QueuedForProcessing`, `ProcessingInProgress` or `ProcessingComplete`.
    pub state: String,
}

impl LicenseProcessingState {
    pub fn new(state: &str) -> Self {
        Self {
            state: state.to_owned(),
        }
    }
}

/// A service plan inside a SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlanInfo {
    pub service_plan_id: String,
    pub service_plan_name: String,
    #[serde(default = "success")]
    pub provisioning_status: String,
    #[serde(default = "user")]
    pub applies_to: String,
}

fn success() -> String {
    "Success".to_owned()
}

fn user() -> String {
    "User".to_owned()
}

fn enabled() -> String {
    "Enabled".to_owned()
}

/// `prepaidUnits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrepaidUnits {
    pub enabled: u32,
    #[serde(default)]
    pub suspended: u32,
    #[serde(default)]
    pub warning: u32,
    #[serde(default)]
    pub locked_out: u32,
}

/// A subscribed SKU of the tenant. `consumedUnits` is maintained by the licensing engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku {
    pub sku_id: String,
    pub sku_part_number: String,
    #[serde(default = "user")]
    pub applies_to: String,
    #[serde(default = "enabled")]
    pub capability_status: String,
    pub prepaid_units: PrepaidUnits,
    #[serde(default)]
    pub consumed_units: u32,
    #[serde(default)]
    pub subscription_ids: Vec<String>,
    pub service_plans: Vec<ServicePlanInfo>,
}

impl SubscribedSku {
    /// Units that can still be assigned.
    pub fn available_units(&self) -> u32 {
        self.prepaid_units
            .enabled
            .saturating_sub(self.consumed_units)
    }
}

/// A known product: part number, SKU id and service plans (reference §4.1).
#[derive(Debug, Clone, Copy)]
pub struct CatalogEntry {
    pub sku_part_number: &'static str,
    pub sku_id: &'static str,
    pub service_plans: &'static [(&'static str, &'static str)],
}

const EXCHANGE_FOUNDATION: (&str, &str) = (
    "113feb6c-3fe4-4440-bddc-54d774bf0318",
    "EXCHANGE_S_FOUNDATION",
);

/// Windows 365 SKUs from the official licensing reference (service plan ids and names).
pub const WINDOWS_365_CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        sku_part_number: "CPC_E_1C_2GB_64GB",
        sku_id: "0c278af4-c9c1-45de-9f4b-cd929e747a2c",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            ("86d70dbb-d4c6-4662-ba17-3014204cbb28", "CPC_E_1C_2GB_64GB"),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_2C_4GB_64GB",
        sku_id: "7bb14422-3b90-4389-a7be-f1b745fc037f",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            ("23a25099-1b2f-4e07-84bd-b84606109438", "CPC_E_2C_4GB_64GB"),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_2C_4GB_128GB",
        sku_id: "226ca751-f0a4-4232-9be5-73c02a92555e",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            ("545e3611-3af8-49a5-9a0a-b7867968f4b0", "CPC_1"),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_2C_4GB_256GB",
        sku_id: "5265a84e-8def-4fa2-ab4b-5dc278df5025",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            ("0d143570-9b92-4f57-adb5-e4efcd23b3bb", "CPC_E_2C_4GB_256GB"),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_2C_8GB_128GB",
        sku_id: "e2aebe6c-897d-480f-9d62-fff1381581f7",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            ("3efff3fe-528a-4fc5-b1ba-845802cc764f", "CPC_2"),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_2C_8GB_256GB",
        sku_id: "1c79494f-e170-431f-a409-428f6053fa35",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            ("d3468c8c-3545-4f44-a32f-b465934d2498", "CPC_E_2C_8GB_256GB"),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_4C_16GB_128GB",
        sku_id: "d201f153-d3b2-4057-be2f-fe25c8983e6f",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            (
                "2de9c682-ca3f-4f2b-b360-dfc4775db133",
                "CPC_E_4C_16GB_128GB",
            ),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_4C_16GB_256GB",
        sku_id: "96d2951e-cb42-4481-9d6d-cad3baac177e",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            (
                "9ecf691d-8b82-46cb-b254-cd061b2c02fb",
                "CPC_E_4C_16GB_256GB",
            ),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_4C_16GB_512GB",
        sku_id: "0da63026-e422-4390-89e8-b14520d7e699",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            (
                "3bba9856-7cf2-4396-904a-00de74fba3a4",
                "CPC_E_4C_16GB_512GB",
            ),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_8C_32GB_128GB",
        sku_id: "c97d00e4-0c4c-4ec2-a016-9448c65de986",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            (
                "2f3cdb12-bcde-4e37-8529-e9e09ec09e23",
                "CPC_E_8C_32GB_128GB",
            ),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_8C_32GB_256GB",
        sku_id: "7818ca3e-73c8-4e49-bc34-1276a2d27918",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            (
                "69dc175c-dcff-4757-8389-d19e76acb45d",
                "CPC_E_8C_32GB_256GB",
            ),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_E_8C_32GB_512GB",
        sku_id: "9fb0ba5f-4825-4e84-b239-5167a3a5d4dc",
        service_plans: &[
            EXCHANGE_FOUNDATION,
            (
                "0e837228-8250-4047-8a80-d4a34ba11658",
                "CPC_E_8C_32GB_512GB",
            ),
        ],
    },
    CatalogEntry {
        sku_part_number: "CPC_B_2C_4RAM_128GB",
        sku_id: "135bee78-485b-4181-ad6e-40286e311850",
        service_plans: &[(
            "1a13832e-cd79-497d-be76-24186f55c8b0",
            "CPC_B_2C_4RAM_128GB",
        )],
    },
    CatalogEntry {
        sku_part_number: "Windows_365_S_2vCPU_8GB_128GB",
        sku_id: "2d21fc84-b918-491e-ad84-e24d61ccec94",
        service_plans: &[("057efbfe-a95d-4263-acb0-12b4a31fed8d", "CPC_S_2C_8GB_128GB")],
    },
    CatalogEntry {
        sku_part_number: "Windows_365_S_2vCPU_4GB_128GB",
        sku_id: "90369797-7141-4e75-8f5e-d13f4b6092c1",
        service_plans: &[("51855c77-4d2e-4736-be67-6dca605f2b57", "CPC_S_2C_4GB_128GB")],
    },
];

/// The catalog entry for a SKU part number (case-insensitive).
pub fn catalog_entry(sku_part_number: &str) -> Option<&'static CatalogEntry> {
    WINDOWS_365_CATALOG
        .iter()
        .find(|e| e.sku_part_number.eq_ignore_ascii_case(sku_part_number))
}

impl SubscribedSku {
    /// A subscribed SKU built from the catalog.
    pub fn from_catalog(
        entry: &CatalogEntry,
        prepaid_enabled: u32,
        subscription_id: String,
    ) -> Self {
        Self {
            sku_id: entry.sku_id.to_owned(),
            sku_part_number: entry.sku_part_number.to_owned(),
            applies_to: user(),
            capability_status: enabled(),
            prepaid_units: PrepaidUnits {
                enabled: prepaid_enabled,
                ..PrepaidUnits::default()
            },
            consumed_units: 0,
            subscription_ids: vec![subscription_id],
            service_plans: entry
                .service_plans
                .iter()
                .map(|(id, name)| ServicePlanInfo {
                    service_plan_id: (*id).to_owned(),
                    service_plan_name: (*name).to_owned(),
                    provisioning_status: success(),
                    applies_to: if *name == "EXCHANGE_S_FOUNDATION" {
                        "Company".to_owned()
                    } else {
                        user()
                    },
                })
                .collect(),
        }
    }
}

/// A pending group-license processing job for one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseJob {
    pub group_id: String,
    pub user_id: String,
    /// `true`: the user joined the group; `false`: the user left it.
    pub add: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub queued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub due: OffsetDateTime,
}

/// The tenant's subscriptions and the queue of the group-licensing engine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Licensing {
    pub skus: Vec<SubscribedSku>,
    /// Jobs in `due` order.
    #[serde(default)]
    pub jobs: Vec<LicenseJob>,
}

impl Licensing {
    /// A SKU by skuId (case-insensitive).
    pub fn sku(&self, sku_id: &str) -> Option<&SubscribedSku> {
        self.skus
            .iter()
            .find(|s| s.sku_id.eq_ignore_ascii_case(sku_id))
    }

    pub(crate) fn sku_mut(&mut self, sku_id: &str) -> Option<&mut SubscribedSku> {
        self.skus
            .iter_mut()
            .find(|s| s.sku_id.eq_ignore_ascii_case(sku_id))
    }

    /// Queues a job, keeping `due` order.
    pub(crate) fn enqueue(&mut self, job: LicenseJob) {
        let at = self.jobs.partition_point(|j| j.due <= job.due);
        self.jobs.insert(at, job);
    }

    /// The earliest licensing step strictly after `after` (stepping through time: a job's midpoint
    /// stays in [`Self::next_due`] until the job completes).
    pub fn next_due_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        self.jobs
            .iter()
            .flat_map(|j| [j.queued_at + (j.due - j.queued_at) / 2, j.due])
            .filter(|d| *d > after)
            .min()
    }

    /// When the next job is due or a group changes processing state (may be in the past).
    pub fn next_due(&self) -> Option<OffsetDateTime> {
        self.jobs
            .iter()
            .map(|j| j.queued_at + (j.due - j.queued_at) / 2)
            .chain(self.jobs.first().map(|j| j.due))
            .min()
    }
}
