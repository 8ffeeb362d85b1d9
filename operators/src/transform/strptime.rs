//! Timestamps from text: strftime formats read as Python's `strptime`
//! reads them (`%m` takes `1` or `01`; a space takes any run of
//! whitespace; nothing may be left over), compiled once and applied
//! without allocating. Results are microseconds since 1970-01-01T00:00,
//! without a zone.

use std::fmt;
use std::str::FromStr;

/// A compiled `strptime` format.
#[derive(Clone, PartialEq)]
pub struct TimeFormat {
    text: String,
    items: Vec<Item>,
    twelve_hour: bool,
}

impl fmt::Debug for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Year,
    Year2,
    Month,
    Day,
    Hour,
    Hour12,
    Minute,
    Second,
    Micro,
    YearDay,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Lit(u8),
    Space,
    Num { field: Field, min: u8, max: u8 },
    AmPm,
    MonthName,
    WeekdayName,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl FromStr for TimeFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        let mut twelve_hour = false;
        let mut has_ampm = false;
        let mut chars = text.chars();
        let num = |field, min, max| Item::Num { field, min, max };
        while let Some(c) = chars.next() {
            if c != '%' {
                if c.is_whitespace() {
                    if items.last() != Some(&Item::Space) {
                        items.push(Item::Space);
                    }
                } else {
                    let mut buf = [0u8; 4];
                    items.extend(c.encode_utf8(&mut buf).bytes().map(Item::Lit));
                }
                continue;
            }
            let d = chars.next().ok_or("the format ends with a lone `%`")?;
            match d {
                'Y' => items.push(num(Field::Year, 4, 4)),
                'y' => items.push(num(Field::Year2, 2, 2)),
                'm' => items.push(num(Field::Month, 1, 2)),
                'd' => items.push(num(Field::Day, 1, 2)),
                'H' => items.push(num(Field::Hour, 1, 2)),
                'I' => {
                    twelve_hour = true;
                    items.push(num(Field::Hour12, 1, 2))
                }
                'M' => items.push(num(Field::Minute, 1, 2)),
                'S' => items.push(num(Field::Second, 1, 2)),
                'f' => items.push(num(Field::Micro, 1, 9)),
                'j' => items.push(num(Field::YearDay, 1, 3)),
                'p' => {
                    has_ampm = true;
                    items.push(Item::AmPm)
                }
                'b' | 'B' | 'h' => items.push(Item::MonthName),
                'a' | 'A' => items.push(Item::WeekdayName),
                '%' => items.push(Item::Lit(b'%')),
                'T' => items.extend([
                    num(Field::Hour, 1, 2),
                    Item::Lit(b':'),
                    num(Field::Minute, 1, 2),
                    Item::Lit(b':'),
                    num(Field::Second, 1, 2),
                ]),
                'R' => items.extend([num(Field::Hour, 1, 2), Item::Lit(b':'), num(Field::Minute, 1, 2)]),
                'F' => items.extend([
                    num(Field::Year, 4, 4),
                    Item::Lit(b'-'),
                    num(Field::Month, 1, 2),
                    Item::Lit(b'-'),
                    num(Field::Day, 1, 2),
                ]),
                'D' => items.extend([
                    num(Field::Month, 1, 2),
                    Item::Lit(b'/'),
                    num(Field::Day, 1, 2),
                    Item::Lit(b'/'),
                    num(Field::Year2, 2, 2),
                ]),
                'z' | 'Z' => {
                    return Err(format!(
                        "`%{d}`: time zones are not supported (parse_timestamp makes timestamps without a zone)"
                    ));
                }
                other => return Err(format!("unknown directive `%{other}`")),
            }
        }
        if items.is_empty() {
            return Err("the format is empty".into());
        }
        if twelve_hour && !has_ampm {
            return Err("`%I` (12-hour clock) needs `%p` (AM/PM)".into());
        }
        Ok(TimeFormat {
            text: text.to_string(),
            items,
            twelve_hour,
        })
    }
}

#[derive(Default)]
struct Parts {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    hour: u32,
    minute: u32,
    second: u32,
    micro: u32,
    yday: Option<u32>,
    pm: bool,
}

impl TimeFormat {
    /// Microseconds since the epoch, or what did not match.
    pub fn parse(&self, s: &str) -> Result<i64, String> {
        let b = s.as_bytes();
        let mut pos = 0;
        let mut p = Parts::default();
        for item in &self.items {
            match *item {
                Item::Lit(c) => {
                    if b.get(pos) != Some(&c) {
                        return Err(expected(&format!("`{}`", c as char), b, pos));
                    }
                    pos += 1;
                }
                Item::Space => {
                    let start = pos;
                    while pos < b.len() && b[pos].is_ascii_whitespace() {
                        pos += 1;
                    }
                    if pos == start {
                        return Err(expected("a space", b, pos));
                    }
                }
                Item::Num { field, min, max } => {
                    let start = pos;
                    let mut v: u64 = 0;
                    while pos < b.len() && pos - start < max as usize && b[pos].is_ascii_digit() {
                        v = v * 10 + u64::from(b[pos] - b'0');
                        pos += 1;
                    }
                    let n = pos - start;
                    if n < min as usize {
                        return Err(expected(field_name(field, min), b, start));
                    }
                    p.set(field, v, n)?;
                }
                Item::AmPm => {
                    let rest = &b[pos..];
                    let word = |w: &[u8]| rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(w);
                    if word(b"am") {
                        p.pm = false;
                    } else if word(b"pm") {
                        p.pm = true;
                    } else {
                        return Err(expected("AM or PM", b, pos));
                    }
                    pos += 2;
                }
                Item::MonthName => {
                    let (m, n) = name_at(&b[pos..], &MONTHS).ok_or_else(|| expected("a month name", b, pos))?;
                    p.month = Some(m as u32 + 1);
                    pos += n;
                }
                Item::WeekdayName => {
                    let (_, n) = name_at(&b[pos..], &WEEKDAYS).ok_or_else(|| expected("a weekday name", b, pos))?;
                    pos += n;
                }
            }
        }
        if pos < b.len() {
            return Err(format!("unexpected {:?} after the date", &s[pos..]));
        }
        if self.twelve_hour {
            if !(1..=12).contains(&p.hour) {
                return Err(format!("hour {} is not 1-12", p.hour));
            }
            p.hour = p.hour % 12 + if p.pm { 12 } else { 0 };
        }
        let year = p.year.unwrap_or(1900);
        let (month, day) = match (p.month, p.day, p.yday) {
            (None, None, Some(yd)) => month_day_of(year, yd)?,
            (m, d, _) => (m.unwrap_or(1), d.unwrap_or(1)),
        };
        let days = days_from_civil(year, month, day)?;
        Ok(micros(days, p.hour, p.minute, p.second, p.micro))
    }
}

impl Parts {
    fn set(&mut self, field: Field, v: u64, digits: usize) -> Result<(), String> {
        let v32 = v as u32;
        match field {
            Field::Year => self.year = Some(v as i64),
            Field::Year2 => self.year = Some(if v < 69 { 2000 + v as i64 } else { 1900 + v as i64 }),
            Field::Month => self.month = Some(v32),
            Field::Day => self.day = Some(v32),
            Field::Hour | Field::Hour12 => {
                if field == Field::Hour && v32 > 23 {
                    return Err(format!("hour {v} is not 0-23"));
                }
                self.hour = v32
            }
            Field::Minute => {
                if v32 > 59 {
                    return Err(format!("minute {v} is not 0-59"));
                }
                self.minute = v32
            }
            Field::Second => {
                if v32 > 59 {
                    return Err(format!("second {v} is not 0-59"));
                }
                self.second = v32
            }
            Field::Micro => {
                // Digits are a fraction of a second: "5" is 500000 µs; a
                // ninth digit is below a microsecond and dropped.
                let mut us = v;
                for _ in digits..6 {
                    us *= 10;
                }
                for _ in 6..digits {
                    us /= 10;
                }
                self.micro = us as u32
            }
            Field::YearDay => self.yday = Some(v32),
        }
        Ok(())
    }
}

fn field_name(f: Field, min: u8) -> &'static str {
    match (f, min) {
        (Field::Year, _) => "a 4-digit year",
        (Field::Year2, _) => "a 2-digit year",
        (Field::Month, _) => "a month number",
        (Field::Day, _) => "a day number",
        (Field::Hour | Field::Hour12, _) => "an hour",
        (Field::Minute, _) => "minutes",
        (Field::Second, _) => "seconds",
        (Field::Micro, _) => "a fraction of a second",
        (Field::YearDay, _) => "a day of the year",
    }
}

fn expected(what: &str, b: &[u8], pos: usize) -> String {
    if pos >= b.len() {
        format!("expected {what} at the end")
    } else {
        let rest = String::from_utf8_lossy(&b[pos..]);
        format!("expected {what} at {:?}", rest.chars().take(12).collect::<String>())
    }
}

/// The index of the (full or three-letter) name at the start of `b`, and
/// its length.
fn name_at(b: &[u8], names: &[&str]) -> Option<(usize, usize)> {
    for (i, name) in names.iter().enumerate() {
        let n = name.as_bytes();
        if b.len() >= n.len() && b[..n.len()].eq_ignore_ascii_case(n) {
            return Some((i, n.len()));
        }
    }
    for (i, name) in names.iter().enumerate() {
        let n = &name.as_bytes()[..3];
        if b.len() >= 3 && b[..3].eq_ignore_ascii_case(n) {
            return Some((i, 3));
        }
    }
    None
}

pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn month_day_of(year: i64, yday: u32) -> Result<(u32, u32), String> {
    let total = if is_leap(year) { 366 } else { 365 };
    if yday == 0 || yday > total {
        return Err(format!("day of the year {yday} is not 1-{total}"));
    }
    let mut left = yday;
    for m in 1..=12 {
        let n = days_in_month(year, m);
        if left <= n {
            return Ok((m, left));
        }
        left -= n;
    }
    unreachable!("the day of the year was checked")
}

/// Days since 1970-01-01 of a valid date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Result<i64, String> {
    if !(1..=12).contains(&m) {
        return Err(format!("month {m} is not 1-12"));
    }
    if d == 0 || d > days_in_month(y, m) {
        return Err(format!("day {d} is not in {y:04}-{m:02}"));
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok(era * 146_097 + doe - 719_468)
}

pub fn micros(days: i64, h: u32, mi: u32, s: u32, us: u32) -> i64 {
    (days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)) * 1_000_000 + i64::from(us)
}

/// An ISO 8601 date or date-time without a zone: `2011-12-09`,
/// `2011-12-09 12:50`, `2011-12-09T12:50:00.5`.
pub fn parse_iso(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (date, time) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim_start())),
        None => (s, None),
    };
    let days = parse_iso_date(date)?;
    let Some(time) = time else {
        return Ok(micros(days, 0, 0, 0, 0));
    };
    let fmt = match time.len() {
        0..=5 => &*ISO_HM,
        _ if time.contains('.') => &*ISO_HMSF,
        _ => &*ISO_HMS,
    };
    let t = fmt
        .parse(time)
        .map_err(|e| format!("{s:?} is not an ISO date-time (YYYY-MM-DD HH:MM:SS): {e}"))?;
    Ok(days * 86_400_000_000 + t - EPOCH_1900)
}

/// Days since the epoch of an ISO date `YYYY-MM-DD`.
pub fn parse_iso_date(s: &str) -> Result<i64, String> {
    let mut it = s.trim().splitn(3, '-');
    let mut next = |what: &str| -> Result<i64, String> {
        it.next()
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("{s:?} is not an ISO date (YYYY-MM-DD): no {what}"))
    };
    let (y, m, d) = (next("year")?, next("month")?, next("day")?);
    days_from_civil(y, m as u32, d as u32).map_err(|e| format!("{s:?} is not a date: {e}"))
}

// Time-of-day formats; they parse against 1900-01-01, hence the offset.
static ISO_HM: std::sync::LazyLock<TimeFormat> = std::sync::LazyLock::new(|| "%H:%M".parse().expect("valid"));
static ISO_HMS: std::sync::LazyLock<TimeFormat> = std::sync::LazyLock::new(|| "%H:%M:%S".parse().expect("valid"));
static ISO_HMSF: std::sync::LazyLock<TimeFormat> = std::sync::LazyLock::new(|| "%H:%M:%S.%f".parse().expect("valid"));
const EPOCH_1900: i64 = -2_208_988_800_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, m: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
        micros(days_from_civil(y, m, d).unwrap(), h, mi, s, us)
    }

    #[test]
    fn the_seed_format_takes_unpadded_fields() {
        let f: TimeFormat = "%m/%d/%Y %H:%M".parse().unwrap();
        assert_eq!(f.parse("12/1/2010 8:26").unwrap(), at(2010, 12, 1, 8, 26, 0, 0));
        assert_eq!(f.parse("01/09/2011 14:05").unwrap(), at(2011, 1, 9, 14, 5, 0, 0));
        assert_eq!(f.parse("2/29/2012  0:00").unwrap(), at(2012, 2, 29, 0, 0, 0, 0));
        assert_eq!(at(1970, 1, 1, 0, 0, 0, 0), 0);
        assert_eq!(at(2010, 12, 1, 8, 26, 0, 0), 1_291_191_960_000_000);
        for (bad, says) in [
            ("13/1/2010 8:26", "month 13 is not 1-12"),
            ("2/29/2011 8:26", "day 29 is not in 2011-02"),
            ("12/1/2010 24:00", "hour 24 is not 0-23"),
            ("12/1/2010 8:26:00", "unexpected \":00\" after the date"),
            ("12-1-2010 8:26", "expected `/` at \"-1-2010 8:26\""),
            ("12/1/10 8:26", "expected a 4-digit year at \"10 8:26\""),
            ("12/1/2010", "expected a space at the end"),
            ("", "expected a month number at the end"),
        ] {
            assert_eq!(f.parse(bad).unwrap_err(), says, "{bad}");
        }
    }

    #[test]
    fn other_directives() {
        let f: TimeFormat = "%d %b %Y, %I:%M:%S.%f %p".parse().unwrap();
        assert_eq!(
            f.parse("09 Dec 2011, 12:50:07.25 AM").unwrap(),
            at(2011, 12, 9, 0, 50, 7, 250_000)
        );
        assert_eq!(
            f.parse("9 december 2011, 1:00:00.000001 pm").unwrap(),
            at(2011, 12, 9, 13, 0, 0, 1)
        );
        let f: TimeFormat = "%Y-%j".parse().unwrap();
        assert_eq!(f.parse("2012-060").unwrap(), at(2012, 2, 29, 0, 0, 0, 0));
        let f: TimeFormat = "%F %T".parse().unwrap();
        assert_eq!(f.parse("1969-12-31 23:59:59").unwrap(), -1_000_000);
        let f: TimeFormat = "%y%m%d".parse().unwrap();
        assert_eq!(f.parse("680101").unwrap(), at(2068, 1, 1, 0, 0, 0, 0));
        assert_eq!(f.parse("690101").unwrap(), at(1969, 1, 1, 0, 0, 0, 0));
        assert!("%Y %z".parse::<TimeFormat>().unwrap_err().contains("time zones"));
        assert!(
            "%Q".parse::<TimeFormat>()
                .unwrap_err()
                .contains("unknown directive `%Q`")
        );
        assert!("%I:%M".parse::<TimeFormat>().unwrap_err().contains("needs `%p`"));
        assert!("%Y%".parse::<TimeFormat>().unwrap_err().contains("lone"));
    }

    #[test]
    fn iso_dates_and_times() {
        assert_eq!(parse_iso("2011-12-09").unwrap(), at(2011, 12, 9, 0, 0, 0, 0));
        assert_eq!(parse_iso("2011-12-09 12:50").unwrap(), at(2011, 12, 9, 12, 50, 0, 0));
        assert_eq!(parse_iso("2011-12-09T12:50:01").unwrap(), at(2011, 12, 9, 12, 50, 1, 0));
        assert_eq!(
            parse_iso("2011-12-09 12:50:01.123456").unwrap(),
            at(2011, 12, 9, 12, 50, 1, 123_456)
        );
        assert!(parse_iso("2011-13-09").unwrap_err().contains("month 13"));
        assert!(parse_iso("12/9/2011").unwrap_err().contains("not an ISO date"));
        assert_eq!(parse_iso_date("1970-01-02").unwrap(), 1);
    }
}
