//! A deterministic generator of invoice data in the shape of Kaggle's
//! `carrie1/ecommerce-data` (the UCI Online Retail set): the first user's
//! source, for tests, the demo and benchmarks of the `transform` operator.
//!
//! Same options, same bytes, on every platform (own PRNG, integer
//! arithmetic). The quirks of the real file are reproduced: cp1252 text,
//! empty Description (~0.27% of rows) and CustomerID (~25%), cancellations
//! (`C536379`, negative Quantity), the bad debt adjustment (`A` invoices,
//! negative UnitPrice), stock adjustments (no customer, price 0), dates
//! written `12/1/2010 8:26`, letter-suffixed codes in either case
//! (`85123A`, `85123a`), special codes (`POST`, `D`, `M`, `BANK CHARGES`,
//! `DOT`, `AMAZONFEE`, ...), descriptions with commas, quotes, leading and
//! trailing spaces, United Kingdom on ~91% of rows.
//!
//! For the cleaning of the first user's DAG, every StockCode has a usual
//! description, often a variant (sometimes the more frequent one), and a few
//! have two descriptions written exactly equally often ([`deliberate_ties`]):
//! pandas' `value_counts().idxmax()` then picks the one written first.
//!
//! ```
//! let opts = updraft_invoices::Options { rows: 1_000, ..Default::default() };
//! let mut csv = Vec::new();
//! let summary = updraft_invoices::write_csv(&opts, &mut csv).unwrap();
//! assert_eq!(summary.rows, 1_000);
//! assert_eq!(updraft_invoices::rows(&opts).count(), 1_000);
//! ```

mod calendar;
mod catalog;
mod csv;
mod generator;
mod rng;
mod words;

use std::collections::HashMap;
use std::io::{self, Write};

pub use crate::csv::Summary;
use crate::generator::{Generator, Header, Line};

/// Rows in the real file.
pub const DEFAULT_ROWS: usize = 541_909;
/// The seed used when none is given: the first invoice's date.
pub const DEFAULT_SEED: u64 = 20_101_201;
/// The CSV header line (without its line break).
pub const HEADER: &str = csv::HEADER;
/// What the first user's cleaning writes for an empty Description.
pub const NO_DESCRIPTION: &str = "No Description";

/// How text is written. The real file is cp1252.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Cp1252,
    Utf8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub rows: usize,
    pub seed: u64,
    pub encoding: Encoding,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rows: DEFAULT_ROWS,
            seed: DEFAULT_SEED,
            encoding: Encoding::Cp1252,
        }
    }
}

/// One row, each field the text written in the CSV (decoded, unquoted);
/// `None` for an empty field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Row {
    pub invoice_no: String,
    pub stock_code: String,
    pub description: Option<String>,
    pub quantity: String,
    pub invoice_date: String,
    pub unit_price: String,
    pub customer_id: Option<String>,
    pub country: String,
}

/// Writes the header and `opts.rows` rows as CSV (`\n` line ends).
pub fn write_csv(opts: &Options, mut out: impl Write) -> io::Result<Summary> {
    csv::write(Generator::new(opts.rows, opts.seed), opts.encoding, &mut out)
}

/// The rows [`write_csv`] writes for the same options, as values (the
/// encoding does not matter here).
pub fn rows(opts: &Options) -> Rows {
    Rows {
        generator: Generator::new(opts.rows, opts.seed),
        lines: Vec::new(),
        next: 0,
        header: None,
        date: String::new(),
    }
}

/// The iterator of [`rows`].
pub struct Rows {
    generator: Generator,
    lines: Vec<Line>,
    next: usize,
    header: Option<Header>,
    date: String,
}

impl Iterator for Rows {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        while self.next == self.lines.len() {
            let h = self.generator.next_invoice(&mut self.lines)?;
            self.date.clear();
            h.stamp.write_to(&mut self.date);
            self.header = Some(h);
            self.next = 0;
        }
        let h = self.header.as_ref().expect("set with the lines");
        let line = self.lines[self.next];
        self.next += 1;
        let catalog = &self.generator.catalog;
        let mut price = Vec::new();
        csv::push_price(&mut price, line.price);
        Some(Row {
            invoice_no: format!("{}{}", h.prefix, h.number),
            stock_code: catalog.codes[line.code as usize].clone(),
            description: line.text.map(|t| catalog.texts[t as usize].clone()),
            quantity: line.quantity.to_string(),
            invoice_date: self.date.clone(),
            unit_price: String::from_utf8(price).expect("ASCII digits"),
            customer_id: h.customer.map(|c| c.to_string()),
            country: words::COUNTRIES[usize::from(h.country)].0.to_owned(),
        })
    }
}

/// A StockCode (upper-cased) whose two descriptions are written equally
/// often, `first` before `second`: the cleaning must keep `first`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tie {
    pub stock_code: String,
    pub first: String,
    pub second: String,
}

/// The ties built into the data of `seed`. Exact in any file whose rows
/// include at least one line of the product (lines of these products come
/// in pairs, first then second, then second then first, and so on).
pub fn deliberate_ties(seed: u64) -> Vec<Tie> {
    let catalog = catalog::Catalog::new(seed);
    let text = |id: u32| catalog.texts[id as usize].clone();
    catalog
        .products
        .iter()
        .filter_map(|p| {
            p.tie.map(|t| Tie {
                stock_code: catalog.codes[p.code as usize].to_uppercase(),
                first: text(t.first),
                second: text(t.second),
            })
        })
        .collect()
}

/// The first user's "most frequent Description per StockCode", computed as
/// pandas does it: StockCode upper-cased, an empty Description counted as
/// [`NO_DESCRIPTION`], and among equally frequent descriptions the one that
/// appears first in the file (pandas >= 3 sorts `value_counts` stably).
pub fn most_frequent_descriptions<'a>(rows: impl IntoIterator<Item = &'a Row>) -> HashMap<String, String> {
    // Per code: (description, count) in order of first appearance.
    let mut seen: HashMap<String, Vec<(&str, usize)>> = HashMap::new();
    for row in rows {
        let description = row.description.as_deref().unwrap_or(NO_DESCRIPTION);
        let counts = seen.entry(row.stock_code.to_uppercase()).or_default();
        match counts.iter_mut().find(|(d, _)| *d == description) {
            Some((_, n)) => *n += 1,
            None => counts.push((description, 1)),
        }
    }
    seen.into_iter()
        .map(|(code, counts)| {
            let mut best = counts[0];
            for &c in &counts[1..] {
                if c.1 > best.1 {
                    best = c;
                }
            }
            (code, best.0.to_owned())
        })
        .collect()
}
