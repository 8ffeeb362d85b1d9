//! The time axis of the year of invoices: trading days from 12/1/2010 8:26
//! to 12/9/2011 12:50, no Saturdays, a Christmas break, shorter Sundays, and
//! more trade in the autumn, as in the real data. Invoice times come from
//! how far the generator is through its rows, so they never go back.

use std::fmt::Write;

/// A minute of the year, as written in the CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
}

impl Stamp {
    /// `M/D/YYYY H:MM`, no leading zeros but on the minutes (`12/1/2010 8:26`).
    pub(crate) fn write_to(&self, out: &mut String) {
        let Stamp {
            year,
            month,
            day,
            hour,
            minute,
        } = *self;
        write!(out, "{month}/{day}/{year} {hour}:{minute:02}").expect("writing to a String");
    }
}

#[derive(Debug)]
struct Day {
    year: u16,
    month: u8,
    day: u8,
    /// Minute of the day the first invoice may have.
    first: u16,
    /// Minutes open, the last one included.
    minutes: u16,
    /// Trade per minute, relative.
    weight: u64,
    /// Sum of `minutes * weight` of the days before.
    before: u64,
}

#[derive(Debug)]
pub(crate) struct Calendar {
    days: Vec<Day>,
    total: u64,
}

/// Relative trade per minute, by month from December 2010.
const MONTH_WEIGHTS: [u64; 13] = [12, 8, 7, 9, 8, 10, 9, 9, 9, 13, 15, 19, 13];
const FIRST_MINUTE: u16 = 8 * 60 + 26;
const LAST_MINUTE: u16 = 12 * 60 + 50;

impl Calendar {
    pub(crate) fn new() -> Self {
        let month_lengths = [31u8, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 9];
        let mut days = Vec::new();
        let mut total = 0;
        let mut ordinal = 0usize; // days since 12/1/2010, a Wednesday
        for (m, &len) in month_lengths.iter().enumerate() {
            let (year, month) = if m == 0 { (2010, 12) } else { (2011, m as u8) };
            for day in 1..=len {
                let weekday = (2 + ordinal) % 7; // 0 = Monday
                ordinal += 1;
                let christmas = (year == 2010 && day >= 24) || (year == 2011 && month == 1 && day <= 3);
                if weekday == 5 || christmas {
                    continue;
                }
                let (mut first, mut last) = if weekday == 6 {
                    (10 * 60, 16 * 60)
                } else {
                    (7 * 60, 20 * 60)
                };
                if days.is_empty() {
                    first = FIRST_MINUTE;
                }
                if m == 12 && day == len {
                    last = LAST_MINUTE;
                }
                let minutes = last - first + 1;
                let weight = MONTH_WEIGHTS[m];
                days.push(Day {
                    year,
                    month,
                    day,
                    first,
                    minutes,
                    weight,
                    before: total,
                });
                total += u64::from(minutes) * weight;
            }
        }
        Calendar { days, total }
    }

    /// The minute `done / of` of the way through the year: `0` is the first
    /// minute (12/1/2010 8:26), `of` the last (12/9/2011 12:50). Never
    /// decreases as `done` grows.
    pub(crate) fn at(&self, done: u64, of: u64) -> Stamp {
        let target = if of == 0 {
            0
        } else {
            (u128::from(done.min(of)) * u128::from(self.total) / u128::from(of)) as u64
        };
        let i = self
            .days
            .partition_point(|d| d.before + u64::from(d.minutes) * d.weight <= target)
            .min(self.days.len() - 1);
        let d = &self.days[i];
        let offset = ((target - d.before) / d.weight).min(u64::from(d.minutes) - 1) as u16;
        let minute_of_day = d.first + offset;
        Stamp {
            year: d.year,
            month: d.month,
            day: d.day,
            hour: (minute_of_day / 60) as u8,
            minute: (minute_of_day % 60) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: Stamp) -> String {
        let mut out = String::new();
        s.write_to(&mut out);
        out
    }

    #[test]
    fn ends_are_the_real_first_and_last_invoice_times() {
        let c = Calendar::new();
        assert_eq!(text(c.at(0, 100)), "12/1/2010 8:26");
        assert_eq!(text(c.at(100, 100)), "12/9/2011 12:50");
        assert_eq!(text(c.at(0, 0)), "12/1/2010 8:26");
    }

    #[test]
    fn never_goes_back_and_skips_saturdays_and_christmas() {
        let c = Calendar::new();
        let n = 200_000;
        let mut last = c.at(0, n);
        for done in 1..=n {
            let s = c.at(done, n);
            assert!(s >= last, "{s:?} after {last:?}");
            // 12/4/2010 and 12/3/2011 are Saturdays; 12/25/2010 and 1/3/2011
            // are in the break.
            let ymd = (s.year, s.month, s.day);
            assert!(
                !matches!(ymd, (2010, 12, 4) | (2011, 12, 3) | (2010, 12, 25) | (2011, 1, 3)),
                "{s:?}"
            );
            assert!((7..=20).contains(&s.hour));
            last = s;
        }
    }
}
