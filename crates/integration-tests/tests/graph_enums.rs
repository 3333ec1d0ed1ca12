//! Evolvable enums: the client asks for members after `unknownFutureValue`
//! (`Prefer: include-unknown-enum-members`) on Windows 365 calls and keeps them.

use crate::common;

use w365_graph::models::{ImageType, ProvisioningPolicy, ProvisioningType};
use w365_graph::{ApiVersion, GraphPath, Query};

#[tokio::test]
async fn enum_members_after_the_sentinel_are_asked_for_and_kept() {
    let sim = common::start().await;
    let client = common::admin_client(&sim);
    let name = "bench - shared by user";
    let policy = ProvisioningPolicy {
        display_name: name.to_owned(),
        image_id: Some(
            "microsoftwindowsdesktop_windows-ent-cpc_win11-24H2-ent-cpc-m365".to_owned(),
        ),
        image_display_name: Some("Windows 11 Enterprise 24H2".to_owned()),
        image_type: Some(ImageType::Gallery),
        provisioning_type: Some(ProvisioningType::SharedByUser),
        ..ProvisioningPolicy::default()
    };

    let created = client
        .provisioning_policies()
        .create(&policy)
        .await
        .expect("create policy");
    let found = client
        .provisioning_policies()
        .find_by_display_name(name)
        .await
        .expect("find policy");
    // The same resource read without the Prefer header shows Graph's masking.
    let id = created.id.clone().expect("a created policy has an id");
    let masked: serde_json::Value = client
        .get(
            ApiVersion::Beta,
            &GraphPath::new([
                "deviceManagement",
                "virtualEndpoint",
                "provisioningPolicies",
                id.as_str(),
            ]),
            &Query::new(),
        )
        .await
        .expect("raw GET");

    assert_eq!(
        created.provisioning_type,
        Some(ProvisioningType::SharedByUser)
    );
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].provisioning_type,
        Some(ProvisioningType::SharedByUser)
    );
    assert_eq!(masked["provisioningType"], "unknownFutureValue");
}
