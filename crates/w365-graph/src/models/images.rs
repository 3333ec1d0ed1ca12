//! `cloudPcDeviceImage` (custom images) and `cloudPcGalleryImage` (v1.0).
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcdeviceimage?view=graph-rest-1.0>,
//! <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcgalleryimage?view=graph-rest-1.0>

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

evolvable_enum! {
    /// `cloudPcDeviceImageStatus`: the upload.
    pub enum DeviceImageStatus {
        Pending = "pending",
        Ready = "ready",
        Failed = "failed",
        UnknownFutureValue = "unknownFutureValue",
    }
}

/// A custom image uploaded from a managed image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeviceImage {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub source_image_resource_id: Option<String>,
    #[serde(default)]
    pub status: Option<DeviceImageStatus>,
    /// Why the upload failed (`cloudPcDeviceImageErrorCode`, e.g. `sourceImageNotGeneralized`).
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub operating_system: Option<String>,
    #[serde(default)]
    pub os_build_number: Option<String>,
    /// `supported`, `supportedWithWarning`, `unknown`.
    #[serde(default)]
    pub os_status: Option<String>,
    #[serde(default)]
    pub expiration_date: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_modified_date_time: Option<OffsetDateTime>,
}

/// The body of `POST deviceImages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceImageInput {
    pub display_name: String,
    pub version: String,
    pub source_image_resource_id: String,
}

/// An image of the Windows 365 gallery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct GalleryImage {
    /// `{publisher}_{offer}_{sku}`.
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub publisher_name: Option<String>,
    #[serde(default)]
    pub offer_name: Option<String>,
    #[serde(default)]
    pub sku_name: Option<String>,
    #[serde(default, rename = "sizeInGB")]
    pub size_in_gb: Option<u32>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub expiration_date: Option<String>,
    /// `supported`, `supportedWithWarning`, `notSupported`.
    #[serde(default)]
    pub status: Option<String>,
}
