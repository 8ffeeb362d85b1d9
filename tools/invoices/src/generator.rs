//! Invoices one at a time: a header (number, time, customer, country) and
//! its lines. The CSV writer and the row iterator both read from here, so
//! they cannot disagree.

use crate::calendar::{Calendar, Stamp};
use crate::catalog::{Catalog, CodeId, Special, TextId, weights};
use crate::rng::Rng;
use crate::words::{COUNTRIES, EIRE, QUANTITIES, UK};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    /// `""`, `"C"` (a cancellation) or `"A"` (a bad debt adjustment).
    pub prefix: &'static str,
    pub number: u32,
    pub stamp: Stamp,
    pub customer: Option<u32>,
    pub country: u8,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    pub code: CodeId,
    pub text: Option<TextId>,
    pub quantity: i64,
    /// Thousandths of a pound.
    pub price: i64,
}

const FIRST_INVOICE: u32 = 536_365;
/// Share of ordinary invoices with no customer: the shop's own sales, three
/// times longer and at about twice the price.
const TILL: f64 = 0.10;
/// Invoice lengths (first, last, weight per mille).
const LENGTHS: &[(u64, u64, u32)] = &[
    (1, 1, 100),
    (2, 5, 170),
    (6, 10, 180),
    (11, 20, 240),
    (21, 40, 185),
    (41, 80, 95),
    (81, 200, 26),
    (201, 500, 4),
];

/// Whose invoice: its number's prefix, the customer, the country.
struct Who {
    /// `""`, `"C"` or `"A"`.
    prefix: &'static str,
    customer: Option<u32>,
    country: u8,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Sale,
    Cancellation,
    /// Stock written off or found: no customer, price 0, mostly no description.
    Adjustment,
    AmazonFee,
}

pub(crate) struct Generator {
    pub catalog: Catalog,
    calendar: Calendar,
    rng: Rng,
    rows: usize,
    done: usize,
    number: u32,
    /// Pairs written so far per product, for the ties' alternating order.
    tie_pairs: Vec<u32>,
    /// The three `A` invoices of the bad debt, written once, in August 2011.
    bad_debt: u8,
    quantity_weights: Vec<u32>,
    length_weights: Vec<u32>,
    country_weights: Vec<u32>,
}

impl Generator {
    pub(crate) fn new(rows: usize, seed: u64) -> Self {
        let catalog = Catalog::new(seed);
        let mut root = Rng::new(seed);
        root.fork(); // the catalog's
        root.fork(); // the customers'
        Generator {
            tie_pairs: vec![0; catalog.products.len()],
            catalog,
            calendar: Calendar::new(),
            rng: root.fork(),
            rows,
            done: 0,
            number: FIRST_INVOICE,
            bad_debt: 0,
            quantity_weights: weights(QUANTITIES),
            length_weights: LENGTHS.iter().map(|l| l.2).collect(),
            country_weights: weights(COUNTRIES),
        }
    }

    /// Fills `lines` with the next invoice's lines and returns its header,
    /// or `None` once all rows are out. An invoice is never cut: the last
    /// one is drawn to fit.
    pub(crate) fn next_invoice(&mut self, lines: &mut Vec<Line>) -> Option<Header> {
        lines.clear();
        let budget = self.rows - self.done;
        if budget == 0 {
            return None;
        }
        if self.bad_debt == 0 && self.done * 100 >= self.rows * 55 && budget >= 3 {
            self.bad_debt = 3;
        }
        let bad_debt = (1..=3).contains(&self.bad_debt);
        let who = if bad_debt {
            self.bad_debt_line(lines)
        } else {
            match self.kind() {
                Kind::Sale => self.sale(lines, budget),
                Kind::Cancellation => self.cancellation(lines, budget),
                Kind::Adjustment => self.adjustment(lines),
                Kind::AmazonFee => self.amazon_fee(lines),
            }
        };
        debug_assert!(!lines.is_empty() && lines.len() <= budget);
        let number = self.number;
        // Numbers have gaps, but the bad debt's three are consecutive.
        self.number += if bad_debt {
            1
        } else {
            1 + self.rng.weighted(&[50, 30, 20]) as u32
        };
        let last = lines.len() == budget && self.done > 0;
        let stamp = if last {
            self.calendar.at(1, 1)
        } else {
            self.calendar.at(self.done as u64, self.rows as u64)
        };
        self.done += lines.len();
        Some(Header {
            prefix: who.prefix,
            number,
            stamp,
            customer: who.customer,
            country: who.country,
        })
    }

    fn kind(&mut self) -> Kind {
        match self.rng.weighted(&[7_880, 1_430, 650, 14]) {
            0 => Kind::Sale,
            1 => Kind::Cancellation,
            2 => Kind::Adjustment,
            _ => Kind::AmazonFee,
        }
    }

    /// A customer and their country, or none (mostly British).
    fn customer(&mut self, none: f64) -> (Option<u32>, u8) {
        if self.rng.chance(none) {
            let country = if self.rng.chance(0.98) {
                UK
            } else {
                self.rng.weighted(&self.country_weights[1..]) as u8 + 1
            };
            return (None, country);
        }
        let c = self.catalog.customers[self.rng.skewed(self.catalog.customers.len())];
        (Some(c.id), c.country)
    }

    fn sale(&mut self, lines: &mut Vec<Line>, budget: usize) -> Who {
        let (customer, country) = self.customer(TILL);
        let till = customer.is_none();
        let bucket = LENGTHS[self.rng.weighted(&self.length_weights)];
        let mut n = self.rng.range(bucket.0, bucket.1) as usize;
        if till {
            n *= 3;
        }
        let n = n.min(budget);

        let s = &self.catalog.specials;
        let mut extra: Vec<(Special, i64, i64)> = Vec::new();
        if till && self.rng.chance(0.35) {
            extra.push((s.dotcom_postage, 1, self.rng.range(100, 150_000) as i64 * 10));
        }
        if till && self.rng.chance(0.02) {
            let i = self.rng.below(3) as usize;
            let price = [8_510, 16_670, 25_530][i];
            extra.push((s.vouchers[i], self.rng.range(1, 3) as i64, price));
        }
        if country != UK && self.rng.chance(0.55) {
            let price = *self.rng.pick(&[18_000, 18_000, 40_000, 15_000]);
            extra.push((s.post, self.rng.range(1, 6) as i64, price));
        }
        if country == EIRE && self.rng.chance(0.35) {
            extra.push((s.carriage, 1, 50_000));
        }
        if self.rng.chance(0.02) {
            let mut manual = s.manual;
            if self.rng.chance(0.02) {
                manual.code = s.manual_lower;
            }
            extra.push((
                manual,
                self.rng.range(1, 2) as i64,
                self.rng.range(10, 30_000) as i64 * 10,
            ));
        }
        if self.rng.chance(0.0015) {
            extra.push((s.bank_charges, 1, 15_000));
        }
        if self.rng.chance(0.0004) {
            extra.push((s.pads, 1, 1));
        }
        extra.truncate(n);

        while lines.len() < n - extra.len() {
            let room = n - extra.len() - lines.len();
            self.product_lines(lines, room, 1, till);
        }
        lines.extend(extra.into_iter().map(|(sp, quantity, price)| Line {
            code: sp.code,
            text: Some(sp.text),
            quantity,
            price,
        }));
        Who {
            prefix: "",
            customer,
            country,
        }
    }

    fn cancellation(&mut self, lines: &mut Vec<Line>, budget: usize) -> Who {
        let (customer, country) = self.customer(0.03);
        let n = match self.rng.weighted(&[55, 20, 10, 15]) {
            0 => 1,
            1 => 2,
            2 => 3,
            _ => self.rng.range(4, 10) as usize,
        }
        .min(budget);
        let s = &self.catalog.specials;
        let mut extra: Vec<(Special, i64, i64)> = Vec::new();
        for (special, p, low, high) in [
            (s.discount, 0.02, 50, 15_000),
            (s.manual, 0.03, 10, 30_000),
            (s.samples, 0.01, 100, 5_000),
            (s.cruk, 0.004, 100, 100_000),
            (s.bank_charges, 0.005, 1_500, 1_500),
        ] {
            if self.rng.chance(p) {
                extra.push((special, -1, self.rng.range(low, high) as i64 * 10));
            }
        }
        if country != UK && self.rng.chance(0.2) {
            extra.push((s.post, -(self.rng.range(1, 3) as i64), 18_000));
        }
        extra.truncate(n);
        while lines.len() < n - extra.len() {
            let room = n - extra.len() - lines.len();
            self.product_lines(lines, room, -1, customer.is_none());
        }
        lines.extend(extra.into_iter().map(|(sp, quantity, price)| Line {
            code: sp.code,
            text: Some(sp.text),
            quantity,
            price,
        }));
        Who {
            prefix: "C",
            customer,
            country,
        }
    }

    fn adjustment(&mut self, lines: &mut Vec<Line>) -> Who {
        let product = loop {
            let p = self.pick_product();
            if self.catalog.products[p].tie.is_none() {
                break p;
            }
        };
        let (code, main) = (self.catalog.products[product].code, self.catalog.products[product].main);
        let text = match self.rng.weighted(&[90, 6, 4]) {
            0 => None,
            1 => Some(*self.rng.pick(&self.catalog.notes)),
            _ => Some(main),
        };
        let quantity = self.quantity() * self.rng.range(1, 4) as i64;
        lines.push(Line {
            code,
            text,
            quantity: if self.rng.chance(0.7) { -quantity } else { quantity },
            price: 0,
        });
        Who {
            prefix: "",
            customer: None,
            country: UK,
        }
    }

    fn amazon_fee(&mut self, lines: &mut Vec<Line>) -> Who {
        let fee = self.catalog.specials.amazon_fee;
        let cancelled = self.rng.chance(0.9);
        lines.push(Line {
            code: fee.code,
            text: Some(fee.text),
            quantity: if cancelled { -1 } else { 1 },
            price: self.rng.range(100_000, 1_700_000) as i64 * 10,
        });
        Who {
            prefix: if cancelled { "C" } else { "" },
            customer: None,
            country: UK,
        }
    }

    /// The real file's three `A` invoices: 11062.06 written off, twice.
    fn bad_debt_line(&mut self, lines: &mut Vec<Line>) -> Who {
        let b = self.catalog.specials.bad_debt;
        let price = if self.bad_debt == 3 { 11_062_060 } else { -11_062_060 };
        self.bad_debt = if self.bad_debt == 1 { 4 } else { self.bad_debt - 1 };
        lines.push(Line {
            code: b.code,
            text: Some(b.text),
            quantity: 1,
            price,
        });
        Who {
            prefix: "A",
            customer: None,
            country: UK,
        }
    }

    fn pick_product(&mut self) -> usize {
        let products = self.catalog.products.len();
        if self.rng.chance(0.004) {
            Catalog::POPULAR + self.rng.below((products - Catalog::POPULAR) as u64) as usize
        } else {
            self.rng.skewed(Catalog::POPULAR)
        }
    }

    fn quantity(&mut self) -> i64 {
        if self.rng.chance(0.0004) {
            return self.rng.range(200, 4_800) as i64;
        }
        QUANTITIES[self.rng.weighted(&self.quantity_weights)].0
    }

    /// One product line, or two for a product with a deliberate tie (never
    /// more than `room`).
    fn product_lines(&mut self, lines: &mut Vec<Line>, room: usize, sign: i64, till: bool) {
        let p = loop {
            let p = self.pick_product();
            if room >= 2 || self.catalog.products[p].tie.is_none() {
                break p;
            }
        };
        let product = &self.catalog.products[p];
        let mut line = |rng: &mut Rng, code, text| {
            let quantity = if rng.chance(0.0004) {
                rng.range(200, 4_800) as i64
            } else {
                QUANTITIES[rng.weighted(&self.quantity_weights)].0
            };
            let mut price = product.price;
            if till {
                price = price * 195 / 100 / 10 * 10;
            } else if quantity >= 24 && rng.chance(0.3) {
                price = (price * 85 / 100 / 10 * 10).max(10);
            }
            lines.push(Line {
                code,
                text: Some(text),
                quantity: sign * quantity,
                price,
            });
        };
        if let Some(tie) = product.tie {
            let k = self.tie_pairs[p];
            self.tie_pairs[p] += 1;
            let first = (product.code, tie.first);
            let second = (tie.second_code, tie.second);
            let (a, b) = if k.is_multiple_of(2) {
                (first, second)
            } else {
                (second, first)
            };
            line(&mut self.rng, a.0, a.1);
            line(&mut self.rng, b.0, b.1);
            return;
        }
        let text = match product.variant {
            Some((v, share)) if self.rng.chance(share) => v,
            _ => product.main,
        };
        let code = match product.lower {
            Some((lower, share)) if self.rng.chance(share) => lower,
            _ => product.code,
        };
        line(&mut self.rng, code, text);
    }
}
