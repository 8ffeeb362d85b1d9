//! The default file (541,909 rows) has the real file's shape and quirks.

use std::collections::{HashMap, HashSet};

use updraft_invoices::{DEFAULT_ROWS, NO_DESCRIPTION, Options, Row, deliberate_ties, most_frequent_descriptions, rows};

fn full() -> Vec<Row> {
    rows(&Options::default()).collect()
}

fn share(n: usize, of: usize) -> f64 {
    n as f64 / of as f64
}

#[test]
fn the_default_file_has_the_real_shape() {
    let rows = full();
    let n = rows.len();
    assert_eq!(n, DEFAULT_ROWS);

    let no_description = rows.iter().filter(|r| r.description.is_none()).count();
    let no_customer = rows.iter().filter(|r| r.customer_id.is_none()).count();
    let uk = rows.iter().filter(|r| r.country == "United Kingdom").count();
    let countries: HashSet<&str> = rows.iter().map(|r| r.country.as_str()).collect();
    let invoices: HashSet<&str> = rows.iter().map(|r| r.invoice_no.as_str()).collect();
    let codes: HashSet<String> = rows.iter().map(|r| r.stock_code.to_uppercase()).collect();
    eprintln!(
        "no description {no_description}, no customer {no_customer} ({:.3}), UK {:.3}, {} countries, {} invoices, {} codes",
        share(no_customer, n),
        share(uk, n),
        countries.len(),
        invoices.len(),
        codes.len()
    );
    // Real file: 1,454; 135,080 (24.9%); 91.4%; 38; 25,900; 4,070.
    assert!((1_200..=1_750).contains(&no_description), "{no_description}");
    assert!((0.235..=0.265).contains(&share(no_customer, n)));
    assert!((0.895..=0.935).contains(&share(uk, n)));
    assert_eq!(countries.len(), 38);
    assert!((22_000..=30_000).contains(&invoices.len()));
    assert!((3_800..=4_100).contains(&codes.len()));
    // Empty Description only with a zero price and no customer, as in the real file.
    assert!(
        rows.iter()
            .filter(|r| r.description.is_none())
            .all(|r| r.unit_price == "0" && r.customer_id.is_none())
    );
}

#[test]
fn invoices_are_contiguous_dated_in_order_and_numbered_as_the_real_ones() {
    let rows = full();
    assert_eq!(rows[0].invoice_date, "12/1/2010 8:26");
    assert_eq!(rows.last().unwrap().invoice_date, "12/9/2011 12:50");
    let mut finished = HashSet::new();
    let mut last_date = parse_date(&rows[0].invoice_date);
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let date = parse_date(&b.invoice_date);
        assert!(date >= last_date, "{} after {}", b.invoice_date, a.invoice_date);
        assert!(((2010, 12, 1, 8, 26)..=(2011, 12, 9, 12, 50)).contains(&date));
        last_date = date;
        if a.invoice_no == b.invoice_no {
            // One invoice: one time, one customer, one country.
            assert_eq!(
                (&a.invoice_date, &a.customer_id, &a.country),
                (&b.invoice_date, &b.customer_id, &b.country)
            );
        } else {
            assert!(finished.insert(a.invoice_no.clone()), "{} in two places", a.invoice_no);
        }
    }
    let mut cancellations = 0;
    let mut adjustments = 0;
    for r in &rows {
        let quantity: i64 = r.quantity.parse().unwrap();
        let price: f64 = r.unit_price.parse().unwrap();
        assert!(!r.unit_price.contains('.') || r.unit_price.split('.').nth(1).unwrap().len() <= 3);
        let digits = match r.invoice_no.as_bytes()[0] {
            b'C' => {
                cancellations += 1;
                assert!(quantity < 0, "{r:?}");
                &r.invoice_no[1..]
            }
            b'A' => {
                assert_eq!(
                    (r.stock_code.as_str(), r.description.as_deref()),
                    ("B", Some("Adjust bad debt"))
                );
                &r.invoice_no[1..]
            }
            _ => {
                if quantity < 0 {
                    adjustments += 1;
                    assert_eq!((price, &r.customer_id), (0.0, &None), "{r:?}");
                }
                &r.invoice_no
            }
        };
        assert!(digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()), "{r:?}");
        if let Some(c) = &r.customer_id {
            assert!((12_346..=18_287).contains(&c.parse::<u32>().unwrap()), "{r:?}");
        }
    }
    eprintln!("cancellation rows {cancellations}, negative adjustments {adjustments}");
    // Real file: 9,288 and 1,336.
    assert!((7_000..=11_000).contains(&cancellations));
    assert!((800..=1_800).contains(&adjustments));
    let bad_debt: Vec<&str> = rows
        .iter()
        .filter(|r| r.invoice_no.starts_with('A'))
        .map(|r| r.unit_price.as_str())
        .collect();
    assert_eq!(bad_debt, ["11062.06", "-11062.06", "-11062.06"]);
}

#[test]
fn codes_and_descriptions_have_the_real_quirks() {
    let rows = full();
    let codes: HashSet<&str> = rows.iter().map(|r| r.stock_code.as_str()).collect();
    for special in [
        "POST",
        "D",
        "M",
        "m",
        "BANK CHARGES",
        "DOT",
        "AMAZONFEE",
        "C2",
        "PADS",
        "B",
        "gift_0001_10",
    ] {
        assert!(codes.contains(special), "no {special}");
    }
    let five_digits = |c: &str| c.len() == 5 && c.bytes().all(|b| b.is_ascii_digit());
    let plain = rows.iter().filter(|r| five_digits(&r.stock_code)).count();
    assert!(share(plain, rows.len()) > 0.8);
    // Both `85123A` and `85123a` spellings of the same code.
    let upper: HashSet<&str> = codes
        .iter()
        .filter(|c| c.len() == 6 && five_digits(&c[..5]) && c.as_bytes()[5].is_ascii_uppercase())
        .copied()
        .collect();
    let both = codes
        .iter()
        .filter(|c| c.len() == 6 && c.as_bytes()[5].is_ascii_lowercase())
        .filter(|c| upper.contains(c.to_uppercase().as_str()))
        .count();
    eprintln!("{} suffixed codes, {both} also in lower case", upper.len());
    assert!(upper.len() > 300 && both >= 20);

    let descriptions: HashSet<&str> = rows.iter().filter_map(|r| r.description.as_deref()).collect();
    let count = |f: &dyn Fn(&str) -> bool| descriptions.iter().filter(|d| f(d)).count();
    assert!(count(&|d| d.contains(',')) >= 3);
    assert!(count(&|d| d.contains('"')) >= 2);
    assert!(count(&|d| d.starts_with(' ')) >= 1);
    assert!(count(&|d| d.ends_with(' ')) >= 50);
    assert!(count(&|d| !d.is_ascii()) >= 8);
    // Nothing a CSV reader would take for a missing value.
    for na in ["NA", "N/A", "NULL", "null", "NaN", "nan", "None", "n/a", "#N/A", "<NA>"] {
        assert!(!descriptions.contains(na), "{na}");
    }
}

/// Per upper-cased code: (description, count) in order of first appearance.
fn description_counts(rows: &[Row]) -> HashMap<String, Vec<(String, usize)>> {
    let mut counts: HashMap<String, Vec<(String, usize)>> = HashMap::new();
    for r in rows {
        let d = r.description.as_deref().unwrap_or(NO_DESCRIPTION);
        let c = counts.entry(r.stock_code.to_uppercase()).or_default();
        match c.iter_mut().find(|(x, _)| x == d) {
            Some((_, n)) => *n += 1,
            None => c.push((d.to_owned(), 1)),
        }
    }
    counts
}

#[test]
fn most_frequent_description_is_not_trivial_and_ties_go_to_the_first() {
    let rows = full();
    let counts = description_counts(&rows);
    let mode = most_frequent_descriptions(&rows);
    assert_eq!(mode.len(), counts.len());

    let several = counts.values().filter(|c| c.len() > 1).count();
    // The first description written is not always the most frequent.
    let not_first = counts.iter().filter(|(code, c)| mode[*code] != c[0].0).count();
    // Ties between the top two, deliberate or not.
    let tied: Vec<&String> = counts
        .iter()
        .filter(|(_, c)| {
            let top = c.iter().map(|x| x.1).max().unwrap();
            c.iter().filter(|x| x.1 == top).count() > 1
        })
        .map(|(code, _)| code)
        .collect();
    eprintln!(
        "{several} codes with several descriptions, {not_first} whose first is not the most frequent, {} ties",
        tied.len()
    );
    assert!(several >= 500 && not_first >= 50 && tied.len() >= 6);
    for code in &tied {
        // The first written among the most frequent, whatever its text.
        let c = &counts[*code];
        let top = c.iter().map(|x| x.1).max().unwrap();
        assert_eq!(mode[*code], c.iter().find(|x| x.1 == top).unwrap().0);
    }

    let ties = deliberate_ties(Options::default().seed);
    assert_eq!(ties.len(), 6);
    let (mut smaller_wins, mut larger_wins) = (false, false);
    for t in &ties {
        let c = &counts[&t.stock_code];
        assert_eq!(c.len(), 2, "{t:?}: {c:?}");
        assert_eq!(c[0].0, t.first, "{t:?}");
        assert_eq!((c[1].0.as_str(), c[0].1), (t.second.as_str(), c[1].1), "{t:?}");
        assert!(c[0].1 >= 10, "{t:?}: {c:?}");
        assert_eq!(mode[&t.stock_code], t.first);
        smaller_wins |= t.first < t.second;
        larger_wins |= t.first > t.second;
    }
    // Neither min nor max of the two texts gives the right answer every time.
    assert!(smaller_wins && larger_wins);
    // One tie exists only once StockCode is upper-cased, one only while
    // trailing spaces are kept, one only while cp1252 is decoded right.
    let spellings = |code: &str| {
        rows.iter()
            .filter(|r| r.stock_code.eq_ignore_ascii_case(code))
            .map(|r| r.stock_code.as_str())
            .collect::<HashSet<_>>()
            .len()
    };
    assert!(ties.iter().any(|t| spellings(&t.stock_code) == 2));
    assert!(ties.iter().any(|t| t.first.trim_end() == t.second));
    assert!(ties.iter().any(|t| !t.first.is_ascii() && t.second.is_ascii()));
}

/// `M/D/YYYY H:MM` as (year, month, day, hour, minute), checking that only
/// the minutes have a leading zero.
fn parse_date(s: &str) -> (u32, u32, u32, u32, u32) {
    let (date, time) = s.split_once(' ').unwrap_or_else(|| panic!("{s}"));
    let d: Vec<&str> = date.split('/').collect();
    let t: Vec<&str> = time.split(':').collect();
    assert_eq!((d.len(), t.len(), d[2].len(), t[1].len()), (3, 2, 4, 2), "{s}");
    for part in [d[0], d[1], t[0]] {
        assert!(!part.starts_with('0') && (1..=2).contains(&part.len()), "{s}");
    }
    let n = |p: &str| p.parse::<u32>().unwrap_or_else(|_| panic!("{s}"));
    (n(d[2]), n(d[0]), n(d[1]), n(t[0]), n(t[1]))
}
