//! Wire types (serde, camelCase, unknown fields ignored, optional fields as `Option`).
//!
//! Graph's evolvable enums are modelled with the `evolvable_enum!` macro: known members plus
//! `Other(String)`, which keeps a value this version does not know and serializes it back
//! unchanged. Deserialization ignores ASCII case; serialization uses Graph's spelling.

macro_rules! evolvable_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $wire, "`")] $variant, )*
            /// A member this version does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Graph's spelling of the value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Other(s) => s.as_str(),
                }
            }

            /// Parses a wire value (ASCII case-insensitive); unknown values become `Other`.
            pub fn from_wire(value: &str) -> Self {
                $( if value.eq_ignore_ascii_case($wire) { return Self::$variant; } )*
                Self::Other(value.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::from_wire(s))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from_wire(&s))
            }
        }
    };
}

mod audit_events;
mod bulk_actions;
mod cloud_pc;
mod directory;
mod images;
mod mail;
mod network;
mod org_settings;
mod provisioning;
mod regions;
mod reports;
mod service_plans;
mod skus;
mod snapshots;
mod user_settings;

pub use audit_events::*;
pub use bulk_actions::*;
pub use cloud_pc::*;
pub use directory::*;
pub use images::*;
pub use mail::*;
pub use network::*;
pub use org_settings::*;
pub use provisioning::*;
pub use regions::*;
pub use reports::*;
pub use service_plans::*;
pub use skus::*;
pub use snapshots::*;
pub use user_settings::*;

/// Deserializes `null` (or a missing field, with `#[serde(default)]`) as the type's default.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Timestamps w365 only displays: an unparseable value does not fail the item (or its page). The
/// field reads as `None`, the item lists it in its `unreadable` marker, and a warning names the
/// field and the value. Graph's own documentation has such values (`"2020-11-010T20:00:34Z"` in
/// the cloudPC examples, /work/shared/reference/graph-examples/SOURCES.md).
pub(crate) mod lenient {
    use std::cell::RefCell;

    use serde::Deserialize as _;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    thread_local! {
        /// Fields found unreadable in the object being decoded on this thread, drained by
        /// [`take_unreadable`] when that object's fields are done.
        static UNREADABLE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    fn time<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
        field: &'static str,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let Some(raw) = Option::<serde_json::Value>::deserialize(deserializer)? else {
            return Ok(None);
        };
        let parsed = raw
            .as_str()
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
        if parsed.is_none() {
            tracing::warn!(
                field,
                value = %raw,
                "unreadable timestamp from Graph: the item is kept, this field is marked unreadable"
            );
            UNREADABLE.with(|u| u.borrow_mut().push(field.to_owned()));
        }
        Ok(parsed)
    }

    /// The fields found unreadable since the last call (the `unreadable` marker's default: serde
    /// computes it after the object's other fields).
    pub(crate) fn take_unreadable() -> Vec<String> {
        UNREADABLE.with(|u| std::mem::take(&mut *u.borrow_mut()))
    }

    macro_rules! lenient_time {
        ($($name:ident = $field:literal),* $(,)?) => {$(
            #[doc = concat!("`", $field, "`, leniently.")]
            pub(crate) fn $name<'de, D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Option<OffsetDateTime>, D::Error> {
                time(deserializer, $field)
            }
        )*};
    }

    lenient_time! {
        grace_period_end_date_time = "gracePeriodEndDateTime",
        last_modified_date_time = "lastModifiedDateTime",
        provisioned_date_time = "provisionedDateTime",
    }
}

/// An OData collection response `{"value":[...]}` (single page).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Collection<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_enum_values_survive_a_round_trip() {
        let raw = json!({
            "id": "pc1",
            "status": "failoverInProgress",
            "provisioningType": "sharedByEntraGroup",
            "powerState": "hibernated",
            "servicePlanType": "enterprise",
            "someFutureProperty": {"x": 1}
        });
        let pc: CloudPc = serde_json::from_value(raw).unwrap();
        assert_eq!(
            pc.status,
            Some(CloudPcStatus::Other("failoverInProgress".into()))
        );
        assert_eq!(
            pc.provisioning_type,
            Some(ProvisioningType::SharedByEntraGroup)
        );
        assert_eq!(
            pc.power_state,
            Some(CloudPcPowerState::Other("hibernated".into()))
        );
        let back = serde_json::to_value(&pc).unwrap();
        assert_eq!(back["status"], "failoverInProgress");
        assert_eq!(back["powerState"], "hibernated");
        assert_eq!(back["provisioningType"], "sharedByEntraGroup");
        assert!(back.get("someFutureProperty").is_none());
    }

    #[test]
    fn known_enum_values_use_graph_spelling() {
        assert_eq!(
            CloudPcStatus::from_wire("INGRACEPERIOD"),
            CloudPcStatus::InGracePeriod
        );
        assert_eq!(CloudPcStatus::InGracePeriod.to_string(), "inGracePeriod");
        assert_eq!(serde_json::to_value(BodyType::Html).unwrap(), "HTML");
        assert_eq!(
            serde_json::from_value::<BodyType>(json!("html")).unwrap(),
            BodyType::Html
        );
        assert_eq!(
            DomainJoinType::from_wire("azureADJoin"),
            DomainJoinType::AzureAdJoin
        );
    }

    #[test]
    fn license_states_and_skus() {
        let u: User = serde_json::from_value(json!({
            "id": "u1", "userPrincipalName": "a@x", "displayName": null, "mail": null,
            "licenseAssignmentStates": [
                {"skuId":"226ca751-f0a4-4232-9be5-73c02a92555e","disabledPlans":[],"assignedByGroup":"g1",
                 "state":"Active","error":"None","lastUpdatedDateTime":"2025-01-01T10:00:00Z"},
                {"skuId":"226ca751-f0a4-4232-9be5-73c02a92555e","disabledPlans":null,"assignedByGroup":null,
                 "state":"Error","error":"CountViolation","lastUpdatedDateTime":null},
                {"skuId":"226ca751-f0a4-4232-9be5-73c02a92555e","state":"Pending","error":"SomethingNew"}
            ]
        }))
        .unwrap();
        let states = u.license_assignment_states.unwrap();
        assert!(states[0].is_active());
        assert_eq!(
            states[1].error,
            Some(LicenseAssignmentError::CountViolation)
        );
        assert_eq!(
            states[2].state,
            LicenseAssignmentStatus::Other("Pending".into())
        );
        assert_eq!(u.display_name, "");
        let sku: SubscribedSku = serde_json::from_value(json!({
            "id":"t_s","skuId":"226ca751-f0a4-4232-9be5-73c02a92555e","skuPartNumber":"CPC_E_2C_4GB_128GB",
            "consumedUnits":14,"prepaidUnits":{"enabled":25,"suspended":0,"warning":0,"lockedOut":0},
            "capabilityStatus":"Enabled","servicePlans":[]
        }))
        .unwrap();
        assert_eq!(sku.available_units(), 11);
    }

    #[test]
    fn policy_create_body_drops_read_only_properties() {
        let policy: ProvisioningPolicy = serde_json::from_value(json!({
            "id": "p1", "displayName": "W365 Standard", "gracePeriodInHours": 168,
            "alternateResourceUrl": "x", "cloudPcGroupDisplayName": "g", "managedBy": "windows365",
            "imageType": "gallery", "provisioningType": "dedicated",
            "domainJoinConfigurations": [{"domainJoinType":"azureADJoin","regionName":"automatic","regionGroup":"europeUnion"}],
            "windowsSettings": {"language": "en-US"}, "onPremisesConnectionId": "anc",
            "assignments": [{"id":"p1_g1","target":{"@odata.type":"microsoft.graph.cloudPcManagementGroupAssignmentTarget","groupId":"g1","allotmentLicensesCount":5}}]
        }))
        .unwrap();
        assert_eq!(policy.assigned_group_ids(), vec!["g1"]);
        let body = serde_json::to_value(policy.for_create()).unwrap();
        for gone in [
            "id",
            "gracePeriodInHours",
            "alternateResourceUrl",
            "cloudPcGroupDisplayName",
            "managedBy",
            "assignments",
        ] {
            assert!(body.get(gone).is_none(), "{gone}");
        }
        assert_eq!(
            body["@odata.type"],
            "#microsoft.graph.cloudPcProvisioningPolicy"
        );
        assert_eq!(
            body["domainJoinConfigurations"][0]["domainJoinType"],
            "azureADJoin"
        );
        assert_eq!(body["windowsSettings"]["language"], "en-US");
        assert_eq!(body["onPremisesConnectionId"], "anc");
    }
}
