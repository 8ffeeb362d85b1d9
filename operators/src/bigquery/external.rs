//! `operator: bigquery_external_table`: a table over files on GCS (read
//! where they are, on every query), created or its definition replaced.
//! Output `{table, type}`.

use serde::Deserialize;
use serde_json::{Value, json};
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

use super::files::Files;
use super::schema::CsvOptions;
use super::{Common, TableRef};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalConfig {
    #[serde(flatten)]
    pub files: Files,
    #[serde(flatten)]
    pub csv: CsvOptions,
    pub table: String,
    /// Hive-style partition folders (`.../dt=2024-11-01/...`).
    #[serde(default)]
    pub hive_partitioning: Option<Hive>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hive {
    /// AUTO (types inferred), STRINGS or CUSTOM.
    #[serde(default = "auto")]
    pub mode: String,
    /// The URI prefix before the partition folders (`gs://b/table/`).
    pub source_uri_prefix: String,
    #[serde(default)]
    pub require_partition_filter: bool,
}

fn auto() -> String {
    "AUTO".into()
}

impl ExternalConfig {
    pub fn definition(&self, table: &TableRef) -> Result<Value, String> {
        let mut ext = json!({});
        let format = self.files.describe(&mut ext)?;
        if format == "CSV" && !self.csv.is_empty() {
            let mut csv = json!({});
            self.csv.apply(&mut csv);
            ext["csvOptions"] = csv;
        }
        if let Some(h) = &self.hive_partitioning {
            ext["hivePartitioningOptions"] = json!({
                "mode": h.mode.to_ascii_uppercase(),
                "sourceUriPrefix": h.source_uri_prefix,
                "requirePartitionFilter": h.require_partition_filter,
            });
        }
        let mut t = json!({"tableReference": table.json(), "externalDataConfiguration": ext});
        if let Some(d) = &self.description {
            t["description"] = json!(d);
        }
        Ok(t)
    }
}

pub struct BigQueryExternalTable;

impl Operator for BigQueryExternalTable {
    const NAME: &'static str = "bigquery_external_table";
    type Config = ExternalConfig;

    fn validate(c: &ExternalConfig) -> Vec<String> {
        let mut p = c.files.validate();
        if let Some(h) = &c.hive_partitioning {
            if !["AUTO", "STRINGS", "CUSTOM"].contains(&h.mode.to_ascii_uppercase().as_str()) {
                p.push(format!(
                    "`hive_partitioning.mode` {:?} is not AUTO, STRINGS or CUSTOM",
                    h.mode
                ));
            }
            if !h.source_uri_prefix.starts_with("gs://") && !updraft_operator_api::is_template(&h.source_uri_prefix) {
                p.push("`hive_partitioning.source_uri_prefix` is a gs:// prefix".into());
            }
        }
        p.extend(super::check_table(&c.table));
        p
    }

    async fn execute(&self, c: ExternalConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        let (bq, table, _) = super::target(&c.common, &c.table, &ctx)?;
        let definition = c.definition(&table).map_err(TaskError::Fatal)?;
        ctx.log.info(&format!(
            "external table {table} over {}",
            c.files.from.items().join(", ")
        ));
        let made = tokio::select! {
            r = bq.put_table(&table, &definition) => r?,
            () = ctx.cancel.cancelled() => return Err(TaskError::Cancelled),
        };
        let kind = made
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("EXTERNAL")
            .to_string();
        Ok(json!({"table": table.to_string(), "type": kind}))
    }
}
