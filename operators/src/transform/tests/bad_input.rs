//! Bad input: each a clear error naming where, and nothing at the destination.

use super::*;

#[tokio::test]
async fn a_missing_column_is_named_with_the_columns_there_are() {
    let (ran, _) = small("  - upper: Code\n").await;
    assert_eq!(
        err(&ran),
        "`steps[0]` (upper): no column `Code` (did you mean `code`?); the columns are `id`, `name`, `qty`, `price`, `when`, `code`"
    );
    let (ran, _) = small_with("  - upper: code\n", "read:\n  types: {Qty: int64}\n").await;
    assert!(
        err(&ran).starts_with("`read.types`: no column `Qty` (did you mean `qty`?)"),
        "{}",
        err(&ran)
    );
    // A UTF-8 file read as cp1252: its first name keeps the byte order mark.
    let dir = Dir::new();
    let from = dir.file("bom.csv", "\u{feff}InvoiceNo,b\n1,2\n".as_bytes());
    let ran = run(&format!(
        "from: {}\nto: {}\nread:\n  encoding: cp1252\nsteps:\n  - upper: InvoiceNo\n",
        from.display(),
        dir.path("o.parquet").display()
    ))
    .await;
    assert!(
        err(&ran).contains("is it UTF-8? set `read.encoding: utf-8`"),
        "{}",
        err(&ran)
    );
    // A column dropped by an earlier step is gone for the later ones.
    let (ran, _) = small("  - drop: [when]\n  - parse_timestamp: {column: when, format: \"%Y\"}\n").await;
    assert!(
        err(&ran).starts_with("`steps[1]` (parse_timestamp): no column `when`;"),
        "{}",
        err(&ran)
    );
}

const DATES: &str = "InvoiceNo,InvoiceDate\n536365,12/1/2010 8:26\n\"5363\n66\",12/1/2010 8:28\n\n536367,13/1/2011 8:26\n536368,2/1/2011 9:00\n";

#[tokio::test]
async fn an_unparsable_date_names_file_row_line_column_and_value_and_nothing_is_written() {
    let dir = Dir::new();
    let from = dir.file("dates.csv", DATES.as_bytes());
    let to = dir.path("out.parquet");
    // A file already there stays as it was.
    std::fs::write(&to, b"the previous output").unwrap();
    let ran = run(&format!(
        "from: {}\nto: {}\nsteps:\n  - parse_timestamp: {{column: InvoiceDate, format: \"%m/%d/%Y %H:%M\"}}\n",
        from.display(),
        to.display()
    ))
    .await;
    // Row 3 starts on line 6: after a quoted line break and a blank line.
    assert_eq!(
        err(&ran),
        format!(
            "`steps[0]` (parse_timestamp): {}, row 3 (line 6), column `InvoiceDate`: \"13/1/2011 8:26\": does not match `%m/%d/%Y %H:%M`: month 13 is not 1-12; add `on_error: null` to make such values null",
            from.display()
        )
    );
    assert_eq!(std::fs::read(&to).unwrap(), b"the previous output");
    assert_eq!(dir.others(&["dates.csv", "out.parquet"]), Vec::<String>::new());
}

#[tokio::test]
async fn on_error_null_makes_bad_values_null_and_says_how_many() {
    let dir = Dir::new();
    let from = dir.file("dates.csv", DATES.as_bytes());
    let to = dir.path("out.parquet");
    for on_error in ["null", "\"null\""] {
        let ran = run(&format!(
            "from: {}\nto: {}\nsteps:\n  - parse_timestamp: {{column: InvoiceDate, format: \"%m/%d/%Y %H:%M\", on_error: {on_error}}}\n",
            from.display(),
            to.display()
        ))
        .await;
        assert_eq!(ran.result.unwrap()["rows"], 4);
        let rb = read_parquet(&to);
        assert_eq!(
            prims::<TimestampMicrosecondType>(&rb, "InvoiceDate"),
            [
                Some(us(2010, 12, 1, 8, 26)),
                Some(us(2010, 12, 1, 8, 28)),
                None,
                Some(us(2011, 2, 1, 9, 0))
            ]
        );
        assert_eq!(strings(&rb, "InvoiceNo")[1].as_deref(), Some("5363\n66"));
        assert!(
            ran.log.iter().any(|l| l
                == "`steps[0]` (parse_timestamp): 1 value(s) of `InvoiceDate` could not be read and are now null; the first, row 3 (line 6): \"13/1/2011 8:26\" does not match `%m/%d/%Y %H:%M`: month 13 is not 1-12"),
            "{:?}",
            ran.log
        );
    }
}

async fn csv_error(bytes: &[u8], read: &str) -> String {
    let dir = Dir::new();
    let from = dir.file("in.csv", bytes);
    let to = dir.path("out.parquet");
    let ran = run(&format!("from: {}\nto: {}\n{read}", from.display(), to.display())).await;
    assert_eq!(dir.others(&["in.csv"]), Vec::<String>::new(), "something was left");
    err(&ran).replace(&from.display().to_string(), "in.csv")
}

#[tokio::test]
async fn malformed_csv_is_named_by_row_and_line() {
    assert_eq!(
        csv_error(b"a,b\n1,2\n\n3,4,5\n", "").await,
        "reading: in.csv, row 2 (line 4): has 3 fields; the header has 2 (a, b)"
    );
    assert_eq!(
        csv_error(b"a,b\n1,\"2\n3,4\n", "").await,
        "reading: in.csv, row 1 (line 2): a quoted field is not closed before the end of the file"
    );
    assert_eq!(
        csv_error(b"a,b\n1,caf\xC3\xA9\n2,caf\xE9\n", "").await,
        "reading: in.csv, row 2 (line 3): bytes \"\\xE9\\x0A\" are not UTF-8; if the file is in another encoding, set `read.encoding` (cp1252, latin-1)"
    );
    assert_eq!(
        csv_error(b"", "").await,
        "reading: in.csv: the file is empty (no header line)"
    );
    assert_eq!(
        csv_error(b"a,b\n1,2\n", "read:\n  names: [x, y, z]\n").await,
        "reading: in.csv: `read.names` has 3 names; the header has 2 columns"
    );
}

#[tokio::test]
async fn typed_reads_fail_on_the_row_and_missing_input_is_fatal() {
    assert_eq!(
        csv_error(b"q\n1\n17850.0\nx1\n", "read:\n  types: {q: int64}\n").await,
        "reading: in.csv, row 3 (line 4), column `q`: \"x1\": is not an integer"
    );
    let dir = Dir::new();
    let ran = run(&format!(
        "from: {}\nto: {}\n",
        dir.path("nope.csv").display(),
        dir.path("o.parquet").display()
    ))
    .await;
    assert!(
        err(&ran).contains("nope.csv: No such file or directory"),
        "{}",
        err(&ran)
    );
}

#[tokio::test]
async fn a_cancelled_run_writes_nothing() {
    let dir = Dir::new();
    let from = dir.file("dates.csv", DATES.as_bytes());
    let ctx = TaskContext::detached("transform");
    ctx.cancel.cancel();
    let cfg = config(&format!(
        "from: {}\nto: {}\n",
        from.display(),
        dir.path("o.parquet").display()
    ));
    let r = TransformOperator.execute(cfg, ctx).await;
    assert_eq!(r, Err(TaskError::Cancelled));
    assert_eq!(dir.others(&["dates.csv"]), Vec::<String>::new());
}
