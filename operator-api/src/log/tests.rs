use std::sync::{Arc, Mutex};

use super::*;

type Seen = Arc<Mutex<Vec<(LogStream, String)>>>;

fn sink(limits: LogLimits) -> (LogSink, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let sink = LogSink::new(move |st, l| s.lock().unwrap().push((st, l.to_string()))).with_limits(limits);
    (sink, seen)
}

fn texts(seen: &Seen) -> Vec<String> {
    seen.lock().unwrap().iter().map(|(_, l)| l.clone()).collect()
}

#[test]
fn a_long_line_is_cut_with_a_marker_and_counted() {
    let (log, seen) = sink(LogLimits {
        line_bytes: 8,
        try_bytes: 1 << 20,
    });
    log.line(LogStream::Stdout, "short");
    log.line(LogStream::Stdout, "0123456789abcdef");
    // A cut never splits a character.
    log.line(LogStream::Stdout, "1234567é");
    let lines = texts(&seen);
    assert_eq!(lines[0], "short");
    assert_eq!(lines[1], "01234567 [... line cut at 8 bytes: the rest is not kept]");
    assert!(lines[2].starts_with("1234567 [... line cut"), "{}", lines[2]);
    assert_eq!(
        log.summary().as_deref(),
        Some("log limits: 2 line(s) longer than 8 bytes were cut (10 bytes dropped)")
    );
}

#[test]
fn past_the_try_limit_lines_are_dropped_after_one_marker_and_counted() {
    let (log, seen) = sink(LogLimits {
        line_bytes: 100,
        try_bytes: 150,
    });
    for i in 0..10 {
        log.line(LogStream::Stdout, &format!("line {i}"));
    }
    let lines = texts(&seen);
    // 70 bytes a line (with its row): two fit in 150, the third does not.
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(&lines[..2], ["line 0", "line 1"]);
    assert!(lines[2].contains("reached its limit of 150 bytes"), "{}", lines[2]);
    assert_eq!(seen.lock().unwrap()[2].0, LogStream::System);
    assert_eq!(
        log.summary().as_deref(),
        Some("log limits: 8 line(s) (48 bytes) were dropped after the try's log reached 150 bytes")
    );
}

#[test]
fn clones_share_the_count_and_a_fresh_sink_starts_clean() {
    let (log, _) = sink(LogLimits {
        line_bytes: 100,
        try_bytes: 100,
    });
    let other = log.clone();
    log.line(LogStream::Stdout, "123456789");
    other.line(LogStream::Stderr, "x");
    assert!(log.summary().is_some());
    assert!(LogSink::new(|_, _| {}).summary().is_none());
}

#[test]
fn lines_from_chunks_hold_at_most_the_line_limit() {
    let (log, seen) = sink(LogLimits {
        line_bytes: 4,
        try_bytes: 1 << 20,
    });
    let mut lines = Lines::new();
    let mut each = Vec::new();
    lines.push(&log, LogStream::Stdout, b"ab\r\ncd", |l| each.push(l.to_string()));
    lines.push(&log, LogStream::Stdout, b"ef", |l| each.push(l.to_string()));
    lines.push(&log, LogStream::Stdout, b"", |_| {});
    assert_eq!(texts(&seen).len(), 1);
    // The head goes out as soon as the limit is passed, and the rest of the
    // line is skipped to its newline, however long.
    for _ in 0..1000 {
        lines.push(&log, LogStream::Stdout, &[b'x'; 1000], |_| {});
        assert_eq!(texts(&seen).len(), 2);
        assert!(lines.buf.is_empty() && lines.skipping && lines.buf.capacity() <= 8);
    }
    lines.push(&log, LogStream::Stdout, b"yy\nabcd\n\nlast", |l| {
        each.push(l.to_string())
    });
    lines.finish(&log, LogStream::Stdout, |l| each.push(l.to_string()));
    assert_eq!(
        texts(&seen),
        [
            "ab",
            "cdef [... line cut at 4 bytes: the rest is not kept]",
            "abcd",
            "",
            "last"
        ]
    );
    assert_eq!(each, ["ab", "abcd", "", "last"]);
    assert_eq!(
        log.summary().as_deref(),
        Some("log limits: 1 line(s) longer than 4 bytes were cut (976.6 KiB dropped)")
    );
}

#[test]
fn a_line_cut_inside_a_character_keeps_whole_characters() {
    let (log, seen) = sink(LogLimits {
        line_bytes: 5,
        try_bytes: 1 << 20,
    });
    let mut lines = Lines::new();
    lines.push(&log, LogStream::Stdout, "abcdé!\n".as_bytes(), |_| {});
    assert_eq!(texts(&seen), ["abcd [... line cut at 5 bytes: the rest is not kept]"]);
}

#[test]
fn sizes_read_as_people_write_them() {
    assert_eq!(human_bytes(100), "100 bytes");
    assert_eq!(human_bytes(64 << 10), "64 KiB");
    assert_eq!(human_bytes(100 << 20), "100 MiB");
    assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
}
