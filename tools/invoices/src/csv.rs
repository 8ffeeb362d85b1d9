//! Writing rows as CSV bytes: fields quoted only when they must be (a
//! comma, a quote or a line break; spaces are kept bare, as in the real
//! file), text encoded once per distinct string.

use std::io::{self, Write};

use crate::Encoding;
use crate::generator::{Generator, Header, Line};
use crate::words::COUNTRIES;

pub(crate) const HEADER: &str = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country";

/// A field as CSV text: quoted, with quotes doubled, if it must be.
pub(crate) fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn encode(s: &str, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Utf8 => s.as_bytes().to_vec(),
        Encoding::Cp1252 => {
            let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
            assert!(!unmappable, "{s:?} has a character cp1252 lacks");
            bytes.into_owned()
        }
    }
}

pub(crate) fn push_int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut m = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Thousandths of a pound, as the real file writes prices: `2.55`, `0.85`,
/// `18`, `0`, `0.001`, `-11062.06`.
pub(crate) fn push_price(out: &mut Vec<u8>, thousandths: i64) {
    if thousandths < 0 {
        out.push(b'-');
    }
    let t = thousandths.unsigned_abs();
    push_int(out, (t / 1000) as i64);
    let mut fraction = t % 1000;
    if fraction != 0 {
        out.push(b'.');
        let mut width = 3;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            width -= 1;
        }
        let start = out.len();
        push_int(out, fraction as i64);
        for _ in out.len() - start..width {
            out.insert(start, b'0');
        }
    }
}

/// Every distinct text and code, quoted and encoded once.
struct Encoded {
    texts: Vec<Vec<u8>>,
    codes: Vec<Vec<u8>>,
    countries: Vec<Vec<u8>>,
}

impl Encoded {
    fn new(g: &Generator, encoding: Encoding) -> Self {
        let all = |items: &mut dyn Iterator<Item = &str>| items.map(|s| encode(&quote(s), encoding)).collect();
        Encoded {
            texts: all(&mut g.catalog.texts.iter().map(String::as_str)),
            codes: all(&mut g.catalog.codes.iter().map(String::as_str)),
            countries: all(&mut COUNTRIES.iter().map(|c| c.0)),
        }
    }
}

/// What [`crate::write_csv`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Data rows, the header not counted.
    pub rows: usize,
    pub bytes: u64,
}

pub(crate) fn write(mut g: Generator, encoding: Encoding, out: &mut dyn Write) -> io::Result<Summary> {
    const FLUSH_AT: usize = 1 << 16;
    let enc = Encoded::new(&g, encoding);
    let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
    buf.extend_from_slice(HEADER.as_bytes());
    buf.push(b'\n');
    let mut summary = Summary { rows: 0, bytes: 0 };
    let mut lines: Vec<Line> = Vec::new();
    let (mut number, mut date, mut tail) = (Vec::new(), String::new(), Vec::new());
    while let Some(h) = g.next_invoice(&mut lines) {
        invoice_parts(&h, &enc, &mut number, &mut date, &mut tail);
        for line in &lines {
            buf.extend_from_slice(&number);
            buf.extend_from_slice(&enc.codes[line.code as usize]);
            buf.push(b',');
            if let Some(t) = line.text {
                buf.extend_from_slice(&enc.texts[t as usize]);
            }
            buf.push(b',');
            push_int(&mut buf, line.quantity);
            buf.push(b',');
            buf.extend_from_slice(date.as_bytes());
            buf.push(b',');
            push_price(&mut buf, line.price);
            buf.extend_from_slice(&tail);
        }
        summary.rows += lines.len();
        if buf.len() >= FLUSH_AT {
            out.write_all(&buf)?;
            summary.bytes += buf.len() as u64;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    summary.bytes += buf.len() as u64;
    out.flush()?;
    Ok(summary)
}

/// What every line of an invoice shares: `536365,` before the code, the
/// date, and `,17850,United Kingdom\n` after the price.
fn invoice_parts(h: &Header, enc: &Encoded, number: &mut Vec<u8>, date: &mut String, tail: &mut Vec<u8>) {
    number.clear();
    number.extend_from_slice(h.prefix.as_bytes());
    push_int(number, i64::from(h.number));
    number.push(b',');
    date.clear();
    h.stamp.write_to(date);
    tail.clear();
    tail.push(b',');
    if let Some(c) = h.customer {
        push_int(tail, i64::from(c));
    }
    tail.push(b',');
    tail.extend_from_slice(&enc.countries[usize::from(h.country)]);
    tail.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(t: i64) -> String {
        let mut v = Vec::new();
        push_price(&mut v, t);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn prices_are_written_like_the_real_file() {
        assert_eq!(price(2_550), "2.55");
        assert_eq!(price(850), "0.85");
        assert_eq!(price(18_000), "18");
        assert_eq!(price(0), "0");
        assert_eq!(price(1), "0.001");
        assert_eq!(price(65), "0.065");
        assert_eq!(price(1_045), "1.045");
        assert_eq!(price(2_100), "2.1");
        assert_eq!(price(-11_062_060), "-11062.06");
    }

    #[test]
    fn integers() {
        let mut v = Vec::new();
        for n in [0, 7, -12, 536_365, i64::MIN] {
            v.clear();
            push_int(&mut v, n);
            assert_eq!(String::from_utf8(v.clone()).unwrap(), n.to_string());
        }
    }

    #[test]
    fn quoting_only_when_needed() {
        assert_eq!(quote("WHITE MUG "), "WHITE MUG ");
        assert_eq!(quote("TINS, PANTRY"), "\"TINS, PANTRY\"");
        assert_eq!(quote("12\" HEART"), "\"12\"\" HEART\"");
    }

    #[test]
    fn cp1252_is_one_byte_per_character() {
        assert_eq!(encode("CAFÉ ’£€–", Encoding::Cp1252), b"CAF\xC9 \x92\xA3\x80\x96");
        assert_eq!(encode("CAFÉ", Encoding::Utf8), "CAFÉ".as_bytes());
    }
}
