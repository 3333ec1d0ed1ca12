//! Five-field cron expressions evaluated in an IANA time zone.
//!
//! `minute hour day-of-month month day-of-week`, each field `*`, a value, a range `a-b`, a step
//! `*/n`, `a-b/n` or `a/n`, or a comma-separated list of those. Months accept `JAN`–`DEC`, days of
//! the week `SUN`–`SAT` (0 and 7 are both Sunday). As in Vixie cron, when both day-of-month and
//! day-of-week are restricted a day matches if either does.
//!
//! Daylight saving time: a fire time that falls in a gap (clocks jump forward) runs at the first
//! instant after the gap; a fire time in a repeated hour (clocks go back) runs once, at its first
//! occurrence.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use time::OffsetDateTime;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
    source: String,
}

/// A cron expression with its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    pub cron: Cron,
    pub tz: TimeZone,
    pub tz_name: String,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    names_start: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        names_start: 0,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        names_start: 0,
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
        names_start: 0,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
        names_start: 1,
    },
    Field {
        name: "day of week",
        min: 0,
        max: 7,
        names: &WEEKDAYS,
        names_start: 0,
    },
];

impl Cron {
    /// Parses "minute hour day-of-month month day-of-week".
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "cron expression {expr:?} has {} fields; expected 5: minute hour day-of-month month day-of-week, e.g. \"0 6 * * 1-5\" (06:00 on weekdays)",
                parts.len()
            ));
        }
        let mut masks = [0u64; 5];
        for (i, (part, field)) in parts.iter().zip(FIELDS.iter()).enumerate() {
            masks[i] = parse_field(part, field).map_err(|e| {
                format!(
                    "cron expression {expr:?}: {} field {part:?}: {e}",
                    field.name
                )
            })?;
        }
        // Day of week 7 is Sunday.
        if masks[4] & (1 << 7) != 0 {
            masks[4] = (masks[4] | 1) & !(1 << 7);
        }
        Ok(Cron {
            minutes: masks[0],
            hours: masks[1],
            days: masks[2],
            months: masks[3],
            weekdays: masks[4],
            days_restricted: parts[2] != "*",
            weekdays_restricted: parts[4] != "*",
            source: expr.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = self.days & (1 << date.day()) != 0;
        let dow = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            _ => dom && dow,
        }
    }
}

fn parse_value(s: &str, f: &Field) -> Result<u32, String> {
    let upper = s.to_ascii_uppercase();
    if let Some(i) = f.names.iter().position(|n| *n == upper) {
        return Ok(i as u32 + f.names_start);
    }
    let v: u32 = s.parse().map_err(|_| {
        if f.names.is_empty() {
            format!("{s:?} is not a number")
        } else {
            format!("{s:?} is not a number or a name ({})", f.names.join(", "))
        }
    })?;
    if v < f.min || v > f.max {
        return Err(format!("{v} is out of range {}-{}", f.min, f.max));
    }
    Ok(v)
}

fn parse_field(s: &str, f: &Field) -> Result<u64, String> {
    let mut mask = 0u64;
    for item in s.split(',') {
        if item.is_empty() {
            return Err("empty list item".into());
        }
        let (range, step) = match item.split_once('/') {
            Some((r, st)) => {
                let step: u32 = st
                    .parse()
                    .map_err(|_| format!("step {st:?} is not a number"))?;
                if step == 0 {
                    return Err("a step of 0 never fires; use 1 or more".into());
                }
                (r, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (f.min, f.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (parse_value(a, f)?, parse_value(b, f)?);
            if a > b {
                return Err(format!(
                    "range {a}-{b} is backwards; write the lower bound first"
                ));
            }
            (a, b)
        } else {
            let v = parse_value(range, f)?;
            // "a/n" means from a to the end, every n.
            (v, if step.is_some() { f.max } else { v })
        };
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            mask |= 1 << v;
            v += step;
        }
    }
    Ok(mask)
}

fn first_at_or_after(mask: u64, from: i8, max: i8) -> Option<i8> {
    (from..=max).find(|v| mask & (1 << *v) != 0)
}

pub(crate) fn to_timestamp(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_nanosecond(t.unix_timestamp_nanos()).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub(crate) fn from_timestamp(t: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanosecond())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl CronSchedule {
    /// Parses the expression and looks up the IANA time zone ("Europe/Paris", "UTC").
    pub fn new(expr: &str, time_zone: &str) -> Result<CronSchedule, String> {
        let cron = Cron::parse(expr)?;
        let tz = TimeZone::get(time_zone).map_err(|_| {
            format!(
                "unknown time zone {time_zone:?}: use an IANA name such as \"UTC\", \"Europe/Paris\" or \"America/New_York\""
            )
        })?;
        Ok(CronSchedule {
            cron,
            tz,
            tz_name: time_zone.to_string(),
        })
    }

    /// The first fire time strictly after `after`. `None` if there is none within 8 years
    /// (e.g. "0 0 31 2 *").
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let after_ts = to_timestamp(after);
        let local = after_ts.to_zoned_datetime(self.tz.clone()).datetime();
        let c = &self.cron;
        let mut date = local.date();
        let mut hour = local.hour();
        let mut minute = local.minute() + 1;
        let last = date.checked_add(8.years()).ok()?;
        while date <= last {
            if minute > 59 {
                minute = 0;
                hour += 1;
            }
            if hour > 23 {
                date = date.tomorrow().ok()?;
                hour = 0;
                minute = 0;
            }
            if c.months & (1 << date.month()) == 0 {
                date = date.first_of_month().checked_add(1.month()).ok()?;
                hour = 0;
                minute = 0;
                continue;
            }
            if !c.day_matches(date) {
                date = date.tomorrow().ok()?;
                hour = 0;
                minute = 0;
                continue;
            }
            let Some(h) = first_at_or_after(c.hours, hour, 23) else {
                hour = 24;
                continue;
            };
            if h != hour {
                hour = h;
                minute = 0;
            }
            let Some(m) = first_at_or_after(c.minutes, minute, 59) else {
                hour += 1;
                minute = 0;
                continue;
            };
            let civil: DateTime = date.at(hour, m, 0, 0);
            let amb = self.tz.to_ambiguous_zoned_datetime(civil);
            for z in [amb.clone().compatible(), amb.later()]
                .into_iter()
                .flatten()
            {
                if z.timestamp() > after_ts {
                    return Some(from_timestamp(z.timestamp()));
                }
            }
            minute = m + 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn next(expr: &str, tz: &str, after: OffsetDateTime) -> OffsetDateTime {
        CronSchedule::new(expr, tz)
            .unwrap()
            .next_after(after)
            .unwrap()
    }

    #[test]
    fn fields_and_ranges() {
        let c = Cron::parse("*/15 6-8 1,15 JAN-mar mon-fri").unwrap();
        assert_eq!(c.minutes, (1 << 0) | (1 << 15) | (1 << 30) | (1 << 45));
        assert_eq!(c.hours, (1 << 6) | (1 << 7) | (1 << 8));
        assert_eq!(c.days, (1 << 1) | (1 << 15));
        assert_eq!(c.months, (1 << 1) | (1 << 2) | (1 << 3));
        assert_eq!(c.weekdays, 0b0111110);
        assert_eq!(Cron::parse("0 0 * * 7").unwrap().weekdays, 1, "7 is Sunday");
        assert_eq!(
            Cron::parse("5/20 * * * *").unwrap().minutes,
            (1 << 5) | (1 << 25) | (1 << 45)
        );
        assert_eq!(
            Cron::parse("0-10/5 * * * *").unwrap().minutes,
            (1 << 0) | (1 << 5) | (1 << 10)
        );
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (expr, needle) in [
            ("* * * *", "has 4 fields; expected 5"),
            ("60 * * * *", "minute field \"60\": 60 is out of range 0-59"),
            ("* 24 * * *", "hour field"),
            ("* * 0 * *", "out of range 1-31"),
            ("* * * 13 * ", "out of range 1-12"),
            ("* * * * 8", "out of range 0-7"),
            ("*/0 * * * *", "a step of 0 never fires"),
            ("5-1 * * * *", "backwards"),
            ("x * * * *", "is not a number"),
            ("* * * FOO *", "JAN"),
            ("1,,2 * * * *", "empty list item"),
        ] {
            let e = Cron::parse(expr).unwrap_err();
            assert!(e.contains(needle), "{expr}: {e}");
        }
        let e = CronSchedule::new("0 0 * * *", "Mars/Olympus").unwrap_err();
        assert!(e.contains("unknown time zone \"Mars/Olympus\""), "{e}");
    }

    #[test]
    fn next_fire_in_utc() {
        let t = datetime!(2026-03-02 09:00 UTC); // a Monday
        assert_eq!(next("* * * * *", "UTC", t), datetime!(2026-03-02 09:01 UTC));
        assert_eq!(next("0 6 * * *", "UTC", t), datetime!(2026-03-03 06:00 UTC));
        assert_eq!(
            next("30 9 * * *", "UTC", t),
            datetime!(2026-03-02 09:30 UTC)
        );
        assert_eq!(next("0 0 1 * *", "UTC", t), datetime!(2026-04-01 00:00 UTC));
        assert_eq!(
            next("0 12 * * sat", "UTC", t),
            datetime!(2026-03-07 12:00 UTC)
        );
        assert_eq!(
            next("0 0 29 2 *", "UTC", t),
            datetime!(2028-02-29 00:00 UTC)
        );
        // Day of month OR day of week when both are restricted (Vixie cron).
        assert_eq!(
            next("0 0 13 * fri", "UTC", t),
            datetime!(2026-03-06 00:00 UTC)
        );
        assert!(
            CronSchedule::new("0 0 31 2 *", "UTC")
                .unwrap()
                .next_after(t)
                .is_none()
        );
        // Strictly after: a fire at exactly `after` is not returned again.
        assert_eq!(next("0 9 * * *", "UTC", t), datetime!(2026-03-03 09:00 UTC));
    }

    #[test]
    fn next_fire_in_a_time_zone_across_dst() {
        // Nightly at 02:30 in Paris. On 2026-03-29 clocks jump 02:00 -> 03:00: it runs at 03:30 local
        // (the first instant after the gap, 01:30 UTC).
        let t = datetime!(2026-03-28 12:00 UTC);
        assert_eq!(
            next("30 2 * * *", "Europe/Paris", t),
            datetime!(2026-03-29 01:30 UTC)
        );
        // Before DST: 06:00 Paris = 05:00 UTC; after: 04:00 UTC.
        assert_eq!(
            next("0 6 * * *", "Europe/Paris", datetime!(2026-03-27 12:00 UTC)),
            datetime!(2026-03-28 05:00 UTC)
        );
        assert_eq!(
            next("0 6 * * *", "Europe/Paris", datetime!(2026-03-29 12:00 UTC)),
            datetime!(2026-03-30 04:00 UTC)
        );
        // On 2026-10-25 02:00-03:00 happens twice in Paris: 02:30 runs once, at its first occurrence.
        let first = next(
            "30 2 * * *",
            "Europe/Paris",
            datetime!(2026-10-24 12:00 UTC),
        );
        assert_eq!(first, datetime!(2026-10-25 00:30 UTC));
        assert_eq!(
            next("30 2 * * *", "Europe/Paris", first),
            datetime!(2026-10-26 01:30 UTC)
        );
        // New York, weekdays at 08:00.
        assert_eq!(
            next(
                "0 8 * * 1-5",
                "America/New_York",
                datetime!(2026-03-06 14:00 UTC)
            ),
            datetime!(2026-03-09 12:00 UTC)
        );
    }
}
