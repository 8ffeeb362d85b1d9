//! `operator: empty`: no fields; succeeds at once. For joins and markers.

use serde::Deserialize;
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyConfig {}

pub struct EmptyOperator;

impl Operator for EmptyOperator {
    const NAME: &'static str = "empty";
    type Config = EmptyConfig;

    async fn execute(&self, _config: EmptyConfig, _ctx: TaskContext) -> Result<Output, TaskError> {
        Ok(Output::Null)
    }
}
