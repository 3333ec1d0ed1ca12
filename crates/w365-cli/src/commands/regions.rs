//! `w365 regions`: the regions Cloud PCs can be provisioned in, with their region groups (Graph
//! beta `supportedRegions`). Reads only. Policy create / update / apply check region names
//! against the same list (`w365_ops::regions`).

use serde::Serialize;
use w365_graph::models::CloudPcSupportedRegion;

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::{CsvRecord, Printer, to_csv};
use crate::settings::Settings;

use super::lifecycle::document;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    name: String,
    region_group: String,
    geographic_location_type: String,
    status: String,
}

fn row(r: &CloudPcSupportedRegion) -> Row {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    Row {
        name: r.display_name.clone(),
        region_group: text(&r.region_group),
        geographic_location_type: text(&r.geographic_location_type),
        status: text(&r.region_status),
    }
}

pub async fn run(settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let target = settings.target()?;
    let conn = Connection::open(target).await?;
    let name = conn.target_name.clone();
    let result = w365_ops::regions::list(&conn.client).await;
    conn.close().await?;
    let regions = result?;
    match printer.format() {
        OutputFormat::Json => printer.json(&document(
            "regions",
            &serde_json::json!({ "count": regions.len(), "regions": regions }),
            &name,
            ExitStatus::Success,
            None,
        )),
        OutputFormat::Csv => {
            let rows: Vec<Row> = regions.iter().map(row).collect();
            printer.csv(&to_csv(&rows)?);
        }
        OutputFormat::Human | OutputFormat::Wide => {
            let mut table = printer.table(&["Region", "Region group", "Geography", "Status"]);
            for r in &regions {
                let r = row(r);
                table.add_row(vec![
                    r.name,
                    r.region_group,
                    r.geographic_location_type,
                    r.status,
                ]);
            }
            let mut groups: Vec<&str> = regions
                .iter()
                .filter_map(|r| r.region_group.as_deref())
                .collect();
            groups.sort_unstable();
            groups.dedup();
            printer.result(&format!(
                "{table}\n{} region(s) in {} region group(s) on {name}; policies may also use \"automatic\"",
                regions.len(),
                groups.len()
            ));
        }
    }
    Ok(ExitStatus::Success)
}

impl CsvRecord for Row {
    const HEADER: &'static [&'static str] = &[
        "name",
        "regionGroup",
        "geographicLocationType",
        "regionStatus",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.region_group.clone(),
            self.geographic_location_type.clone(),
            self.status.clone(),
        ]
    }
}
