//! Printing figures and target checks. Benchmarks report; they never fail the process on a
//! missed target (tests assert, benchmarks measure), so a check only prints PASS or MISS.

use std::time::Duration;

/// Prints a section heading.
pub fn heading(title: &str) {
    println!();
    println!("== {title}");
}

/// Prints the machine and how busy it is (other processes share its cores).
pub fn machine() {
    heading("machine");
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned());
    figure("cores available", cores);
    figure("CPU", cpu);
    figure("load average (1, 5, 15 min)", load);
    figure(
        "build",
        if cfg!(debug_assertions) {
            "debug (figures are not representative)"
        } else {
            "release"
        },
    );
}

/// Prints one measured figure.
pub fn figure(name: &str, value: impl std::fmt::Display) {
    println!("  {name:<52} {value}");
}

/// The outcome of comparing a figure with its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `name: measured (target …)`.
    text: String,
    pub met: bool,
}

impl Check {
    pub fn new(
        name: impl std::fmt::Display,
        measured: impl std::fmt::Display,
        target: impl std::fmt::Display,
        met: bool,
    ) -> Self {
        Check {
            text: format!("{name}: {measured} (target {target})"),
            met,
        }
    }

    /// Reads back a line printed by [`Check::print`] (from a child process).
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim_start();
        let (met, text) = if let Some(rest) = line.strip_prefix("[PASS] ") {
            (true, rest)
        } else {
            (false, line.strip_prefix("[MISS] ")?)
        };
        Some(Check {
            text: text.to_owned(),
            met,
        })
    }

    /// Prints the check as one line starting with PASS or MISS.
    pub fn print(&self) {
        println!("  {self}");
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.met { "PASS" } else { "MISS" };
        write!(f, "[{verdict}] {}", self.text)
    }
}

/// Prints a summary of every check and returns how many missed.
pub fn summary(checks: &[Check]) -> usize {
    heading("summary");
    for check in checks {
        check.print();
    }
    let missed = checks.iter().filter(|c| !c.met).count();
    println!(
        "  {} of {} targets met{}",
        checks.len() - missed,
        checks.len(),
        if missed > 0 { " (see MISS above)" } else { "" }
    );
    missed
}

/// Formats a duration in milliseconds with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Latency percentiles over a set of samples in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub p999: u32,
    pub max: u32,
}

impl Percentiles {
    /// Sorts `samples` in place; `None` when there are none.
    pub fn of(samples: &mut [u32]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((samples.len() as f64) * q).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        Some(Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: samples[samples.len() - 1],
        })
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = |us: u32| f64::from(us) / 1000.0;
        write!(
            f,
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            m(self.p50),
            m(self.p90),
            m(self.p99),
            m(self.p999),
            m(self.max)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_round_trip_through_their_line() {
        let pass = Check::new("load", "1.2 s", "< 2 s", true);
        let miss = Check::new("rate", "10 req/s", ">= 20000 req/s", false);
        assert_eq!(pass.to_string(), "[PASS] load: 1.2 s (target < 2 s)");
        assert_eq!(Check::parse(&format!("  {pass}")), Some(pass));
        assert_eq!(Check::parse(&miss.to_string()), Some(miss));
        assert_eq!(Check::parse("  users 100000"), None);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples: Vec<u32> = (1..=1000).rev().collect();
        let p = Percentiles::of(&mut samples).expect("samples");
        assert_eq!(p.p50, 500);
        assert_eq!(p.p90, 900);
        assert_eq!(p.p99, 990);
        assert_eq!(p.p999, 999);
        assert_eq!(p.max, 1000);
        assert!(Percentiles::of(&mut []).is_none());
    }
}
