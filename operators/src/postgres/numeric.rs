//! Postgres' binary `numeric`: base-10000 digits with a weight, a sign
//! and a display scale, decoded exactly into a scaled i128 (Arrow's
//! Decimal128).

const NEG: u16 = 0x4000;
const NAN: u16 = 0xC000;

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

#[cfg(test)]
mod tests {
    use super::*;

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
