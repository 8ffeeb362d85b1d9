//! Schedules and data intervals, with Airflow 2's cron timetable semantics.

mod cron;
mod timetable;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};

pub use cron::CronExpr;
pub use timetable::{DagRunInfo, DataInterval, PlanIter, TimeRestriction, Timetable};

use crate::suggest::did_you_mean;

/// Airflow 2's presets and their cron equivalents (`@annually` and
/// `@midnight` are croniter's aliases, which Airflow also accepts).
pub const PRESETS: &[(&str, &str)] = &[
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@quarterly", "0 0 1 */3 *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@midnight", "0 0 * * *"),
];

/// When a DAG runs by itself.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// No schedule: runs only when triggered.
    Manual,
    /// `@once`: a single run at `start_date`.
    Once,
    /// A cron expression or preset; `text` is what the user wrote.
    Cron { text: String, expr: Arc<CronExpr> },
}

impl Schedule {
    /// Parses what a user writes after `schedule:` (`None` for null/omitted).
    pub fn parse(text: Option<&str>) -> Result<Schedule, String> {
        let Some(raw) = text else {
            return Ok(Schedule::Manual);
        };
        let text = raw.trim();
        if text == "@once" {
            return Ok(Schedule::Once);
        }
        if text.starts_with('@') {
            let Some((_, cron)) = PRESETS.iter().find(|(p, _)| *p == text) else {
                let names: Vec<&str> = PRESETS.iter().map(|(p, _)| *p).chain(["@once"]).collect();
                return Err(format!(
                    "unknown schedule preset `{text}`{}; presets: {}",
                    did_you_mean(text, names.iter().copied()),
                    names.join(", ")
                ));
            };
            return Ok(Schedule::Cron {
                text: text.to_string(),
                expr: cached(cron)?,
            });
        }
        Ok(Schedule::Cron {
            text: text.to_string(),
            expr: cached(text)?,
        })
    }

    pub fn is_manual(&self) -> bool {
        matches!(self, Schedule::Manual)
    }
}

/// Parsed expressions by text: a folder of DAGs repeats a few schedules
/// many times, and parsing is the costly part of loading one.
fn cached(text: &str) -> Result<Arc<CronExpr>, String> {
    static CACHE: LazyLock<Mutex<HashMap<String, Arc<CronExpr>>>> = LazyLock::new(Default::default);
    if let Some(hit) = CACHE.lock().expect("cache lock").get(text) {
        return Ok(hit.clone());
    }
    let expr = Arc::new(CronExpr::parse(text)?);
    let mut cache = CACHE.lock().expect("cache lock");
    if cache.len() < 4096 {
        cache.insert(text.to_string(), expr.clone());
    }
    Ok(expr)
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Manual => f.write_str("manual"),
            Schedule::Once => f.write_str("@once"),
            Schedule::Cron { text, .. } => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_presets_and_rejects_unknown_ones() {
        assert!(Schedule::parse(None).unwrap().is_manual());
        assert!(matches!(Schedule::parse(Some("@once")).unwrap(), Schedule::Once));
        assert!(matches!(
            Schedule::parse(Some("@daily")).unwrap(),
            Schedule::Cron { .. }
        ));
        let e = Schedule::parse(Some("@dayly")).unwrap_err();
        assert!(e.contains("did you mean `@daily`"), "{e}");
        assert!(Schedule::parse(Some("@continuous")).is_err());
    }
}
