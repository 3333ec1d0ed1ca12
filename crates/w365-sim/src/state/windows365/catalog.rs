//! Service plans: the Windows 365 catalog (`servicePlans`), the tenant's Frontline plans
//! (`frontLineServicePlans`) and the legacy `sharedUseServicePlans`.

use serde::{Deserialize, Serialize};

/// `cloudPcServicePlanType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ServicePlanType {
    Enterprise,
    Business,
}

/// How a plan's licences are consumed (`cloudPcProvisioningType` of a service plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlanProvisioningType {
    /// One licence, one user, one Cloud PC (Enterprise and Business).
    Dedicated,
    /// Frontline: seats bound through a shared policy's assignment.
    Shared,
}

/// One entry of `GET /deviceManagement/virtualEndpoint/servicePlans` (`cloudPcServicePlan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    /// The service plan GUID (what `cloudPC.servicePlanId` holds, not the SKU id).
    pub id: String,
    pub display_name: String,
    #[serde(rename = "type")]
    pub plan_type: ServicePlanType,
    pub v_cpu_count: u32,
    #[serde(rename = "ramInGB")]
    pub ram_in_gb: u32,
    #[serde(rename = "storageInGB")]
    pub storage_in_gb: u32,
    #[serde(rename = "userProfileInGB")]
    pub user_profile_in_gb: u32,
    pub provisioning_type: PlanProvisioningType,
    pub supported_solution: String,
}

/// A Frontline plan the tenant bought (`cloudPcFrontLineServicePlan`). `usedCount` and
/// `allotmentLicensesCount` are computed from the Cloud PCs and assignments, not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontlinePlan {
    /// The Frontline service plan GUID (e.g. CPC_S_2C_8GB_128GB).
    pub id: String,
    /// e.g. "2vCPU/8GB/128GB Front-line".
    pub display_name: String,
    /// Seats bought.
    pub total_count: u32,
}

/// The legacy `cloudPcSharedUseServicePlan`. Graph stopped returning data on 2024-04-24, so the
/// default list is empty; a seed may fill it to emulate an older tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedUseServicePlan {
    pub id: String,
    pub display_name: String,
    pub total_count: u32,
    pub used_count: u32,
}

/// Well-known service plan ids (licensing service-plan reference, reference §4.1).
pub mod plan_ids {
    pub const ENTERPRISE_1C_2GB_64GB: &str = "86d70dbb-d4c6-4662-ba17-3014204cbb28";
    pub const ENTERPRISE_2C_4GB_64GB: &str = "23a25099-1b2f-4e07-84bd-b84606109438";
    /// `CPC_1`, in SKU CPC_E_2C_4GB_128GB.
    pub const ENTERPRISE_2C_4GB_128GB: &str = "545e3611-3af8-49a5-9a0a-b7867968f4b0";
    pub const ENTERPRISE_2C_4GB_256GB: &str = "0d143570-9b92-4f57-adb5-e4efcd23b3bb";
    /// `CPC_2`, in SKU CPC_E_2C_8GB_128GB.
    pub const ENTERPRISE_2C_8GB_128GB: &str = "3efff3fe-528a-4fc5-b1ba-845802cc764f";
    pub const ENTERPRISE_2C_8GB_256GB: &str = "d3468c8c-3545-4f44-a32f-b465934d2498";
    pub const ENTERPRISE_4C_16GB_128GB: &str = "2de9c682-ca3f-4f2b-b360-dfc4775db133";
    pub const ENTERPRISE_4C_16GB_256GB: &str = "9ecf691d-8b82-46cb-b254-cd061b2c02fb";
    pub const ENTERPRISE_4C_16GB_512GB: &str = "3bba9856-7cf2-4396-904a-00de74fba3a4";
    pub const ENTERPRISE_8C_32GB_128GB: &str = "2f3cdb12-bcde-4e37-8529-e9e09ec09e23";
    pub const ENTERPRISE_8C_32GB_256GB: &str = "69dc175c-dcff-4757-8389-d19e76acb45d";
    pub const ENTERPRISE_8C_32GB_512GB: &str = "0e837228-8250-4047-8a80-d4a34ba11658";
    pub const BUSINESS_2C_4GB_128GB: &str = "1a13832e-cd79-497d-be76-24186f55c8b0";
    /// `CPC_S_2C_8GB_128GB` (Frontline).
    pub const FRONTLINE_2C_8GB_128GB: &str = "057efbfe-a95d-4263-acb0-12b4a31fed8d";
    /// `CPC_S_2C_4GB_128GB` (Frontline).
    pub const FRONTLINE_2C_4GB_128GB: &str = "51855c77-4d2e-4736-be67-6dca605f2b57";
}

fn plan(
    id: &str,
    plan_type: ServicePlanType,
    provisioning_type: PlanProvisioningType,
    cpu: u32,
    ram: u32,
    storage: u32,
) -> ServicePlan {
    let family = match (plan_type, provisioning_type) {
        (_, PlanProvisioningType::Shared) => "Frontline",
        (ServicePlanType::Enterprise, _) => "Enterprise",
        (ServicePlanType::Business, _) => "Business",
    };
    ServicePlan {
        id: id.to_owned(),
        display_name: format!("Cloud PC {family} {cpu}vCPU/{ram}GB/{storage}GB"),
        plan_type,
        v_cpu_count: cpu,
        ram_in_gb: ram,
        storage_in_gb: storage,
        user_profile_in_gb: 0,
        provisioning_type,
        supported_solution: "windows365".to_owned(),
    }
}

/// The Windows 365 service-plan catalog (the plans of reference §4.1).
pub fn default_catalog() -> Vec<ServicePlan> {
    use PlanProvisioningType::{Dedicated, Shared};
    use ServicePlanType::{Business, Enterprise};
    use plan_ids::*;
    vec![
        plan(ENTERPRISE_1C_2GB_64GB, Enterprise, Dedicated, 1, 2, 64),
        plan(ENTERPRISE_2C_4GB_64GB, Enterprise, Dedicated, 2, 4, 64),
        plan(ENTERPRISE_2C_4GB_128GB, Enterprise, Dedicated, 2, 4, 128),
        plan(ENTERPRISE_2C_4GB_256GB, Enterprise, Dedicated, 2, 4, 256),
        plan(ENTERPRISE_2C_8GB_128GB, Enterprise, Dedicated, 2, 8, 128),
        plan(ENTERPRISE_2C_8GB_256GB, Enterprise, Dedicated, 2, 8, 256),
        plan(ENTERPRISE_4C_16GB_128GB, Enterprise, Dedicated, 4, 16, 128),
        plan(ENTERPRISE_4C_16GB_256GB, Enterprise, Dedicated, 4, 16, 256),
        plan(ENTERPRISE_4C_16GB_512GB, Enterprise, Dedicated, 4, 16, 512),
        plan(ENTERPRISE_8C_32GB_128GB, Enterprise, Dedicated, 8, 32, 128),
        plan(ENTERPRISE_8C_32GB_256GB, Enterprise, Dedicated, 8, 32, 256),
        plan(ENTERPRISE_8C_32GB_512GB, Enterprise, Dedicated, 8, 32, 512),
        plan(BUSINESS_2C_4GB_128GB, Business, Dedicated, 2, 4, 128),
        plan(FRONTLINE_2C_8GB_128GB, Enterprise, Shared, 2, 8, 128),
        plan(FRONTLINE_2C_4GB_128GB, Enterprise, Shared, 2, 4, 128),
    ]
}

/// The display name Graph gives a Frontline plan, e.g. "2vCPU/8GB/128GB Front-line".
pub fn frontline_display_name(plan: &ServicePlan) -> String {
    format!(
        "{}vCPU/{}GB/{}GB Front-line",
        plan.v_cpu_count, plan.ram_in_gb, plan.storage_in_gb
    )
}
