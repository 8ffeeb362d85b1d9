//! SplitMix64: tiny, fast and fully specified, so one seed gives the same
//! stream on every platform. Only `+ - * /` on floats are used elsewhere
//! (never `powf`, `ln`, `exp`, whose last bit depends on the libm), so the
//! bytes written do not depend on the machine either.

#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An independent stream, for one part of the data, so that changing how
    /// much one part draws does not shift every other part.
    pub(crate) fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }

    /// Uniform in `0..n` (`n > 0`; Lemire's multiply-shift, bias below n/2^64).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index in `0..n` where low indices are the popular ones: `n * u^1.5`
    /// (`sqrt` is exactly rounded by IEEE 754, unlike `powf`).
    pub(crate) fn skewed(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((n as f64 * u * u.sqrt()) as usize).min(n - 1)
    }

    /// An index drawn with the given weights (not all zero).
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        unreachable!("x < total")
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn splitmix64_reference_values() {
        // First outputs for seed 0 in the reference implementation.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn helpers_stay_in_range() {
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            assert!(r.below(3) < 3);
            assert!((5..=9).contains(&r.range(5, 9)));
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.skewed(10) < 10);
            assert_eq!(r.weighted(&[0, 5, 0]), 1);
        }
    }

    #[test]
    fn skewed_prefers_low_indices() {
        let mut r = Rng::new(1);
        let low = (0..10_000).filter(|_| r.skewed(100) < 10).count();
        // u^1.5 < 0.1 <=> u < 0.1^(2/3) ~ 0.215: twice the uniform 10%.
        assert!((1_900..2_400).contains(&low), "{low}");
    }
}
