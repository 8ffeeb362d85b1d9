//! `operator: bigquery_load`: files on GCS into a native table, one load
//! job. Output `{job_id, table, rows, bytes, files}`.

use serde::Deserialize;
use serde_json::{Value, json};
use updraft_operator_api::{Operator, Output, TaskContext, TaskError};

use super::files::{Files, format_of};
use super::schema::CsvOptions;
use super::{Common, TableRef, run_once, stat};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    #[serde(flatten)]
    pub files: Files,
    #[serde(flatten)]
    pub csv: CsvOptions,
    /// `project.dataset.table` (or `dataset.table` with a project).
    pub table: String,
    /// WRITE_EMPTY (the default, as in Airflow), WRITE_TRUNCATE or
    /// WRITE_APPEND.
    #[serde(default)]
    pub write_disposition: Option<String>,
    /// CREATE_IF_NEEDED (the default) or CREATE_NEVER.
    #[serde(default)]
    pub create_disposition: Option<String>,
    #[serde(default)]
    pub max_bad_records: Option<u32>,
    /// `{field, type: DAY|HOUR|MONTH|YEAR, expiration_ms}`; no field:
    /// ingestion time.
    #[serde(default)]
    pub time_partitioning: Option<Partitioning>,
    #[serde(default)]
    pub clustering_fields: Option<Vec<String>>,
    /// Columns the file may add to an existing table, or relax:
    /// `ALLOW_FIELD_ADDITION`, `ALLOW_FIELD_RELAXATION`.
    #[serde(default)]
    pub schema_update_options: Option<Vec<String>>,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partitioning {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(rename = "type", default = "day")]
    pub type_: String,
    #[serde(default)]
    pub expiration_ms: Option<u64>,
}

fn day() -> String {
    "DAY".into()
}

fn one_of(field: &str, v: &Option<String>, allowed: &[&str]) -> Option<String> {
    let v = v.as_deref()?;
    if updraft_operator_api::is_template(v) || allowed.contains(&v.to_ascii_uppercase().as_str()) {
        None
    } else {
        Some(format!("`{field}` {v:?} is not one of {}", allowed.join(", ")))
    }
}

impl LoadConfig {
    pub fn configuration(&self, table: &TableRef) -> Result<Value, String> {
        let mut load = json!({
            "destinationTable": table.json(),
            "writeDisposition": self.write_disposition.as_deref().unwrap_or("WRITE_EMPTY").to_ascii_uppercase(),
            "createDisposition": self.create_disposition.as_deref().unwrap_or("CREATE_IF_NEEDED").to_ascii_uppercase(),
        });
        let format = self.files.describe(&mut load)?;
        if format == "CSV" {
            self.csv.apply(&mut load);
        }
        if let Some(n) = self.max_bad_records {
            load["maxBadRecords"] = json!(n);
        }
        if let Some(p) = &self.time_partitioning {
            let mut tp = json!({"type": p.type_.to_ascii_uppercase()});
            if let Some(f) = &p.field {
                tp["field"] = json!(f);
            }
            if let Some(e) = p.expiration_ms {
                tp["expirationMs"] = json!(e.to_string());
            }
            load["timePartitioning"] = tp;
        }
        if let Some(c) = &self.clustering_fields {
            load["clustering"] = json!({"fields": c});
        }
        if let Some(o) = &self.schema_update_options {
            load["schemaUpdateOptions"] = json!(o);
        }
        Ok(json!({"load": load}))
    }
}

pub struct BigQueryLoad;

impl Operator for BigQueryLoad {
    const NAME: &'static str = "bigquery_load";
    type Config = LoadConfig;

    fn validate(c: &LoadConfig) -> Vec<String> {
        let f = &c.files;
        let mut p = f.validate();
        p.extend(one_of(
            "write_disposition",
            &c.write_disposition,
            &["WRITE_EMPTY", "WRITE_TRUNCATE", "WRITE_APPEND"],
        ));
        p.extend(one_of(
            "create_disposition",
            &c.create_disposition,
            &["CREATE_IF_NEEDED", "CREATE_NEVER"],
        ));
        if f.source_format.is_none()
            && f.from
                .items()
                .first()
                .is_some_and(|u| !updraft_operator_api::is_template(u) && format_of(u).is_none())
        {
            p.push("`source_format` is needed: the file names do not say (PARQUET, CSV, ...)".into());
        }
        if !c.csv.is_empty() && f.format().is_some_and(|f| f != "CSV") {
            p.push("CSV options (`skip_leading_rows`, `delimiter`, ...) are for CSV files".into());
        }
        if f.autodetect == Some(true) && f.schema.is_some() {
            p.push("give `schema` or `autodetect: true`, not both".into());
        }
        p.extend(super::check_table(&c.table));
        p
    }

    async fn execute(&self, c: LoadConfig, ctx: TaskContext) -> Result<Output, TaskError> {
        let (bq, table, project) = super::target(&c.common, &c.table, &ctx)?;
        let configuration = c.configuration(&table).map_err(TaskError::Fatal)?;
        ctx.log.info(&format!(
            "loading {} into {table} ({})",
            c.files.from.items().join(", "),
            configuration["load"]["writeDisposition"].as_str().unwrap_or("")
        ));
        let done = run_once(
            &bq,
            &ctx,
            &project,
            c.common.location.as_deref(),
            "load",
            configuration,
            c.common.timeout(),
        )
        .await?;
        let rows = stat(&done.job, "/statistics/load/outputRows");
        let bytes = stat(&done.job, "/statistics/load/outputBytes");
        let files = stat(&done.job, "/statistics/load/inputFiles");
        ctx.log.info(&format!(
            "loaded {rows} rows ({bytes} bytes) from {files} file(s) into {table}"
        ));
        Ok(json!({
            "job_id": done.job_id,
            "table": table.to_string(),
            "rows": rows,
            "bytes": bytes,
            "files": files,
        }))
    }
}
