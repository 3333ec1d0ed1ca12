//! Azure network connections (`cloudPcOnPremisesConnection`, v1.0) and their health checks on the
//! virtual clock.
//!
//! Graph (v1.0, generally available):
//! - resource: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpconpremisesconnection?view=graph-rest-1.0>
//!   (`connectionType` defaults to `hybridAzureADJoin`; `healthCheckStatus` defaults to `pending`;
//!   `inUse` and `healthCheckStatusDetail` are returned only on `$select`; a connection in use
//!   can't be deleted);
//! - health check items: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpconpremisesconnectionhealthcheck?view=graph-rest-1.0>
//!   (`status` pending|running|passed|failed|warning|informational, `errorType`,
//!   `recommendedAction`, `startDateTime`, `endDateTime`, `correlationId`);
//! - `runHealthChecks`: <https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-runhealthcheck?view=graph-rest-1.0>
//!   (delegated `CloudPC.ReadWrite.All` only: application permissions are "Not supported").
//!
//! Lifecycle (the simulator's timings; the service does not publish how long checks take):
//! a run starts `pending` ([`PENDING_FOR`]), is `running` ([`RUNNING_FOR`]), then every check is
//! `passed` or `failed` with its `errorType` and the connection's `healthCheckStatus` is `failed`
//! when any check failed, else `passed`. A run starts when a connection is created, when a
//! property the checks depend on is updated, and on `runHealthChecks`.
//!
//! The simulated Azure environment decides the outcome from the connection's own properties:
//! - a subnet whose name contains `full` has no free IP address (`resourceAvailabilityCheckNoSubnetIP`);
//! - hybrid join: an `adDomainName` under the reserved `.invalid` top-level domain (RFC 2606) does
//!   not resolve (`dnsCheckFqdnNotFound`); one with characters other than letters, digits, `-`
//!   and `.` is refused (`dnsCheckNameWithInvalidCharacter`); an `organizationalUnit` not in
//!   distinguished-name form (`OU=...`) fails the domain join
//!   (`adJoinCheckOrganizationalUnitIncorrectFormat`).
//!
//! LIMITATIONS: no periodic re-checks; `warning`/`informational` results are never produced;
//! `updateAdDomainPassword` is not emulated; Graph's status and code for deleting a connection in
//! use are not documented: the simulator answers 400 `BadRequest` with the documented sentence
//! and the policies' names.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use super::Windows365State;
use super::error::{Result, Windows365Error};
use super::input::{check_odata_type, parse_body, present, required};

/// From the start of a run until the checks are `running`.
pub const PENDING_FOR: Duration = Duration::minutes(1);
/// From `running` until every check has a result.
pub const RUNNING_FOR: Duration = Duration::minutes(10);

/// `cloudPcOnPremisesConnectionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionType {
    #[serde(rename = "azureADJoin")]
    AzureAdJoin,
    #[serde(rename = "hybridAzureADJoin")]
    HybridAzureAdJoin,
}

/// `cloudPcOnPremisesConnectionStatus` (of a run and of each check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HealthStatus {
    Pending,
    Running,
    Passed,
    Failed,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Passed => "passed",
            Self::Failed => "failed",
        }
    }
}

/// One check of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    pub display_name: String,
    pub status: HealthStatus,
    pub error_type: Option<String>,
    pub recommended_action: Option<String>,
    pub additional_detail: Option<String>,
    pub correlation_id: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub start_date_time: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub end_date_time: Option<OffsetDateTime>,
}

/// An Azure network connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConnection {
    pub id: String,
    pub display_name: String,
    pub connection_type: ConnectionType,
    pub ad_domain_name: Option<String>,
    pub ad_domain_username: Option<String>,
    /// Kept to run the domain join check; never rendered.
    pub ad_domain_password: Option<String>,
    pub organizational_unit: Option<String>,
    pub alternate_resource_url: Option<String>,
    pub subscription_id: String,
    pub subscription_name: Option<String>,
    pub resource_group_id: String,
    pub virtual_network_id: String,
    pub virtual_network_location: Option<String>,
    pub subnet_id: String,
    pub health_check_status: HealthStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub health_start: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub health_end: Option<OffsetDateTime>,
    pub health_checks: Vec<HealthCheck>,
    /// When the current run moves on (none when it is finished).
    #[serde(with = "time::serde::rfc3339::option")]
    pub health_due: Option<OffsetDateTime>,
}

/// A create or update body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectionInput {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    connection_type: Option<Option<ConnectionType>>,
    /// Deprecated beta name of `connectionType`.
    #[serde(default, deserialize_with = "present", rename = "type")]
    legacy_type: Option<Option<ConnectionType>>,
    #[serde(default, deserialize_with = "present")]
    ad_domain_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    ad_domain_username: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    ad_domain_password: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    organizational_unit: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    alternate_resource_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    subscription_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    subscription_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    resource_group_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    virtual_network_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    virtual_network_location: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    subnet_id: Option<Option<String>>,
    // Read-only properties a client may echo back; ignored like Graph ignores them.
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    health_check_status: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    health_check_status_detail: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    in_use: Option<Value>,
}

/// Splits `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{v}/subnets/{n}`
/// style ids into lowercase `(key, value)` pairs after checking their shape.
fn arm_parts(id: &str, keys: &[&str], property: &str, shape: &str) -> Result<Vec<String>> {
    let bad = || {
        Windows365Error::invalid(format!(
            "the property '{property}' must have the form {shape}, not '{id}'"
        ))
    };
    let segments: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    if !id.starts_with('/') || segments.len() != keys.len() * 2 {
        return Err(bad());
    }
    let mut values = Vec::new();
    for (pair, key) in segments.chunks(2).zip(keys) {
        if !pair[0].eq_ignore_ascii_case(key) || pair[1].trim().is_empty() {
            return Err(bad());
        }
        values.push(pair[1].to_owned());
    }
    Ok(values)
}

const SUBNET_SHAPE: &str = "/subscriptions/{subscription-id}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}";
const VNET_SHAPE: &str = "/subscriptions/{subscription-id}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}";
const RG_SHAPE: &str = "/subscriptions/{subscription-id}/resourceGroups/{resourceGroupName}";

impl NetworkConnection {
    fn validate(&self) -> Result<()> {
        if self.display_name.trim().is_empty() {
            return Err(Windows365Error::invalid(
                "the property 'displayName' must not be empty",
            ));
        }
        if uuid::Uuid::parse_str(&self.subscription_id).is_err() {
            return Err(Windows365Error::invalid(format!(
                "the property 'subscriptionId' must be a GUID, not '{}'",
                self.subscription_id
            )));
        }
        let rg = arm_parts(
            &self.resource_group_id,
            &["subscriptions", "resourceGroups"],
            "resourceGroupId",
            RG_SHAPE,
        )?;
        let vnet = arm_parts(
            &self.virtual_network_id,
            &[
                "subscriptions",
                "resourceGroups",
                "providers",
                "virtualNetworks",
            ],
            "virtualNetworkId",
            VNET_SHAPE,
        )?;
        let subnet = arm_parts(
            &self.subnet_id,
            &[
                "subscriptions",
                "resourceGroups",
                "providers",
                "virtualNetworks",
                "subnets",
            ],
            "subnetId",
            SUBNET_SHAPE,
        )?;
        if !vnet[2].eq_ignore_ascii_case("Microsoft.Network")
            || !subnet[2].eq_ignore_ascii_case("Microsoft.Network")
        {
            return Err(Windows365Error::invalid(
                "virtualNetworkId and subnetId must name Microsoft.Network resources",
            ));
        }
        for (what, sub) in [("resourceGroupId", &rg[0]), ("virtualNetworkId", &vnet[0])] {
            if !sub.eq_ignore_ascii_case(&self.subscription_id) {
                return Err(Windows365Error::invalid(format!(
                    "the {what} is in subscription '{sub}', not in the connection's subscription '{}'",
                    self.subscription_id
                )));
            }
        }
        let subnet_vnet = self.subnet_id[..self.subnet_id.len() - subnet[4].len()]
            .trim_end_matches('/')
            .trim_end_matches("subnets")
            .trim_end_matches('/');
        if !subnet_vnet.eq_ignore_ascii_case(&self.virtual_network_id) {
            return Err(Windows365Error::invalid(format!(
                "the subnet '{}' is not in the virtual network '{}'",
                self.subnet_id, self.virtual_network_id
            )));
        }
        if self.connection_type == ConnectionType::HybridAzureAdJoin {
            for (name, v) in [
                ("adDomainName", &self.ad_domain_name),
                ("adDomainUsername", &self.ad_domain_username),
                ("adDomainPassword", &self.ad_domain_password),
            ] {
                if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    return Err(Windows365Error::invalid(format!(
                        "a hybridAzureADJoin connection needs the property '{name}'"
                    )));
                }
            }
        }
        Ok(())
    }

    fn subnet_name(&self) -> &str {
        self.subnet_id.rsplit('/').next().unwrap_or_default()
    }

    /// The checks of this connection with their outcome in the simulated Azure environment.
    fn outcomes(&self) -> Vec<(&'static str, Option<(&'static str, &'static str)>)> {
        let mut checks = vec![
            ("Azure tenant readiness", None),
            ("Azure virtual network readiness", None),
            (
                "Azure subnet IP address usage",
                self.subnet_name()
                    .to_ascii_lowercase()
                    .contains("full")
                    .then_some((
                        "resourceAvailabilityCheckNoSubnetIP",
                        "The subnet has no free IP address. Expand the subnet or select another subnet in the Azure network connection.",
                    )),
            ),
            ("Endpoint connectivity", None),
            ("First-party app permissions", None),
        ];
        if self.connection_type == ConnectionType::HybridAzureAdJoin {
            let domain = self.ad_domain_name.as_deref().unwrap_or_default();
            let dns = if !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                Some((
                    "dnsCheckNameWithInvalidCharacter",
                    "The domain name contains an unsupported character. Correct the domain name in the Azure network connection.",
                ))
            } else if domain.to_ascii_lowercase().ends_with(".invalid") {
                Some((
                    "dnsCheckFqdnNotFound",
                    "The DNS server of the virtual network can't resolve the domain name. Update the virtual network's DNS server or correct the domain name.",
                ))
            } else {
                None
            };
            let ou_ok = self.organizational_unit.as_deref().is_none_or(|ou| {
                ou.trim().is_empty() || ou.trim().to_ascii_uppercase().starts_with("OU=")
            });
            checks.push(("DNS can resolve Active Directory domain", dns));
            checks.push((
                "Active Directory domain join",
                if dns.is_some() {
                    Some((
                        "adJoinCheckFqdnNotFound",
                        "The domain join check failed because the domain name couldn't be found. Make sure a domain controller can be contacted from the virtual network.",
                    ))
                } else if !ou_ok {
                    Some((
                        "adJoinCheckOrganizationalUnitIncorrectFormat",
                        "The organizational unit must be a distinguished name, e.g. OU=CloudPCs,DC=contoso,DC=com.",
                    ))
                } else {
                    None
                },
            ));
            checks.push(("Microsoft Entra hybrid join", None));
        }
        checks
    }

    /// Starts a new health check run at `now`.
    fn begin_health_checks(&mut self, ids: &mut super::IdGenerator, now: OffsetDateTime) {
        self.health_check_status = HealthStatus::Pending;
        self.health_start = Some(now);
        self.health_end = None;
        self.health_due = Some(now + PENDING_FOR);
        self.health_checks = self
            .outcomes()
            .into_iter()
            .map(|(name, _)| HealthCheck {
                display_name: name.to_owned(),
                status: HealthStatus::Pending,
                error_type: None,
                recommended_action: None,
                additional_detail: None,
                correlation_id: ids.guid(),
                start_date_time: None,
                end_date_time: None,
            })
            .collect();
    }

    /// Plays the run's next step if it is due at `now`.
    fn advance_health_checks(&mut self, now: OffsetDateTime) {
        let Some(due) = self.health_due.filter(|d| *d <= now) else {
            return;
        };
        match self.health_check_status {
            HealthStatus::Pending => {
                self.health_check_status = HealthStatus::Running;
                for c in &mut self.health_checks {
                    c.status = HealthStatus::Running;
                    c.start_date_time = Some(due);
                }
                self.health_due = Some(due + RUNNING_FOR);
                // A run may be far behind the clock: finish it at its own time.
                self.advance_health_checks(now);
            }
            HealthStatus::Running => {
                let outcomes = self.outcomes();
                let mut failed = false;
                for c in &mut self.health_checks {
                    let outcome = outcomes
                        .iter()
                        .find(|(name, _)| *name == c.display_name)
                        .and_then(|(_, o)| *o);
                    c.end_date_time = Some(due);
                    match outcome {
                        Some((error, action)) => {
                            failed = true;
                            c.status = HealthStatus::Failed;
                            c.error_type = Some(error.to_owned());
                            c.recommended_action = Some(action.to_owned());
                        }
                        None => c.status = HealthStatus::Passed,
                    }
                }
                self.health_check_status = if failed {
                    HealthStatus::Failed
                } else {
                    HealthStatus::Passed
                };
                self.health_end = Some(due);
                self.health_due = None;
            }
            HealthStatus::Passed | HealthStatus::Failed => self.health_due = None,
        }
    }

    /// Marks a seeded connection's checks as already run (`passed` or `failed`) at `at`.
    pub fn finish_health_checks_at(&mut self, ids: &mut super::IdGenerator, at: OffsetDateTime) {
        self.begin_health_checks(ids, at - PENDING_FOR - RUNNING_FOR);
        self.advance_health_checks(at);
    }
}

fn apply(c: &mut NetworkConnection, input: ConnectionInput) -> Result<bool> {
    let mut recheck = false;
    let mut set_opt = |field: &mut Option<String>, v: Option<Option<String>>, rc: bool| {
        if let Some(v) = v {
            let v = v.filter(|s| !s.trim().is_empty());
            if *field != v {
                *field = v;
                recheck |= rc;
            }
        }
    };
    set_opt(&mut c.ad_domain_name, input.ad_domain_name, true);
    set_opt(&mut c.ad_domain_username, input.ad_domain_username, true);
    set_opt(&mut c.ad_domain_password, input.ad_domain_password, true);
    set_opt(&mut c.organizational_unit, input.organizational_unit, true);
    set_opt(
        &mut c.alternate_resource_url,
        input.alternate_resource_url,
        false,
    );
    set_opt(&mut c.subscription_name, input.subscription_name, false);
    set_opt(
        &mut c.virtual_network_location,
        input.virtual_network_location,
        false,
    );
    let mut set_req = |field: &mut String, v: Option<Option<String>>, name: &str| -> Result<()> {
        if let Some(v) = v {
            let v = required(Some(v), name)?;
            if *field != v {
                *field = v;
                recheck = true;
            }
        }
        Ok(())
    };
    set_req(
        &mut c.subscription_id,
        input.subscription_id,
        "subscriptionId",
    )?;
    set_req(
        &mut c.resource_group_id,
        input.resource_group_id,
        "resourceGroupId",
    )?;
    set_req(
        &mut c.virtual_network_id,
        input.virtual_network_id,
        "virtualNetworkId",
    )?;
    set_req(&mut c.subnet_id, input.subnet_id, "subnetId")?;
    if let Some(v) = input.display_name {
        c.display_name = required(Some(v), "displayName")?;
    }
    if let Some(t) = input.connection_type.or(input.legacy_type) {
        let t = t.unwrap_or(ConnectionType::HybridAzureAdJoin);
        if t != c.connection_type {
            c.connection_type = t;
            recheck = true;
        }
    }
    Ok(recheck)
}

impl Windows365State {
    /// Every Azure network connection, in creation order.
    pub fn network_connections(&self) -> &[NetworkConnection] {
        &self.network_connections
    }

    /// One Azure network connection.
    pub fn network_connection(&self, id: &str) -> Result<&NetworkConnection> {
        self.network_connections
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcOnPremisesConnection", id))
    }

    /// The display names of the provisioning policies that use a connection.
    pub fn policies_using_connection(&self, id: &str) -> Vec<String> {
        self.policies
            .iter()
            .filter(|p| {
                p.domain_join_configurations
                    .iter()
                    .chain(p.domain_join_configuration.iter())
                    .filter_map(|d| d.on_premises_connection_id.as_deref())
                    .chain(p.on_premises_connection_id.as_deref())
                    .any(|c| c.eq_ignore_ascii_case(id))
            })
            .map(|p| p.display_name.clone())
            .collect()
    }

    /// `POST onPremisesConnections`: validates, stores and starts the first health check run.
    pub fn create_network_connection(
        &mut self,
        body: Value,
        now: OffsetDateTime,
    ) -> Result<NetworkConnection> {
        let input: ConnectionInput = parse_body(body, "cloudPcOnPremisesConnection")?;
        check_odata_type(
            input.odata_type.as_deref(),
            "microsoft.graph.cloudPcOnPremisesConnection",
        )?;
        let mut c = NetworkConnection {
            id: self.infra_ids.guid(),
            display_name: String::new(),
            connection_type: ConnectionType::HybridAzureAdJoin,
            ad_domain_name: None,
            ad_domain_username: None,
            ad_domain_password: None,
            organizational_unit: None,
            alternate_resource_url: None,
            subscription_id: String::new(),
            subscription_name: None,
            resource_group_id: String::new(),
            virtual_network_id: String::new(),
            virtual_network_location: None,
            subnet_id: String::new(),
            health_check_status: HealthStatus::Pending,
            health_start: None,
            health_end: None,
            health_checks: Vec::new(),
            health_due: None,
        };
        for (name, v) in [
            ("displayName", &input.display_name),
            ("subscriptionId", &input.subscription_id),
            ("resourceGroupId", &input.resource_group_id),
            ("virtualNetworkId", &input.virtual_network_id),
            ("subnetId", &input.subnet_id),
        ] {
            if v.as_ref().and_then(|v| v.as_deref()).is_none() {
                return Err(Windows365Error::invalid(format!(
                    "the property '{name}' is required"
                )));
            }
        }
        apply(&mut c, input)?;
        c.validate()?;
        if c.virtual_network_location.is_none() {
            // The simulated Azure environment places virtual networks in East US unless the
            // request (or a seed) says otherwise (Graph computes this read-only value from Azure).
            c.virtual_network_location = Some("eastus".to_owned());
        }
        c.begin_health_checks(&mut self.infra_ids, now);
        self.network_connections.push(c.clone());
        Ok(c)
    }

    /// `PATCH onPremisesConnections/{id}`: a change to what the checks look at starts a new run.
    pub fn update_network_connection(
        &mut self,
        id: &str,
        body: Value,
        now: OffsetDateTime,
    ) -> Result<()> {
        let input: ConnectionInput = parse_body(body, "cloudPcOnPremisesConnection")?;
        check_odata_type(
            input.odata_type.as_deref(),
            "microsoft.graph.cloudPcOnPremisesConnection",
        )?;
        let index = self
            .network_connections
            .iter()
            .position(|c| c.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcOnPremisesConnection", id))?;
        let mut c = self.network_connections[index].clone();
        let recheck = apply(&mut c, input)?;
        c.validate()?;
        if recheck {
            c.begin_health_checks(&mut self.infra_ids, now);
        }
        self.network_connections[index] = c;
        Ok(())
    }

    /// `DELETE onPremisesConnections/{id}`: refused while a provisioning policy uses it.
    pub fn delete_network_connection(&mut self, id: &str) -> Result<()> {
        let index = self
            .network_connections
            .iter()
            .position(|c| c.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcOnPremisesConnection", id))?;
        let users = self.policies_using_connection(id);
        if !users.is_empty() {
            return Err(Windows365Error::invalid_state(format!(
                "You can't delete a connection that's in use. The provisioning policies {} use the Azure network connection '{}'.",
                users
                    .iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.network_connections[index].display_name
            )));
        }
        self.network_connections.remove(index);
        Ok(())
    }

    /// `runHealthChecks`: starts a new run (a run already under way is started over).
    pub fn run_health_checks(&mut self, id: &str, now: OffsetDateTime) -> Result<()> {
        let c = self
            .network_connections
            .iter_mut()
            .find(|c| c.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcOnPremisesConnection", id))?;
        c.begin_health_checks(&mut self.infra_ids, now);
        Ok(())
    }

    /// Adds a connection as it is (seeds only).
    pub fn insert_network_connection(&mut self, c: NetworkConnection) {
        self.network_connections.push(c);
    }
}

fn time_value(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .map_or(Value::Null, Value::String)
}

/// Properties returned without `$select` (`inUse`, `healthCheckStatusDetail` and
/// `alternateResourceUrl` only on `$select`).
pub const DEFAULT_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "connectionType",
    "subscriptionId",
    "subscriptionName",
    "adDomainName",
    "adDomainUsername",
    "adDomainPassword",
    "organizationalUnit",
    "resourceGroupId",
    "virtualNetworkId",
    "virtualNetworkLocation",
    "subnetId",
    "healthCheckStatus",
];

/// A `cloudPcOnPremisesConnection` as Graph renders it (every property; the route trims to
/// [`DEFAULT_PROPERTIES`] without `$select`). The domain password is never returned.
pub fn render(c: &NetworkConnection, in_use: bool) -> Value {
    json!({
        "id": c.id,
        "displayName": c.display_name,
        "connectionType": match c.connection_type {
            ConnectionType::AzureAdJoin => "azureADJoin",
            ConnectionType::HybridAzureAdJoin => "hybridAzureADJoin",
        },
        "subscriptionId": c.subscription_id,
        "subscriptionName": c.subscription_name,
        "adDomainName": c.ad_domain_name,
        "adDomainUsername": c.ad_domain_username,
        "adDomainPassword": Value::Null,
        "organizationalUnit": c.organizational_unit,
        "resourceGroupId": c.resource_group_id,
        "virtualNetworkId": c.virtual_network_id,
        "virtualNetworkLocation": c.virtual_network_location,
        "subnetId": c.subnet_id,
        "alternateResourceUrl": c.alternate_resource_url,
        "healthCheckStatus": c.health_check_status.as_str(),
        "inUse": in_use,
        "healthCheckStatusDetail": {
            "startDateTime": time_value(c.health_start),
            "endDateTime": time_value(c.health_end),
            "healthChecks": c.health_checks.iter().map(|h| json!({
                "displayName": h.display_name,
                "status": h.status.as_str(),
                "errorType": h.error_type,
                "recommendedAction": h.recommended_action,
                "additionalDetail": h.additional_detail,
                "correlationId": h.correlation_id,
                "startDateTime": time_value(h.start_date_time),
                "endDateTime": time_value(h.end_date_time),
            })).collect::<Vec<_>>(),
        },
    })
}

/// Plays every due health check step.
pub(crate) fn run_due(w: &mut Windows365State, now: OffsetDateTime) {
    for c in &mut w.network_connections {
        c.advance_health_checks(now);
    }
}

/// When the next health check step is due.
pub(crate) fn next_due(w: &Windows365State) -> Option<OffsetDateTime> {
    w.network_connections
        .iter()
        .filter_map(|c| c.health_due)
        .min()
}
