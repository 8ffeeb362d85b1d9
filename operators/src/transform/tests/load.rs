//! What is checked when the DAG loads.

use super::*;

#[test]
fn configs_are_checked_when_the_dag_loads() {
    let base = "from: in.csv\nto: out.parquet\n";
    for (extra, says) in [
        ("steps: []\n", "`steps` is empty"),
        ("read:\n  encoding: ebcdic\n", "unknown encoding `ebcdic`"),
        ("read:\n  delimiter: \";;\"\n", "is not one ASCII character"),
        ("steps:\n  - uppercase: a\n", "uppercase"),
        (
            "steps:\n  - derive: {column: t, expr: \"a * (b\"}\n",
            "not an expression: expected `)` at the end",
        ),
        (
            "steps:\n  - parse_timestamp: {column: d, format: \"%Q\"}\n",
            "unknown directive `%Q`",
        ),
        ("steps:\n  - filter: \"a >\"\n", "not a predicate"),
        ("steps:\n  - cast: {column: a, to: varchar}\n", "unknown type `varchar`"),
        (
            "steps:\n  - cast: {column: a, to: int64, on_error: maybe}\n",
            "is not `fail` or `null`",
        ),
        (
            "steps:\n  - most_frequent: {column: a, by: [a, b]}\n",
            "`a` is both the column and a key",
        ),
        ("steps:\n  - select: [a, a]\n", "names `a` twice"),
        ("steps:\n  - upper: {column: a}\n", "column name"),
        ("steps:\n  - fill_null: {column: a, value: 1, extra: 2}\n", "extra"),
        ("write:\n  compression: brotli\n", "brotli"),
        (
            "write:\n  compression: snappy\n  compression_level: 3\n",
            "takes no level",
        ),
        (
            "write:\n  delimiter: \";\"\n",
            "`write.delimiter` applies to CSV output",
        ),
    ] {
        let p = problems(&format!("{base}{extra}"));
        assert!(p.iter().any(|m| m.contains(says)), "{extra}: {p:?}");
    }
    assert!(
        problems("from: in.parquet\nto: out.csv\nread:\n  encoding: cp1252\n")
            .iter()
            .any(|m| m.contains("`read.encoding` applies to CSV input")),
    );
    assert!(
        problems("from: in.json\nto: out.parquet\n")
            .iter()
            .any(|m| m.contains("cannot tell the format"))
    );
    // Templates are checked once rendered.
    assert_eq!(
        problems(concat!(
            "from: \"gs://b/{{ ds }}/in.csv\"\nto: \"{{ params.out }}\"\nwrite:\n  format: parquet\n",
            "steps:\n  - filter: \"InvoiceDate >= '{{ ds }}'\"\n",
            "  - derive: {column: x, expr: \"{{ params.expr }}\"}\n",
            "  - dedupe:\n",
        )),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_engine_runs_it_by_name() {
    let dir = Dir::new();
    let from = dir.file("in.csv", b"a,b\n1,x\n2,y\n");
    let to = dir.path("out.csv");
    let node = parse_document(&format!(
        "from: {}\nto: {}\nsteps:\n  - upper: b\n  - filter: \"b != 'X'\"\n",
        from.display(),
        to.display()
    ))
    .unwrap();
    let out = registry()
        .execute("transform", &node, TaskContext::detached("t"))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"rows": 1, "columns": ["a", "b"], "location": to.to_string_lossy()})
    );
    assert_eq!(std::fs::read_to_string(&to).unwrap(), "a,b\n2,Y\n");
}
