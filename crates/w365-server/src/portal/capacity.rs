//! The capacity dashboard: licences per SKU and Frontline seats (used / free), Cloud PCs by
//! status, users waiting for a Cloud PC (per licence group), Cloud PCs in their grace period (per
//! day it ends). The numbers come from
//! the capacity read of the REST API (`GET /api/v1/tenants/{t}/capacity`, w365-ops capacity);
//! the charts are inline SVG drawn here, each with a title and a text description, and the same
//! numbers stand beside them in tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::response::Response;
use minijinja::{HtmlEscape, Value as Html, context};
use serde_json::Value;

use super::layout::{Page, PageError};
use super::session::PortalSession;
use crate::api::reads;
use crate::state::AppState;

/// One part of a bar: its CSS class, value and the word said for it (`used`, `free`).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub class: &'static str,
    pub value: i64,
    pub word: &'static str,
}

/// One row of a chart: a label and its parts, left to right.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub segments: Vec<Segment>,
}

impl Bar {
    fn total(&self) -> i64 {
        self.segments.iter().map(|s| s.value.max(0)).sum()
    }

    /// The row in words: `CPC_E_2C: 3 used, 2 free`.
    fn words(&self) -> String {
        let parts: Vec<String> = self
            .segments
            .iter()
            .map(|s| format!("{} {}", s.value, s.word))
            .collect();
        format!("{}: {}", self.label, parts.join(", "))
    }
}

const LABEL_WIDTH: i64 = 190;
const BAR_WIDTH: i64 = 300;
const ROW: i64 = 30;

/// A horizontal bar chart as inline SVG: `role="img"`, a `<title>` and a `<desc>` with every
/// number in words, and the numbers printed beside each bar (nothing is told by colour alone).
pub fn bar_chart(id: &str, title: &str, bars: &[Bar]) -> String {
    let max = bars.iter().map(Bar::total).max().unwrap_or(0).max(1);
    let width = LABEL_WIDTH + BAR_WIDTH + 170;
    let height = (bars.len() as i64).max(1) * ROW + 6;
    let desc: Vec<String> = bars.iter().map(Bar::words).collect();
    let desc = if desc.is_empty() {
        "Nothing to show.".to_owned()
    } else {
        desc.join("; ")
    };
    let mut svg = format!(
        "<svg id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        HtmlEscape(title),
        HtmlEscape(&desc)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = i as i64 * ROW + 4;
        let _ = write!(
            svg,
            "<g><text x=\"0\" y=\"{}\">{}</text>",
            y + 16,
            HtmlEscape(&bar.label)
        );
        let mut x = LABEL_WIDTH;
        for s in &bar.segments {
            let w = s.value.max(0) * BAR_WIDTH / max;
            if w > 0 {
                let _ = write!(
                    svg,
                    "<rect class=\"{}\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{}\"><title>{} {}</title></rect>",
                    s.class,
                    ROW - 10,
                    s.value,
                    s.word
                );
            }
            x += w;
        }
        let numbers: Vec<String> = bar
            .segments
            .iter()
            .map(|s| format!("{} {}", s.value, s.word))
            .collect();
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\">{}</text></g>",
            x + 8,
            y + 16,
            HtmlEscape(&numbers.join(" · "))
        );
    }
    svg.push_str("</svg>");
    svg
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn used_free(label: String, used: i64, free: i64) -> Bar {
    Bar {
        label,
        segments: vec![
            Segment {
                class: "used",
                value: used,
                word: "used",
            },
            Segment {
                class: "free",
                value: free,
                word: "free",
            },
        ],
    }
}

/// The charts and tables of a capacity report (the JSON of the REST read).
fn dashboard(report: &Value) -> Html {
    let list = |name: &str| report[name].as_array().cloned().unwrap_or_default();
    let skus: Vec<_> = list("skus")
        .iter()
        .map(|s| {
            context! {
                name => text(&s["skuPartNumber"]), used => int(&s["consumed"]),
                free => int(&s["free"]), total => int(&s["total"]),
            }
        })
        .collect();
    let sku_bars: Vec<Bar> = list("skus")
        .iter()
        .map(|s| {
            used_free(
                text(&s["skuPartNumber"]),
                int(&s["consumed"]),
                int(&s["free"]),
            )
        })
        .collect();
    let plans: Vec<_> = list("frontlinePlans")
        .iter()
        .map(|p| {
            context! {
                name => text(&p["displayName"]), used => int(&p["used"]),
                allotted => p["allotted"].as_i64(), free => int(&p["free"]), total => int(&p["total"]),
            }
        })
        .collect();
    let seats: Vec<_> = list("frontlineAssignments")
        .iter()
        .map(|a| {
            let s = &a["seats"];
            context! {
                policy => text(&a["policy"]),
                allotment => a["allotmentDisplayName"].as_str().map(str::to_owned)
                    .unwrap_or_else(|| text(&a["groupId"])),
                used => int(&s["inUse"]), free => int(&s["free"]), capacity => int(&s["cloudPcCapacity"]),
            }
        })
        .collect();
    let mut seat_bars: Vec<Bar> = list("frontlinePlans")
        .iter()
        .map(|p| {
            // A plan's licences are allotted to groups or free (what a new allotment can take).
            let mut bar = used_free(
                format!("{} (licences)", text(&p["displayName"])),
                int(&p["total"]) - int(&p["free"]),
                int(&p["free"]),
            );
            bar.segments[0].word = "allotted";
            bar
        })
        .collect();
    seat_bars.extend(list("frontlineAssignments").iter().map(|a| {
        used_free(
            format!("{} (seats)", text(&a["policy"])),
            int(&a["seats"]["inUse"]),
            int(&a["seats"]["free"]),
        )
    }));
    let by_status: Vec<(String, i64)> = report["cloudPcsByStatus"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), int(v))).collect())
        .unwrap_or_default();
    let status_bars: Vec<Bar> = by_status
        .iter()
        .map(|(status, n)| Bar {
            label: status.clone(),
            segments: vec![Segment {
                class: if status == "inGracePeriod" || status == "failed" {
                    "warn"
                } else {
                    "bar"
                },
                value: *n,
                word: "Cloud PCs",
            }],
        })
        .collect();
    let statuses: Vec<_> = by_status
        .iter()
        .map(|(s, n)| context! { status => s, count => n })
        .collect();
    let waiting: Vec<_> = list("usersWithoutCloudPc")
        .iter()
        .map(|u| {
            context! {
                upn => text(&u["userPrincipalName"]),
                group => text(&u["licenseGroup"]["displayName"]),
                status => u["status"].as_str().unwrap_or("no Cloud PC record yet").to_owned(),
            }
        })
        .collect();
    let grace: Vec<_> = list("gracePeriod")
        .iter()
        .map(|g| {
            context! {
                name => g["displayName"].as_str().map(str::to_owned).unwrap_or_else(|| text(&g["id"])),
                upn => text(&g["userPrincipalName"]),
                ends => g["gracePeriodEndDateTime"].as_str().map(str::to_owned)
                    .unwrap_or_else(|| "unknown".to_owned()),
            }
        })
        .collect();
    // Waiting users per licence group, and grace periods per day they end (UTC): one bar each.
    let count_by = |items: &[Value], key: &dyn Fn(&Value) -> String| {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for item in items {
            *counts.entry(key(item)).or_default() += 1;
        }
        counts
    };
    let one_bar = |label: String, value: i64, word: &'static str| Bar {
        label,
        segments: vec![Segment {
            class: "warn",
            value,
            word,
        }],
    };
    let waiting_bars: Vec<Bar> = count_by(&list("usersWithoutCloudPc"), &|u| {
        u["licenseGroup"]["displayName"]
            .as_str()
            .filter(|g| !g.is_empty())
            .unwrap_or("no licence group")
            .to_owned()
    })
    .into_iter()
    .map(|(group, n)| one_bar(group, n, "waiting"))
    .collect();
    let grace_bars: Vec<Bar> = count_by(&list("gracePeriod"), &|g| {
        g["gracePeriodEndDateTime"]
            .as_str()
            .and_then(|t| t.get(..10))
            .map_or_else(|| "end unknown".to_owned(), |day| format!("ends {day}"))
    })
    .into_iter()
    .map(|(day, n)| one_bar(day, n, "Cloud PCs"))
    .collect();
    context! {
        waiting_chart => Html::from_safe_string(bar_chart("chart-waiting", "Users waiting for a Cloud PC, per licence group", &waiting_bars)),
        grace_chart => Html::from_safe_string(bar_chart("chart-grace", "Cloud PCs in their grace period, per day the grace period ends (UTC)", &grace_bars)),
        skus => skus, plans => plans, seats => seats, statuses => statuses,
        waiting => waiting, grace => grace, total_pcs => int(&report["cloudPcsTotal"]),
        sku_chart => Html::from_safe_string(bar_chart("chart-skus", "Windows 365 licences per SKU: used and free", &sku_bars)),
        seat_chart => Html::from_safe_string(bar_chart("chart-frontline", "Frontline licences and seats: used and free", &seat_bars)),
        status_chart => Html::from_safe_string(bar_chart("chart-status", "Cloud PCs by status", &status_bars)),
    }
}

/// `GET /capacity`: the dashboard of the current tenant.
pub async fn show(
    State(app): State<AppState>,
    session: PortalSession,
) -> Result<Response, PageError> {
    let tenant = session.current_tenant()?.name.clone();
    let report = reads::capacity(State(app), session.principal.clone(), Path(tenant))
        .await?
        .0;
    Ok(Page::new(&session, "Capacity").render("capacity.html", dashboard(&report)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_says_its_numbers_in_words_and_scales_its_bars() {
        let svg = bar_chart(
            "c",
            "Licences <per> SKU",
            &[used_free("A&B".into(), 3, 1), used_free("C".into(), 0, 2)],
        );
        assert!(svg.starts_with("<svg id=\"c\" role=\"img\" aria-labelledby=\"c-title c-desc\""));
        assert!(svg.contains("<title id=\"c-title\">Licences &lt;per&gt; SKU</title>"));
        assert!(
            svg.contains("<desc id=\"c-desc\">A&amp;B: 3 used, 1 free; C: 0 used, 2 free</desc>")
        );
        // The longest bar (4) is the full width; 3 of 4 is three quarters of it.
        assert!(svg.contains(&format!(
            "class=\"used\" x=\"{LABEL_WIDTH}\" y=\"4\" width=\"225\""
        )));
        assert!(svg.contains(&format!(
            "class=\"free\" x=\"{}\" y=\"4\" width=\"75\"",
            LABEL_WIDTH + 225
        )));
        // A zero draws no rectangle but is still said.
        assert_eq!(svg.matches("class=\"used\"").count(), 1);
        assert!(svg.contains(">0 used · 2 free<"));
        assert!(bar_chart("e", "Empty", &[]).contains("Nothing to show."));
    }
}
