//! Cron expressions: parsing never panics, and a parsed expression's next
//! and previous fire times lie after and before the time asked about.
//! Input: 8 bytes choosing a time (within 2000 +- 200 years), then the text.

#![no_main]

use jiff::{SignedDuration, civil};
use libfuzzer_sys::fuzz_target;
use updraft_engine::schedule::CronExpr;

fuzz_target!(|data: &[u8]| {
    let Some((head, text)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(expr) = CronExpr::parse(text) else {
        return;
    };
    let secs = i64::from_le_bytes(*head) % (200 * 365 * 86_400);
    let Ok(at) = civil::date(2000, 1, 1)
        .at(0, 0, 0, 0)
        .checked_add(SignedDuration::from_secs(secs))
    else {
        return;
    };
    if let Some(next) = expr.next_after(at) {
        assert!(next > at, "{text:?}: next {next} is not after {at}");
    }
    if let Some(prev) = expr.prev_before(at) {
        assert!(prev < at, "{text:?}: previous {prev} is not before {at}");
    }
});
