//! `kind = "networkConnection"`: an Azure network connection as a file
//! (`network-connections/<name>.toml`), matched with the tenant's by display name
//! (case-insensitive). The reads, the property comparison and the in-use check are those of
//! `w365 network` ([`crate::network`], Graph v1.0 `cloudPcOnPremisesConnection`:
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpconpremisesconnection?view=graph-rest-1.0>).
//! The domain join password is never in a file: a hybrid join connection is created with
//! `w365 network create`, and its file then manages the other properties.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use w365_graph::models::{ConnectionType, NetworkConnection, NetworkConnectionInput};

use super::diff::{Change, FieldChange, Unmanaged};
use super::spec::{ObjectKind, SpecError};
use crate::error::{Error, Result};

/// The file's properties (Graph's, in snake_case); a key left out is not managed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConnectionSpec {
    pub display_name: String,
    /// `azureADJoin` or `hybridAzureADJoin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<ConnectionType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_network_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_domain_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_domain_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
}

impl NetworkConnectionSpec {
    /// The connection as Graph has it (read-only and health properties left out).
    pub fn from_graph(c: &NetworkConnection) -> Self {
        NetworkConnectionSpec {
            display_name: c.display_name.clone().unwrap_or_default(),
            connection_type: c.connection_type.clone(),
            subscription_id: c.subscription_id.clone(),
            resource_group_id: c.resource_group_id.clone(),
            virtual_network_id: c.virtual_network_id.clone(),
            subnet_id: c.subnet_id.clone(),
            ad_domain_name: c.ad_domain_name.clone(),
            ad_domain_username: c.ad_domain_username.clone(),
            organizational_unit: c.organizational_unit.clone(),
        }
    }

    /// The request body with the file's properties (never a password).
    pub fn to_input(&self) -> NetworkConnectionInput {
        NetworkConnectionInput {
            display_name: Some(self.display_name.clone()),
            connection_type: self.connection_type.clone(),
            subscription_id: self.subscription_id.clone(),
            resource_group_id: self.resource_group_id.clone(),
            virtual_network_id: self.virtual_network_id.clone(),
            subnet_id: self.subnet_id.clone(),
            ad_domain_name: self.ad_domain_name.clone(),
            ad_domain_username: self.ad_domain_username.clone(),
            ad_domain_password: None,
            organizational_unit: self.organizational_unit.clone(),
        }
    }

    /// The file's text: a comment header, `kind`, then the properties.
    pub fn to_toml(&self) -> String {
        format!(
            "# w365 {} (edit, then `w365 policy diff DIR` and `w365 policy sync DIR`).\n\
             # Keys are Graph property names in snake_case; a key left out is not managed.\n\
             kind = \"{}\"\n{}",
            ObjectKind::NetworkConnection,
            ObjectKind::NetworkConnection.as_str(),
            toml::to_string(self).unwrap_or_default()
        )
    }
}

/// Parses a network connection file; errors name the line and key of the bad value.
pub fn parse(text: &str) -> Result<NetworkConnectionSpec, SpecError> {
    super::spec::parse_kind_file(text)
}

fn fields(changes: Vec<crate::network::Change>) -> Vec<FieldChange> {
    changes
        .into_iter()
        .map(|c| FieldChange {
            field: super::spec::snake(&c.property),
            from: c.from.map(Value::String),
            to: c.to.map(Value::String),
        })
        .collect()
}

/// The plan of the files against the tenant's connections and the policies that use them:
/// creates and updates, and with `prune` the deletes of connections no file describes, refused
/// (naming the policies) while a policy uses one. Without `prune`, those are unmanaged.
pub fn plan(
    files: &[(PathBuf, NetworkConnectionSpec)],
    current: &[NetworkConnection],
    policies: &[w365_graph::models::ProvisioningPolicy],
    prune: bool,
) -> Result<(Vec<Change>, Vec<Change>, Vec<Unmanaged>)> {
    let kind = ObjectKind::NetworkConnection;
    let mut writes = Vec::new();
    let mut deletes = Vec::new();
    let mut unmanaged = Vec::new();
    for (_, spec) in files {
        let input = spec.to_input();
        match crate::network::find(current, &spec.display_name) {
            Ok(c) => {
                let changed = crate::network::changes(Some(c), &input);
                if !changed.is_empty() {
                    writes.push(Change::Update {
                        object: kind,
                        id: c.id.clone(),
                        name: c.display_name.clone().unwrap_or_default(),
                        fields: fields(changed),
                        patch: serde_json::to_value(spec).unwrap_or(Value::Null),
                    });
                }
            }
            Err(Error::PolicyNotFound { .. }) => {
                if spec.connection_type == Some(ConnectionType::HybridAzureAdJoin) {
                    return Err(Error::InvalidInput {
                        reason: format!(
                            "the {kind} '{}' does not exist and is a hybrid join connection, whose domain password is never kept in a file: create it with `w365 network create --name \"{}\" --join hybridAzureADJoin ...` (it asks for the password), then sync manages its other properties",
                            spec.display_name, spec.display_name
                        ),
                    });
                }
                writes.push(Change::Create {
                    object: kind,
                    name: spec.display_name.clone(),
                    fields: fields(crate::network::changes(None, &input)),
                    body: serde_json::to_value(spec).unwrap_or(Value::Null),
                });
            }
            Err(e) => return Err(e),
        }
    }
    for c in current {
        let name = c.display_name.clone().unwrap_or_default();
        if files
            .iter()
            .any(|(_, s)| s.display_name.eq_ignore_ascii_case(&name))
        {
            continue;
        }
        if !prune {
            unmanaged.push(Unmanaged {
                object: kind,
                id: c.id.clone(),
                name,
            });
            continue;
        }
        let users = crate::network::policies_using(policies, &c.id);
        if !users.is_empty() {
            return Err(Error::InUse {
                what: crate::network::KIND,
                name,
                policies: users,
            });
        }
        deletes.push(Change::Delete {
            object: kind,
            id: c.id.clone(),
            name,
        });
    }
    Ok((writes, deletes, unmanaged))
}

/// The request body of a planned create or update.
pub fn input_of(body: &Value) -> Result<NetworkConnectionInput> {
    serde_json::from_value::<NetworkConnectionSpec>(body.clone())
        .map(|s| s.to_input())
        .map_err(|e| Error::InvalidInput {
            reason: format!(
                "the planned {} cannot be sent: {e}",
                ObjectKind::NetworkConnection
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(id: &str, name: &str) -> NetworkConnection {
        NetworkConnection {
            id: id.into(),
            display_name: Some(name.into()),
            connection_type: Some(ConnectionType::AzureAdJoin),
            ..NetworkConnection::default()
        }
    }

    fn file(name: &str, join: ConnectionType) -> (PathBuf, NetworkConnectionSpec) {
        (
            PathBuf::from(format!("{name}.toml")),
            NetworkConnectionSpec {
                display_name: name.into(),
                connection_type: Some(join),
                ..NetworkConnectionSpec::default()
            },
        )
    }

    #[test]
    fn matched_by_name_unmanaged_without_prune_and_hybrid_creates_refused() {
        let current = [connection("c1", "East"), connection("c2", "Old")];
        let files = [file("east", ConnectionType::AzureAdJoin)];
        let files = [(
            files[0].0.clone(),
            NetworkConnectionSpec {
                display_name: "EAST".into(),
                ..files[0].1.clone()
            },
        )];
        let (writes, deletes, unmanaged) = plan(&files, &current, &[], false).unwrap();
        assert!(writes.is_empty() && deletes.is_empty(), "{writes:?}");
        assert_eq!(unmanaged.len(), 1);
        assert_eq!(unmanaged[0].name, "Old");
        let (_, deletes, _) = plan(&files, &current, &[], true).unwrap();
        assert!(matches!(&deletes[..], [Change::Delete { id, .. }] if id == "c2"));

        let hybrid = [file("New hybrid", ConnectionType::HybridAzureAdJoin)];
        let err = plan(&hybrid, &current, &[], false).unwrap_err();
        assert!(err.to_string().contains("w365 network create"), "{err}");

        let spec = NetworkConnectionSpec::from_graph(&current[0]);
        assert_eq!(parse(&spec.to_toml()).unwrap(), spec);
    }
}
