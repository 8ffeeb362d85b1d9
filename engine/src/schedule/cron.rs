//! Five-field cron expressions evaluated on wall-clock time, the way Airflow 2
//! (croniter) does, with croner doing the matching.
//!
//! croner searches over any date type that implements its `CronDateTime`
//! trait; we give it jiff's naive `civil::DateTime` through [`Wall`], so the
//! search runs on local wall-clock time exactly like croniter does on a naive
//! `datetime`. Placing the result on the time line (DST) is the caller's job:
//! see `timetable.rs`.

use std::cmp::Ordering;

use croner::{
    CivilDateTime, Cron, CronDateTime, Resolution, Weekday,
    errors::CronError,
    parser::{CronParser, Seconds, Year},
};
use jiff::{SignedDuration, ToSpan, civil};

/// A parsed five-field cron expression.
#[derive(Debug, Clone)]
pub struct CronExpr {
    cron: Cron,
    /// The hour field matches all 24 hours (`*`, `*/1`, `0-23`). Airflow
    /// then steps by the wall-clock difference in absolute time (so an hourly
    /// schedule also runs in a repeated DST hour); otherwise each fire time
    /// is placed in the time zone by its wall clock.
    every_hour: bool,
}

/// A wall-clock (naive) date and time, for croner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Wall(civil::DateTime);

impl CronDateTime for Wall {
    fn to_civil(&self) -> CivilDateTime {
        let d = self.0;
        CivilDateTime::from_ymd_hms_opt(
            i32::from(d.year()),
            d.month() as u32,
            d.day() as u32,
            d.hour() as u32,
            d.minute() as u32,
            d.second() as u32,
        )
        .expect("a jiff civil datetime is always a valid civil datetime")
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(self.0.weekday().to_sunday_zero_offset() as u32)
    }

    fn resolve_civil(&self, c: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        let date = c.date();
        let time = c.time();
        let dt = civil::DateTime::new(
            i16::try_from(date.year()).map_err(|_| CronError::InvalidDate)?,
            date.month() as i8,
            date.day() as i8,
            time.hour() as i8,
            time.minute() as i8,
            time.second() as i8,
            0,
        )
        .map_err(|_| CronError::InvalidDate)?;
        Ok(Resolution::Single(Wall(dt)))
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0.checked_add(SignedDuration::from_secs(seconds)).ok().map(Wall)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl CronExpr {
    /// Parses exactly five fields: minute hour day-of-month month day-of-week.
    /// Names (`JAN`, `MON`), lists, ranges, steps, `L`, `W` and `#` work;
    /// Sunday is 0 or 7.
    pub fn parse(text: &str) -> Result<CronExpr, String> {
        let expr = text;
        let fields = expr.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "invalid cron expression {expr:?}: expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
            ));
        }
        check_bounds(expr)?;
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            // croniter (Airflow) accepts `5/15` as "from 5, every 15".
            .sloppy_ranges(true)
            .build();
        let cron = parser
            .parse(expr)
            .map_err(|e| format!("invalid cron expression {expr:?}: {}", describe(&e)))?;
        let hour_field = expr.split_whitespace().nth(1).unwrap_or_default();
        let expr = CronExpr {
            cron,
            every_hour: hours_matched(hour_field) == 24,
        };
        let origin = civil::date(2001, 1, 1).at(0, 0, 0, 0);
        if expr.next_after(origin).is_none() {
            return Err(format!(
                "invalid cron expression {text:?}: it never fires (no such date)"
            ));
        }
        Ok(expr)
    }

    /// Whether the schedule fires in every hour of the day (Airflow's
    /// `_covers_every_hour`).
    pub fn covers_every_hour(&self) -> bool {
        self.every_hour
    }

    /// The first fire time strictly after `dt` (wall clock).
    pub fn next_after(&self, dt: civil::DateTime) -> Option<civil::DateTime> {
        self.cron.find_next_occurrence(&Wall(dt), false).ok().map(|w| w.0)
    }

    /// The last fire time strictly before `dt` (wall clock).
    pub fn prev_before(&self, dt: civil::DateTime) -> Option<civil::DateTime> {
        // croner works in whole seconds; 01:00:00.5 must still see 01:00:00
        // as "before", so round a fractional time up first.
        let base = if dt.subsec_nanosecond() != 0 {
            dt.with()
                .subsec_nanosecond(0)
                .build()
                .ok()?
                .checked_add(1.second())
                .ok()?
        } else {
            dt
        };
        self.cron.find_previous_occurrence(&Wall(base), false).ok().map(|w| w.0)
    }
}

/// How many of the 24 hours an hour field matches (lists, ranges, steps).
fn hours_matched(field: &str) -> usize {
    let mut hours = [false; 24];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<usize>().unwrap_or(1).max(1)),
            None => (item, 1),
        };
        let (lo, hi) = match range {
            "*" | "" => (0, 23),
            r => match r.split_once('-') {
                Some((a, b)) => (a.parse().unwrap_or(0), b.parse().unwrap_or(23)),
                // `5/3` is "from 5, every 3"; a lone `5` is just 5.
                None => {
                    let a = r.parse().unwrap_or(0);
                    (a, if item.contains('/') { 23 } else { a })
                }
            },
        };
        for h in (lo..=hi.min(23)).step_by(step) {
            hours[h] = true;
        }
    }
    hours.iter().filter(|h| **h).count()
}

/// Names the field and the number when a value is out of its range; croner
/// alone would only say "out of bounds".
fn check_bounds(expr: &str) -> Result<(), String> {
    const FIELDS: [(&str, u32, u32); 5] = [
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day-of-month", 1, 31),
        ("month", 1, 12),
        ("day-of-week", 0, 7),
    ];
    for (text, (name, lo, hi)) in expr.split_whitespace().zip(FIELDS) {
        // croner reads an empty list item as a field matching nothing, and
        // then searches for seconds (found by fuzzing: `, * * * ,7`).
        if text.split(',').any(str::is_empty) {
            return Err(format!(
                "invalid cron expression {expr:?}: {name} field `{text}` has an empty item in its list"
            ));
        }
        for item in text.split(',') {
            // The step after `/` and the ordinal after `#` are not values.
            let values = item.split(['/', '#']).next().unwrap_or_default();
            for v in values.split('-') {
                if let Ok(n) = v.parse::<u32>()
                    && (n < lo || n > hi)
                {
                    return Err(format!(
                        "invalid cron expression {expr:?}: {name} field `{text}`: {n} is out of range {lo}-{hi}"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn describe(e: &CronError) -> String {
    match e {
        CronError::InvalidPattern(m) | CronError::ComponentError(m) | CronError::IllegalCharacters(m) => {
            m.trim_end_matches('.').to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> civil::DateTime {
        civil::date(y, mo, d).at(h, mi, 0, 0)
    }

    fn nexts(expr: &str, from: civil::DateTime, n: usize) -> Vec<String> {
        let c = CronExpr::parse(expr).unwrap();
        let mut out = Vec::new();
        let mut cur = from;
        for _ in 0..n {
            cur = c.next_after(cur).unwrap();
            out.push(cur.to_string());
        }
        out
    }

    #[test]
    fn strictly_after_and_before() {
        let c = CronExpr::parse("0 2 * * *").unwrap();
        assert_eq!(c.next_after(at(2024, 1, 1, 2, 0)).unwrap(), at(2024, 1, 2, 2, 0));
        assert_eq!(c.prev_before(at(2024, 1, 2, 2, 0)).unwrap(), at(2024, 1, 1, 2, 0));
        let frac = at(2024, 1, 2, 2, 0).checked_add(500.milliseconds()).unwrap();
        assert_eq!(c.prev_before(frac).unwrap(), at(2024, 1, 2, 2, 0));
        assert_eq!(c.next_after(frac).unwrap(), at(2024, 1, 3, 2, 0));
    }

    #[test]
    fn month_ends_and_leap_days() {
        assert_eq!(
            nexts("0 0 31 * *", at(2024, 1, 31, 0, 0), 3),
            ["2024-03-31T00:00:00", "2024-05-31T00:00:00", "2024-07-31T00:00:00"]
        );
        assert_eq!(
            nexts("0 0 29 2 *", at(2024, 3, 1, 0, 0), 2),
            ["2028-02-29T00:00:00", "2032-02-29T00:00:00"]
        );
        assert_eq!(
            nexts("0 0 L * *", at(2024, 1, 15, 0, 0), 3),
            ["2024-01-31T00:00:00", "2024-02-29T00:00:00", "2024-03-31T00:00:00"]
        );
    }

    #[test]
    fn weekday_lists_ranges_steps_and_names() {
        // 2024-01-01 is a Monday.
        assert_eq!(
            nexts("30 9 * * 1,3,5", at(2024, 1, 1, 10, 0), 3),
            ["2024-01-03T09:30:00", "2024-01-05T09:30:00", "2024-01-08T09:30:00"]
        );
        assert_eq!(
            nexts("0 0 * * MON-FRI", at(2024, 1, 5, 1, 0), 2),
            ["2024-01-08T00:00:00", "2024-01-09T00:00:00"]
        );
        assert_eq!(
            nexts("*/20 8-9 * * *", at(2024, 1, 1, 9, 30), 3),
            ["2024-01-01T09:40:00", "2024-01-02T08:00:00", "2024-01-02T08:20:00"]
        );
        assert_eq!(nexts("0 0 * * 7", at(2024, 1, 1, 0, 0), 1), ["2024-01-07T00:00:00"]);
        assert_eq!(
            nexts("0 0 1 */3 *", at(2024, 1, 1, 0, 0), 2),
            ["2024-04-01T00:00:00", "2024-07-01T00:00:00"]
        );
        assert_eq!(
            nexts("5/15 * * * *", at(2024, 1, 1, 0, 0), 2),
            ["2024-01-01T00:05:00", "2024-01-01T00:20:00"]
        );
        // Second Friday of the month.
        assert_eq!(nexts("0 0 * * 5#2", at(2024, 1, 1, 0, 0), 1), ["2024-01-12T00:00:00"]);
    }

    #[test]
    fn day_of_month_or_day_of_week_like_croniter() {
        // Both restricted: either matches (Vixie cron and croniter).
        assert_eq!(
            nexts("0 0 13 * 5", at(2024, 1, 1, 0, 0), 3),
            ["2024-01-05T00:00:00", "2024-01-12T00:00:00", "2024-01-13T00:00:00"]
        );
    }

    #[test]
    fn every_hour_detection() {
        for every in [
            "0 * * * *",
            "*/15 * * * *",
            "0 */1 * * *",
            "0 0-23 * * *",
            "0 0-11,12-23 * * *",
            "0 0/1 * * *",
        ] {
            assert!(CronExpr::parse(every).unwrap().covers_every_hour(), "{every}");
        }
        for not in [
            "0 2 * * *",
            "0 0,12 * * *",
            "30 */2 * * *",
            "0 1-23 * * *",
            "0 5/3 * * *",
        ] {
            assert!(!CronExpr::parse(not).unwrap().covers_every_hour(), "{not}");
        }
    }

    #[test]
    fn rejects_bad_expressions() {
        let e = CronExpr::parse("0 2 * *").unwrap_err();
        assert!(e.contains("expected 5 fields") && e.contains("found 4"), "{e}");
        assert!(CronExpr::parse("0 0 2 * * *").unwrap_err().contains("found 6"));
        assert!(CronExpr::parse("61 * * * *").is_err());
        let e = CronExpr::parse("0 25 * * *").unwrap_err();
        assert!(e.ends_with("hour field `25`: 25 is out of range 0-23"), "{e}");
        assert!(
            CronExpr::parse("0 0 0 * *")
                .unwrap_err()
                .contains("day-of-month field `0`")
        );
        assert!(CronExpr::parse("0 0 * * 1#2").is_ok());
        assert!(CronExpr::parse("0 0 * 13 *").is_err());
        assert!(CronExpr::parse("x * * * *").is_err());
        let e = CronExpr::parse("0 0 30 2 *").unwrap_err();
        assert!(e.contains("never fires"), "{e}");
    }

    /// Found by `.ci/fuzz.sh` (fuzz/artifacts/cron/timeout-74b31a6e...): an
    /// empty list item took seconds to parse (10 s under the fuzzer) and
    /// then never fired.
    #[test]
    fn fuzz_timeout_empty_list_items_are_refused_at_once() {
        for expr in [", * * * ,7", "1,,2 * * * *", "0 0 * * 1,", "0 ,3 * * *"] {
            let started = std::time::Instant::now();
            let e = CronExpr::parse(expr).unwrap_err();
            assert!(e.contains("has an empty item in its list"), "{expr}: {e}");
            assert!(
                started.elapsed() < std::time::Duration::from_millis(100),
                "{expr}: {:?}",
                started.elapsed()
            );
        }
    }
}
