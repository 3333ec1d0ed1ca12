//! `w365 audit-events [--since TIME] [--activity TYPE] [--actor UPN]`: the Windows 365 audit log
//! (Graph v1.0 `auditEvents`, every page). Reads only. `--activity-types` lists the types in use.

use clap::Args;
use serde::Serialize;
use w365_graph::models::CloudPcAuditEvent;
use w365_ops::audit_events::{self, AuditQuery};

use crate::cli::OutputFormat;
use crate::connect::Connection;
use crate::exit::ExitStatus;
use crate::output::{CsvRecord, Printer, csv_time, human_time, to_csv};
use crate::settings::Settings;

use super::lifecycle::document;
use super::snapshot::parse_time;

#[derive(Debug, Clone, Args)]
pub struct AuditEventsArgs {
    /// Only events at or after TIME (RFC 3339, e.g. 2026-11-30T08:00:00Z, or a date: midnight UTC)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events of this activity type, e.g. "Create ProvisioningPolicy" (see --activity-types)
    #[arg(long, value_name = "TYPE")]
    pub activity: Option<String>,
    /// Only events by this user principal name (or, for app-only changes, application name or id)
    #[arg(long, value_name = "UPN")]
    pub actor: Option<String>,
    /// List the activity types the tenant's events use instead of the events
    #[arg(long, conflicts_with_all = ["since", "activity", "actor"])]
    pub activity_types: bool,
}

/// One row per event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    activity_date_time: String,
    activity_type: String,
    operation: String,
    result: String,
    actor: String,
    resource_id: String,
    resource_name: String,
    id: String,
}

fn row(e: &CloudPcAuditEvent, human: bool) -> Row {
    let resource = e.resources.first();
    let text = |v: Option<&String>| v.cloned().unwrap_or_default();
    Row {
        activity_date_time: e
            .activity_date_time
            .map(|t| if human { human_time(t) } else { csv_time(t) })
            .unwrap_or_default(),
        activity_type: text(e.activity_type.as_ref()),
        operation: e
            .activity_operation_type
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        result: e
            .activity_result
            .as_ref()
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        actor: e.actor.as_ref().map(|a| a.label()).unwrap_or_default(),
        resource_id: text(resource.and_then(|r| r.resource_id.as_ref())),
        resource_name: text(resource.and_then(|r| r.display_name.as_ref())),
        id: e.id.clone(),
    }
}

pub async fn run(
    settings: &Settings,
    args: &AuditEventsArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let query = AuditQuery {
        since: args.since.as_deref().map(parse_time).transpose()?,
        activity: args.activity.clone(),
        actor: args.actor.clone(),
    };
    let target = settings.target()?;
    let conn = Connection::open(target).await?;
    let name = conn.target_name.clone();
    if args.activity_types {
        let result = audit_events::activity_types(&conn.client).await;
        conn.close().await?;
        let types = result?;
        match printer.format() {
            OutputFormat::Json => printer.json(&document(
                "audit-events",
                &serde_json::json!({ "activityTypes": types }),
                &name,
                ExitStatus::Success,
                None,
            )),
            OutputFormat::Csv => printer.csv(&to_csv(
                &types.iter().map(|t| ActivityType(t)).collect::<Vec<_>>(),
            )?),
            _ => printer.result(&format!(
                "{}\n{} activity type(s) on {name}",
                types.join("\n"),
                types.len()
            )),
        }
        return Ok(ExitStatus::Success);
    }
    let result = audit_events::list(&conn.client, &query).await;
    conn.close().await?;
    let events = result?;
    match printer.format() {
        OutputFormat::Json => printer.json(&document(
            "audit-events",
            &serde_json::json!({ "count": events.len(), "events": events }),
            &name,
            ExitStatus::Success,
            None,
        )),
        OutputFormat::Csv => {
            let rows: Vec<Row> = events.iter().map(|e| row(e, false)).collect();
            printer.csv(&to_csv(&rows)?);
        }
        OutputFormat::Human | OutputFormat::Wide => {
            let mut table = printer.table(&["When", "Activity", "Actor", "Resource", "Result"]);
            for e in &events {
                let r = row(e, true);
                let resource = match (r.resource_name.is_empty(), r.resource_id.is_empty()) {
                    (false, _) => format!("{} ({})", r.resource_name, r.resource_id),
                    (true, false) => r.resource_id,
                    (true, true) => String::new(),
                };
                table.add_row(vec![
                    r.activity_date_time,
                    r.activity_type,
                    r.actor,
                    resource,
                    r.result,
                ]);
            }
            printer.result(&format!(
                "{table}\n{} audit event(s) on {name}",
                events.len()
            ));
        }
    }
    Ok(ExitStatus::Success)
}

/// One line of `--activity-types -o csv` (quoted and neutralised as every CSV cell is).
struct ActivityType<'a>(&'a str);

impl CsvRecord for ActivityType<'_> {
    const HEADER: &'static [&'static str] = &["activityType"];
    fn cells(&self) -> Vec<String> {
        vec![self.0.to_owned()]
    }
}

impl CsvRecord for Row {
    const HEADER: &'static [&'static str] = &[
        "activityDateTime",
        "activityType",
        "activityOperationType",
        "activityResult",
        "actor",
        "resourceId",
        "resourceDisplayName",
        "id",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.activity_date_time.clone(),
            self.activity_type.clone(),
            self.operation.clone(),
            self.result.clone(),
            self.actor.clone(),
            self.resource_id.clone(),
            self.resource_name.clone(),
            self.id.clone(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_types_as_csv_are_quoted_and_neutralised() {
        let types = [
            "Create BulkAction",
            "=HYPERLINK(\"x\")",
            "Patch, then restart",
        ];
        let rows: Vec<ActivityType<'_>> = types.iter().map(|t| ActivityType(t)).collect();
        assert_eq!(
            to_csv(&rows).unwrap(),
            "activityType\nCreate BulkAction\n\"'=HYPERLINK(\"\"x\"\")\"\n\"Patch, then restart\"\n"
        );
        assert_eq!(to_csv::<ActivityType<'_>>(&[]).unwrap(), "activityType\n");
    }
}
