//! Text to typed values, the way the config reads them: integers also from
//! whole decimals (`17850.0`, which pandas writes for an integer column
//! that had nulls), floats as Rust (and Python) parse them, booleans,
//! ISO dates and times.

/// An integer; a decimal or exponent form is taken when it is a whole
/// number (`17850.0`, `1e3`), refused when it has a fraction.
pub fn parse_int(s: &str) -> Result<i64, String> {
    let t = s.trim_ascii();
    let b = t.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        let mut v: i64 = 0;
        for &d in digits {
            v = v * 10 + i64::from(d - b'0');
        }
        return Ok(if neg { -v } else { v });
    }
    if let Ok(v) = t.parse::<i64>() {
        return Ok(v);
    }
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 => {
            // 2^63 is the first float above i64::MAX.
            if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x) {
                Ok(x as i64)
            } else {
                Err("is out of the range of int64".into())
            }
        }
        Ok(x) if x.is_finite() => Err("is not a whole number".into()),
        _ if t.is_empty() => Err("is empty".into()),
        _ => Err("is not an integer".into()),
    }
}

pub fn parse_int32(s: &str) -> Result<i32, String> {
    let v = parse_int(s)?;
    i32::try_from(v).map_err(|_| "is out of the range of int32".into())
}

pub fn parse_float(s: &str) -> Result<f64, String> {
    let t = s.trim_ascii();
    t.parse::<f64>().map_err(|_| {
        if t.is_empty() {
            "is empty".into()
        } else {
            "is not a number".into()
        }
    })
}

pub fn parse_bool(s: &str) -> Result<bool, String> {
    let t = s.trim_ascii();
    for (yes, no) in [("true", "false"), ("t", "f"), ("yes", "no"), ("y", "n"), ("1", "0")] {
        if t.eq_ignore_ascii_case(yes) {
            return Ok(true);
        }
        if t.eq_ignore_ascii_case(no) {
            return Ok(false);
        }
    }
    Err("is not a boolean (true/false, yes/no, 1/0)".into())
}

/// A float that is a whole number within int64's range, as an integer.
pub fn float_to_int(x: f64) -> Result<i64, String> {
    if !x.is_finite() {
        return Err("is not a finite number".into());
    }
    if x.fract() != 0.0 {
        return Err("is not a whole number".into());
    }
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&x) {
        return Err("is out of the range of int64".into());
    }
    Ok(x as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_from_whole_decimals_too() {
        assert_eq!(parse_int("17850"), Ok(17850));
        assert_eq!(parse_int("17850.0"), Ok(17850));
        assert_eq!(parse_int(" -3 "), Ok(-3));
        assert_eq!(parse_int("+7"), Ok(7));
        assert_eq!(parse_int("1e3"), Ok(1000));
        assert_eq!(parse_int("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int("17850.5").unwrap_err(), "is not a whole number");
        assert_eq!(
            parse_int("9223372036854775808").unwrap_err(),
            "is out of the range of int64"
        );
        assert_eq!(parse_int("abc").unwrap_err(), "is not an integer");
        assert_eq!(parse_int("").unwrap_err(), "is empty");
        assert_eq!(parse_int32("3000000000").unwrap_err(), "is out of the range of int32");
        assert_eq!(parse_float("2.55"), Ok(2.55));
        assert_eq!(parse_float("-1e-3"), Ok(-0.001));
        assert!(parse_float("nan").unwrap().is_nan());
        assert_eq!(parse_float("1,5").unwrap_err(), "is not a number");
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("maybe").is_err());
        assert_eq!(float_to_int(17850.0), Ok(17850));
        assert!(float_to_int(0.5).is_err());
        assert!(float_to_int(f64::NAN).is_err());
    }
}
