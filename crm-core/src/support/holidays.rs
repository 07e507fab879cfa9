//! An example of holidays as data: Türkiye's public holidays for 2026 and 2027, with the
//! afternoons off before Republic Day and the two bayrams (work stops at 13:00).
//!
//! The religious holidays follow the lunar calendar; their dates here are those the Presidency
//! of Religious Affairs (Diyanet) announced in advance. Holidays are data: replace them with
//! `SupportService.UpdateBusinessCalendar` when an announcement changes.

use chrono::NaiveDate;

use super::calendar::{BusinessCalendar, Holiday};

/// `(year, month, day, name, afternoon off)`.
const TURKIYE: &[(i32, u32, u32, &str, bool)] = &[
    (2026, 1, 1, "Yılbaşı", false),
    (2026, 3, 19, "Ramazan Bayramı arifesi", true),
    (2026, 3, 20, "Ramazan Bayramı 1. gün", false),
    (2026, 3, 21, "Ramazan Bayramı 2. gün", false),
    (2026, 3, 22, "Ramazan Bayramı 3. gün", false),
    (2026, 4, 23, "Ulusal Egemenlik ve Çocuk Bayramı", false),
    (2026, 5, 1, "Emek ve Dayanışma Günü", false),
    (
        2026,
        5,
        19,
        "Atatürk'ü Anma, Gençlik ve Spor Bayramı",
        false,
    ),
    (2026, 5, 26, "Kurban Bayramı arifesi", true),
    (2026, 5, 27, "Kurban Bayramı 1. gün", false),
    (2026, 5, 28, "Kurban Bayramı 2. gün", false),
    (2026, 5, 29, "Kurban Bayramı 3. gün", false),
    (2026, 5, 30, "Kurban Bayramı 4. gün", false),
    (2026, 7, 15, "Demokrasi ve Milli Birlik Günü", false),
    (2026, 8, 30, "Zafer Bayramı", false),
    (2026, 10, 28, "Cumhuriyet Bayramı arifesi", true),
    (2026, 10, 29, "Cumhuriyet Bayramı", false),
    (2027, 1, 1, "Yılbaşı", false),
    (2027, 3, 8, "Ramazan Bayramı arifesi", true),
    (2027, 3, 9, "Ramazan Bayramı 1. gün", false),
    (2027, 3, 10, "Ramazan Bayramı 2. gün", false),
    (2027, 3, 11, "Ramazan Bayramı 3. gün", false),
    (2027, 4, 23, "Ulusal Egemenlik ve Çocuk Bayramı", false),
    (2027, 5, 1, "Emek ve Dayanışma Günü", false),
    (2027, 5, 15, "Kurban Bayramı arifesi", true),
    (2027, 5, 16, "Kurban Bayramı 1. gün", false),
    (2027, 5, 17, "Kurban Bayramı 2. gün", false),
    (2027, 5, 18, "Kurban Bayramı 3. gün", false),
    (
        2027,
        5,
        19,
        "Kurban Bayramı 4. gün; Atatürk'ü Anma, Gençlik ve Spor Bayramı",
        false,
    ),
    (2027, 7, 15, "Demokrasi ve Milli Birlik Günü", false),
    (2027, 8, 30, "Zafer Bayramı", false),
    (2027, 10, 28, "Cumhuriyet Bayramı arifesi", true),
    (2027, 10, 29, "Cumhuriyet Bayramı", false),
];

/// Türkiye's public holidays for 2026 and 2027.
pub fn turkiye() -> Vec<Holiday> {
    TURKIYE
        .iter()
        .filter_map(|&(y, m, d, name, half)| {
            Some(Holiday {
                date: NaiveDate::from_ymd_opt(y, m, d)?,
                name: name.into(),
                closes_at_minute: half.then_some(13 * 60),
            })
        })
        .collect()
}

/// Weekdays 09:00-18:00 in Istanbul, with Türkiye's public holidays: the calendar a new store
/// starts with.
pub fn istanbul_office() -> BusinessCalendar {
    BusinessCalendar::weekdays("Europe/Istanbul", 9 * 60, 18 * 60, turkiye())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_calendar_is_valid_and_has_every_holiday() {
        let mut c = istanbul_office();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.holidays.len(), TURKIYE.len());
        let republic_eve = NaiveDate::from_ymd_opt(2026, 10, 28).unwrap_or_default();
        let hours: i64 = c
            .intervals_on(republic_eve)
            .iter()
            .map(|(s, e)| (*e - *s).num_hours())
            .sum();
        assert_eq!(hours, 4, "the eve of Republic Day is worked 09:00-13:00");
    }
}
