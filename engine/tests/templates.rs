//! Template rendering: Airflow's context names, macros, variables,
//! connections, upstream outputs, and errors that name what is undefined.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use updraft_engine::connection::Connection;
use updraft_engine::schedule::DataInterval;
use updraft_engine::template::{TemplateContext, check, render, render_node};
use updraft_engine::yaml::parse_document;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn ctx() -> TemplateContext {
    let mut vars = BTreeMap::new();
    vars.insert("region".to_string(), "asia-southeast1".to_string());
    vars.insert(
        "gcs".to_string(),
        r#"{"landing": "land-bucket", "staging": "stage-bucket"}"#.to_string(),
    );
    let mut conns = BTreeMap::new();
    conns.insert(
        "postgres-source".to_string(),
        Connection {
            conn_type: Some("postgres".into()),
            host: Some("db.internal".into()),
            login: Some("etl".into()),
            password: Some("s3cret".into()),
            port: Some(5432),
            schema: Some("sales".into()),
            extra: Some(serde_json::Value::String(r#"{"sslmode": "require"}"#.into())),
        },
    );
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "extract".to_string(),
        serde_json::json!({"exit_code": 0, "last_line": "rows=42"}),
    );
    let mut params = serde_json::Map::new();
    params.insert("bucket".into(), "landing".into());
    params.insert("days".into(), 7.into());
    TemplateContext {
        dag_id: "etl".into(),
        task_id: "load".into(),
        run_id: "scheduled__2024-10-31T19:00:00+00:00".into(),
        // 2024-11-01 02:00 in Asia/Bangkok.
        logical_date: ts("2024-10-31T19:00:00Z"),
        data_interval: DataInterval {
            start: ts("2024-10-31T19:00:00Z"),
            end: ts("2024-11-01T19:00:00Z"),
        },
        try_number: 2,
        params,
        conf: serde_json::Map::new(),
        outputs,
        variables: Arc::new(vars),
        connections: Arc::new(conns),
    }
}

fn r(src: &str) -> String {
    render(src, &ctx().to_value()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn err(src: &str) -> String {
    render(src, &ctx().to_value()).unwrap_err().message
}

#[test]
fn dates_are_airflows_utc_strings() {
    // Airflow renders ds and ts from the UTC logical date, whatever the DAG's zone.
    assert_eq!(r("{{ ds }}"), "2024-10-31");
    assert_eq!(r("{{ ds_nodash }}"), "20241031");
    assert_eq!(r("{{ ts }}"), "2024-10-31T19:00:00+00:00");
    assert_eq!(r("{{ ts_nodash }}"), "20241031T190000");
    assert_eq!(r("{{ ts_nodash_with_tz }}"), "20241031T190000+0000");
    assert_eq!(r("{{ logical_date }}"), "2024-10-31T19:00:00+00:00");
    assert_eq!(
        r("{{ data_interval_start }}/{{ data_interval_end }}"),
        "2024-10-31T19:00:00+00:00/2024-11-01T19:00:00+00:00"
    );
}

#[test]
fn datetimes_have_pendulum_like_methods() {
    assert_eq!(r("{{ logical_date.strftime('%Y/%m/%d %H') }}"), "2024/10/31 19");
    assert_eq!(r("{{ logical_date.year }}-{{ logical_date.month }}"), "2024-10");
    assert_eq!(
        r("{{ logical_date.in_timezone('Asia/Bangkok').strftime('%Y-%m-%d %H:%M') }}"),
        "2024-11-01 02:00"
    );
    assert_eq!(r("{{ data_interval_end.isoformat() }}"), "2024-11-01T19:00:00+00:00");
}

#[test]
fn ids_params_and_conf() {
    assert_eq!(r("{{ dag_id }}.{{ task_id }} try {{ try_number }}"), "etl.load try 2");
    assert_eq!(r("{{ run_id }}"), "scheduled__2024-10-31T19:00:00+00:00");
    assert_eq!(r("gs://{{ params.bucket }}/{{ params.days * 2 }}"), "gs://landing/14");
    let mut c = ctx();
    c.conf.insert("bucket".into(), "override".into());
    assert_eq!(
        render("{{ params.bucket }} {{ dag_run.conf.bucket }}", &c.to_value()).unwrap(),
        "override override"
    );
}

#[test]
fn macros() {
    assert_eq!(r("{{ ds_add(ds, 5) }}"), "2024-11-05");
    assert_eq!(r("{{ ds_add('2024-03-01', -1) }}"), "2024-02-29");
    assert_eq!(r("{{ macros.ds_add(ds, -params.days) }}"), "2024-10-24");
    assert_eq!(r("{{ ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}"), "31/10/2024");
    assert_eq!(r("{{ macros.ds_format('20241031', '%Y%m%d', '%b %d') }}"), "Oct 31");
    assert!(err("{{ ds_add('31/10/2024', 1) }}").contains("not a YYYY-MM-DD date"));
}

#[test]
fn variables_connections_and_outputs() {
    assert_eq!(r("{{ var.value.region }}"), "asia-southeast1");
    assert_eq!(r("gs://{{ var.json.gcs.landing }}/input"), "gs://land-bucket/input");
    assert_eq!(r("{{ var.value.get('missing', 'fallback') }}"), "fallback");
    assert_eq!(
        r("{{ conn['postgres-source'].host }}:{{ conn['postgres-source'].port }}"),
        "db.internal:5432"
    );
    assert_eq!(r("{{ conn['postgres-source'].extra_dejson.sslmode }}"), "require");
    assert_eq!(r("{{ outputs.extract.last_line }}"), "rows=42");
}

#[test]
fn undefined_names_fail_and_are_named() {
    assert_eq!(
        err("echo {{ nope }}"),
        "undefined template variable `nope` in \"echo {{ nope }}\""
    );
    assert!(err("{{ params.missing }}").starts_with("undefined template variable `params.missing`"));
    assert!(err("{{ var.value.not_set }}").starts_with("undefined template variable `var.value.not_set`"));
    assert!(err("{{ outputs.other.last_line }}").starts_with("undefined template variable `outputs.other`"));
    let e = err("{{ var.value.get('not_set') }}");
    assert!(e.contains("variable `not_set` is not set"), "{e}");
    // Tests and defaults still work for what may be missing.
    assert_eq!(r("{{ params.missing | default('d') }}"), "d");
    assert_eq!(r("{% if params.missing is defined %}x{% else %}y{% endif %}"), "y");
}

#[test]
fn text_is_kept_exactly() {
    assert_eq!(r("no template here {"), "no template here {");
    assert_eq!(r("line {{ ds }}\n"), "line 2024-10-31\n");
    assert_eq!(r("{% for i in range(2) %}{{ i }}{% endfor %}"), "01");
}

#[test]
fn check_reports_syntax_errors_and_read_variables() {
    assert!(
        check("{{ ds ")
            .unwrap_err()
            .message
            .starts_with("template syntax error")
    );
    assert!(check("{% if %}").is_err());
    let vars = check("{% set x = 1 %}{{ x }} {{ params.bucket }} {{ outputs.a.last_line }}").unwrap();
    assert_eq!(vars, vec!["outputs.a.last_line", "params.bucket"]);
}

#[test]
fn render_node_renders_every_string_of_a_config() {
    let node = parse_document("command: ['--date', '{{ ds }}', 3]\nenv: {B: 'gs://{{ params.bucket }}'}\n").unwrap();
    let out = render_node(&node, &ctx().to_value()).unwrap();
    assert_eq!(
        out.to_json(),
        serde_json::json!({"command": ["--date", "2024-10-31", 3], "env": {"B": "gs://landing"}})
    );
}

/// Renders `command` with `name` in the run's conf and runs it with bash in
/// a fresh folder: what it printed, and whether an injected command left
/// its file behind.
fn run_with_conf(command: &str, name: &str) -> (String, bool) {
    let mut c = ctx();
    c.conf.insert("name".into(), name.into());
    let script = render(command, &c.to_value()).unwrap();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("updraft-quote-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .output()
        .unwrap();
    let pwned = dir.join("pwned").exists();
    std::fs::remove_dir_all(&dir).unwrap();
    (String::from_utf8(out.stdout).unwrap(), pwned)
}

#[test]
fn shell_quote_keeps_a_conf_value_one_word_that_runs_nothing() {
    // The finding: `echo {{ conf.name }}` ran what the value held.
    let (_, pwned) = run_with_conf("echo {{ conf.name }}", "x; id > pwned");
    assert!(pwned, "the unquoted form is the injection this filter exists for");
    for hostile in [
        "x; id > pwned",
        "$(id > pwned)",
        "`id > pwned`",
        "it's'; id > pwned; echo '",
        "a\nid > pwned",
        "\"; id > pwned; \"",
        "",
    ] {
        let (out, pwned) = run_with_conf("printf '%s|' {{ conf.name | shell_quote }}", hostile);
        assert!(!pwned, "{hostile:?} ran a command");
        assert_eq!(out, format!("{hostile}|"), "{hostile:?} did not arrive as one word");
    }
    assert_eq!(r("{{ params.days | shell_quote }}"), "'7'");
    assert_eq!(r("{{ ['a b', \"c'd\"] | shell_quote }}"), r"'a b' 'c'\''d'");
    assert!(err("{{ conn | shell_quote }}").contains("shell_quote takes text"));
}

#[test]
fn tojson_writes_json_and_composes_with_shell_quote() {
    assert_eq!(r("{{ params | tojson }}"), r#"{"bucket":"landing","days":7}"#);
    assert_eq!(r("{{ 'a\"b' | tojson }}"), r#""a\"b""#);
    assert_eq!(r("{{ [1] | tojson(indent=2) }}"), "[\n  1\n]");
    let (out, pwned) = run_with_conf(
        "printf '%s' {{ dag_run.conf | tojson | shell_quote }}",
        "$(id > pwned)'",
    );
    assert!(!pwned);
    assert_eq!(out, r#"{"name":"$(id > pwned)'"}"#);
}
