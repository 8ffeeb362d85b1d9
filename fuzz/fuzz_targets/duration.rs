//! Durations: parsing never panics, and what `format_duration` writes for
//! a parsed duration parses back to it (whole seconds, as documented).

#![no_main]

use libfuzzer_sys::fuzz_target;
use updraft_operator_api::duration::{format_duration, parse_duration};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(d) = parse_duration(text) else {
        return;
    };
    let written = format_duration(d);
    let back = parse_duration(&written).unwrap_or_else(|e| panic!("{text:?} -> {written:?}: {e}"));
    // Exact while the seconds fit an f64's integers.
    if d.as_secs() < 1 << 52 {
        let expected = if d.as_secs() == 0 {
            std::time::Duration::from_millis(u64::from(d.subsec_millis()))
        } else {
            std::time::Duration::from_secs(d.as_secs())
        };
        assert_eq!(back, expected, "{text:?} -> {written:?}");
    }
});
