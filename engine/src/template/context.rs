//! What a task's templates can see, built per task instance.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use minijinja::value::{Object, ObjectRepr, Serde, Value, from_args};
use minijinja::{Error, ErrorKind, State};

use super::datetime::{DateTimeValue, isoformat};
use crate::connection::Connection;
use crate::schedule::DataInterval;

/// Names every task template may use. `outputs.<task_id>` holds what an
/// upstream task returned.
pub const CONTEXT_NAMES: &[&str] = &[
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
    "logical_date",
    "execution_date",
    "data_interval_start",
    "data_interval_end",
    "dag_id",
    "task_id",
    "run_id",
    "try_number",
    "params",
    "conf",
    "dag_run",
    "var",
    "conn",
    "outputs",
    "macros",
    "ds_add",
    "ds_format",
];

/// Everything needed to render one task instance's templates.
#[derive(Debug, Clone)]
pub struct TemplateContext {
    pub dag_id: String,
    pub task_id: String,
    pub run_id: String,
    pub logical_date: Timestamp,
    pub data_interval: DataInterval,
    pub try_number: u32,
    /// The DAG's params; keys of `conf` override them (Airflow's default).
    pub params: serde_json::Map<String, serde_json::Value>,
    pub conf: serde_json::Map<String, serde_json::Value>,
    /// Outputs of upstream tasks, by task id.
    pub outputs: BTreeMap<String, serde_json::Value>,
    pub variables: Arc<BTreeMap<String, String>>,
    pub connections: Arc<BTreeMap<String, Connection>>,
}

impl TemplateContext {
    /// The root value templates are rendered against.
    pub fn to_value(&self) -> Value {
        let utc = self.logical_date.to_zoned_datetime(jiff::tz::TimeZone::UTC);
        let mut params = self.params.clone();
        for (k, v) in &self.conf {
            params.insert(k.clone(), v.clone());
        }
        let mut m: BTreeMap<&str, Value> = BTreeMap::new();
        // Airflow renders these in UTC, whatever the DAG's time zone.
        m.insert("ds", Value::from(utc.strftime("%Y-%m-%d").to_string()));
        m.insert("ds_nodash", Value::from(utc.strftime("%Y%m%d").to_string()));
        m.insert("ts", Value::from(isoformat(&utc)));
        m.insert("ts_nodash", Value::from(utc.strftime("%Y%m%dT%H%M%S").to_string()));
        m.insert(
            "ts_nodash_with_tz",
            Value::from(utc.strftime("%Y%m%dT%H%M%S%z").to_string()),
        );
        m.insert("logical_date", DateTimeValue::utc(self.logical_date));
        m.insert("execution_date", DateTimeValue::utc(self.logical_date));
        m.insert("data_interval_start", DateTimeValue::utc(self.data_interval.start));
        m.insert("data_interval_end", DateTimeValue::utc(self.data_interval.end));
        m.insert("dag_id", Value::from(self.dag_id.clone()));
        m.insert("task_id", Value::from(self.task_id.clone()));
        m.insert("run_id", Value::from(self.run_id.clone()));
        m.insert("try_number", Value::from(self.try_number));
        m.insert("params", Value::from(Serde(&params)));
        m.insert("conf", Value::from(Serde(&self.conf)));
        let mut dag_run: BTreeMap<&str, Value> = BTreeMap::new();
        dag_run.insert("run_id", Value::from(self.run_id.clone()));
        dag_run.insert("conf", Value::from(Serde(&self.conf)));
        dag_run.insert("logical_date", DateTimeValue::utc(self.logical_date));
        m.insert("dag_run", Value::from(dag_run));
        m.insert("outputs", Value::from(Serde(&self.outputs)));
        let mut var: BTreeMap<&str, Value> = BTreeMap::new();
        var.insert(
            "value",
            Value::from_object(Variables {
                vars: self.variables.clone(),
                json: false,
            }),
        );
        var.insert(
            "json",
            Value::from_object(Variables {
                vars: self.variables.clone(),
                json: true,
            }),
        );
        m.insert("var", Value::from(var));
        m.insert("conn", Value::from_object(Connections(self.connections.clone())));
        Value::from(m)
    }
}

/// `var.value.NAME` (text) and `var.json.NAME` (parsed JSON), plus
/// `var.value.get(NAME, default)`.
#[derive(Debug)]
struct Variables {
    vars: Arc<BTreeMap<String, String>>,
    json: bool,
}

impl Variables {
    fn lookup(&self, name: &str) -> Option<Result<Value, Error>> {
        let raw = self.vars.get(name)?;
        if !self.json {
            return Some(Ok(Value::from(raw.clone())));
        }
        Some(
            serde_json::from_str::<serde_json::Value>(raw)
                .map(|v| Value::from(Serde(&v)))
                .map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("variable `{name}` is not valid JSON: {e}"),
                    )
                }),
        )
    }
}

impl Object for Variables {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        // A JSON error surfaces as undefined here; `get()` reports it in full.
        self.lookup(key.as_str()?)?.ok()
    }

    fn call_method(self: &Arc<Self>, _state: &mut State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        if method != "get" {
            return Err(Error::from(ErrorKind::UnknownMethod));
        }
        let (name, default): (&str, Option<Value>) = from_args(args)?;
        match self.lookup(name) {
            Some(v) => v,
            None => {
                default.ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("variable `{name}` is not set")))
            }
        }
    }
}

/// `conn.ID.host`, `.login`, `.password`, `.port`, `.schema`, `.conn_type`,
/// `.extra` / `.extra_dejson` (parsed).
#[derive(Debug)]
struct Connections(Arc<BTreeMap<String, Connection>>);

impl Object for Connections {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let id = key.as_str()?;
        // Ids from the environment are upper-case with `_` for `-`.
        let c = self.0.get(id).or_else(|| {
            let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
            self.0.iter().find(|(k, _)| norm(k) == norm(id)).map(|(_, c)| c)
        })?;
        let mut m: BTreeMap<&str, Value> = BTreeMap::new();
        m.insert("conn_type", Value::from(c.conn_type.clone()));
        m.insert("host", Value::from(c.host.clone()));
        m.insert("login", Value::from(c.login.clone()));
        m.insert("password", Value::from(c.password.clone()));
        m.insert("port", Value::from(c.port));
        m.insert("schema", Value::from(c.schema.clone()));
        let extra = Value::from(Serde(c.extra_json()));
        m.insert("extra", extra.clone());
        m.insert("extra_dejson", extra);
        Some(Value::from(m))
    }
}
