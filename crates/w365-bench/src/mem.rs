//! Process memory figures from /proc/self/status (Linux).

/// Resident set size now and its high-water mark, in kibibytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Memory {
    /// Reads VmRSS and VmHWM of this process; `None` where /proc is not available.
    pub fn read() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        parse_status(&status)
    }
}

fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Memory {
        rss_kib: field("VmRSS")?,
        hwm_kib: field("VmHWM")?,
    })
}

/// Formats kibibytes as mebibytes.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rss_and_hwm() {
        let status =
            "Name:\tw365-bench\nVmPeak:\t  300000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Memory {
                rss_kib: 102_400,
                hwm_kib: 204_800
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn reads_this_process() {
        let m = Memory::read().expect("/proc/self/status");
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
    }
}
