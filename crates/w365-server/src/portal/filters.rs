//! Helpers of the list pages (jobs, audit log): page numbers, dates of the time-range filters,
//! links that keep the current filters, times shown in UTC.

use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

use super::layout::PageError;

/// The page number of `?page=` (1 when absent), or a page saying what to send.
pub fn page_number(page: Option<&str>) -> Result<u32, PageError> {
    match page.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(1),
        Some(p) => p.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            PageError::bad_request(
                format!("'{p}' is not a page number."),
                "Use the Previous and Next links, or page=1.",
            )
        }),
    }
}

/// The start of a day of a date field (`YYYY-MM-DD`, UTC) as RFC 3339; with `end`, the start of
/// the next day (so the range includes the whole day). Empty: no bound.
pub fn day_bound(label: &str, value: Option<&str>, end: bool) -> Result<Option<String>, PageError> {
    let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let day = Date::parse(text, format_description!("[year]-[month]-[day]")).map_err(|_| {
        PageError::bad_request(
            format!("'{text}' in '{label}' is not a date."),
            "Pick a date in the calendar or write it as YYYY-MM-DD (e.g. 2026-11-30).",
        )
    })?;
    let day = if end { day + Duration::days(1) } else { day };
    Ok(Some(format!("{day}T00:00:00Z")))
}

/// `?a=1&b=2` of the non-empty pairs (URL-encoded); empty when there is none.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
        out.append_pair(k, v.trim());
    }
    let text = out.finish();
    if text.is_empty() {
        text
    } else {
        format!("?{text}")
    }
}

/// A time as the pages show it: `2026-11-30 15:04 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_bound_whole_days_and_bad_ones_say_how_to_write_them() {
        assert_eq!(
            day_bound("From", Some("2026-11-30"), false)
                .unwrap()
                .as_deref(),
            Some("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            day_bound("To", Some("2026-12-31"), true)
                .unwrap()
                .as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(day_bound("To", Some(" "), true).unwrap(), None);
        let e = day_bound("From", Some("30/11/2026"), false).unwrap_err();
        assert!(
            e.message.contains("'30/11/2026' in 'From'"),
            "{}",
            e.message
        );
        assert!(e.fix.unwrap_or_default().contains("YYYY-MM-DD"));
    }

    #[test]
    fn links_keep_only_the_filters_in_use() {
        assert_eq!(query(&[("state", ""), ("user", "a b@x")]), "?user=a+b%40x");
        assert_eq!(query(&[("q", " ")]), "");
        assert!(page_number(Some("0")).is_err());
        assert_eq!(page_number(None).unwrap(), 2 - 1);
    }
}
