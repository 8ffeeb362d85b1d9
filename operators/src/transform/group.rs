//! Steps that compare rows with each other: `most_frequent` (the whole
//! table first) and `dedupe`. Each distinct value of a column gets a small
//! id, in order of first appearance; keys of several columns combine ids
//! pairwise. Counting and deduplicating then work on integers.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, StringArray, UInt32Array};
use arrow_schema::DataType;

use super::config::Keep;
use super::error::Error;
use super::table::{Batch, type_name};

/// Hashes of values the interners below key their maps by: already well
/// mixed, so the map's own hasher passes them through.
#[derive(Default, Clone, Copy)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type Map = HashMap<u64, u32, BuildHasherDefault<Prehashed>>;

/// murmur3's 64-bit finalizer: every input bit reaches every output bit.
#[inline]
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A hash of bytes, eight at a time. Keys come from the task's own data,
/// not from an adversary; collisions are resolved exactly below.
#[inline]
fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut words = b.chunks_exact(8);
    for w in words.by_ref() {
        h = (h ^ u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K).rotate_left(29);
    }
    mix(h)
}

/// Byte equality, inlined (most values are short: a call to `memcmp`
/// costs more than the comparison).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in x.by_ref().zip(y.by_ref()) {
        if u64::from_le_bytes(p.try_into().expect("8 bytes")) != u64::from_le_bytes(q.try_into().expect("8 bytes")) {
            return false;
        }
    }
    x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q)
}

/// No id: a null where nulls are not values.
pub const NULL: u32 = u32::MAX;

/// Ids of one column's distinct values, in order of first appearance.
/// Text is kept once in an arena; the map goes from a value's hash to the
/// first id with that hash, and ids with the same hash are chained, so a
/// lookup is one hash and (almost always) one comparison.
pub struct Interner {
    map: Map,
    arena: Vec<u8>,
    /// Where each id's text ends in the arena (text columns).
    ends: Vec<usize>,
    /// The next id with the same hash, or `NULL`.
    chain: Vec<u32>,
    /// Each id's value (other columns).
    bits: Vec<u64>,
    next: u32,
    /// Whether a null is a value (it gets an id) or no value (`NULL`).
    null_is_value: bool,
    null_id: Option<u32>,
}

impl Interner {
    pub fn new(null_is_value: bool) -> Self {
        Interner {
            map: Map::default(),
            arena: Vec::new(),
            ends: Vec::new(),
            chain: Vec::new(),
            bits: Vec::new(),
            next: 0,
            null_is_value,
            null_id: None,
        }
    }

    /// Whether this kind of column can be compared.
    pub fn supports(t: &DataType) -> Result<(), String> {
        match t {
            DataType::Utf8 | DataType::Boolean => Ok(()),
            t if t.is_integer() || t.is_floating() || t.is_temporal() => Ok(()),
            t => Err(format!("{} columns cannot be compared", type_name(t))),
        }
    }

    fn fresh(&mut self) -> u32 {
        let id = self.next;
        self.next += 1;
        self.chain.push(NULL);
        id
    }

    #[inline]
    fn null(&mut self) -> u32 {
        if !self.null_is_value {
            return NULL;
        }
        match self.null_id {
            Some(id) => id,
            None => {
                let id = self.fresh();
                // A slot of its own in the arena and values, never matched.
                self.ends.push(self.arena.len());
                self.bits.push(0);
                self.null_id = Some(id);
                id
            }
        }
    }

    fn text_of(&self, id: u32) -> &[u8] {
        let end = self.ends[id as usize];
        let start = if id == 0 { 0 } else { self.ends[id as usize - 1] };
        &self.arena[start..end]
    }

    #[inline]
    fn text(&mut self, v: &[u8]) -> u32 {
        let h = hash_bytes(v);
        let mut at = self.map.get(&h).copied().unwrap_or(NULL);
        let first = at;
        while at != NULL {
            if Some(at) != self.null_id && same(self.text_of(at), v) {
                return at;
            }
            at = self.chain[at as usize];
        }
        let id = self.fresh();
        self.arena.extend_from_slice(v);
        self.ends.push(self.arena.len());
        self.bits.push(0);
        if first == NULL {
            self.map.insert(h, id);
        } else {
            // Chain behind the first id with this hash.
            self.chain[id as usize] = self.chain[first as usize];
            self.chain[first as usize] = id;
        }
        id
    }

    #[inline]
    fn value(&mut self, v: u64) -> u32 {
        let h = mix(v);
        let mut at = self.map.get(&h).copied().unwrap_or(NULL);
        let first = at;
        while at != NULL {
            if Some(at) != self.null_id && self.bits[at as usize] == v {
                return at;
            }
            at = self.chain[at as usize];
        }
        let id = self.fresh();
        self.ends.push(self.arena.len());
        self.bits.push(v);
        if first == NULL {
            self.map.insert(h, id);
        } else {
            self.chain[id as usize] = self.chain[first as usize];
            self.chain[first as usize] = id;
        }
        id
    }

    /// Appends the id of each value of `a` to `out`.
    pub fn ids(&mut self, a: &ArrayRef, out: &mut Vec<u32>) -> Result<(), Error> {
        out.reserve(a.len());
        match a.data_type() {
            DataType::Utf8 => {
                let s = a.as_any().downcast_ref::<StringArray>().expect("text");
                let offsets = s.value_offsets();
                let data = s.value_data();
                for i in 0..s.len() {
                    if s.is_null(i) {
                        out.push(self.null());
                    } else {
                        let v = &data[offsets[i] as usize..offsets[i + 1] as usize];
                        out.push(self.text(v));
                    }
                }
            }
            t => {
                let bits: Vec<u64> = if t.is_floating() {
                    let f = arrow_cast::cast(a, &DataType::Float64)?;
                    let f = f
                        .as_any()
                        .downcast_ref::<arrow_array::PrimitiveArray<Float64Type>>()
                        .expect("f64");
                    f.values()
                        .iter()
                        .map(|&x| {
                            if x.is_nan() {
                                f64::NAN.to_bits()
                            } else {
                                (x + 0.0).to_bits()
                            }
                        })
                        .collect()
                } else if *t == DataType::UInt64 {
                    let u = a
                        .as_any()
                        .downcast_ref::<arrow_array::PrimitiveArray<UInt64Type>>()
                        .expect("u64");
                    u.values().to_vec()
                } else if *t == DataType::Boolean {
                    let b = a.as_any().downcast_ref::<BooleanArray>().expect("bool");
                    b.values().iter().map(u64::from).collect()
                } else {
                    let i = arrow_cast::cast(a, &DataType::Int64)?;
                    let i = i
                        .as_any()
                        .downcast_ref::<arrow_array::PrimitiveArray<Int64Type>>()
                        .expect("i64");
                    i.values().iter().map(|&v| v as u64).collect()
                };
                for (i, v) in bits.into_iter().enumerate() {
                    if a.is_null(i) {
                        out.push(self.null());
                    } else {
                        out.push(self.value(v));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Ids of combinations of ids (keys of several columns).
#[derive(Default)]
pub struct Pairs {
    map: PairMap,
}

/// Pairs of ids packed in a u64, hashed by [`mix`].
type PairMap = HashMap<u64, u32, BuildHasherDefault<Mixed>>;

#[derive(Default, Clone, Copy)]
pub struct Mixed(u64);

impl Hasher for Mixed {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = mix(v);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Pairs {
    /// `a[i]` becomes the id of (`a[i]`, `b[i]`); a `NULL` in either
    /// gives `NULL`.
    pub fn combine(&mut self, a: &mut [u32], b: &[u32]) {
        for (x, &y) in a.iter_mut().zip(b) {
            if *x == NULL || y == NULL {
                *x = NULL;
                continue;
            }
            let next = self.map.len() as u32;
            *x = *self.map.entry((u64::from(*x) << 32) | u64::from(y)).or_insert(next);
        }
    }
}

/// The key ids of the rows of one batch (one per row).
struct Keys {
    cols: Vec<usize>,
    interners: Vec<Interner>,
    pairs: Vec<Pairs>,
}

impl Keys {
    fn new(cols: Vec<usize>, null_is_value: bool) -> Self {
        let n = cols.len();
        Keys {
            interners: (0..n).map(|_| Interner::new(null_is_value)).collect(),
            pairs: (1..n).map(|_| Pairs::default()).collect(),
            cols,
        }
    }

    fn ids(&mut self, batch: &Batch, out: &mut Vec<u32>) -> Result<(), Error> {
        let start = out.len();
        self.interners[0].ids(&batch.cols[self.cols[0]], out)?;
        let mut more = Vec::with_capacity(batch.len);
        for k in 1..self.cols.len() {
            more.clear();
            self.interners[k].ids(&batch.cols[self.cols[k]], &mut more)?;
            self.pairs[k - 1].combine(&mut out[start..], &more);
        }
        Ok(())
    }
}

/// `most_frequent`: each row's `col` becomes the most frequent value of
/// `col` among the rows with its key; ties go to the value seen first
/// (pandas' `value_counts().idxmax()`). Nulls are not counted; a row
/// whose key has a null, or whose key has only nulls, gets null.
///
/// Batches are counted as they arrive ([`MostFrequent::absorb`], while the
/// file is still being read); once all are in, each row gets its key's
/// winner.
pub struct MostFrequent {
    pub col: usize,
    keys: Keys,
    values: Interner,
    /// Every row's key id, in table order.
    key_ids: Vec<u32>,
    /// Where each value id was first seen: (batch, row).
    reps: Vec<(usize, usize)>,
    /// (key, value) -> index in `counts`.
    index: PairMap,
    /// key, value, count; in order of first appearance.
    counts: Vec<(u32, u32, u32)>,
    batches: usize,
    scratch: Vec<u32>,
}

impl MostFrequent {
    pub fn new(col: usize, by: Vec<usize>) -> Self {
        MostFrequent {
            col,
            keys: Keys::new(by, false),
            values: Interner::new(false),
            key_ids: Vec::new(),
            reps: Vec::new(),
            index: PairMap::default(),
            counts: Vec::new(),
            batches: 0,
            scratch: Vec::new(),
        }
    }

    /// Counts the next batch of the table.
    pub fn absorb(&mut self, b: &Batch) -> Result<(), Error> {
        let bi = self.batches;
        self.batches += 1;
        let start = self.key_ids.len();
        self.keys.ids(b, &mut self.key_ids)?;
        self.scratch.clear();
        self.values.ids(&b.cols[self.col], &mut self.scratch)?;
        for (r, (&k, &v)) in self.key_ids[start..].iter().zip(&self.scratch).enumerate() {
            if v == NULL {
                continue;
            }
            if v as usize == self.reps.len() {
                self.reps.push((bi, r));
            }
            if k == NULL {
                continue;
            }
            let next = self.counts.len() as u32;
            let at = *self.index.entry((u64::from(k) << 32) | u64::from(v)).or_insert(next);
            if at == next {
                self.counts.push((k, v, 1));
            } else {
                self.counts[at as usize].2 += 1;
            }
        }
        Ok(())
    }

    /// Replaces the column in `batches` (the batches absorbed, in order,
    /// or, if none were, all of them now).
    pub fn apply(&mut self, batches: Vec<Batch>) -> Result<Vec<Batch>, Error> {
        if self.batches == 0 {
            for b in &batches {
                self.absorb(b)?;
            }
        }
        debug_assert_eq!(self.batches, batches.len());
        // The winner per key: a later pair wins only with a higher count,
        // so ties stay with the value that appeared first.
        let nkeys = self
            .key_ids
            .iter()
            .filter(|&&k| k != NULL)
            .max()
            .map_or(0, |&k| k as usize + 1);
        let mut best: Vec<(u32, u32)> = vec![(0, NULL); nkeys]; // count, value
        for &(k, v, c) in &self.counts {
            let b = &mut best[k as usize];
            if c > b.0 {
                *b = (c, v);
            }
        }
        // The distinct values, in id order, then each row's winner.
        let sources: Vec<&dyn Array> = batches.iter().map(|b| b.cols[self.col].as_ref()).collect();
        let distinct = arrow_select::interleave::interleave(&sources, &self.reps)?;
        drop(sources);
        // The old column is not needed any more: free it before the new
        // one is made.
        let mut batches = batches;
        for b in &mut batches {
            b.cols[self.col] = arrow_array::new_empty_array(b.cols[self.col].data_type());
        }
        let mut starts = Vec::with_capacity(batches.len());
        let mut at = 0;
        for b in &batches {
            starts.push(at);
            at += b.len;
        }
        let winners = par_map(&batches, |i, b| {
            let idx: UInt32Array = self.key_ids[starts[i]..starts[i] + b.len]
                .iter()
                .map(|&k| match k {
                    NULL => None,
                    k => Some(best[k as usize].1).filter(|&v| v != NULL),
                })
                .collect();
            arrow_select::take::take(distinct.as_ref(), &idx, None)
        });
        let mut out = Vec::with_capacity(batches.len());
        for (mut b, w) in batches.into_iter().zip(winners) {
            b.cols[self.col] = w?;
            out.push(b);
        }
        Ok(out)
    }
}

/// `f` over `items` on all cores, results in order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    if threads <= 1 {
        return items.iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .enumerate()
            .map(|(c, chunk)| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, t)| f(c * per + i, t))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("no panic in a worker"))
            .collect()
    })
}

/// `dedupe`: drops rows equal (on `cols`) to one kept before (`keep:
/// first`, streaming) or after (`keep: last`, the whole table). Nulls are
/// equal to each other, as in pandas' `drop_duplicates`.
pub struct Dedupe {
    keys: Keys,
    seen: Vec<bool>,
    pub keep: Keep,
}

impl Dedupe {
    pub fn new(cols: Vec<usize>, keep: Keep) -> Self {
        Dedupe {
            keys: Keys::new(cols, true),
            seen: Vec::new(),
            keep,
        }
    }

    /// `keep: first`, one batch after the other.
    pub fn apply(&mut self, batch: Batch) -> Result<Batch, Error> {
        let mut ids = Vec::with_capacity(batch.len);
        self.keys.ids(&batch, &mut ids)?;
        let mut keep = Vec::with_capacity(batch.len);
        for (i, &id) in ids.iter().enumerate() {
            let id = id as usize;
            if id >= self.seen.len() {
                self.seen.resize((id + 1).max(self.seen.len() * 2), false);
            }
            if !self.seen[id] {
                self.seen[id] = true;
                keep.push(i as u32);
            }
        }
        Ok(batch.take_rows(&keep)?)
    }

    /// `keep: last`, over the whole table.
    pub fn apply_all(&mut self, batches: Vec<Batch>) -> Result<Vec<Batch>, Error> {
        let mut ids = Vec::new();
        for b in &batches {
            self.keys.ids(b, &mut ids)?;
        }
        let mut seen = vec![false; ids.iter().map(|&i| i as usize + 1).max().unwrap_or(0)];
        let mut kept = vec![false; ids.len()];
        for (g, &id) in ids.iter().enumerate().rev() {
            if !seen[id as usize] {
                seen[id as usize] = true;
                kept[g] = true;
            }
        }
        let mut out = Vec::with_capacity(batches.len());
        let mut at = 0;
        for b in batches {
            let keep: Vec<u32> = (0..b.len).filter(|&i| kept[at + i]).map(|i| i as u32).collect();
            at += b.len;
            out.push(b.take_rows(&keep)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, Int64Array};

    use super::*;
    use crate::transform::table::Rows;

    fn text(v: Vec<Option<&str>>) -> ArrayRef {
        Arc::new(StringArray::from(v))
    }

    fn strings(a: &ArrayRef) -> Vec<Option<String>> {
        let s = a.as_any().downcast_ref::<StringArray>().unwrap();
        s.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn most_frequent_counts_across_batches_and_breaks_ties_by_first_appearance() {
        // key A: x x y y  -> tie, x first; key B: z w w -> w; key C: only
        // nulls -> null; null key -> null.
        let b1 = Batch::new(
            vec![
                text(vec![Some("A"), Some("B"), Some("A"), Some("C"), None]),
                text(vec![Some("x"), Some("z"), Some("y"), None, Some("x")]),
            ],
            Rows::From(1),
            5,
        );
        let b2 = Batch::new(
            vec![
                text(vec![Some("A"), Some("B"), Some("A"), Some("B"), Some("A")]),
                text(vec![Some("y"), Some("w"), Some("x"), Some("w"), None]),
            ],
            Rows::From(6),
            5,
        );
        let out = MostFrequent::new(1, vec![0]).apply(vec![b1, b2]).unwrap();
        let x = |s: &str| Some(s.to_string());
        assert_eq!(strings(&out[0].cols[1]), [x("x"), x("w"), x("x"), None, None]);
        assert_eq!(strings(&out[1].cols[1]), [x("x"), x("w"), x("x"), x("w"), x("x")]);
        // The tie goes the other way when y appears first.
        let b = Batch::new(
            vec![
                text(vec![Some("A"); 4]),
                text(vec![Some("y"), Some("x"), Some("x"), Some("y")]),
            ],
            Rows::From(1),
            4,
        );
        let out = MostFrequent::new(1, vec![0]).apply(vec![b]).unwrap();
        assert_eq!(strings(&out[0].cols[1]), vec![x("y"); 4]);
    }

    #[test]
    fn most_frequent_on_two_keys_and_numbers() {
        let b = Batch::new(
            vec![
                Arc::new(Int64Array::from(vec![1, 1, 1, 2, 1])),
                text(vec![Some("a"), Some("b"), Some("a"), Some("a"), Some("b")]),
                Arc::new(Float64Array::from(vec![1.5, 2.0, 2.5, 3.0, 2.0])),
            ],
            Rows::From(1),
            5,
        );
        let mut m = MostFrequent::new(2, vec![0, 1]);
        m.absorb(&b).unwrap();
        let out = m.apply(vec![b]).unwrap();
        let f = out[0].cols[2].as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(f.values().to_vec(), [1.5, 2.0, 1.5, 3.0, 2.0]);
    }

    #[test]
    fn dedupe_keeps_first_or_last_and_remembers_rows() {
        let mk = |first: u64, a: Vec<Option<&str>>, n: Vec<i64>| {
            let len = a.len();
            Batch::new(vec![text(a), Arc::new(Int64Array::from(n))], Rows::From(first), len)
        };
        let b1 = mk(1, vec![Some("a"), None, Some("a"), None], vec![1, 2, 1, 2]);
        let b2 = mk(5, vec![Some("a"), Some("b"), None], vec![1, 1, 3]);
        let mut d = Dedupe::new(vec![0, 1], Keep::First);
        let o1 = d.apply(b1.clone()).unwrap();
        let o2 = d.apply(b2.clone()).unwrap();
        assert_eq!((0..o1.len).map(|i| o1.row(i)).collect::<Vec<_>>(), [1, 2]);
        assert_eq!((0..o2.len).map(|i| o2.row(i)).collect::<Vec<_>>(), [6, 7]);
        let mut d = Dedupe::new(vec![0, 1], Keep::Last);
        let out = d.apply_all(vec![b1.clone(), b2.clone()]).unwrap();
        let rows: Vec<u64> = out.iter().flat_map(|b| (0..b.len).map(|i| b.row(i))).collect();
        assert_eq!(rows, [4, 5, 6, 7]);
        let mut d = Dedupe::new(vec![0], Keep::First);
        let o = d.apply(b2).unwrap();
        assert_eq!(o.len, 3);
        let o = d.apply(b1).unwrap();
        assert_eq!(o.len, 0);
    }
}
