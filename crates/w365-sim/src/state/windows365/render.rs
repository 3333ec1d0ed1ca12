//! Graph JSON for Windows 365 objects: beta vs v1.0 property sets, `@odata.type`, and evolvable-enum
//! masking (`Prefer: include-unknown-enum-members`). The HTTP layer calls these and then applies
//! `$select`/`$filter`/paging on the result.

use serde_json::{Map, Value, json};

use super::FrontlinePlanCounts;
use super::catalog::{ServicePlan, SharedUseServicePlan};
use super::cloud_pc::CloudPc;
use super::policy::{PolicyAssignment, ProvisioningPolicy};
use super::user_settings::{UserSetting, UserSettingAssignment};

/// The Graph API version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    Beta,
}

/// How to render: the request's version and whether it sent `Prefer: include-unknown-enum-members`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Render {
    pub version: ApiVersion,
    pub include_unknown_enum_members: bool,
}

impl Render {
    pub fn beta(include_unknown_enum_members: bool) -> Self {
        Self {
            version: ApiVersion::Beta,
            include_unknown_enum_members,
        }
    }

    pub fn v1() -> Self {
        Self {
            version: ApiVersion::V1,
            include_unknown_enum_members: false,
        }
    }
}

/// The v1.0 `cloudPC` properties (v1.0 has no status, statusDetail, powerState, servicePlanType...).
const CLOUD_PC_V1: &[&str] = &[
    "id",
    "aadDeviceId",
    "displayName",
    "gracePeriodEndDateTime",
    "imageDisplayName",
    "lastModifiedDateTime",
    "managedDeviceId",
    "managedDeviceName",
    "onPremisesConnectionName",
    "provisioningPolicyId",
    "provisioningPolicyName",
    "provisioningType",
    "servicePlanId",
    "servicePlanName",
    "userPrincipalName",
];

const POLICY_V1: &[&str] = &[
    "id",
    "alternateResourceUrl",
    "autopatch",
    "cloudPcGroupDisplayName",
    "cloudPcNamingTemplate",
    "description",
    "displayName",
    "domainJoinConfigurations",
    "enableSingleSignOn",
    "gracePeriodInHours",
    "imageDisplayName",
    "imageId",
    "imageType",
    "localAdminEnabled",
    "microsoftManagedDesktop",
    "provisioningType",
    "windowsSetting",
];

const USER_SETTING_V1: &[&str] = &[
    "id",
    "displayName",
    "localAdminEnabled",
    "resetEnabled",
    "restorePointSetting",
    "createdDateTime",
    "lastModifiedDateTime",
];

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn keep_only(map: &mut Map<String, Value>, keep: &[&str]) {
    map.retain(|k, _| keep.contains(&k.as_str()));
}

fn with_type(mut map: Map<String, Value>, odata_type: &str) -> Value {
    map.insert(
        "@odata.type".to_owned(),
        Value::String(format!("#microsoft.graph.{odata_type}")),
    );
    Value::Object(map)
}

fn mask_provisioning_type(map: &mut Map<String, Value>, include_unknown: bool) {
    const AFTER_SENTINEL: &[&str] = &["sharedByUser", "sharedByEntraGroup", "reserve"];
    if include_unknown {
        return;
    }
    if let Some(Value::String(s)) = map.get_mut("provisioningType")
        && AFTER_SENTINEL.contains(&s.as_str())
    {
        *s = "unknownFutureValue".to_owned();
    }
}

/// A `cloudPC`.
pub fn cloud_pc(pc: &CloudPc, r: Render) -> Value {
    let mut map = object(serde_json::to_value(pc).unwrap_or_default());
    map.remove("_engine");
    if pc.engine.pooled {
        // A pooled (shared-mode Frontline) Cloud PC belongs to a group, not to a user.
        map.insert("userPrincipalName".to_owned(), Value::Null);
    }
    map.insert(
        "status".to_owned(),
        Value::String(pc.status.wire(r.include_unknown_enum_members).to_owned()),
    );
    mask_provisioning_type(&mut map, r.include_unknown_enum_members);
    match r.version {
        ApiVersion::V1 => keep_only(&mut map, CLOUD_PC_V1),
        // `statusDetails` is deprecated and stopped returning data (2024-08-31).
        ApiVersion::Beta => {
            map.insert("statusDetails".to_owned(), Value::Null);
        }
    }
    with_type(map, "cloudPC")
}

/// A provisioning policy assignment.
pub fn policy_assignment(a: &PolicyAssignment, r: Render) -> Value {
    let mut target = json!({
        "@odata.type": "#microsoft.graph.cloudPcManagementGroupAssignmentTarget",
        "groupId": a.group_id,
        "servicePlanId": a.service_plan_id,
    });
    if r.version == ApiVersion::Beta {
        target["allotmentDisplayName"] = json!(a.allotment_display_name);
        target["allotmentLicensesCount"] = json!(a.allotment_licenses_count);
    }
    json!({ "id": a.id, "target": target })
}

/// A `cloudPcProvisioningPolicy`; `assignments` only when expanded.
pub fn provisioning_policy(p: &ProvisioningPolicy, r: Render, expand_assignments: bool) -> Value {
    let mut map = object(serde_json::to_value(p).unwrap_or_default());
    map.remove("assignments");
    mask_provisioning_type(&mut map, r.include_unknown_enum_members);
    if r.version == ApiVersion::V1 {
        keep_only(&mut map, POLICY_V1);
    }
    if expand_assignments {
        let list = p
            .assignments
            .iter()
            .map(|a| policy_assignment(a, r))
            .collect();
        map.insert("assignments".to_owned(), Value::Array(list));
    }
    with_type(map, "cloudPcProvisioningPolicy")
}

/// A user settings assignment.
pub fn user_setting_assignment(a: &UserSettingAssignment) -> Value {
    json!({
        "id": a.id,
        "target": {
            "@odata.type": "#microsoft.graph.cloudPcManagementGroupAssignmentTarget",
            "groupId": a.group_id,
        }
    })
}

/// A `cloudPcUserSetting`; `assignments` only when expanded.
pub fn user_setting(s: &UserSetting, r: Render, expand_assignments: bool) -> Value {
    let mut map = object(serde_json::to_value(s).unwrap_or_default());
    map.remove("assignments");
    if r.version == ApiVersion::V1 {
        keep_only(&mut map, USER_SETTING_V1);
        if let Some(Value::Object(rps)) = map.get_mut("restorePointSetting") {
            rps.remove("frequencyInHours");
        }
    }
    if expand_assignments {
        let list = s.assignments.iter().map(user_setting_assignment).collect();
        map.insert("assignments".to_owned(), Value::Array(list));
    }
    with_type(map, "cloudPcUserSetting")
}

/// A catalog entry (`cloudPcServicePlan`).
pub fn service_plan(p: &ServicePlan) -> Value {
    with_type(
        object(serde_json::to_value(p).unwrap_or_default()),
        "cloudPcServicePlan",
    )
}

/// A `cloudPcFrontLineServicePlan`.
pub fn frontline_plan(p: &FrontlinePlanCounts) -> Value {
    with_type(
        object(serde_json::to_value(p).unwrap_or_default()),
        "cloudPcFrontLineServicePlan",
    )
}

/// A legacy `cloudPcSharedUseServicePlan`.
pub fn shared_use_service_plan(p: &SharedUseServicePlan) -> Value {
    with_type(
        object(serde_json::to_value(p).unwrap_or_default()),
        "cloudPcSharedUseServicePlan",
    )
}
