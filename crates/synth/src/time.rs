//! Time helpers for the demo: fixed daylight-saving rules for the four zones
//! the demo teams work in, working hours, and RFC 3339 formatting with the
//! local offset (as git records author dates).

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone,
    Utc, Weekday,
};

pub(crate) type Ts = DateTime<Utc>;

pub(crate) fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> Ts {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

/// A time zone with the 2026 daylight-saving switch dates hard-coded (the
/// demo covers August to November 2026 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tz {
    Utc,
    London,
    Berlin,
    NewYork,
}

impl Tz {
    pub(crate) fn offset_secs(self, t: Ts) -> i32 {
        // EU summer time ends 2026-10-25 01:00 UTC, US on 2026-11-01 06:00 UTC.
        let eu_summer = t < utc(2026, 10, 25, 1, 0);
        let us_summer = t < utc(2026, 11, 1, 6, 0);
        match self {
            Tz::Utc => 0,
            Tz::London => {
                if eu_summer {
                    3600
                } else {
                    0
                }
            }
            Tz::Berlin => {
                if eu_summer {
                    7200
                } else {
                    3600
                }
            }
            Tz::NewYork => {
                if us_summer {
                    -4 * 3600
                } else {
                    -5 * 3600
                }
            }
        }
    }

    /// RFC 3339 with this zone's offset (`Z` when the offset is zero).
    pub(crate) fn fmt(self, t: Ts) -> String {
        let off = FixedOffset::east_opt(self.offset_secs(t)).unwrap();
        t.with_timezone(&off)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    fn local(self, t: Ts) -> NaiveDateTime {
        t.naive_utc() + Duration::seconds(self.offset_secs(t) as i64)
    }

    fn local_to_utc(self, n: NaiveDateTime, hint: Ts) -> Ts {
        let guess = Utc.from_utc_datetime(&(n - Duration::seconds(self.offset_secs(hint) as i64)));
        Utc.from_utc_datetime(&(n - Duration::seconds(self.offset_secs(guess) as i64)))
    }

    /// The UTC instant of a local wall-clock time on the local date of `day`.
    pub(crate) fn at_local(self, day: Ts, h: u32, m: u32) -> Ts {
        let d = self.local(day).date();
        self.local_to_utc(d.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap()), day)
    }

    pub(crate) fn weekday(self, t: Ts) -> Weekday {
        self.local(t).weekday()
    }
}

const DAY_START: u32 = 9;
const DAY_END: u32 = 18;

fn is_workday(w: Weekday) -> bool {
    !matches!(w, Weekday::Sat | Weekday::Sun)
}

fn hm(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).unwrap()
}

/// Moves `t` forward into working hours (09:00–18:00 local, Mon–Fri).
fn clamp_fwd(tz: Tz, t: Ts) -> Ts {
    let l = tz.local(t);
    let mut day = l.date();
    let tod = l.time();
    if is_workday(day.weekday()) && tod >= hm(DAY_START) && tod < hm(DAY_END) {
        return t;
    }
    if is_workday(day.weekday()) && tod < hm(DAY_START) {
        return tz.local_to_utc(day.and_time(hm(DAY_START)), t);
    }
    loop {
        day = day.succ_opt().unwrap();
        if is_workday(day.weekday()) {
            break;
        }
    }
    tz.local_to_utc(day.and_time(hm(DAY_START)), t)
}

/// Moves `t` backward into working hours.
fn clamp_back(tz: Tz, t: Ts) -> Ts {
    let l = tz.local(t);
    let mut day = l.date();
    let tod = l.time();
    if is_workday(day.weekday()) && tod > hm(DAY_START) && tod <= hm(DAY_END) {
        return t;
    }
    if is_workday(day.weekday()) && tod > hm(DAY_END) {
        return tz.local_to_utc(day.and_time(hm(DAY_END)), t);
    }
    loop {
        day = day.pred_opt().unwrap();
        if is_workday(day.weekday()) {
            break;
        }
    }
    tz.local_to_utc(day.and_time(hm(DAY_END)), t)
}

/// `t` plus `minutes` of working time in `tz`.
pub(crate) fn add_work(tz: Tz, t: Ts, minutes: i64) -> Ts {
    let mut t = t;
    let mut m = minutes.max(0);
    loop {
        t = clamp_fwd(tz, t);
        let eod = tz.local_to_utc(tz.local(t).date().and_time(hm(DAY_END)), t);
        let avail = (eod - t).num_minutes();
        if m <= avail {
            return t + Duration::minutes(m);
        }
        m -= avail.max(0);
        t = eod;
    }
}

/// `t` minus `minutes` of working time in `tz`.
pub(crate) fn sub_work(tz: Tz, t: Ts, minutes: i64) -> Ts {
    let mut t = t;
    let mut m = minutes.max(0);
    loop {
        t = clamp_back(tz, t);
        let sod = tz.local_to_utc(tz.local(t).date().and_time(hm(DAY_START)), t);
        let avail = (t - sod).num_minutes();
        if m <= avail {
            return t - Duration::minutes(m);
        }
        m -= avail.max(0);
        t = sod;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_2026_dst() {
        assert_eq!(
            Tz::Berlin.fmt(utc(2026, 8, 3, 8, 0)),
            "2026-08-03T10:00:00+02:00"
        );
        assert_eq!(
            Tz::Berlin.fmt(utc(2026, 10, 26, 8, 0)),
            "2026-10-26T09:00:00+01:00"
        );
        assert_eq!(
            Tz::London.fmt(utc(2026, 10, 26, 8, 0)),
            "2026-10-26T08:00:00Z"
        );
        assert_eq!(
            Tz::NewYork.fmt(utc(2026, 8, 3, 14, 0)),
            "2026-08-03T10:00:00-04:00"
        );
    }

    #[test]
    fn working_time_skips_nights_and_weekends() {
        // Friday 2026-08-07 17:00 Berlin + 2 working hours = Monday 10:00.
        let fri = utc(2026, 8, 7, 15, 0);
        let t = add_work(Tz::Berlin, fri, 120);
        assert_eq!(Tz::Berlin.fmt(t), "2026-08-10T10:00:00+02:00");
        let back = sub_work(Tz::Berlin, t, 120);
        assert_eq!(Tz::Berlin.fmt(back), "2026-08-07T17:00:00+02:00");
    }
}
