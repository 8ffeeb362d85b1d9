//! Postgres' binary `numeric`: base-10000 digits with a weight, a sign
//! and a display scale, decoded exactly into a scaled i128 (Arrow's
//! Decimal128) and encoded from one, or from decimal text.

const NEG: u16 = 0x4000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const NINF: u16 = 0xF000;

/// The value scaled by `10^scale`, or why it cannot be.
pub fn decode(b: &[u8], scale: i8) -> Result<i128, String> {
    if b.len() < 8 {
        return Err("a numeric shorter than its header".into());
    }
    let n = u16::from_be_bytes([b[0], b[1]]) as usize;
    let weight = i16::from_be_bytes([b[2], b[3]]) as i32;
    let sign = u16::from_be_bytes([b[4], b[5]]);
    if sign != 0 && sign != NEG {
        return Err(match sign {
            NAN => "NaN does not fit a decimal column".into(),
            _ => "infinity does not fit a decimal column".into(),
        });
    }
    if b.len() < 8 + 2 * n {
        return Err("a numeric shorter than its digits".into());
    }
    let overflow = || "a numeric too large for its declared precision".to_string();
    let mut v: i128 = 0;
    for i in 0..n {
        let d = i128::from(i16::from_be_bytes([b[8 + 2 * i], b[9 + 2 * i]]));
        // This digit's power of ten, after scaling.
        let exp = 4 * (weight - i as i32) + i32::from(scale);
        let term = if exp >= 0 {
            10i128
                .checked_pow(exp as u32)
                .and_then(|p| d.checked_mul(p))
                .ok_or_else(overflow)?
        } else {
            // Digits below the scale: only trailing zeros of the last
            // group for a column whose scale is declared.
            d / 10i128.pow((-exp).min(38) as u32)
        };
        v = v.checked_add(term).ok_or_else(overflow)?;
    }
    Ok(if sign == NEG { -v } else { v })
}

/// Writes `v / 10^scale` in the binary form (length prefix not
/// included): digit count, weight, sign, display scale, then base-10000
/// digits aligned so that the decimal point falls between two of them.
pub fn encode(v: i128, scale: u16, out: &mut Vec<u8>) {
    // Pad the fraction to whole groups of four digits.
    let pad = (4 - scale % 4) % 4;
    let mut m = v.unsigned_abs();
    let mut groups: Vec<u16> = Vec::with_capacity(12);
    // The low `pad` digits of the first group are the padding zeros.
    let mut first = true;
    while m > 0 || first {
        let (q, r) = if first {
            let p = 10u128.pow(u32::from(4 - pad));
            (m / p, (m % p) * 10u128.pow(u32::from(pad)))
        } else {
            (m / 10_000, m % 10_000)
        };
        groups.push(r as u16);
        m = q;
        first = false;
    }
    // `groups` is least significant first; the fraction has this many.
    let frac_groups = i32::from(scale.div_ceil(4));
    let mut weight = groups.len() as i32 - 1 - frac_groups;
    // Leading zero groups (most significant) and trailing ones carry
    // nothing: Postgres stores neither.
    while groups.len() > 1 && groups.last() == Some(&0) {
        groups.pop();
        weight -= 1;
    }
    let trailing = groups.iter().take_while(|&&g| g == 0).count();
    let digits = &groups[trailing..];
    let (weight, digits) = if digits.is_empty() {
        (0, digits)
    } else {
        (weight, digits)
    };
    out.extend_from_slice(&(digits.len() as u16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&(if v < 0 { NEG } else { 0 }).to_be_bytes());
    out.extend_from_slice(&scale.to_be_bytes());
    for d in digits.iter().rev() {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

/// Writes decimal text (`-12.50`, `1e-7`, `NaN`, `Infinity`) as a binary
/// numeric, or says why it is not a number.
pub fn encode_text(s: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let t = s.trim();
    let special = match t.to_ascii_lowercase().as_str() {
        "nan" => Some(NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(PINF),
        "-inf" | "-infinity" => Some(NINF),
        _ => None,
    };
    if let Some(sign) = special {
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        return Ok(());
    }
    let (v, scale) = parse(t).ok_or_else(|| format!("{s:?} is not a number"))?;
    encode(v, scale, out);
    Ok(())
}

/// `-12.50` as (-1250, 2); exponents are applied (`1.5e3` is (1500, 0)).
/// `None` for text that is not a decimal or has more than 38 digits.
pub fn parse(t: &str) -> Option<(i128, u16)> {
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (neg, body) = match mantissa.as_bytes().first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    let mut scale = frac.len() as i32 - exp;
    if scale < 0 {
        v = v.checked_mul(10i128.checked_pow((-scale) as u32)?)?;
        scale = 0;
    }
    let scale = u16::try_from(scale).ok().filter(|&s| s <= 1000)?;
    Some((if neg { -v } else { v }, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: i128, scale: u16) -> Vec<u8> {
        let mut b = Vec::new();
        encode(v, scale, &mut b);
        b
    }

    #[test]
    fn encodes_what_postgres_sends() {
        // The exact bytes Postgres sends for these values.
        assert_eq!(enc(1250, 2), num(0, 0, 2, &[12, 5000]));
        assert_eq!(enc(-20000, 0), num(1, NEG, 0, &[2]));
        assert_eq!(enc(-1, 4), num(-1, NEG, 4, &[1]));
        assert_eq!(enc(0, 3), num(0, 0, 3, &[]));
        assert_eq!(
            enc(123_456_789_123_456_789, 9),
            num(2, 0, 9, &[1, 2345, 6789, 1234, 5678, 9000])
        );
        assert_eq!(enc(1, 7), num(-2, 0, 7, &[10]));
        assert_eq!(enc(i128::MAX, 0).len(), 8 + 2 * 10);
    }

    #[test]
    fn encoding_then_decoding_gives_the_value_back() {
        for (v, s) in [
            (255i128, 2u16),
            (-7, 0),
            (10_000, 0),
            (99_999_999, 4),
            (5, 1),
            (-1_000_000_001, 5),
        ] {
            assert_eq!(decode(&enc(v, s), s as i8).unwrap(), v, "{v} at scale {s}");
        }
    }

    #[test]
    fn reads_decimal_text() {
        assert_eq!(parse("-12.50"), Some((-1250, 2)));
        assert_eq!(parse("1e-7"), Some((1, 7)));
        assert_eq!(parse("1.5E3"), Some((1500, 0)));
        assert_eq!(parse(".5"), Some((5, 1)));
        assert_eq!(parse("7."), Some((7, 0)));
        for bad in ["", ".", "-", "1,5", "abc", "1e", "1.2.3"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let mut b = Vec::new();
        encode_text("NaN", &mut b).unwrap();
        assert_eq!(b, num(0, NAN, 0, &[]));
        assert!(encode_text("twelve", &mut Vec::new()).unwrap_err().contains("twelve"));
    }

    /// The binary form Postgres sends: digit count, weight, sign, display
    /// scale, then base-10000 digits.
    fn num(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(digits.len() as u16).to_be_bytes());
        b.extend_from_slice(&weight.to_be_bytes());
        b.extend_from_slice(&sign.to_be_bytes());
        b.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn decodes_exactly_at_the_column_scale() {
        // 12.5 as numeric(5,2): 12 | 5000, weight 0.
        assert_eq!(decode(&num(0, 0, 1, &[12, 5000]), 2).unwrap(), 1250);
        // -20000: 2 | (0000 trimmed), weight 1.
        assert_eq!(decode(&num(1, NEG, 0, &[2]), 0).unwrap(), -20000);
        // 0.0001 at scale 4: weight -1, digit 1.
        assert_eq!(decode(&num(-1, NEG, 4, &[1]), 4).unwrap(), -1);
        // 123456789.123456789 at scale 9.
        assert_eq!(
            decode(&num(2, 0, 9, &[1, 2345, 6789, 1234, 5678, 9000]), 9).unwrap(),
            123_456_789_123_456_789
        );
        assert_eq!(decode(&num(0, 0, 3, &[]), 3).unwrap(), 0);
    }

    #[test]
    fn refuses_what_does_not_fit_a_decimal() {
        assert!(decode(&num(0, NAN, 0, &[]), 2).unwrap_err().contains("NaN"));
        assert!(decode(&num(0, 0xD000, 0, &[]), 2).unwrap_err().contains("infinity"));
        assert!(decode(&num(10, 0, 0, &[1]), 0).unwrap_err().contains("too large"));
        assert!(decode(&[0, 1], 0).unwrap_err().contains("shorter"));
    }
}
