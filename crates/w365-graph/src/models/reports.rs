//! Cloud PC report streams (`/deviceManagement/virtualEndpoint/reports/*`, beta): a JSON document
//! `{TotalRowCount, Schema:[{Column, PropertyType}], Values:[[…]]}` sent as
//! `application/octet-stream`. Example:
//! <https://learn.microsoft.com/en-us/graph/api/cloudpcreports-getremoteconnectionhistoricalreports?view=graph-rest-beta>.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// One column of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportColumn {
    /// The column name, e.g. `SignInDateTime`.
    #[serde(rename = "Column")]
    pub column: String,
    /// `String`, `DateTime`, `Double`, `Int32`, ...
    #[serde(rename = "PropertyType", default)]
    pub property_type: String,
}

/// One page of a report in the Schema/Values table format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ReportTable {
    /// Rows matching the filter, over all pages.
    #[serde(rename = "TotalRowCount", default)]
    pub total_row_count: Option<u64>,
    /// The columns, in the order of each row's values.
    #[serde(rename = "Schema", default)]
    pub schema: Vec<ReportColumn>,
    /// The rows of this page.
    #[serde(rename = "Values", default)]
    pub values: Vec<Vec<Value>>,
}

/// Parses a report time: RFC 3339, or Graph's offset-less form (`2022-09-06T05:28:52`, UTC,
/// optional fraction).
pub fn parse_report_time(text: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
        let f = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        time::PrimitiveDateTime::parse(text, &f)
            .ok()
            .map(time::PrimitiveDateTime::assume_utc)
    })
}

impl ReportTable {
    /// The position of a column (ASCII case-insensitive).
    pub fn index_of(&self, column: &str) -> Option<usize> {
        self.schema
            .iter()
            .position(|c| c.column.eq_ignore_ascii_case(column))
    }

    /// A text cell.
    pub fn text(&self, row: &[Value], column: &str) -> Option<String> {
        let v = row.get(self.index_of(column)?)?;
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A number cell (numbers, or numbers sent as text).
    pub fn number(&self, row: &[Value], column: &str) -> Option<f64> {
        match row.get(self.index_of(column)?)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A time cell.
    pub fn time(&self, row: &[Value], column: &str) -> Option<OffsetDateTime> {
        parse_report_time(&self.text(row, column)?)
    }
}

/// One finished remote session of a Cloud PC (a row of the historical connection report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteSession {
    #[serde(with = "time::serde::rfc3339")]
    pub sign_in_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sign_out_date_time: Option<OffsetDateTime>,
    /// Hours connected.
    pub usage_in_hour: f64,
}

/// The sessions of a Cloud PC, and the service's clock when it answered (HTTP `Date`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionHistory {
    pub sessions: Vec<RemoteSession>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub service_time: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let raw = r#"{"TotalRowCount":4,"Schema":[{"Column":"SignInDateTime","PropertyType":"DateTime"},
            {"Column":"SignOutDateTime","PropertyType":"DateTime"},{"Column":"UsageInHour","PropertyType":"Double"}],
            "Values":[["2022-09-06T05:28:52","2022-09-06T07:03:16",1.5733333333333333]]}"#;
        let t: ReportTable = serde_json::from_str(raw).unwrap();
        assert_eq!(t.total_row_count, Some(4));
        let row = &t.values[0];
        assert_eq!(
            t.time(row, "signindatetime").unwrap(),
            time::macros::datetime!(2022-09-06 05:28:52 UTC)
        );
        assert!((t.number(row, "UsageInHour").unwrap() - 1.5733).abs() < 1e-3);
        assert_eq!(t.text(row, "Missing"), None);
        assert_eq!(
            parse_report_time("2023-04-17T01:43:18.123"),
            Some(time::macros::datetime!(2023-04-17 01:43:18.123 UTC))
        );
    }
}
