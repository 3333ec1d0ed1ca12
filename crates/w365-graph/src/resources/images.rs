//! Custom images (`deviceImages`) and gallery images (`galleryImages`), v1.0 (generally
//! available):
//! - deviceImages list <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-deviceimages?view=graph-rest-1.0>,
//!   get <https://learn.microsoft.com/en-us/graph/api/cloudpcdeviceimage-get?view=graph-rest-1.0>
//!   (`CloudPC.Read.All`), create <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-post-deviceimages?view=graph-rest-1.0>
//!   (201, upload `pending`), delete <https://learn.microsoft.com/en-us/graph/api/cloudpcdeviceimage-delete?view=graph-rest-1.0>
//!   (`CloudPC.ReadWrite.All`);
//! - galleryImages list <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-list-galleryimages?view=graph-rest-1.0>
//!   (`CloudPC.Read.All`).

use super::{prefer_unknown_enums, virtual_endpoint};
use crate::client::{ApiVersion, Client};
use crate::error::Result;
use crate::models::{DeviceImage, DeviceImageInput, GalleryImage};
use crate::odata::Query;
use crate::retry::Idempotency;

/// Custom and gallery images.
#[derive(Debug, Clone)]
pub struct ImagesHandler {
    client: Client,
}

impl ImagesHandler {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Every custom image (all pages).
    pub async fn list_custom(&self) -> Result<Vec<DeviceImage>> {
        self.client
            .list_with(
                ApiVersion::V1,
                &virtual_endpoint("deviceImages", [""; 0]),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// Every gallery image (all pages).
    pub async fn list_gallery(&self) -> Result<Vec<GalleryImage>> {
        self.client
            .list_with(
                ApiVersion::V1,
                &virtual_endpoint("galleryImages", [""; 0]),
                &Query::new(),
                prefer_unknown_enums(),
            )
            .collect_all()
            .await
    }

    /// Starts the upload of a custom image from a managed image.
    pub async fn import(&self, input: &DeviceImageInput) -> Result<DeviceImage> {
        self.client
            .post_with(
                ApiVersion::V1,
                &virtual_endpoint("deviceImages", [""; 0]),
                input,
                prefer_unknown_enums(),
                // A repeat is refused as a duplicate name and version at best.
                Idempotency::NotIdempotent,
            )
            .await
    }

    /// Deletes a custom image.
    pub async fn delete_custom(&self, id: &str) -> Result<()> {
        self.client
            .delete_with(
                ApiVersion::V1,
                &virtual_endpoint("deviceImages", [id]),
                prefer_unknown_enums(),
            )
            .await
    }
}
