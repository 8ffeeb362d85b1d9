//! Reading dates and instants as users write them.

use std::str::FromStr;

use jiff::{Timestamp, civil, tz::TimeZone};

/// Parses a time zone by IANA name (`UTC`, `Asia/Bangkok`).
pub fn parse_timezone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name)
        .map_err(|_| format!("unknown time zone {name:?}; use an IANA name such as UTC, Europe/Berlin or Asia/Bangkok"))
}

/// Parses `2024-11-01`, `2024-11-01T02:00[:00[.fff]]`, `2024-11-01 02:00`, or
/// any of these with an offset (`Z`, `+07:00`). Without an offset the text is a
/// wall-clock time in `tz`: a time skipped by a DST change moves forward by
/// the gap, a repeated one takes the later instant.
pub fn parse_instant(text: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let s = text.trim();
    if let Ok(ts) = Timestamp::from_str(s) {
        return Ok(ts);
    }
    let civil = civil::DateTime::from_str(s)
        .or_else(|_| civil::Date::from_str(s).map(|d| d.to_datetime(civil::Time::midnight())))
        .map_err(|_| {
            format!(
                "invalid date {text:?}; use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS], optionally with an offset such as Z or +07:00"
            )
        })?;
    local_to_instant(civil, tz)
}

/// A wall-clock time in `tz` to an instant, resolving DST gaps forward and
/// folds to the later instant (Airflow 2's pendulum rules).
pub fn local_to_instant(dt: civil::DateTime, tz: &TimeZone) -> Result<Timestamp, String> {
    tz.to_ambiguous_timestamp(dt)
        .later()
        .map_err(|e| format!("{dt} cannot be placed in the time zone: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        parse_timezone(name).unwrap()
    }

    #[test]
    fn reads_dates_in_the_zone() {
        let ts = parse_instant("2024-11-01", &tz("Asia/Bangkok")).unwrap();
        assert_eq!(ts.to_string(), "2024-10-31T17:00:00Z");
        let ts = parse_instant("2024-11-01T02:30", &tz("UTC")).unwrap();
        assert_eq!(ts.to_string(), "2024-11-01T02:30:00Z");
        let ts = parse_instant("2024-11-01 02:30:15", &tz("UTC")).unwrap();
        assert_eq!(ts.to_string(), "2024-11-01T02:30:15Z");
    }

    #[test]
    fn offsets_win_over_the_zone() {
        let ts = parse_instant("2024-11-01T02:00:00+07:00", &tz("UTC")).unwrap();
        assert_eq!(ts.to_string(), "2024-10-31T19:00:00Z");
        let ts = parse_instant("2024-11-01T02:00:00Z", &tz("Asia/Bangkok")).unwrap();
        assert_eq!(ts.to_string(), "2024-11-01T02:00:00Z");
    }

    #[test]
    fn dst_gap_moves_forward_and_fold_takes_later() {
        let ny = tz("America/New_York");
        // 02:30 does not exist on 2024-03-10: 03:30 EDT.
        assert_eq!(
            parse_instant("2024-03-10T02:30", &ny).unwrap().to_string(),
            "2024-03-10T07:30:00Z"
        );
        // 01:30 happens twice on 2024-11-03: the later one, EST.
        assert_eq!(
            parse_instant("2024-11-03T01:30", &ny).unwrap().to_string(),
            "2024-11-03T06:30:00Z"
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(
            parse_instant("2024-13-01", &tz("UTC"))
                .unwrap_err()
                .contains("invalid date")
        );
        assert!(parse_instant("yesterday", &tz("UTC")).is_err());
        assert!(
            parse_timezone("Mars/Olympus")
                .unwrap_err()
                .contains("unknown time zone")
        );
    }
}
