//! Names in provisioning policy files resolved to ids when the plan is made: `image_name` (a
//! custom image, else a gallery image, by display name or id) and a domain join configuration's
//! `network_connection` (an Azure network connection by display name or id). A name that matches
//! nothing is "not found"; one that matches several is ambiguous, listing their ids.

use w365_graph::Client;
use w365_graph::models::ImageType;

use super::spec::Spec;
use crate::error::{Error, Result};
use crate::{images, network};

/// Replaces the names in `spec` by the ids they stand for (reads only; nothing when the file
/// names nothing).
pub async fn resolve(client: &Client, spec: &mut Spec) -> Result<()> {
    let Spec::Policy(p) = spec else {
        return Ok(());
    };
    if let Some(name) = p.image_name.take() {
        let all = images::list(client, images::Which::All).await?;
        if let Some(i) = images::find_custom(&all.custom, &name)? {
            p.image_type = Some(ImageType::Custom);
            p.image_id = Some(i.id.clone());
            if p.image_display_name.is_none() {
                p.image_display_name = i.display_name.clone();
            }
        } else if let Some(g) = images::find_gallery(&all.gallery, &name)? {
            p.image_type = Some(ImageType::Gallery);
            p.image_id = Some(g.id.clone());
            if p.image_display_name.is_none() {
                p.image_display_name = g.display_name.clone();
            }
        } else {
            return Err(Error::PolicyNotFound {
                kind: "image (custom or gallery)",
                name,
            });
        }
    }
    let wanted: Vec<usize> = p
        .domain_join_configurations
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, d)| d.network_connection.is_some())
        .map(|(i, _)| i)
        .collect();
    if !wanted.is_empty() {
        let connections = network::list(client).await?;
        for i in wanted {
            if let Some(d) = p
                .domain_join_configurations
                .as_mut()
                .and_then(|list| list.get_mut(i))
                && let Some(name) = d.network_connection.take()
            {
                d.on_premises_connection_id = Some(network::find(&connections, &name)?.id.clone());
            }
        }
    }
    Ok(())
}
