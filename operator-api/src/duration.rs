//! Durations as users write them: `30s`, `5m`, `1h30m`, `2d`, `500ms`, or a
//! bare number of seconds (as Airflow's `retry_delay` also accepts).

use std::time::Duration;

const FORMS: &str = "use a number of seconds or a duration like 30s, 5m, 1h30m, 2d";

/// Parses a duration written as text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {FORMS}"));
    }
    if let Ok(secs) = s.parse::<f64>() {
        return from_secs(secs, text);
    }
    let mut total = 0f64;
    let mut rest = s;
    let mut last_unit_rank = usize::MAX;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number at {rest:?}; {FORMS}"
            ));
        }
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: bad number {:?}; {FORMS}", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let (rank, factor) = match unit {
            "w" => (0, 604_800.0),
            "d" => (1, 86_400.0),
            "h" => (2, 3_600.0),
            "m" | "min" => (3, 60.0),
            "s" => (4, 1.0),
            "ms" => (5, 0.001),
            "" => {
                return Err(format!("invalid duration {text:?}: {number} has no unit; {FORMS}"));
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit `{other}` (units: w, d, h, m, s, ms)"
                ));
            }
        };
        if rank <= last_unit_rank && last_unit_rank != usize::MAX {
            return Err(format!(
                "invalid duration {text:?}: units must go from largest to smallest, each once"
            ));
        }
        last_unit_rank = rank;
        total += number * factor;
    }
    from_secs(total, text)
}

fn from_secs(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {text:?}: must be zero or more"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {text:?}: too large"))
}

/// Formats a duration compactly, the inverse of [`parse_duration`] for whole
/// seconds: `1h30m`, `45s`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    let ms = d.subsec_millis();
    if secs == 0 && ms > 0 {
        return format!("{ms}ms");
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_duration("1w").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_bad_forms_with_reasons() {
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit `x`"));
        assert!(parse_duration("5").is_ok());
        assert!(parse_duration("m5").unwrap_err().contains("expected a number"));
        assert!(parse_duration("30m1h").unwrap_err().contains("largest to smallest"));
        assert!(parse_duration("-5").unwrap_err().contains("zero or more"));
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("5 m x").is_err());
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
