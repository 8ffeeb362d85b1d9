//! The shop: products (codes, usual and variant descriptions, prices), the
//! special stock codes, the deliberate ties, customers and their countries.
//! Built from the seed alone, so a seed gives the same shop whatever the
//! number of rows.

use std::collections::{HashMap, HashSet};

use crate::rng::Rng;
use crate::words::{
    COLOURS, COUNTRIES, MAKES, MOTIFS, NOTES, NOUNS, PRICES, SETS, SPECIAL_MAINS, THOUSANDTHS_PRICES, TIES, UK,
    VARIANT_TAILS,
};

/// Index into [`Catalog::texts`].
pub(crate) type TextId = u32;
/// Index into [`Catalog::codes`].
pub(crate) type CodeId = u32;

/// Products drawn by popularity (`Rng::skewed`), and the rarely sold tail.
const POPULAR: usize = 3_400;
const RARE: usize = 600;
const CUSTOMERS: usize = 4_372;

#[derive(Debug)]
pub(crate) struct Product {
    pub code: CodeId,
    /// The code with its letter suffix in lower case (`85123a`), and the
    /// share of rows that spell it so.
    pub lower: Option<(CodeId, f64)>,
    pub main: TextId,
    /// Another description, and the share of rows that carry it (up to
    /// 65%: sometimes it is the most frequent one).
    pub variant: Option<(TextId, f64)>,
    /// Thousandths of a pound.
    pub price: i64,
    pub tie: Option<Tie>,
}

/// Two descriptions written equally often; lines come in pairs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tie {
    pub first: TextId,
    pub second: TextId,
    /// The code the second description's rows are written with.
    pub second_code: CodeId,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Special {
    pub code: CodeId,
    pub text: TextId,
}

#[derive(Debug)]
pub(crate) struct Specials {
    pub post: Special,
    pub discount: Special,
    pub manual: Special,
    /// `m`: the manual code once in a while in lower case.
    pub manual_lower: CodeId,
    pub bank_charges: Special,
    pub dotcom_postage: Special,
    pub amazon_fee: Special,
    pub carriage: Special,
    pub pads: Special,
    pub samples: Special,
    pub cruk: Special,
    pub bad_debt: Special,
    /// `gift_0001_10` and so on: lower case, and `£` in the description.
    pub vouchers: [Special; 3],
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Customer {
    pub id: u32,
    pub country: u8,
}

#[derive(Debug)]
pub(crate) struct Catalog {
    pub texts: Vec<String>,
    pub codes: Vec<String>,
    /// Most popular first; the last [`RARE`] are the rarely sold tail.
    pub products: Vec<Product>,
    pub specials: Specials,
    pub notes: Vec<TextId>,
    /// Most active first.
    pub customers: Vec<Customer>,
}

/// Interns strings so that each is stored, encoded and quoted once.
#[derive(Default)]
struct Interner {
    items: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = self.items.len() as u32;
        self.items.push(s.to_owned());
        self.index.insert(s.to_owned(), id);
        id
    }
}

impl Catalog {
    pub(crate) const POPULAR: usize = POPULAR;

    pub(crate) fn new(seed: u64) -> Self {
        let mut root = Rng::new(seed);
        let mut rng = root.fork();
        let mut texts = Interner::default();
        let mut codes = Interner::default();

        let names = product_names(&mut rng, POPULAR + RARE);
        let numbers = stock_numbers(&mut rng, POPULAR + RARE);
        let mut products = Vec::with_capacity(POPULAR + RARE);
        for (rank, (name, number)) in names.iter().zip(&numbers).enumerate() {
            let tie_spec = TIES.iter().find(|t| t.rank == rank);
            let suffix = if tie_spec.is_some_and(|t| t.lower_second) || rng.chance(0.12) {
                Some(*rng.pick(b"AAAABBBCCDEFGHJKLNPSW") as char)
            } else {
                None
            };
            let code_text = match suffix {
                Some(s) => format!("{number}{s}"),
                None => number.to_string(),
            };
            let code = codes.id(&code_text);
            let main_text = SPECIAL_MAINS
                .iter()
                .find(|(r, _)| *r == rank)
                .map_or(name.as_str(), |(_, t)| t);
            let price = THOUSANDTHS_PRICES
                .iter()
                .find(|(r, _)| *r == rank)
                .map_or_else(|| PRICES[rng.weighted(&weights(PRICES))].0, |&(_, p)| p);
            let mut product = Product {
                code,
                lower: None,
                main: texts.id(main_text),
                variant: None,
                price,
                tie: None,
            };
            if let Some(t) = tie_spec {
                product.main = texts.id(t.first);
                let second_code = if t.lower_second {
                    codes.id(&code_text.to_lowercase())
                } else {
                    code
                };
                product.tie = Some(Tie {
                    first: product.main,
                    second: texts.id(t.second),
                    second_code,
                });
            } else {
                if rng.chance(0.18) {
                    let variant = variant_of(&mut rng, main_text);
                    product.variant = Some((texts.id(&variant), 0.03 + 0.62 * rng.unit()));
                }
                if suffix.is_some() && rng.chance(0.15) {
                    product.lower = Some((codes.id(&code_text.to_lowercase()), 0.05 + 0.25 * rng.unit()));
                }
            }
            products.push(product);
        }

        let manual_lower = codes.id("m");
        let mut special = |code: &str, text: &str| Special {
            code: codes.id(code),
            text: texts.id(text),
        };
        let specials = Specials {
            post: special("POST", "POSTAGE"),
            discount: special("D", "Discount"),
            manual: special("M", "Manual"),
            bank_charges: special("BANK CHARGES", "Bank Charges"),
            dotcom_postage: special("DOT", "DOTCOM POSTAGE"),
            amazon_fee: special("AMAZONFEE", "AMAZON FEE"),
            carriage: special("C2", "CARRIAGE"),
            pads: special("PADS", "PADS TO MATCH ALL CUSHIONS"),
            samples: special("S", "SAMPLES"),
            cruk: special("CRUK", "CRUK Commission"),
            bad_debt: special("B", "Adjust bad debt"),
            vouchers: [
                special("gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00"),
                special("gift_0001_20", "Dotcomgiftshop Gift Voucher £20.00"),
                special("gift_0001_30", "Dotcomgiftshop Gift Voucher £30.00"),
            ],
            manual_lower,
        };
        let notes = NOTES.iter().map(|n| texts.id(n)).collect();
        let customers = customers(&mut root.fork());
        Catalog {
            texts: texts.items,
            codes: codes.items,
            products,
            specials,
            notes,
            customers,
        }
    }
}

pub(crate) fn weights<T>(table: &[(T, u32)]) -> Vec<u32> {
    table.iter().map(|(_, w)| *w).collect()
}

/// `n` distinct upper-case names like `RED RETROSPOT LUNCH BAG`, a few
/// with a trailing space, as in the real file.
fn product_names(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut names = Vec::with_capacity(n);
    while names.len() < n {
        let (c, m, o, s, k) = (
            rng.pick(COLOURS),
            rng.pick(MOTIFS),
            rng.pick(NOUNS),
            rng.pick(SETS),
            rng.pick(MAKES),
        );
        let mut name = match rng.below(5) {
            0 | 1 => format!("{c} {m} {o}"),
            2 => format!("{s} {m} {o}"),
            3 => format!("{k} {c} {o}"),
            _ => format!("{m} {k} {o} {c}"),
        };
        if rng.chance(0.03) {
            name.push(' ');
        }
        if seen.insert(name.clone()) {
            names.push(name);
        }
    }
    names
}

/// `n` distinct five-digit numbers, none with a leading zero (a reader that
/// guesses types would otherwise lose it).
fn stock_numbers(rng: &mut Rng, n: usize) -> Vec<u32> {
    let mut all: Vec<u32> = (10_000..100_000).collect();
    rng.shuffle(&mut all);
    all.truncate(n);
    all
}

/// Another wording of `main`: another colour, a trailing space added or
/// dropped, a word appended.
fn variant_of(rng: &mut Rng, main: &str) -> String {
    loop {
        let v = match rng.below(3) {
            0 => match COLOURS.iter().find(|c| main.contains(*c)) {
                Some(c) => {
                    let other = *rng.pick(COLOURS);
                    main.replacen(c, other, 1)
                }
                None => continue,
            },
            1 => match main.strip_suffix(' ') {
                Some(trimmed) => trimmed.to_owned(),
                None => format!("{main} "),
            },
            _ => format!("{}{}", main.trim_end(), rng.pick(VARIANT_TAILS)),
        };
        if v != main {
            return v;
        }
    }
}

/// The real file's 4,372 customer ids are between 12346 and 18287; each
/// customer buys from one country. United Kingdom is weighted a little
/// below its share of rows, since rows without a customer are nearly all
/// British.
fn customers(rng: &mut Rng) -> Vec<Customer> {
    let mut ids: Vec<u32> = (12_346..=18_287).collect();
    rng.shuffle(&mut ids);
    ids.truncate(CUSTOMERS);
    let mut w = weights(COUNTRIES);
    w[usize::from(UK)] = 385_000;
    let mut customers: Vec<Customer> = ids
        .into_iter()
        .map(|id| Customer {
            id,
            country: rng.weighted(&w) as u8,
        })
        .collect();
    // Every country buys: one with no fairly active customer gets a British one.
    for country in 1..COUNTRIES.len() as u8 {
        if customers[..600].iter().all(|c| c.country != country) {
            let start = 40 + 7 * usize::from(country);
            if let Some(c) = customers[start..].iter_mut().find(|c| c.country == UK) {
                c.country = country;
            }
        }
    }
    customers
}
