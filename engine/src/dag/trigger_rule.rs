//! Airflow's trigger rules.

use std::fmt;
use std::str::FromStr;

use crate::suggest::did_you_mean;

/// When a task may run, given its upstream tasks' states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TriggerRule {
    #[default]
    AllSuccess,
    AllFailed,
    AllDone,
    AllSkipped,
    OneSuccess,
    OneFailed,
    OneDone,
    NoneFailed,
    NoneFailedMinOneSuccess,
    NoneSkipped,
    Always,
}

const ALL: &[(TriggerRule, &str)] = &[
    (TriggerRule::AllSuccess, "all_success"),
    (TriggerRule::AllFailed, "all_failed"),
    (TriggerRule::AllDone, "all_done"),
    (TriggerRule::AllSkipped, "all_skipped"),
    (TriggerRule::OneSuccess, "one_success"),
    (TriggerRule::OneFailed, "one_failed"),
    (TriggerRule::OneDone, "one_done"),
    (TriggerRule::NoneFailed, "none_failed"),
    (TriggerRule::NoneFailedMinOneSuccess, "none_failed_min_one_success"),
    (TriggerRule::NoneSkipped, "none_skipped"),
    (TriggerRule::Always, "always"),
];

impl TriggerRule {
    pub fn as_str(self) -> &'static str {
        ALL.iter()
            .find(|(r, _)| *r == self)
            .map(|(_, n)| *n)
            .unwrap_or("all_success")
    }
}

impl fmt::Display for TriggerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TriggerRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        ALL.iter().find(|(_, n)| *n == s).map(|(r, _)| *r).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|(_, n)| *n).collect();
            format!(
                "unknown trigger rule `{s}`{}; expected one of: {}",
                did_you_mean(s, names.iter().copied()),
                names.join(", ")
            )
        })
    }
}
