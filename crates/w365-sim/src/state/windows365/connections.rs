//! Remote connection history of the Cloud PCs (what the beta `reports/getRemoteConnectionHistoricalReports`
//! returns), generated from the virtual clock: no stored sessions, the same question always gets
//! the same answer.
//!
//! Each Cloud PC gets a usage profile from its user principal name (stable across runs):
//! - **busy**: a session every weekday, 08:00–16:30 UTC;
//! - **light**: a two-hour session (09:00–11:00 UTC) every third day;
//! - **idle**: used like a busy one, but no session starts in the last [`IDLE_FOR_DAYS`] days
//!   before `now`.
//!
//! Sessions start once the Cloud PC is provisioned and only while it runs (provisioned or with
//! warnings); a session still open at `now` is not reported (Graph reports finished sessions).
//! Network figures (round trip, bandwidth, sign-in time) are simulated constants per profile.
//!
//! LIMITATIONS: status history is not kept, so a Cloud PC running now is assumed to have run since
//! it was provisioned; the profile is chosen by the simulator, not by any directory attribute.

use time::{Duration, OffsetDateTime, Time, Weekday};

use super::Windows365State;
use super::cloud_pc::{CloudPc, CloudPcStatus};

/// An idle Cloud PC has had no session for this many days before now.
pub const IDLE_FOR_DAYS: i64 = 45;

/// How a Cloud PC is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageProfile {
    Busy,
    Light,
    Idle,
}

impl UsageProfile {
    /// The profile of a user (FNV-1a of the lower-case principal name, modulo 3).
    pub fn of(user_principal_name: &str) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in user_principal_name.to_lowercase().bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        match hash % 3 {
            0 => Self::Busy,
            1 => Self::Light,
            _ => Self::Idle,
        }
    }

    fn round_trip_ms(self) -> f64 {
        match self {
            Self::Busy => 42.0,
            Self::Light => 87.0,
            Self::Idle => 120.0,
        }
    }
}

/// One finished remote session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub sign_in: OffsetDateTime,
    pub sign_out: OffsetDateTime,
    pub round_trip_ms_p50: f64,
    pub bandwidth_mbps_p50: f64,
    pub remote_sign_in_secs: f64,
}

impl Session {
    /// Hours connected.
    pub fn usage_in_hours(&self) -> f64 {
        (self.sign_out - self.sign_in).as_seconds_f64() / 3600.0
    }
}

fn session_of_day(profile: UsageProfile, day: time::Date, day_index: i64) -> Option<(Time, Time)> {
    let weekday = !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday);
    match profile {
        UsageProfile::Busy | UsageProfile::Idle if weekday => Some((
            Time::from_hms(8, 0, 0).ok()?,
            Time::from_hms(16, 30, 0).ok()?,
        )),
        UsageProfile::Light if day_index % 3 == 0 => Some((
            Time::from_hms(9, 0, 0).ok()?,
            Time::from_hms(11, 0, 0).ok()?,
        )),
        _ => None,
    }
}

/// The finished sessions of a Cloud PC that started at or after `from`, up to `now`, oldest first.
pub fn sessions(pc: &CloudPc, from: OffsetDateTime, now: OffsetDateTime) -> Vec<Session> {
    let running = matches!(
        pc.status,
        CloudPcStatus::Provisioned | CloudPcStatus::ProvisionedWithWarnings
    );
    let Some(provisioned) = pc.provisioned_date_time.filter(|_| running) else {
        return Vec::new();
    };
    let profile = UsageProfile::of(&pc.user_principal_name);
    let idle_from = now - Duration::days(IDLE_FOR_DAYS);
    let start = from.max(provisioned);
    let mut out = Vec::new();
    let mut day = start.date();
    while day <= now.date() {
        let day_index = i64::from(day.to_julian_day());
        if let Some((a, b)) = session_of_day(profile, day, day_index) {
            let sign_in = day.with_time(a).assume_utc();
            let sign_out = day.with_time(b).assume_utc();
            let in_range = sign_in >= start && sign_out <= now;
            let idle_cut = profile == UsageProfile::Idle && sign_in >= idle_from;
            if in_range && !idle_cut {
                out.push(Session {
                    sign_in,
                    sign_out,
                    round_trip_ms_p50: profile.round_trip_ms(),
                    bandwidth_mbps_p50: 4.5,
                    remote_sign_in_secs: 12.0,
                });
            }
        }
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

impl Windows365State {
    /// The finished sessions of one Cloud PC since `from` (see [`sessions`]).
    pub fn connection_history(
        &self,
        cloud_pc_id: &str,
        from: OffsetDateTime,
        now: OffsetDateTime,
    ) -> super::Result<Vec<Session>> {
        Ok(sessions(self.cloud_pc(cloud_pc_id)?, from, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn profiles_give_busy_light_and_idle_histories() {
        let now = datetime!(2026-11-30 12:00 UTC);
        let mut pc: CloudPc = serde_json::from_value(serde_json::json!({
            "id": "pc", "displayName": "x", "userPrincipalName": "u@contoso.com",
            "servicePlanId": "p", "servicePlanName": "p", "servicePlanType": "enterprise",
            "onPremisesConnectionName": "", "provisioningType": "dedicated",
            "lastModifiedDateTime": "2026-01-01T00:00:00Z", "status": "provisioned",
            "gracePeriodEndDateTime": null,
            "provisionedDateTime": "2026-06-01T00:00:00Z", "powerState": "running",
            "productType": "enterprise", "partnerAgentInstallResults": [], "scopeIds": [],
            "_engine": {"userId": "u"}
        }))
        .unwrap();
        let from = now - Duration::days(28);
        let mut seen = Vec::new();
        for upn in (0..12).map(|i| format!("user{i}@contoso.com")) {
            pc.user_principal_name = upn.clone();
            let list = sessions(&pc, from, now);
            let profile = UsageProfile::of(&upn);
            seen.push(profile);
            match profile {
                // 20 weekdays from Monday noon to Monday noon: the first began before `from`
                // and today's has not ended, so 19 sessions of 8.5 hours.
                UsageProfile::Busy => {
                    assert_eq!(list.len(), 19, "{upn}");
                    assert!((list[0].usage_in_hours() - 8.5).abs() < 1e-9);
                }
                UsageProfile::Light => assert!((9..=10).contains(&list.len()), "{upn}"),
                UsageProfile::Idle => assert!(list.is_empty(), "{upn}"),
            }
            // Never a session before provisioning, nor one that has not ended.
            let all = sessions(&pc, datetime!(2000-01-01 0:00 UTC), now);
            assert!(
                all.iter()
                    .all(|s| s.sign_in >= datetime!(2026-06-01 0:00 UTC))
            );
            assert!(all.iter().all(|s| s.sign_out <= now));
        }
        for p in [UsageProfile::Busy, UsageProfile::Light, UsageProfile::Idle] {
            assert!(seen.contains(&p), "{p:?} among {seen:?}");
        }
        pc.status = CloudPcStatus::InGracePeriod;
        assert!(sessions(&pc, from, now).is_empty());
    }
}
