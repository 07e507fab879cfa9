//! The business calendar: when the support team works, in an IANA time zone, with holidays as
//! data. SLA targets are business time: only the instants inside working hours count.
//!
//! - **Working hours** are intervals of a weekday in local time (`MON 09:00-18:00`; a day may
//!   have several, `09:00-12:00` and `13:00-18:00`). They may not overlap, and end at the
//!   latest at 24:00.
//! - **Holidays** are local dates with no working time, or (a half day, such as a Turkish
//!   bayram's eve) with working time until a local closing time.
//! - **Daylight saving**: a working interval runs between its local start and end as they fall
//!   that day. A start inside a skipped hour starts at the first instant after the gap; an
//!   interval that takes in a repeated hour counts it twice, as the clock on the wall does.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::validate::{MAX_NAME_CHARS, Violations, check_text};

/// Most working intervals per calendar (all weekdays together).
pub const MAX_WORKING_INTERVALS: usize = 56;
/// Most holidays per calendar.
pub const MAX_HOLIDAYS: usize = 1_000;
/// How far the calendar is searched for working time (about ten years); a target further than
/// that has no due instant.
const SEARCH_DAYS: i64 = 3_660;
const DAY_MINUTES: u16 = 24 * 60;

/// One working interval of a weekday, in local minutes since midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkingHours {
    /// ISO weekday: 1 is Monday, 7 is Sunday.
    pub weekday: u8,
    /// The first minute of work (0..1440).
    pub start_minute: u16,
    /// The minute work stops (1..=1440; 1440 is midnight at the day's end).
    pub end_minute: u16,
}

/// A date with no working time, or with working time until `closes_at_minute`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Holiday {
    /// The local date.
    pub date: NaiveDate,
    /// What it is (`Cumhuriyet Bayramı`).
    pub name: String,
    /// For a half day: work stops at this local minute; `None`: no work all day.
    pub closes_at_minute: Option<u16>,
}

/// When the business works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessCalendar {
    /// An IANA time zone name (`Europe/Istanbul`).
    pub time_zone: String,
    /// The working intervals, sorted by weekday and start.
    pub hours: Vec<WorkingHours>,
    /// The holidays, sorted by date.
    pub holidays: Vec<Holiday>,
}

impl Default for BusinessCalendar {
    /// Around the clock, in UTC, with no holidays: business time is elapsed time.
    fn default() -> Self {
        BusinessCalendar {
            time_zone: "UTC".into(),
            hours: (1..=7)
                .map(|weekday| WorkingHours {
                    weekday,
                    start_minute: 0,
                    end_minute: DAY_MINUTES,
                })
                .collect(),
            holidays: Vec::new(),
        }
    }
}

/// `09:00` from a minute of the day.
pub fn clock_text(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl BusinessCalendar {
    /// Weekdays 09:00-18:00 in `time_zone`, with `holidays`.
    pub fn weekdays(time_zone: &str, start: u16, end: u16, holidays: Vec<Holiday>) -> Self {
        BusinessCalendar {
            time_zone: time_zone.into(),
            hours: (1..=5)
                .map(|weekday| WorkingHours {
                    weekday,
                    start_minute: start,
                    end_minute: end,
                })
                .collect(),
            holidays,
        }
    }

    /// Checks and normalizes (sorts) a calendar: a known zone, intervals inside their day that
    /// do not overlap, some working time, holidays on distinct dates.
    pub fn validate(&mut self) -> Result<(), Violations> {
        let mut v = Violations::default();
        self.time_zone = self.time_zone.trim().to_owned();
        if self.time_zone.parse::<Tz>().is_err() {
            v.add(
                "time_zone",
                format!("{:?} is not an IANA time zone", self.time_zone),
            );
        }
        if self.hours.is_empty() {
            v.add("hours", "at least one working interval is required");
        }
        if self.hours.len() > MAX_WORKING_INTERVALS {
            v.add(
                "hours",
                format!("at most {MAX_WORKING_INTERVALS} working intervals"),
            );
        }
        for (i, h) in self.hours.iter().enumerate() {
            if !(1..=7).contains(&h.weekday) {
                v.add(format!("hours[{i}].weekday"), "must be 1 (Monday) to 7");
            }
            if h.start_minute >= DAY_MINUTES || h.end_minute > DAY_MINUTES {
                v.add(
                    format!("hours[{i}]"),
                    "must lie within the day (00:00-24:00)",
                );
            } else if h.start_minute >= h.end_minute {
                v.add(
                    format!("hours[{i}]"),
                    format!(
                        "starts at {} but ends at {}: the end must come after the start",
                        clock_text(h.start_minute),
                        clock_text(h.end_minute)
                    ),
                );
            }
        }
        let mut order: Vec<usize> = (0..self.hours.len()).collect();
        order.sort_by_key(|&i| self.hours[i]);
        for pair in order.windows(2) {
            let (a, b) = (self.hours[pair[0]], self.hours[pair[1]]);
            if a.weekday == b.weekday && b.start_minute < a.end_minute {
                v.add(
                    format!("hours[{}]", pair[1]),
                    format!(
                        "{}-{} overlaps hours[{}] ({}-{}) on weekday {}",
                        clock_text(b.start_minute),
                        clock_text(b.end_minute),
                        pair[0],
                        clock_text(a.start_minute),
                        clock_text(a.end_minute),
                        a.weekday
                    ),
                );
            }
        }
        if self.holidays.len() > MAX_HOLIDAYS {
            v.add("holidays", format!("at most {MAX_HOLIDAYS} holidays"));
        }
        for (i, h) in self.holidays.iter_mut().enumerate() {
            check_text(
                &mut v,
                &format!("holidays[{i}].name"),
                &mut h.name,
                MAX_NAME_CHARS,
            );
            if h.closes_at_minute.is_some_and(|m| m >= DAY_MINUTES) {
                v.add(
                    format!("holidays[{i}].closes_at"),
                    "must be a time of day before 24:00",
                );
            }
        }
        let mut dates: Vec<(NaiveDate, usize)> = self
            .holidays
            .iter()
            .enumerate()
            .map(|(i, h)| (h.date, i))
            .collect();
        dates.sort();
        for pair in dates.windows(2) {
            if pair[0].0 == pair[1].0 {
                v.add(
                    format!("holidays[{}].date", pair[1].1),
                    format!("{} is already holidays[{}]", pair[1].0, pair[0].1),
                );
            }
        }
        if v.is_empty() {
            self.hours.sort();
            self.holidays.sort();
        }
        v.into_result(())
    }

    fn zone(&self) -> Tz {
        self.time_zone.parse().unwrap_or(Tz::UTC)
    }

    /// The instant a local time falls on: the earliest of a repeated time, the end of the gap
    /// for a skipped one.
    fn instant(tz: Tz, local: NaiveDateTime, latest: bool) -> Option<DateTime<Utc>> {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.to_utc()),
            LocalResult::Ambiguous(a, b) => Some(if latest { b } else { a }.to_utc()),
            LocalResult::None => {
                // A skipped hour: the first local minute after it.
                (1..=24 * 60).find_map(|m| {
                    let later = local.checked_add_signed(Duration::minutes(m))?;
                    tz.from_local_datetime(&later)
                        .earliest()
                        .map(|t| t.to_utc())
                })
            }
        }
    }

    /// The working intervals of one local date, as instants, in order.
    pub fn intervals_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let tz = self.zone();
        let holiday = self
            .holidays
            .binary_search_by(|h| h.date.cmp(&date))
            .ok()
            .map(|i| &self.holidays[i]);
        let closes = match holiday {
            Some(h) => match h.closes_at_minute {
                None => return Vec::new(),
                Some(m) => m,
            },
            None => DAY_MINUTES,
        };
        let weekday = date.weekday().number_from_monday() as u8;
        let local = |minute: u16| {
            let day = date.and_time(NaiveTime::MIN);
            day.checked_add_signed(Duration::minutes(i64::from(minute)))
        };
        self.hours
            .iter()
            .filter(|h| h.weekday == weekday && h.start_minute < closes)
            .filter_map(|h| {
                let start = Self::instant(tz, local(h.start_minute)?, false)?;
                let end = Self::instant(tz, local(h.end_minute.min(closes))?, true)?;
                (start < end).then_some((start, end))
            })
            .collect()
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.zone()).date_naive()
    }

    /// The instant `amount` of business time after `from`: the first instant at which the
    /// working time in `[from, instant)` adds up to `amount`. `from` itself for no time;
    /// `None` when the calendar has not that much working time in ten years.
    pub fn add(&self, from: DateTime<Utc>, amount: Duration) -> Option<DateTime<Utc>> {
        if amount <= Duration::zero() {
            return Some(from);
        }
        let mut left = amount;
        // A day before `from`'s local date: an interval of the previous local date can still
        // be running at `from` only across a DST change, never otherwise; one day is enough.
        let first = self.local_date(from).pred_opt()?;
        for day in 0..SEARCH_DAYS {
            let date = first.checked_add_signed(Duration::days(day))?;
            for (start, end) in self.intervals_on(date) {
                if end <= from {
                    continue;
                }
                let start = start.max(from);
                let available = end - start;
                if left <= available {
                    return start.checked_add_signed(left);
                }
                left -= available;
            }
        }
        None
    }

    /// The business time in `[from, to)` (zero when `to` is not after `from`).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let mut total = Duration::zero();
        let (Some(first), last) = (self.local_date(from).pred_opt(), self.local_date(to)) else {
            return total;
        };
        let mut date = first;
        while date <= last {
            for (start, end) in self.intervals_on(date) {
                let (s, e) = (start.max(from), end.min(to));
                if s < e {
                    total += e - s;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.to_utc())
            .unwrap_or_default()
    }

    fn istanbul() -> BusinessCalendar {
        let mut c = BusinessCalendar::weekdays("Europe/Istanbul", 9 * 60, 18 * 60, vec![]);
        assert_eq!(c.validate(), Ok(()));
        c
    }

    /// Friday 2026-12-04 17:30 in Istanbul plus four business hours: half an hour on Friday,
    /// three and a half from Monday 09:00.
    #[test]
    fn friday_evening_plus_four_hours_is_monday_half_past_noon() {
        let c = istanbul();
        let due = c.add(at("2026-12-04T17:30:00+03:00"), Duration::hours(4));
        assert_eq!(due, Some(at("2026-12-07T12:30:00+03:00")));
        assert_eq!(
            c.between(
                at("2026-12-04T17:30:00+03:00"),
                at("2026-12-07T12:30:00+03:00")
            ),
            Duration::hours(4)
        );
    }

    #[test]
    fn a_holiday_is_skipped_and_a_half_day_closes_early() {
        let mut c = istanbul();
        c.holidays = vec![
            Holiday {
                date: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap_or_default(),
                name: "a full day".into(),
                closes_at_minute: None,
            },
            Holiday {
                date: NaiveDate::from_ymd_opt(2026, 12, 8).unwrap_or_default(),
                name: "a half day".into(),
                closes_at_minute: Some(13 * 60),
            },
        ];
        assert_eq!(c.validate(), Ok(()));
        // 30 minutes Friday, Monday off, 09:00-13:00 Tuesday, then 30 minutes Wednesday.
        let due = c.add(at("2026-12-04T17:30:00+03:00"), Duration::hours(5));
        assert_eq!(due, Some(at("2026-12-09T09:30:00+03:00")));
    }

    /// Berlin springs forward on 2026-03-29 (02:00 becomes 03:00) and falls back on
    /// 2026-10-25 (03:00 becomes 02:00 again). With every day 00:00-06:00 working, the spring
    /// night has five working hours and the autumn night seven.
    #[test]
    fn daylight_saving_changes_the_length_of_a_working_night() {
        let mut c = BusinessCalendar {
            time_zone: "Europe/Berlin".into(),
            hours: (1..=7)
                .map(|weekday| WorkingHours {
                    weekday,
                    start_minute: 0,
                    end_minute: 6 * 60,
                })
                .collect(),
            holidays: vec![],
        };
        assert_eq!(c.validate(), Ok(()));
        let spring = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap_or_default();
        let autumn = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap_or_default();
        let length = |d| {
            c.intervals_on(d)
                .iter()
                .map(|(s, e)| *e - *s)
                .sum::<Duration>()
        };
        assert_eq!(length(spring), Duration::hours(5));
        assert_eq!(length(autumn), Duration::hours(7));
        // Six business hours from the spring Sunday's local midnight: five that night, one
        // more from Monday's local midnight (UTC+2 by then).
        let from = at("2026-03-28T23:00:00Z");
        let due = c.add(from, Duration::hours(6));
        assert_eq!(due, Some(at("2026-03-30T01:00:00+02:00")));
        assert_eq!(
            c.between(from, at("2026-03-30T01:00:00+02:00")),
            Duration::hours(6)
        );
        assert_eq!(
            c.between(from, at("2026-03-29T12:00:00+02:00")),
            Duration::hours(5)
        );
    }

    #[test]
    fn overlapping_hours_and_unknown_zones_are_refused() {
        let mut c = istanbul();
        c.hours.push(WorkingHours {
            weekday: 3,
            start_minute: 17 * 60,
            end_minute: 20 * 60,
        });
        c.time_zone = "Mars/Olympus".into();
        let v = c.validate().err().unwrap_or_default();
        let fields: Vec<&str> = v.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["time_zone", "hours[5]"]);
        assert!(v.0[1].description.contains("overlaps hours[2]"), "{v}");
    }

    use proptest::prelude::*;

    proptest! {
        /// In any zone (with daylight saving or not) and any working week, adding business
        /// time and measuring it back agree: `between(from, add(from, d)) == d`, and the due
        /// instant is never earlier than needed (a minute less is not enough).
        #[test]
        fn adding_and_measuring_business_time_agree(
            zone in prop::sample::select(vec!["Europe/Istanbul", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
            days in prop::collection::btree_set(1u8..=7, 1..=7),
            start in 0u16..(23 * 60),
            length in 1u16..(12 * 60),
            from_minutes in 0i64..(2 * 366 * 24 * 60),
            business in 1i64..(40 * 60),
        ) {
            let end = (start + length).min(DAY_MINUTES);
            let mut c = BusinessCalendar {
                time_zone: zone.into(),
                hours: days.iter().map(|&weekday| WorkingHours { weekday, start_minute: start, end_minute: end }).collect(),
                holidays: vec![],
            };
            prop_assert_eq!(c.validate(), Ok(()));
            let from = at("2026-01-01T00:00:00Z") + Duration::minutes(from_minutes);
            let amount = Duration::minutes(business);
            let Some(due) = c.add(from, amount) else {
                // A sparse week (a minute of work a week) may not hold that much business time
                // within the ten years searched: then there is no due instant, and no more
                // than that much time is there to find.
                let horizon = from + Duration::days(SEARCH_DAYS - 2);
                prop_assert!(c.between(from, horizon) < amount);
                return Ok(());
            };
            prop_assert_eq!(c.between(from, due), amount);
            prop_assert!(c.between(from, due - Duration::minutes(1)) < amount);
        }
    }
}
