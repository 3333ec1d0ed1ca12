//! `w365 image list|show|import|delete`: custom images (Graph v1.0 `deviceImages`, with their
//! upload status) and the gallery (`galleryImages`). Application permissions: CloudPC.Read.All
//! to read, CloudPC.ReadWrite.All to import or delete.

use clap::{Args, Subcommand};
use serde::Serialize;
use w365_graph::models::{DeviceImage, DeviceImageInput, GalleryImage};
use w365_ops::images::{self, Found, Which};

use super::lifecycle::document;
use super::network::emit;
use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::consent;
use crate::exit::ExitStatus;
use crate::output::{CsvRecord, Printer, to_csv};
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List custom and gallery images
    List(ListArgs),
    /// Show one image (custom first, then gallery), by name or id
    Show {
        #[arg(value_name = "NAME|ID")]
        target: String,
    },
    /// Import a custom image from an Azure managed image (the upload takes a while)
    Import(ImportArgs),
    /// Delete a custom image (refused while a provisioning policy uses it; asks first)
    Delete {
        #[arg(value_name = "NAME|ID")]
        target: String,
        /// Resolve the image and check it is unused; change nothing
        #[arg(long)]
        dry_run: bool,
        /// Consent without asking (scripts)
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct ListArgs {
    /// Only the gallery images
    #[arg(long)]
    pub gallery: bool,
    /// Only the custom images
    #[arg(long)]
    pub custom: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Display name of the new image
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Version, e.g. 1.0.0 (name and version identify an image)
    #[arg(long, value_name = "VERSION")]
    pub version: String,
    /// The managed image: /subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Compute/images/{name}
    #[arg(long, value_name = "IMAGE_ID")]
    pub source: String,
    /// Plan (reads only); change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// One row per image.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    image_type: &'static str,
    id: String,
    display_name: String,
    version: String,
    status: String,
    error_code: String,
    operating_system: String,
}

fn custom_row(i: &DeviceImage) -> Row {
    Row {
        image_type: "custom",
        id: i.id.clone(),
        display_name: i.display_name.clone().unwrap_or_default(),
        version: i.version.clone().unwrap_or_default(),
        status: i
            .status
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        error_code: i.error_code.clone().unwrap_or_default(),
        operating_system: i.operating_system.clone().unwrap_or_default(),
    }
}

fn gallery_row(g: &GalleryImage) -> Row {
    Row {
        image_type: "gallery",
        id: g.id.clone(),
        display_name: g.display_name.clone().unwrap_or_default(),
        version: g.sku_name.clone().unwrap_or_default(),
        status: g.status.clone().unwrap_or_default(),
        error_code: String::new(),
        operating_system: String::new(),
    }
}

impl CsvRecord for Row {
    const HEADER: &'static [&'static str] = &[
        "imageType",
        "id",
        "displayName",
        "version",
        "status",
        "errorCode",
        "operatingSystem",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.image_type.to_owned(),
            self.id.clone(),
            self.display_name.clone(),
            self.version.clone(),
            self.status.clone(),
            self.error_code.clone(),
            self.operating_system.clone(),
        ]
    }
}

fn table(rows: &[Row], printer: &Printer) -> String {
    let mut table = printer.table(&["Type", "Name", "Version/SKU", "Status", "Error", "OS", "Id"]);
    for r in rows {
        table.add_row(vec![
            r.image_type.to_owned(),
            r.display_name.clone(),
            r.version.clone(),
            r.status.clone(),
            r.error_code.clone(),
            r.operating_system.clone(),
            r.id.clone(),
        ]);
    }
    table.to_string()
}

/// What a changing command did, for `-o json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeReport<'a> {
    dry_run: bool,
    changed: bool,
    image: Option<&'a DeviceImage>,
}

pub async fn run(
    settings: &Settings,
    command: &ImageCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let conn = Connection::open(settings.target()?).await?;
    let result = run_on(&conn, command, printer).await;
    conn.close().await?;
    result
}

async fn run_on(
    conn: &Connection,
    command: &ImageCommand,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let client = &conn.client;
    let name = conn.target_name.as_str();
    match command {
        ImageCommand::List(args) => {
            let which = if args.gallery {
                Which::Gallery
            } else if args.custom {
                Which::Custom
            } else {
                Which::All
            };
            let found = images::list(client, which).await?;
            let rows: Vec<Row> = found
                .custom
                .iter()
                .map(custom_row)
                .chain(found.gallery.iter().map(gallery_row))
                .collect();
            match printer.format() {
                OutputFormat::Json => printer.json(&document(
                    "image list",
                    &serde_json::json!({
                        "count": rows.len(),
                        "customImages": found.custom,
                        "galleryImages": found.gallery,
                    }),
                    name,
                    ExitStatus::Success,
                    None,
                )),
                OutputFormat::Csv => printer.csv(&to_csv(&rows)?),
                _ => printer.result(&format!(
                    "{}\n{} custom and {} gallery image(s) on {name}",
                    table(&rows, printer),
                    found.custom.len(),
                    found.gallery.len()
                )),
            }
        }
        ImageCommand::Show { target } => {
            let found = images::show(client, target).await?;
            let row = match &found {
                Found::Custom(i) => custom_row(i),
                Found::Gallery(g) => gallery_row(g),
            };
            match printer.format() {
                OutputFormat::Json => printer.json(&document(
                    "image show",
                    &serde_json::json!({"image": found}),
                    name,
                    ExitStatus::Success,
                    None,
                )),
                OutputFormat::Csv => printer.csv(&to_csv(&[row])?),
                _ => {
                    let mut lines = vec![table(std::slice::from_ref(&row), printer)];
                    if let Found::Custom(i) = &found {
                        lines.push(format!(
                            "source: {}",
                            i.source_image_resource_id.as_deref().unwrap_or("")
                        ));
                    }
                    printer.result(&lines.join("\n"));
                }
            }
        }
        ImageCommand::Import(args) => {
            let plan = images::plan_import(
                client,
                DeviceImageInput {
                    display_name: args.name.trim().to_owned(),
                    version: args.version.trim().to_owned(),
                    source_image_resource_id: args.source.trim().to_owned(),
                },
            )
            .await?;
            let image = if args.dry_run {
                plan.existing.clone()
            } else {
                Some(images::import(client, &plan).await?)
            };
            let changed = plan.existing.is_none() && !args.dry_run;
            let text = match (&plan.existing, args.dry_run) {
                (Some(e), _) => format!(
                    "Nothing to do: the image '{}' {} exists ({}, {}).",
                    args.name,
                    args.version,
                    e.id,
                    e.status.as_ref().map_or("unknown", |s| s.as_str())
                ),
                (None, true) => format!(
                    "Dry run: would import '{}' {} from {} on {name}. Nothing was changed.",
                    args.name, args.version, args.source
                ),
                (None, false) => format!(
                    "Importing '{}' {} on {name} ({}): status {}. The upload takes a while; see `w365 image show {}`.",
                    args.name,
                    args.version,
                    image.as_ref().map(|i| i.id.as_str()).unwrap_or(""),
                    image
                        .as_ref()
                        .and_then(|i| i.status.as_ref())
                        .map_or("pending", |s| s.as_str()),
                    image.as_ref().map(|i| i.id.as_str()).unwrap_or("")
                ),
            };
            emit(
                printer,
                "image import",
                &ChangeReport {
                    dry_run: args.dry_run,
                    changed,
                    image: image.as_ref(),
                },
                name,
                &text,
            );
        }
        ImageCommand::Delete {
            target,
            dry_run,
            yes,
        } => {
            let image = images::plan_delete(client, target).await?;
            let who = format!(
                "'{}' {} ({})",
                image.display_name.as_deref().unwrap_or(""),
                image.version.as_deref().unwrap_or(""),
                image.id
            );
            let step = format!("  1. delete the custom image {who}");
            if !dry_run {
                printer.finish();
                consent::require(
                    &format!("Delete the custom image {who} on {name}"),
                    &step,
                    *yes,
                )?;
                images::delete(client, &image).await?;
            }
            let text = if *dry_run {
                format!(
                    "Dry run: no provisioning policy uses {who}. Plan:\n{step}\nNothing was changed."
                )
            } else {
                format!("Deleted the custom image {who} on {name}.")
            };
            emit(
                printer,
                "image delete",
                &ChangeReport {
                    dry_run: *dry_run,
                    changed: !dry_run,
                    image: Some(&image),
                },
                name,
                &text,
            );
        }
    }
    Ok(ExitStatus::Success)
}
