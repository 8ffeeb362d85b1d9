//! Airflow 2's timetables, ported rule for rule (airflow/timetables/
//! interval.py and trigger.py, 2.10): a run's logical date is the start of
//! its data interval and it is due at the interval's end.
//!
//! Cron is matched on the DAG's wall clock. Each fire time is placed in the
//! time zone on its own: a time that does not exist moves forward by the DST
//! gap, a repeated one takes the later instant. Schedules that fire in every
//! hour ("0 * * * *", "*/15 * * * *") instead step by the wall-clock
//! difference in absolute time, so they also run in a repeated hour
//! (Airflow's `_covers_every_hour` workaround); we do the same.

use jiff::{Timestamp, tz::TimeZone};

use super::{CronExpr, Schedule};
use crate::time::local_to_instant;

/// `[start, end)` of the data a run processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataInterval {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A run the timetable asks for: its logical date, its data interval, and
/// when it may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DagRunInfo {
    pub logical_date: Timestamp,
    pub data_interval: DataInterval,
    pub run_after: Timestamp,
}

impl DagRunInfo {
    fn interval(start: Timestamp, end: Timestamp) -> Self {
        DagRunInfo {
            logical_date: start,
            data_interval: DataInterval { start, end },
            run_after: end,
        }
    }

    fn exact(at: Timestamp) -> Self {
        DagRunInfo {
            logical_date: at,
            data_interval: DataInterval { start: at, end: at },
            run_after: at,
        }
    }
}

/// The bounds a timetable schedules within (`start_date`, `end_date`,
/// `catchup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRestriction {
    pub earliest: Option<Timestamp>,
    pub latest: Option<Timestamp>,
    pub catchup: bool,
}

/// A schedule bound to the time zone it is read in.
#[derive(Debug, Clone)]
pub struct Timetable {
    pub schedule: Schedule,
    pub tz: TimeZone,
}

impl Timetable {
    pub fn new(schedule: Schedule, tz: TimeZone) -> Self {
        Timetable { schedule, tz }
    }

    /// The next run to create after `last` (the data interval of the latest
    /// scheduled run, if any), or `None` when there is none. `now` matters
    /// only without catchup.
    pub fn next_dagrun_info(
        &self,
        last: Option<DataInterval>,
        restriction: &TimeRestriction,
        now: Timestamp,
    ) -> Option<DagRunInfo> {
        match &self.schedule {
            Schedule::Manual => None,
            Schedule::Once => {
                // "@once" runs at start_date, catchup or not.
                if last.is_some() {
                    return None;
                }
                let at = restriction.earliest?;
                if restriction.latest.is_some_and(|l| at > l) {
                    return None;
                }
                Some(DagRunInfo::exact(at))
            }
            Schedule::Cron { expr, .. } => {
                let earliest = restriction.earliest?;
                let next_start = match last {
                    Some(last) if restriction.catchup => self.get_next(expr, last.start)?,
                    Some(last) => self
                        .get_next(expr, last.start)?
                        .max(self.skip_to_latest(expr, earliest, now)?),
                    None if restriction.catchup => self.align_to_next(expr, earliest)?,
                    None => self.skip_to_latest(expr, earliest, now)?,
                };
                if restriction.latest.is_some_and(|l| next_start > l) {
                    return None;
                }
                Some(DagRunInfo::interval(next_start, self.get_next(expr, next_start)?))
            }
        }
    }

    /// The data interval of a run triggered by hand at `run_after`: the last
    /// complete interval before it (cron), or the instant itself.
    pub fn infer_manual_data_interval(&self, run_after: Timestamp) -> DataInterval {
        match &self.schedule {
            Schedule::Cron { expr, .. } => {
                let end = self.align_to_prev(expr, run_after);
                match end.and_then(|e| self.get_prev(expr, e).map(|s| (s, e))) {
                    Some((start, end)) => DataInterval { start, end },
                    None => DataInterval {
                        start: run_after,
                        end: run_after,
                    },
                }
            }
            _ => DataInterval {
                start: run_after,
                end: run_after,
            },
        }
    }

    /// Every run whose logical date lies in `[earliest, latest]`, in order:
    /// what catchup and backfill create. `earliest`/`latest` should already be
    /// clamped to the DAG's `start_date`/`end_date`.
    pub fn plan(&self, earliest: Timestamp, latest: Timestamp) -> PlanIter<'_> {
        PlanIter {
            timetable: self,
            restriction: TimeRestriction {
                earliest: Some(earliest),
                latest: Some(latest),
                catchup: true,
            },
            last: None,
            done: earliest > latest,
        }
    }

    fn get_next(&self, expr: &CronExpr, current: Timestamp) -> Option<Timestamp> {
        let naive = current.to_zoned_datetime(self.tz.clone()).datetime();
        let scheduled = expr.next_after(naive)?;
        if expr.covers_every_hour() {
            current.checked_add(naive.duration_until(scheduled)).ok()
        } else {
            local_to_instant(scheduled, &self.tz).ok()
        }
    }

    fn get_prev(&self, expr: &CronExpr, current: Timestamp) -> Option<Timestamp> {
        let naive = current.to_zoned_datetime(self.tz.clone()).datetime();
        let scheduled = expr.prev_before(naive)?;
        if expr.covers_every_hour() {
            current.checked_sub(scheduled.duration_until(naive)).ok()
        } else {
            local_to_instant(scheduled, &self.tz).ok()
        }
    }

    /// `current` if it is a schedule point, else the next one.
    fn align_to_next(&self, expr: &CronExpr, current: Timestamp) -> Option<Timestamp> {
        let next = self.get_next(expr, current)?;
        if self.get_prev(expr, next) != Some(current) {
            Some(next)
        } else {
            Some(current)
        }
    }

    /// `current` if it is a schedule point, else the previous one.
    fn align_to_prev(&self, expr: &CronExpr, current: Timestamp) -> Option<Timestamp> {
        let prev = self.get_prev(expr, current)?;
        if self.get_next(expr, prev) != Some(current) {
            Some(prev)
        } else {
            Some(current)
        }
    }

    /// Without catchup: the start of the latest complete interval before
    /// `now`, but not before the first schedule point at or after `earliest`.
    fn skip_to_latest(&self, expr: &CronExpr, earliest: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let last_start = self.get_prev(expr, now)?;
        let next_start = self.get_next(expr, last_start)?;
        let new_start = if next_start == now {
            last_start
        } else {
            self.get_prev(expr, last_start)?
        };
        Some(new_start.max(self.align_to_next(expr, earliest)?))
    }
}

/// The runs of [`Timetable::plan`], one at a time.
pub struct PlanIter<'a> {
    timetable: &'a Timetable,
    restriction: TimeRestriction,
    last: Option<DataInterval>,
    done: bool,
}

impl Iterator for PlanIter<'_> {
    type Item = DagRunInfo;

    fn next(&mut self) -> Option<DagRunInfo> {
        if self.done {
            return None;
        }
        // `now` is irrelevant with catchup on.
        let info = self
            .timetable
            .next_dagrun_info(self.last, &self.restriction, Timestamp::UNIX_EPOCH);
        match info {
            Some(i) => {
                self.last = Some(i.data_interval);
                Some(i)
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}
