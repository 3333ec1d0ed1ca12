//! `cloudPcOnPremisesConnection`: an Azure network connection and its health checks (v1.0).
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpconpremisesconnection?view=graph-rest-1.0>,
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpconpremisesconnectionhealthcheck?view=graph-rest-1.0>

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;

evolvable_enum! {
    /// `cloudPcOnPremisesConnectionType`: how Cloud PCs on this network join Entra ID.
    pub enum ConnectionType {
        AzureAdJoin = "azureADJoin",
        HybridAzureAdJoin = "hybridAzureADJoin",
        UnknownFutureValue = "unknownFutureValue",
    }
}

evolvable_enum! {
    /// `cloudPcOnPremisesConnectionStatus`: of a health check run and of each check.
    pub enum ConnectionStatus {
        Pending = "pending",
        Running = "running",
        Passed = "passed",
        Failed = "failed",
        Warning = "warning",
        Informational = "informational",
        UnknownFutureValue = "unknownFutureValue",
    }
}

/// One health check of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub status: Option<ConnectionStatus>,
    /// `cloudPcOnPremisesConnectionHealthCheckErrorType`, e.g. `dnsCheckFqdnNotFound`.
    #[serde(default)]
    pub error_type: Option<String>,
    #[serde(default)]
    pub recommended_action: Option<String>,
    #[serde(default)]
    pub additional_detail: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub start_date_time: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub end_date_time: Option<OffsetDateTime>,
}

/// `cloudPcOnPremisesConnectionStatusDetail`: the latest run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckStatusDetail {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub start_date_time: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub end_date_time: Option<OffsetDateTime>,
    #[serde(default)]
    pub health_checks: Vec<HealthCheck>,
}

/// An Azure network connection as Graph returns it (the domain password never comes back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConnection {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub connection_type: Option<ConnectionType>,
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(default)]
    pub subscription_name: Option<String>,
    #[serde(default)]
    pub resource_group_id: Option<String>,
    #[serde(default)]
    pub virtual_network_id: Option<String>,
    #[serde(default)]
    pub virtual_network_location: Option<String>,
    #[serde(default)]
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub ad_domain_name: Option<String>,
    #[serde(default)]
    pub ad_domain_username: Option<String>,
    #[serde(default)]
    pub organizational_unit: Option<String>,
    #[serde(default)]
    pub health_check_status: Option<ConnectionStatus>,
    /// Only with `$select`.
    #[serde(default)]
    pub health_check_status_detail: Option<HealthCheckStatusDetail>,
    /// Only with `$select`: a provisioning policy uses it (then it can't be deleted).
    #[serde(default)]
    pub in_use: Option<bool>,
}

/// The properties every read selects (`inUse` and `healthCheckStatusDetail` come only on
/// `$select`).
pub const NETWORK_CONNECTION_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "connectionType",
    "subscriptionId",
    "subscriptionName",
    "resourceGroupId",
    "virtualNetworkId",
    "virtualNetworkLocation",
    "subnetId",
    "adDomainName",
    "adDomainUsername",
    "organizationalUnit",
    "healthCheckStatus",
    "healthCheckStatusDetail",
    "inUse",
];

fn expose<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_str(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

/// The writable properties of a connection: a create body (`displayName`, `subscriptionId`,
/// `resourceGroupId`, `virtualNetworkId`, `subnetId`, and for hybrid join the domain and its
/// join account) or an update body (only what is set is sent). The password is redacted from
/// `Debug`.
#[derive(Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConnectionInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<ConnectionType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_network_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad_domain_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ad_domain_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub ad_domain_password: Option<SecretString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
}

impl std::fmt::Debug for NetworkConnectionInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkConnectionInput")
            .field("display_name", &self.display_name)
            .field("connection_type", &self.connection_type)
            .field("subscription_id", &self.subscription_id)
            .field("resource_group_id", &self.resource_group_id)
            .field("virtual_network_id", &self.virtual_network_id)
            .field("subnet_id", &self.subnet_id)
            .field("ad_domain_name", &self.ad_domain_name)
            .field("ad_domain_username", &self.ad_domain_username)
            .field(
                "ad_domain_password",
                &self.ad_domain_password.as_ref().map(|_| "[redacted]"),
            )
            .field("organizational_unit", &self.organizational_unit)
            .finish()
    }
}

impl NetworkConnectionInput {
    /// Whether nothing is set (an update with nothing to change).
    pub fn is_empty(&self) -> bool {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_object().map(serde_json::Map::is_empty))
            .unwrap_or(true)
    }
}
