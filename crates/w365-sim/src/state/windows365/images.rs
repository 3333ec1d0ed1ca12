//! Custom device images (`cloudPcDeviceImage`) with their upload lifecycle on the virtual clock,
//! and the gallery images (`cloudPcGalleryImage`) the service offers. Both v1.0.
//!
//! Graph (v1.0, generally available):
//! - <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcdeviceimage?view=graph-rest-1.0>:
//!   `status` pending|ready|failed, `errorCode` (internalServerError, sourceImageNotFound,
//!   osVersionNotSupported, sourceImageInvalid, sourceImageNotGeneralized, then after
//!   `unknownFutureValue`: vmAlreadyAzureAdJoined, paidSourceImageNotSupport,
//!   sourceImageNotSupportCustomizeVMName, sourceImageSizeExceedsLimitation — those only with
//!   `Prefer: include-unknown-enum-members`), `osStatus`, `operatingSystem`, `osBuildNumber`,
//!   `version`, `sourceImageResourceId` ("/subscriptions/{subscription-id}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/images/{imageName}");
//!   display name and version identify an image;
//! - create: <https://learn.microsoft.com/en-us/graph/api/virtualendpoint-post-deviceimages?view=graph-rest-1.0>
//!   (`displayName`, `version`, `sourceImageResourceId` required; 201 with `status: pending`);
//! - delete: <https://learn.microsoft.com/en-us/graph/api/cloudpcdeviceimage-delete?view=graph-rest-1.0> (204);
//! - gallery: <https://learn.microsoft.com/en-us/graph/api/resources/cloudpcgalleryimage?view=graph-rest-1.0>
//!   (id `{publisher}_{offer}_{sku}`, `status` supported|supportedWithWarning|notSupported).
//!
//! Upload lifecycle: `pending` for [`UPLOAD_TIME`] (the simulator's choice), then `ready`, or
//! `failed` with the error code the simulated Azure environment gives the source image: an image
//! name containing `missing` -> `sourceImageNotFound`, `notgeneralized` ->
//! `sourceImageNotGeneralized`, `win7` or `win8` -> `osVersionNotSupported`, `marketplace` ->
//! `paidSourceImageNotSupport` (masked as `unknownFutureValue` without the Prefer header).
//!
//! LIMITATIONS: `getSourceImages` and beta `retryUpload` are not emulated; Graph's answers to a
//! duplicate display name + version and to deleting an image a policy uses are not documented:
//! the simulator answers 409 `Conflict` and 400 `BadRequest` naming the policies.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};

use super::Windows365State;
use super::error::{Result, Windows365Error};
use super::input::{check_odata_type, parse_body};
use super::policy::ImageType;

/// From `POST deviceImages` until the upload is `ready` or `failed`.
pub const UPLOAD_TIME: Duration = Duration::minutes(30);

/// `cloudPcDeviceImageStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageStatus {
    Pending,
    Ready,
    Failed,
}

/// A custom image uploaded from a managed image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceImage {
    pub id: String,
    pub display_name: String,
    pub version: String,
    pub source_image_resource_id: String,
    pub status: ImageStatus,
    pub error_code: Option<String>,
    pub operating_system: Option<String>,
    pub os_build_number: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified_date_time: OffsetDateTime,
    /// When the upload finishes (none once it has).
    #[serde(with = "time::serde::rfc3339::option")]
    pub upload_due: Option<OffsetDateTime>,
}

/// A gallery image of the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GalleryImage {
    pub id: String,
    pub display_name: String,
    pub publisher_name: String,
    pub offer_name: String,
    pub sku_name: String,
    pub size_in_gb: u32,
    pub start_date: Date,
    pub end_date: Date,
    pub expiration_date: Date,
}

fn date(y: i32, m: u8, d: u8) -> Date {
    Date::from_calendar_date(
        y,
        time::Month::try_from(m).unwrap_or(time::Month::January),
        d,
    )
    .unwrap_or(Date::MIN)
}

/// The gallery the simulator offers: the Cloud PC optimized Windows 11 and Windows 10 images
/// (ids in the documented `{publisher}_{offer}_{sku}` form, as the seed's policies use them).
pub fn default_gallery() -> Vec<GalleryImage> {
    let image = |sku: &str, name: &str, start: Date, end: Date, expiration: Date| GalleryImage {
        id: format!("microsoftwindowsdesktop_windows-ent-cpc_{sku}"),
        display_name: name.to_owned(),
        publisher_name: "microsoftwindowsdesktop".to_owned(),
        offer_name: "windows-ent-cpc".to_owned(),
        sku_name: sku.to_owned(),
        size_in_gb: 64,
        start_date: start,
        end_date: end,
        expiration_date: expiration,
    };
    vec![
        image(
            "win11-24H2-ent-cpc-m365",
            "Windows 11 Enterprise + Microsoft 365 Apps 24H2",
            date(2024, 10, 1),
            date(2027, 10, 12),
            date(2028, 4, 12),
        ),
        image(
            "win11-24H2-ent-cpc",
            "Windows 11 Enterprise 24H2",
            date(2024, 10, 1),
            date(2027, 10, 12),
            date(2028, 4, 12),
        ),
        image(
            "win10-22h2-ent-cpc-m365",
            "Windows 10 Enterprise + Microsoft 365 Apps 22H2",
            date(2022, 10, 18),
            date(2025, 10, 14),
            date(2026, 4, 14),
        ),
    ]
}

impl GalleryImage {
    /// `supported` until `endDate`, `supportedWithWarning` until `expirationDate`, then
    /// `notSupported` (the resource page's definitions).
    pub fn status_at(&self, now: OffsetDateTime) -> &'static str {
        let today = now.date();
        if today <= self.end_date {
            "supported"
        } else if today <= self.expiration_date {
            "supportedWithWarning"
        } else {
            "notSupported"
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImageInput {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    source_image_resource_id: Option<String>,
}

/// The managed image's name, after checking the documented id form.
fn managed_image_name(id: &str) -> Result<String> {
    let segments: Vec<&str> = id.trim_start_matches('/').split('/').collect();
    let keys = ["subscriptions", "resourceGroups", "providers", "images"];
    let ok = id.starts_with('/')
        && segments.len() == 8
        && segments
            .chunks(2)
            .zip(keys)
            .all(|(pair, key)| pair[0].eq_ignore_ascii_case(key) && !pair[1].trim().is_empty())
        && segments[5].eq_ignore_ascii_case("Microsoft.Compute");
    if !ok {
        return Err(Windows365Error::invalid(format!(
            "the property 'sourceImageResourceId' must have the form /subscriptions/{{subscription-id}}/resourceGroups/{{resourceGroupName}}/providers/Microsoft.Compute/images/{{imageName}}, not '{id}'"
        )));
    }
    Ok(segments[7].to_owned())
}

/// The upload's outcome in the simulated Azure environment (see the module documentation).
fn upload_outcome(
    image_name: &str,
) -> std::result::Result<(&'static str, &'static str), &'static str> {
    let name = image_name.to_ascii_lowercase();
    if name.contains("missing") {
        Err("sourceImageNotFound")
    } else if name.contains("notgeneralized") {
        Err("sourceImageNotGeneralized")
    } else if name.contains("win7") || name.contains("win8") {
        Err("osVersionNotSupported")
    } else if name.contains("marketplace") {
        Err("paidSourceImageNotSupport")
    } else if name.contains("win10") {
        Ok(("Windows 10 Enterprise", "19045"))
    } else {
        Ok(("Windows 11 Enterprise", "26100"))
    }
}

/// Error codes declared after `unknownFutureValue` (masked without the Prefer header).
const LATE_ERROR_CODES: &[&str] = &[
    "vmAlreadyAzureAdJoined",
    "paidSourceImageNotSupport",
    "sourceImageNotSupportCustomizeVMName",
    "sourceImageSizeExceedsLimitation",
];

impl DeviceImage {
    fn advance(&mut self, now: OffsetDateTime) {
        let Some(due) = self.upload_due.filter(|d| *d <= now) else {
            return;
        };
        let name = managed_image_name(&self.source_image_resource_id).unwrap_or_default();
        match upload_outcome(&name) {
            Ok((os, build)) => {
                self.status = ImageStatus::Ready;
                self.operating_system = Some(os.to_owned());
                self.os_build_number = Some(build.to_owned());
            }
            Err(code) => {
                self.status = ImageStatus::Failed;
                self.error_code = Some(code.to_owned());
            }
        }
        self.last_modified_date_time = due;
        self.upload_due = None;
    }

    /// Marks a seeded image's upload as finished at `at`.
    pub fn finish_upload_at(&mut self, at: OffsetDateTime) {
        self.upload_due = Some(at);
        self.advance(at);
    }
}

impl Windows365State {
    /// Every custom image, in creation order.
    pub fn device_images(&self) -> &[DeviceImage] {
        &self.device_images
    }

    /// One custom image.
    pub fn device_image(&self, id: &str) -> Result<&DeviceImage> {
        self.device_images
            .iter()
            .find(|i| i.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcDeviceImage", id))
    }

    /// The gallery.
    pub fn gallery_images(&self) -> &[GalleryImage] {
        &self.gallery_images
    }

    /// One gallery image.
    pub fn gallery_image(&self, id: &str) -> Result<&GalleryImage> {
        self.gallery_images
            .iter()
            .find(|i| i.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcGalleryImage", id))
    }

    /// The display names of the provisioning policies that provision from a custom image.
    pub fn policies_using_image(&self, id: &str) -> Vec<String> {
        self.policies
            .iter()
            .filter(|p| p.image_type == ImageType::Custom && p.image_id.eq_ignore_ascii_case(id))
            .map(|p| p.display_name.clone())
            .collect()
    }

    /// `POST deviceImages`: starts the upload.
    pub fn create_device_image(&mut self, body: Value, now: OffsetDateTime) -> Result<DeviceImage> {
        let input: ImageInput = parse_body(body, "cloudPcDeviceImage")?;
        check_odata_type(
            input.odata_type.as_deref(),
            "microsoft.graph.cloudPcDeviceImage",
        )?;
        let need = |v: Option<String>, name: &str| {
            v.filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                Windows365Error::invalid(format!("the property '{name}' is required"))
            })
        };
        let display_name = need(input.display_name, "displayName")?;
        let version = need(input.version, "version")?;
        let source = need(input.source_image_resource_id, "sourceImageResourceId")?;
        managed_image_name(&source)?;
        if !version
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(Windows365Error::invalid(format!(
                "the property 'version' must be dotted numbers such as 0.0.1 or 1.5.13, not '{version}'"
            )));
        }
        if let Some(other) = self
            .device_images
            .iter()
            .find(|i| i.display_name.eq_ignore_ascii_case(&display_name) && i.version == version)
        {
            return Err(Windows365Error::conflict(format!(
                "an image named '{display_name}' with version {version} already exists ({})",
                other.id
            )));
        }
        let image = DeviceImage {
            id: self.infra_ids.guid(),
            display_name,
            version,
            source_image_resource_id: source,
            status: ImageStatus::Pending,
            error_code: None,
            operating_system: None,
            os_build_number: None,
            last_modified_date_time: now,
            upload_due: Some(now + UPLOAD_TIME),
        };
        self.device_images.push(image.clone());
        Ok(image)
    }

    /// `DELETE deviceImages/{id}`: refused while a provisioning policy provisions from it.
    pub fn delete_device_image(&mut self, id: &str) -> Result<()> {
        let index = self
            .device_images
            .iter()
            .position(|i| i.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| Windows365Error::not_found("cloudPcDeviceImage", id))?;
        let users = self.policies_using_image(id);
        if !users.is_empty() {
            return Err(Windows365Error::invalid_state(format!(
                "The image '{}' is in use by the provisioning policies {}; change their image first.",
                self.device_images[index].display_name,
                users
                    .iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.device_images.remove(index);
        Ok(())
    }

    /// Adds an image as it is (seeds only).
    pub fn insert_device_image(&mut self, image: DeviceImage) {
        self.device_images.push(image);
    }
}

fn date_value(d: Date) -> Value {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    d.format(&f).map_or(Value::Null, Value::String)
}

/// A `cloudPcDeviceImage` as Graph renders it.
pub fn render_device_image(i: &DeviceImage, include_unknown_enum_members: bool) -> Value {
    let error_code = i.error_code.as_deref().map(|c| {
        if !include_unknown_enum_members && LATE_ERROR_CODES.contains(&c) {
            "unknownFutureValue"
        } else {
            c
        }
    });
    json!({
        "id": i.id,
        "displayName": i.display_name,
        "version": i.version,
        "sourceImageResourceId": i.source_image_resource_id,
        "status": match i.status {
            ImageStatus::Pending => "pending",
            ImageStatus::Ready => "ready",
            ImageStatus::Failed => "failed",
        },
        "errorCode": error_code,
        "operatingSystem": i.operating_system,
        "osBuildNumber": i.os_build_number,
        "osStatus": match i.status {
            ImageStatus::Ready => Value::from("supported"),
            _ => Value::Null,
        },
        "expirationDate": Value::Null,
        "lastModifiedDateTime": i.last_modified_date_time
            .format(&time::format_description::well_known::Rfc3339)
            .map_or(Value::Null, Value::String),
    })
}

/// A `cloudPcGalleryImage` as Graph renders it.
pub fn render_gallery_image(g: &GalleryImage, now: OffsetDateTime) -> Value {
    json!({
        "id": g.id,
        "displayName": g.display_name,
        "publisherName": g.publisher_name,
        "offerName": g.offer_name,
        "skuName": g.sku_name,
        "sizeInGB": g.size_in_gb,
        "startDate": date_value(g.start_date),
        "endDate": date_value(g.end_date),
        "expirationDate": date_value(g.expiration_date),
        "status": g.status_at(now),
    })
}

/// Plays every due upload.
pub(crate) fn run_due(w: &mut Windows365State, now: OffsetDateTime) {
    for i in &mut w.device_images {
        i.advance(now);
    }
}

/// When the next upload finishes.
pub(crate) fn next_due(w: &Windows365State) -> Option<OffsetDateTime> {
    w.device_images.iter().filter_map(|i| i.upload_due).min()
}
