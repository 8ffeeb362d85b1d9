//! The bytes: determinism, encodings, and that the CSV reads back as the
//! rows of `rows()`.

use updraft_invoices::{Encoding, HEADER, Options, Row, rows, write_csv};

fn csv(opts: &Options) -> Vec<u8> {
    let mut out = Vec::new();
    let summary = write_csv(opts, &mut out).unwrap();
    assert_eq!(summary.rows, opts.rows);
    assert_eq!(summary.bytes, out.len() as u64);
    out
}

fn opts(rows: usize, seed: u64, encoding: Encoding) -> Options {
    Options { rows, seed, encoding }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = csv(&opts(20_000, 7, Encoding::Cp1252));
    assert_eq!(a, csv(&opts(20_000, 7, Encoding::Cp1252)));
    let b = csv(&opts(20_000, 8, Encoding::Cp1252));
    assert_ne!(a, b);
    // Different all through, not only in a detail.
    let lines_a: Vec<&[u8]> = a.split(|&c| c == b'\n').collect();
    let lines_b: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
    let same = lines_a
        .iter()
        .zip(&lines_b)
        .filter(|(x, y)| x == y && !x.is_empty())
        .count();
    assert_eq!(same, 1, "only the header should match");
    // A shorter file is not a prefix of a longer one (dates spread over the
    // year whatever the length), but the shop is the same.
    let short = csv(&opts(1_000, 7, Encoding::Cp1252));
    assert!(!a.starts_with(&short[..short.len() - 1]));
}

#[test]
fn the_csv_reads_back_as_the_rows() {
    for encoding in [Encoding::Cp1252, Encoding::Utf8] {
        let o = opts(30_000, 3, encoding);
        let bytes = csv(&o);
        let text = match encoding {
            Encoding::Cp1252 => {
                assert!(std::str::from_utf8(&bytes).is_err(), "cp1252 text is not UTF-8");
                let (text, had_errors) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&bytes);
                assert!(!had_errors);
                text.into_owned()
            }
            Encoding::Utf8 => String::from_utf8(bytes).unwrap(),
        };
        let records = parse_csv(&text);
        assert_eq!(records[0].join(","), HEADER);
        let parsed: Vec<Row> = records[1..].iter().map(|r| to_row(r)).collect();
        let expected: Vec<Row> = rows(&o).collect();
        assert_eq!(parsed.len(), 30_000);
        for (i, (p, e)) in parsed.iter().zip(&expected).enumerate() {
            assert_eq!(p, e, "row {i}");
        }
    }
}

#[test]
fn cp1252_bytes_are_single_bytes_and_decode() {
    let bytes = csv(&opts(5_000, 11, Encoding::Cp1252));
    // é/É, ’, £, €, – as their cp1252 bytes.
    for byte in [0xC9u8, 0x92, 0xA3, 0x80, 0x96] {
        assert!(bytes.contains(&byte), "no byte {byte:#04x}");
    }
    // Bytes cp1252 leaves undefined (Python's codec rejects them) never occur.
    for byte in [0x81u8, 0x8D, 0x8F, 0x90, 0x9D] {
        assert!(!bytes.contains(&byte), "byte {byte:#04x}");
    }
    let (text, had_errors) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&bytes);
    assert!(!had_errors);
    assert!(text.contains("DON’T FORGET TO WATER METAL SIGN"));
    assert!(text.contains("£5 POUND COIN MONEY BOX"));
    // The same file in UTF-8 is the same text.
    let utf8 = csv(&opts(5_000, 11, Encoding::Utf8));
    assert_eq!(text, String::from_utf8(utf8).unwrap());
}

#[test]
fn small_files_have_exactly_the_rows_asked_for() {
    for n in [0, 1, 2, 3, 17, 250] {
        let o = opts(n, 5, Encoding::Cp1252);
        let bytes = csv(&o);
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.lines().count(), n + 1, "{n} rows");
        assert_eq!(text.lines().next(), Some(HEADER));
        assert_eq!(rows(&o).count(), n);
    }
    let one: Vec<Row> = rows(&opts(1, 5, Encoding::Cp1252)).collect();
    assert_eq!(one[0].invoice_no, "536365");
    assert_eq!(one[0].invoice_date, "12/1/2010 8:26");
}

/// Reads CSV back by hand (RFC 4180: quotes doubled inside quoted fields),
/// so the test does not trust the writer's own quoting code.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quoted field");
    assert!(field.is_empty() && record.is_empty(), "no line break at the end");
    records
}

fn to_row(r: &[String]) -> Row {
    assert_eq!(r.len(), 8, "{r:?}");
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    Row {
        invoice_no: r[0].clone(),
        stock_code: r[1].clone(),
        description: opt(&r[2]),
        quantity: r[3].clone(),
        invoice_date: r[4].clone(),
        unit_price: r[5].clone(),
        customer_id: opt(&r[6]),
        country: r[7].clone(),
    }
}
