//! `image list|show|import|delete`: custom images (Graph v1.0 `deviceImages`) and gallery images
//! (`galleryImages`), see `w365_graph::resources::ImagesHandler`. Planning only reads; an import
//! of an image that already exists (same name and version) plans nothing; a delete is refused,
//! naming them, while provisioning policies use the image.

use serde::Serialize;
use w365_graph::Client;
use w365_graph::models::{DeviceImage, DeviceImageInput, GalleryImage, ImageType};

use crate::error::{Error, GraphContext, Result};
use crate::execute::permissions;
use crate::network::all_policies;

/// What errors call a custom image.
pub const KIND: &str = "custom image";

/// Which images `image list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    All,
    Gallery,
    Custom,
}

/// Custom and gallery images.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Images {
    pub custom: Vec<DeviceImage>,
    pub gallery: Vec<GalleryImage>,
}

/// The images `which` asks for (all pages of each).
pub async fn list(client: &Client, which: Which) -> Result<Images> {
    let mut out = Images::default();
    if which != Which::Gallery {
        out.custom = client.images().list_custom().await.graph_ctx(
            || "list the custom images".into(),
            permissions::READ_CLOUD_PCS,
        )?;
    }
    if which != Which::Custom {
        out.gallery = client.images().list_gallery().await.graph_ctx(
            || "list the gallery images".into(),
            permissions::READ_CLOUD_PCS,
        )?;
    }
    Ok(out)
}

fn by_name<'a, T>(
    items: &'a [T],
    wanted: &str,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> Option<&str>,
    kind: &'static str,
) -> Result<Option<&'a T>> {
    if let Some(x) = items.iter().find(|x| id(x).eq_ignore_ascii_case(wanted)) {
        return Ok(Some(x));
    }
    let named: Vec<&T> = items
        .iter()
        .filter(|x| name(x).is_some_and(|n| n.eq_ignore_ascii_case(wanted)))
        .collect();
    match named.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(Error::AmbiguousName {
            kind,
            name: wanted.to_owned(),
            count: many.len(),
            ids: many.iter().map(|x| id(x).to_owned()).collect(),
        }),
    }
}

/// The custom image `name_or_id` names (id, or display name).
pub fn find_custom<'a>(
    images: &'a [DeviceImage],
    name_or_id: &str,
) -> Result<Option<&'a DeviceImage>> {
    by_name(
        images,
        name_or_id.trim(),
        |i| i.id.as_str(),
        |i| i.display_name.as_deref(),
        KIND,
    )
}

/// The gallery image `name_or_id` names (id, or display name).
pub fn find_gallery<'a>(
    images: &'a [GalleryImage],
    name_or_id: &str,
) -> Result<Option<&'a GalleryImage>> {
    by_name(
        images,
        name_or_id.trim(),
        |i| i.id.as_str(),
        |i| i.display_name.as_deref(),
        "gallery image",
    )
}

/// One image found by `image show`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", tag = "imageType")]
pub enum Found {
    Custom(DeviceImage),
    Gallery(GalleryImage),
}

/// `image show NAME|ID`: a custom image, else a gallery image.
pub async fn show(client: &Client, name_or_id: &str) -> Result<Found> {
    let all = list(client, Which::All).await?;
    if let Some(i) = find_custom(&all.custom, name_or_id)? {
        return Ok(Found::Custom(i.clone()));
    }
    if let Some(g) = find_gallery(&all.gallery, name_or_id)? {
        return Ok(Found::Gallery(g.clone()));
    }
    Err(Error::PolicyNotFound {
        kind: "image",
        name: name_or_id.to_owned(),
    })
}

/// Checks the documented form of a managed image id
/// (`/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Compute/images/{name}`).
pub fn check_source(id: &str) -> Result<()> {
    let s: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    let ok = id.starts_with('/')
        && s.len() == 8
        && s[0].eq_ignore_ascii_case("subscriptions")
        && s[2].eq_ignore_ascii_case("resourceGroups")
        && s[4].eq_ignore_ascii_case("providers")
        && s[5].eq_ignore_ascii_case("Microsoft.Compute")
        && s[6].eq_ignore_ascii_case("images")
        && s.iter().all(|p| !p.trim().is_empty());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            reason: format!(
                "'{id}' is not a managed image id: use /subscriptions/{{subscription-id}}/resourceGroups/{{resource-group}}/providers/Microsoft.Compute/images/{{image-name}}"
            ),
        })
    }
}

/// A planned import: nothing to do when an image of that name and version exists.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportPlan {
    pub input: DeviceImageInput,
    pub existing: Option<DeviceImage>,
}

/// Plans `image import` (reads only).
pub async fn plan_import(client: &Client, input: DeviceImageInput) -> Result<ImportPlan> {
    if input.display_name.trim().is_empty() {
        return Err(Error::InvalidInput {
            reason: "an image needs a display name (--name)".into(),
        });
    }
    if input.version.trim().is_empty()
        || !input
            .version
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(Error::InvalidInput {
            reason: format!(
                "'{}' is not an image version: use dotted numbers such as 1.0.0 (--version)",
                input.version
            ),
        });
    }
    check_source(&input.source_image_resource_id)?;
    let all = list(client, Which::Custom).await?;
    let existing = all.custom.into_iter().find(|i| {
        i.display_name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(&input.display_name))
            && i.version.as_deref() == Some(input.version.as_str())
    });
    if let Some(e) = &existing
        && !e
            .source_image_resource_id
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(&input.source_image_resource_id))
    {
        return Err(Error::InvalidInput {
            reason: format!(
                "an image named '{}' version {} already exists ({}) from another source ({}): choose another version",
                input.display_name,
                input.version,
                e.id,
                e.source_image_resource_id.as_deref().unwrap_or("unknown")
            ),
        });
    }
    Ok(ImportPlan { input, existing })
}

/// Starts the upload planned by [`plan_import`] (or returns the image that exists).
pub async fn import(client: &Client, plan: &ImportPlan) -> Result<DeviceImage> {
    if let Some(e) = &plan.existing {
        return Ok(e.clone());
    }
    client.images().import(&plan.input).await.graph_ctx(
        || format!("import the image '{}'", plan.input.display_name),
        permissions::WRITE_CLOUD_PCS,
    )
}

/// Plans `image delete`: the custom image, refused while provisioning policies use it.
pub async fn plan_delete(client: &Client, name_or_id: &str) -> Result<DeviceImage> {
    let all = list(client, Which::Custom).await?;
    let image = find_custom(&all.custom, name_or_id)?
        .cloned()
        .ok_or_else(|| Error::PolicyNotFound {
            kind: KIND,
            name: name_or_id.to_owned(),
        })?;
    let users: Vec<String> = all_policies(client)
        .await?
        .into_iter()
        .filter(|p| {
            p.image_type == Some(ImageType::Custom)
                && p.image_id
                    .as_deref()
                    .is_some_and(|i| i.eq_ignore_ascii_case(&image.id))
        })
        .map(|p| p.display_name)
        .collect();
    if !users.is_empty() {
        return Err(Error::InUse {
            what: KIND,
            name: image.display_name.clone().unwrap_or_default(),
            policies: users,
        });
    }
    Ok(image)
}

/// Deletes an image planned with [`plan_delete`].
pub async fn delete(client: &Client, image: &DeviceImage) -> Result<()> {
    client.images().delete_custom(&image.id).await.graph_ctx(
        || {
            format!(
                "delete the custom image '{}' ({})",
                image.display_name.as_deref().unwrap_or(""),
                image.id
            )
        },
        permissions::WRITE_CLOUD_PCS,
    )
}
