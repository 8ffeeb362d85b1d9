//! Airflow's trigger rules: given the states of a task's direct upstream
//! tasks, does it run now, wait, or end as skipped or upstream_failed?

use crate::dag::TriggerRule;
use crate::store::TaskState;

/// What the scheduler does with a task that has not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Wait,
    Run,
    Skip,
    UpstreamFailed,
}

/// Counts of the upstream tasks' states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upstream {
    pub total: usize,
    pub success: usize,
    pub failed: usize,
    pub upstream_failed: usize,
    pub skipped: usize,
}

impl Upstream {
    pub fn count<'a>(states: impl IntoIterator<Item = &'a TaskState>) -> Self {
        let mut u = Upstream::default();
        for s in states {
            u.total += 1;
            match s {
                TaskState::Success => u.success += 1,
                TaskState::Failed => u.failed += 1,
                TaskState::UpstreamFailed => u.upstream_failed += 1,
                TaskState::Skipped => u.skipped += 1,
                _ => {}
            }
        }
        u
    }

    fn done(&self) -> usize {
        self.success + self.failed + self.upstream_failed + self.skipped
    }

    fn all_done(&self) -> bool {
        self.done() == self.total
    }

    fn any_failed(&self) -> bool {
        self.failed + self.upstream_failed > 0
    }
}

/// Airflow 2's rules (`TriggerRuleDep` with `flag_upstream_failed`).
pub fn decide(rule: TriggerRule, up: Upstream) -> Decision {
    use Decision::*;
    if up.total == 0 {
        return Run;
    }
    match rule {
        TriggerRule::Always => Run,
        TriggerRule::AllSuccess => {
            if up.any_failed() {
                UpstreamFailed
            } else if up.skipped > 0 {
                Skip
            } else if up.success == up.total {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::AllFailed => {
            if up.success + up.skipped > 0 {
                Skip
            } else if up.all_done() {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::AllDone => {
            if up.all_done() {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::AllSkipped => {
            if up.success + up.failed + up.upstream_failed > 0 {
                Skip
            } else if up.all_done() {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::OneSuccess => {
            if up.success > 0 {
                Run
            } else if up.all_done() {
                if up.any_failed() { UpstreamFailed } else { Skip }
            } else {
                Wait
            }
        }
        TriggerRule::OneFailed => {
            if up.any_failed() {
                Run
            } else if up.all_done() {
                Skip
            } else {
                Wait
            }
        }
        TriggerRule::OneDone => {
            if up.success + up.failed > 0 {
                Run
            } else if up.all_done() {
                Skip
            } else {
                Wait
            }
        }
        TriggerRule::NoneFailed => {
            if up.any_failed() {
                UpstreamFailed
            } else if up.all_done() {
                Run
            } else {
                Wait
            }
        }
        TriggerRule::NoneFailedMinOneSuccess => {
            if up.any_failed() {
                UpstreamFailed
            } else if up.all_done() {
                if up.success > 0 { Run } else { Skip }
            } else {
                Wait
            }
        }
        TriggerRule::NoneSkipped => {
            if up.skipped > 0 {
                Skip
            } else if up.all_done() {
                Run
            } else {
                Wait
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Decision::*;
    use super::*;
    use TaskState as S;

    fn d(rule: &str, states: &[TaskState]) -> Decision {
        decide(rule.parse().unwrap(), Upstream::count(states))
    }

    #[test]
    fn no_upstream_runs() {
        for rule in ["all_success", "all_failed", "one_success", "none_skipped", "always"] {
            assert_eq!(d(rule, &[]), Run, "{rule}");
        }
    }

    #[test]
    fn all_success() {
        assert_eq!(d("all_success", &[S::Success, S::Success]), Run);
        assert_eq!(d("all_success", &[S::Success, S::Running]), Wait);
        assert_eq!(d("all_success", &[S::Failed, S::Running]), UpstreamFailed);
        assert_eq!(d("all_success", &[S::UpstreamFailed, S::Success]), UpstreamFailed);
        assert_eq!(d("all_success", &[S::Skipped, S::Success]), Skip);
        assert_eq!(d("all_success", &[S::UpForRetry, S::Success]), Wait);
    }

    #[test]
    fn all_failed_and_all_done_and_all_skipped() {
        assert_eq!(d("all_failed", &[S::Failed, S::UpstreamFailed]), Run);
        assert_eq!(d("all_failed", &[S::Failed, S::Success]), Skip);
        assert_eq!(d("all_failed", &[S::Failed, S::Queued]), Wait);
        assert_eq!(d("all_done", &[S::Failed, S::Skipped, S::Success]), Run);
        assert_eq!(d("all_done", &[S::Failed, S::Running]), Wait);
        assert_eq!(d("all_skipped", &[S::Skipped, S::Skipped]), Run);
        assert_eq!(d("all_skipped", &[S::Skipped, S::Success]), Skip);
        assert_eq!(d("all_skipped", &[S::Skipped, S::None]), Wait);
    }

    #[test]
    fn one_rules() {
        assert_eq!(d("one_success", &[S::Success, S::Running]), Run);
        assert_eq!(d("one_success", &[S::Failed, S::Running]), Wait);
        assert_eq!(d("one_success", &[S::Failed, S::Skipped]), UpstreamFailed);
        assert_eq!(d("one_success", &[S::Skipped, S::Skipped]), Skip);
        assert_eq!(d("one_failed", &[S::Failed, S::Running]), Run);
        assert_eq!(d("one_failed", &[S::Success, S::Success]), Skip);
        assert_eq!(d("one_failed", &[S::Success, S::Queued]), Wait);
        assert_eq!(d("one_done", &[S::Failed, S::Running]), Run);
        assert_eq!(d("one_done", &[S::Skipped, S::Skipped]), Skip);
        assert_eq!(d("one_done", &[S::Skipped, S::Running]), Wait);
    }

    #[test]
    fn none_rules_and_always() {
        assert_eq!(d("none_failed", &[S::Success, S::Skipped]), Run);
        assert_eq!(d("none_failed", &[S::Skipped, S::Skipped]), Run);
        assert_eq!(d("none_failed", &[S::Failed, S::Running]), UpstreamFailed);
        assert_eq!(d("none_failed_min_one_success", &[S::Success, S::Skipped]), Run);
        assert_eq!(d("none_failed_min_one_success", &[S::Skipped, S::Skipped]), Skip);
        assert_eq!(
            d("none_failed_min_one_success", &[S::UpstreamFailed, S::Success]),
            UpstreamFailed
        );
        assert_eq!(d("none_skipped", &[S::Success, S::Failed]), Run);
        assert_eq!(d("none_skipped", &[S::Success, S::Skipped]), Skip);
        assert_eq!(d("always", &[S::Running, S::None]), Run);
    }
}
