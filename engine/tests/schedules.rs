//! Schedule planning with Airflow 2's cron data-interval semantics: DST in
//! two hemispheres' worth of zones, month ends, leap days, weekday lists,
//! steps, ranges, presets, catchup and manual runs.
//!
//! Expected values follow Airflow 2.10's `CronDataIntervalTimetable`
//! (airflow/timetables/interval.py) applied by hand; `airflow_parity.json`
//! holds cases computed by Airflow itself.

use jiff::Timestamp;
use updraft_engine::schedule::{DagRunInfo, DataInterval, Schedule, TimeRestriction, Timetable};
use updraft_engine::time::{parse_instant, parse_timezone};

fn tt(schedule: &str, tz: &str) -> Timetable {
    Timetable::new(Schedule::parse(Some(schedule)).unwrap(), parse_timezone(tz).unwrap())
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Logical dates (UTC) planned for `[start, end]` (dates read in `tz`).
fn plan(schedule: &str, tz: &str, start: &str, end: &str) -> Vec<String> {
    let t = tt(schedule, tz);
    let zone = parse_timezone(tz).unwrap();
    let runs: Vec<DagRunInfo> = t
        .plan(parse_instant(start, &zone).unwrap(), parse_instant(end, &zone).unwrap())
        .collect();
    // Consecutive runs tile time: each interval ends where the next begins.
    for w in runs.windows(2) {
        assert_eq!(w[0].data_interval.end, w[1].data_interval.start, "{schedule} in {tz}");
    }
    for r in &runs {
        assert_eq!(r.logical_date, r.data_interval.start);
        assert_eq!(r.run_after, r.data_interval.end);
    }
    runs.iter().map(|r| r.logical_date.to_string()).collect()
}

fn intervals(schedule: &str, tz: &str, start: &str, end: &str) -> Vec<(String, String)> {
    let t = tt(schedule, tz);
    let zone = parse_timezone(tz).unwrap();
    t.plan(parse_instant(start, &zone).unwrap(), parse_instant(end, &zone).unwrap())
        .map(|r| (r.data_interval.start.to_string(), r.data_interval.end.to_string()))
        .collect()
}

#[test]
fn daily_in_a_zone_without_dst() {
    assert_eq!(
        plan("0 2 * * *", "Asia/Bangkok", "2024-11-01", "2024-11-03T23:59"),
        ["2024-10-31T19:00:00Z", "2024-11-01T19:00:00Z", "2024-11-02T19:00:00Z"]
    );
}

#[test]
fn new_york_spring_forward_moves_a_missing_time_forward() {
    // 02:30 does not exist on 2024-03-10: it runs at 03:30 EDT (07:30Z).
    assert_eq!(
        intervals("30 2 * * *", "America/New_York", "2024-03-09", "2024-03-11T23:59"),
        [
            ("2024-03-09T07:30:00Z".into(), "2024-03-10T07:30:00Z".into()),
            ("2024-03-10T07:30:00Z".into(), "2024-03-11T06:30:00Z".into()),
            ("2024-03-11T06:30:00Z".into(), "2024-03-12T06:30:00Z".into()),
        ]
    );
}

#[test]
fn new_york_fall_back_takes_the_later_instant() {
    // 01:30 happens twice on 2024-11-03: the second (EST, 06:30Z) is used.
    assert_eq!(
        plan("30 1 * * *", "America/New_York", "2024-11-02", "2024-11-04T23:59"),
        ["2024-11-02T05:30:00Z", "2024-11-03T06:30:00Z", "2024-11-04T06:30:00Z"]
    );
}

#[test]
fn berlin_spring_and_autumn() {
    // 2025-03-30 02:00 does not exist (CET -> CEST): 03:00 CEST = 01:00Z.
    assert_eq!(
        plan("0 2 * * *", "Europe/Berlin", "2025-03-29", "2025-03-31T23:59"),
        ["2025-03-29T01:00:00Z", "2025-03-30T01:00:00Z", "2025-03-31T00:00:00Z"]
    );
    // 2025-10-26 02:30 happens twice: the later (CET) one.
    assert_eq!(
        plan("30 2 * * *", "Europe/Berlin", "2025-10-25", "2025-10-27T23:59"),
        ["2025-10-25T00:30:00Z", "2025-10-26T01:30:00Z", "2025-10-27T01:30:00Z"]
    );
}

#[test]
fn sydney_southern_hemisphere() {
    // DST ends 2025-04-06 03:00 AEDT -> 02:00 AEST; 02:30 is repeated.
    assert_eq!(
        plan("30 2 * * *", "Australia/Sydney", "2025-04-05", "2025-04-07T23:59"),
        ["2025-04-04T15:30:00Z", "2025-04-05T16:30:00Z", "2025-04-06T16:30:00Z"]
    );
    // DST starts 2025-10-05 02:00 AEST -> 03:00 AEDT; 02:30 does not exist.
    assert_eq!(
        plan("30 2 * * *", "Australia/Sydney", "2025-10-04", "2025-10-06T23:59"),
        ["2025-10-03T16:30:00Z", "2025-10-04T16:30:00Z", "2025-10-05T15:30:00Z"]
    );
}

#[test]
fn hourly_keeps_absolute_hours_across_dst() {
    // Non-fixed schedules add the wall-clock gap as absolute time (Airflow's
    // DST fix): hourly stays hourly in UTC through both transitions.
    let spring = plan("0 * * * *", "America/New_York", "2024-03-10T00:00", "2024-03-10T04:00");
    assert_eq!(
        spring,
        [
            "2024-03-10T05:00:00Z",
            "2024-03-10T06:00:00Z",
            "2024-03-10T07:00:00Z",
            "2024-03-10T08:00:00Z"
        ]
    );
    let autumn = plan("0 * * * *", "America/New_York", "2024-11-03T00:00", "2024-11-03T02:00");
    assert_eq!(
        autumn,
        [
            "2024-11-03T04:00:00Z",
            "2024-11-03T05:00:00Z",
            "2024-11-03T06:00:00Z",
            "2024-11-03T07:00:00Z"
        ]
    );
}

#[test]
fn twice_daily_follows_the_wall_clock_across_spring_forward() {
    // Only schedules firing every hour step in absolute time; "0 0,12" stays
    // at 00:00 and 12:00 local, so the DST day's morning interval is 11 hours.
    assert_eq!(
        plan(
            "0 0,12 * * *",
            "America/New_York",
            "2024-03-09T12:00",
            "2024-03-11T12:00"
        ),
        [
            "2024-03-09T17:00:00Z",
            "2024-03-10T05:00:00Z",
            "2024-03-10T16:00:00Z",
            "2024-03-11T04:00:00Z",
            "2024-03-11T16:00:00Z",
        ]
    );
}

#[test]
fn every_hour_schedules_also_run_in_the_repeated_hour() {
    // Berlin falls back at 03:00 CEST to 02:00 CET on 2024-10-27: 02:30
    // happens twice (00:30Z and 01:30Z) and an every-hour schedule runs at
    // both; 03:00 local (the end) is 02:00Z.
    assert_eq!(
        plan("30 * * * *", "Europe/Berlin", "2024-10-27T01:00", "2024-10-27T03:00"),
        ["2024-10-26T23:30:00Z", "2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z"]
    );
}

#[test]
fn month_ends_and_leap_days() {
    assert_eq!(
        plan("0 0 31 * *", "UTC", "2024-01-01", "2024-08-01"),
        [
            "2024-01-31T00:00:00Z",
            "2024-03-31T00:00:00Z",
            "2024-05-31T00:00:00Z",
            "2024-07-31T00:00:00Z"
        ]
    );
    assert_eq!(
        plan("0 0 29 2 *", "UTC", "2023-01-01", "2029-01-01"),
        ["2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z"]
    );
    assert_eq!(
        plan("@monthly", "UTC", "2024-01-15", "2024-04-01"),
        ["2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"]
    );
    // The interval covering a leap day is 29 days long.
    let i = intervals("@monthly", "UTC", "2024-02-01", "2024-02-01");
    assert_eq!(i, [("2024-02-01T00:00:00Z".into(), "2024-03-01T00:00:00Z".into())]);
}

#[test]
fn weekday_lists_ranges_and_steps() {
    // 2024-01-05 is a Friday: weekdays only skip the weekend.
    assert_eq!(
        intervals("0 9 * * 1-5", "UTC", "2024-01-05", "2024-01-09T23:59"),
        [
            ("2024-01-05T09:00:00Z".into(), "2024-01-08T09:00:00Z".into()),
            ("2024-01-08T09:00:00Z".into(), "2024-01-09T09:00:00Z".into()),
            ("2024-01-09T09:00:00Z".into(), "2024-01-10T09:00:00Z".into()),
        ]
    );
    assert_eq!(
        plan("0 6 * * MON,WED,FRI", "UTC", "2024-01-01", "2024-01-07"),
        ["2024-01-01T06:00:00Z", "2024-01-03T06:00:00Z", "2024-01-05T06:00:00Z"]
    );
    assert_eq!(
        plan("*/15 * * * *", "UTC", "2024-01-01T00:10", "2024-01-01T01:00"),
        [
            "2024-01-01T00:15:00Z",
            "2024-01-01T00:30:00Z",
            "2024-01-01T00:45:00Z",
            "2024-01-01T01:00:00Z"
        ]
    );
    assert_eq!(
        plan("0 8-17/3 * * *", "UTC", "2024-01-01", "2024-01-01T23:59"),
        [
            "2024-01-01T08:00:00Z",
            "2024-01-01T11:00:00Z",
            "2024-01-01T14:00:00Z",
            "2024-01-01T17:00:00Z"
        ]
    );
}

#[test]
fn presets_match_airflows_cron_equivalents() {
    // @weekly is Sunday 00:00; 2024-01-01 is a Monday.
    assert_eq!(
        plan("@weekly", "UTC", "2024-01-01", "2024-01-14"),
        ["2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"]
    );
    // @quarterly: the first day of Jan/Apr/Jul/Oct.
    assert_eq!(
        plan("@quarterly", "UTC", "2024-02-15", "2025-01-01"),
        [
            "2024-04-01T00:00:00Z",
            "2024-07-01T00:00:00Z",
            "2024-10-01T00:00:00Z",
            "2025-01-01T00:00:00Z"
        ]
    );
    assert_eq!(
        plan("@yearly", "UTC", "2024-06-01", "2026-01-01"),
        ["2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"]
    );
    assert_eq!(
        plan("@hourly", "UTC", "2024-01-01T00:30", "2024-01-01T02:00"),
        ["2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"]
    );
    assert_eq!(
        plan("@daily", "Asia/Bangkok", "2024-01-01", "2024-01-02"),
        ["2023-12-31T17:00:00Z", "2024-01-01T17:00:00Z"]
    );
}

#[test]
fn a_start_on_a_schedule_point_is_the_first_run() {
    assert_eq!(
        plan("0 2 * * *", "UTC", "2024-01-01T02:00", "2024-01-02T02:00"),
        ["2024-01-01T02:00:00Z", "2024-01-02T02:00:00Z"]
    );
    assert_eq!(
        plan("0 2 * * *", "UTC", "2024-01-01T02:01", "2024-01-02T02:00"),
        ["2024-01-02T02:00:00Z"]
    );
    assert!(plan("0 2 * * *", "UTC", "2024-01-01T02:01", "2024-01-02T01:59").is_empty());
}

fn restriction(earliest: &str, latest: Option<&str>, catchup: bool) -> TimeRestriction {
    TimeRestriction {
        earliest: Some(ts(earliest)),
        latest: latest.map(ts),
        catchup,
    }
}

#[test]
fn without_catchup_the_first_run_is_the_latest_complete_interval() {
    let t = tt("0 2 * * *", "UTC");
    let now = ts("2024-06-10T03:00:00Z");
    let r = t
        .next_dagrun_info(None, &restriction("2024-01-01T00:00:00Z", None, false), now)
        .unwrap();
    assert_eq!(
        r.data_interval,
        DataInterval {
            start: ts("2024-06-09T02:00:00Z"),
            end: ts("2024-06-10T02:00:00Z")
        }
    );
    // Exactly on a boundary, the interval that just ended.
    let now = ts("2024-06-10T02:00:00Z");
    let r = t
        .next_dagrun_info(None, &restriction("2024-01-01T00:00:00Z", None, false), now)
        .unwrap();
    assert_eq!(r.logical_date, ts("2024-06-09T02:00:00Z"));
    // Never before start_date.
    let r = t
        .next_dagrun_info(None, &restriction("2024-07-01T00:00:00Z", None, false), now)
        .unwrap();
    assert_eq!(r.logical_date, ts("2024-07-01T02:00:00Z"));
    // After a run long ago, skip ahead rather than catch up.
    let last = DataInterval {
        start: ts("2024-03-01T02:00:00Z"),
        end: ts("2024-03-02T02:00:00Z"),
    };
    let r = t
        .next_dagrun_info(
            Some(last),
            &restriction("2024-01-01T00:00:00Z", None, false),
            ts("2024-06-10T03:00:00Z"),
        )
        .unwrap();
    assert_eq!(r.logical_date, ts("2024-06-09T02:00:00Z"));
}

#[test]
fn with_catchup_runs_continue_from_the_last_one_and_stop_at_end_date() {
    let t = tt("0 2 * * *", "UTC");
    let now = ts("2024-06-10T03:00:00Z");
    let first = t
        .next_dagrun_info(None, &restriction("2024-01-01T00:00:00Z", None, true), now)
        .unwrap();
    assert_eq!(first.logical_date, ts("2024-01-01T02:00:00Z"));
    let next = t
        .next_dagrun_info(
            Some(first.data_interval),
            &restriction("2024-01-01T00:00:00Z", None, true),
            now,
        )
        .unwrap();
    assert_eq!(next.logical_date, ts("2024-01-02T02:00:00Z"));
    let ended = restriction("2024-01-01T00:00:00Z", Some("2024-01-01T12:00:00Z"), true);
    assert!(t.next_dagrun_info(Some(first.data_interval), &ended, now).is_none());
}

#[test]
fn manual_runs_cover_the_last_complete_interval() {
    let t = tt("0 2 * * *", "UTC");
    assert_eq!(
        t.infer_manual_data_interval(ts("2024-06-10T03:00:00Z")),
        DataInterval {
            start: ts("2024-06-09T02:00:00Z"),
            end: ts("2024-06-10T02:00:00Z")
        }
    );
    assert_eq!(
        t.infer_manual_data_interval(ts("2024-06-10T02:00:00Z")),
        DataInterval {
            start: ts("2024-06-09T02:00:00Z"),
            end: ts("2024-06-10T02:00:00Z")
        }
    );
    let manual = Timetable::new(Schedule::Manual, parse_timezone("UTC").unwrap());
    let at = ts("2024-06-10T03:04:05Z");
    assert_eq!(
        manual.infer_manual_data_interval(at),
        DataInterval { start: at, end: at }
    );
}

#[test]
fn once_runs_at_start_date_only() {
    let t = tt("@once", "UTC");
    let r = t
        .next_dagrun_info(
            None,
            &restriction("2024-05-05T05:05:00Z", None, false),
            ts("2030-01-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(
        r.data_interval,
        DataInterval {
            start: ts("2024-05-05T05:05:00Z"),
            end: ts("2024-05-05T05:05:00Z")
        }
    );
    assert!(
        t.next_dagrun_info(
            Some(r.data_interval),
            &restriction("2024-05-05T05:05:00Z", None, false),
            ts("2030-01-01T00:00:00Z")
        )
        .is_none()
    );
}
