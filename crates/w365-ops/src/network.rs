//! `network list|show|create|update|delete|check`: Azure network connections (Graph v1.0
//! `onPremisesConnections`, see `w365_graph::resources::NetworkConnectionsHandler`). Planning
//! only reads; a create or update that is already in effect plans nothing (re-runs converge); a
//! delete is refused, naming them, while provisioning policies use the connection.

use serde::Serialize;
use w365_graph::Client;
use w365_graph::models::{NetworkConnection, NetworkConnectionInput, ProvisioningPolicy};
use w365_graph::odata::Query;

use crate::error::{Error, GraphContext, Result};
use crate::execute::permissions;

/// What "Azure network connection" errors call it.
pub const KIND: &str = "Azure network connection";

/// One property a change sets: its Graph name, the value now and the value wanted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub property: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        write!(
            f,
            "{}: {} -> {}",
            self.property,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// Every connection (all pages), with health check detail and `inUse`.
pub async fn list(client: &Client) -> Result<Vec<NetworkConnection>> {
    client.network_connections().list().await.graph_ctx(
        || "list the Azure network connections".into(),
        permissions::READ_CLOUD_PCS,
    )
}

/// The connection `name_or_id` names in `list` (id, or exact display name, case-insensitive).
pub fn find<'a>(list: &'a [NetworkConnection], name_or_id: &str) -> Result<&'a NetworkConnection> {
    let wanted = name_or_id.trim();
    if let Some(c) = list.iter().find(|c| c.id.eq_ignore_ascii_case(wanted)) {
        return Ok(c);
    }
    let named: Vec<&NetworkConnection> = list
        .iter()
        .filter(|c| {
            c.display_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
        })
        .collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::PolicyNotFound {
            kind: KIND,
            name: wanted.to_owned(),
        }),
        many => Err(Error::AmbiguousName {
            kind: KIND,
            name: wanted.to_owned(),
            count: many.len(),
            ids: many.iter().map(|c| c.id.clone()).collect(),
        }),
    }
}

/// One connection by id or display name.
pub async fn resolve(client: &Client, name_or_id: &str) -> Result<NetworkConnection> {
    let all = list(client).await?;
    find(&all, name_or_id).cloned()
}

/// The provisioning policies whose join configurations use connection `id`.
pub fn policies_using(policies: &[ProvisioningPolicy], id: &str) -> Vec<String> {
    policies
        .iter()
        .filter(|p| {
            p.domain_join_configurations
                .iter()
                .flatten()
                .chain(p.domain_join_configuration.iter())
                .filter_map(|d| d.on_premises_connection_id.as_deref())
                .chain(p.on_premises_connection_id.as_deref())
                .any(|c| c.eq_ignore_ascii_case(id))
        })
        .map(|p| p.display_name.clone())
        .collect()
}

pub(crate) async fn all_policies(client: &Client) -> Result<Vec<ProvisioningPolicy>> {
    client
        .provisioning_policies()
        .list(Query::new())
        .await
        .graph_ctx(
            || "list the provisioning policies".into(),
            permissions::READ_CLOUD_PCS,
        )
}

fn text<T: AsRef<str>>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(|s| s.as_ref().to_owned())
}

/// The properties `input` would change on `current` (all of them for a new connection).
pub fn changes(current: Option<&NetworkConnection>, input: &NetworkConnectionInput) -> Vec<Change> {
    let mut out = Vec::new();
    let mut diff = |property: &str, now: Option<String>, want: Option<String>| {
        if want.is_some()
            && !now
                .as_deref()
                .zip(want.as_deref())
                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        {
            out.push(Change {
                property: property.to_owned(),
                from: now,
                to: want,
            });
        }
    };
    let c = current.cloned().unwrap_or_default();
    diff(
        "displayName",
        c.display_name.clone(),
        input.display_name.clone(),
    );
    diff(
        "connectionType",
        c.connection_type.as_ref().map(|t| t.as_str().to_owned()),
        input
            .connection_type
            .as_ref()
            .map(|t| t.as_str().to_owned()),
    );
    diff(
        "subscriptionId",
        c.subscription_id.clone(),
        text(&input.subscription_id),
    );
    diff(
        "resourceGroupId",
        c.resource_group_id.clone(),
        text(&input.resource_group_id),
    );
    diff(
        "virtualNetworkId",
        c.virtual_network_id.clone(),
        text(&input.virtual_network_id),
    );
    diff("subnetId", c.subnet_id.clone(), text(&input.subnet_id));
    diff(
        "adDomainName",
        c.ad_domain_name.clone(),
        text(&input.ad_domain_name),
    );
    diff(
        "adDomainUsername",
        c.ad_domain_username.clone(),
        text(&input.ad_domain_username),
    );
    diff(
        "organizationalUnit",
        c.organizational_unit.clone(),
        text(&input.organizational_unit),
    );
    if input.ad_domain_password.is_some() {
        // Graph never returns the password: a given one is always sent (and never shown).
        out.push(Change {
            property: "adDomainPassword".into(),
            from: None,
            to: Some("(new password, not shown)".into()),
        });
    }
    out
}

/// A planned create: nothing to do when a connection of that name already has these values.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePlan {
    pub display_name: String,
    /// The connection of that name, if one exists.
    pub existing: Option<NetworkConnection>,
    /// What the create (or, for an existing one, an update) sets.
    pub changes: Vec<Change>,
}

/// Plans `network create` (reads only).
pub async fn plan_create(client: &Client, input: &NetworkConnectionInput) -> Result<CreatePlan> {
    let name = input
        .display_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Error::InvalidInput {
            reason: "an Azure network connection needs a display name (--name)".into(),
        })?;
    let all = list(client).await?;
    let existing = match find(&all, &name) {
        Ok(c) => Some(c.clone()),
        Err(Error::PolicyNotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let changes = changes(existing.as_ref(), input);
    Ok(CreatePlan {
        display_name: name,
        existing,
        changes,
    })
}

/// Carries out a create plan: creates, or updates the existing connection of that name with
/// what differs (nothing when nothing does). Returns the connection as Graph has it now.
pub async fn create(
    client: &Client,
    plan: &CreatePlan,
    input: &NetworkConnectionInput,
) -> Result<NetworkConnection> {
    match &plan.existing {
        None => client.network_connections().create(input).await.graph_ctx(
            || {
                format!(
                    "create the Azure network connection '{}'",
                    plan.display_name
                )
            },
            permissions::WRITE_CLOUD_PCS,
        ),
        Some(existing) if plan.changes.is_empty() => Ok(existing.clone()),
        Some(existing) => {
            update(client, existing, input).await?;
            resolve(client, &existing.id).await
        }
    }
}

/// Sends an update of the properties set in `input`.
pub async fn update(
    client: &Client,
    connection: &NetworkConnection,
    input: &NetworkConnectionInput,
) -> Result<()> {
    client
        .network_connections()
        .update(&connection.id, input)
        .await
        .graph_ctx(
            || {
                format!(
                    "update the Azure network connection {}",
                    connection_ref(connection)
                )
            },
            permissions::WRITE_CLOUD_PCS,
        )
}

/// `name (id)`.
pub fn connection_ref(c: &NetworkConnection) -> String {
    format!("'{}' ({})", c.display_name.as_deref().unwrap_or(""), c.id)
}

/// Plans `network delete`: the connection, refused while provisioning policies use it.
pub async fn plan_delete(client: &Client, name_or_id: &str) -> Result<NetworkConnection> {
    let connection = resolve(client, name_or_id).await?;
    let policies = all_policies(client).await?;
    let users = policies_using(&policies, &connection.id);
    if !users.is_empty() {
        return Err(Error::InUse {
            what: KIND,
            name: connection.display_name.clone().unwrap_or_default(),
            policies: users,
        });
    }
    Ok(connection)
}

/// Deletes a connection planned with [`plan_delete`].
pub async fn delete(client: &Client, connection: &NetworkConnection) -> Result<()> {
    client
        .network_connections()
        .delete(&connection.id)
        .await
        .graph_ctx(
            || {
                format!(
                    "delete the Azure network connection {}",
                    connection_ref(connection)
                )
            },
            permissions::WRITE_CLOUD_PCS,
        )
}

/// `network check`: asks Graph to run the health checks again. Graph allows this only to a
/// signed-in admin (delegated `CloudPC.ReadWrite.All`); an app's token is refused with 403.
pub async fn run_health_checks(client: &Client, connection: &NetworkConnection) -> Result<()> {
    client
        .network_connections()
        .run_health_checks(&connection.id)
        .await
        .map_err(|e| {
            if e.is_permission_denied() {
                Error::InvalidInput {
                    reason: format!(
                        "Graph refused to run the health checks of {}: runHealthChecks accepts only a signed-in admin's delegated CloudPC.ReadWrite.All permission; application permissions are not supported (https://learn.microsoft.com/en-us/graph/api/cloudpconpremisesconnection-runhealthcheck?view=graph-rest-1.0). Run them from the Intune admin center, or sign in as an admin: a delegated token in W365_ACCESS_TOKEN, or a profile with auth = \"azure-cli\". The checks also run after `w365 network update`.",
                        connection_ref(connection)
                    ),
                }
            } else {
                Error::from_graph(
                    e,
                    &format!("run the health checks of {}", connection_ref(connection)),
                    permissions::WRITE_CLOUD_PCS,
                )
            }
        })
}
