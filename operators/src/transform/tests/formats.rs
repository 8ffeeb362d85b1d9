//! Reading CSV (quoting, line ends, encodings, block boundaries), CSV output, Parquet input and row groups.

use super::*;

/// Parses `bytes` through the CSV source with `block`-byte reads; the
/// rows as text, and the line each starts on.
/// Column names; per row, its line and values.
type Parsed = (Vec<String>, Vec<(u64, Vec<Option<String>>)>);

fn parse_csv(bytes: &[u8], encoding: crate::transform::config::Encoding, block: usize) -> Parsed {
    let opts = crate::transform::csv_read::CsvOptions {
        encoding,
        delimiter: b',',
        header: true,
        names: None,
        null_values: None,
        block,
    };
    let input = Box::new(std::io::Cursor::new(bytes.to_vec()));
    let source =
        crate::transform::source::Source::csv(input, opts, tokio_util::sync::CancellationToken::new()).unwrap();
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for msg in source.rx.iter() {
        let b = match msg.unwrap() {
            crate::transform::source::Out::Schema(s) => {
                names = s.names;
                continue;
            }
            crate::transform::source::Out::Batch(b) => b,
            crate::transform::source::Out::End => break,
        };
        for i in 0..b.len {
            let line = source.lines.as_ref().unwrap().lock().unwrap().line(b.row(i)).unwrap();
            let vals = b
                .cols
                .iter()
                .map(|c| {
                    let s = c.as_any().downcast_ref::<StringArray>().unwrap();
                    s.is_valid(i).then(|| s.value(i).to_string())
                })
                .collect();
            rows.push((line, vals));
        }
    }
    source.close().unwrap();
    (names, rows)
}

#[test]
fn csv_quoting_line_ends_and_encodings_at_every_block_size() {
    let text = "\u{feff}\"a\",\"b c\",d\r\n1,\"x,y\",z\r\n\r\n2,\"multi\nline \"\"q\"\"\",w\n3,\"tail\"after,v\n\n4,,\"\" \n5,é’£€,end";
    let o = |s: &str| Some(s.to_string());
    let want = vec![
        (2, vec![o("1"), o("x,y"), o("z")]),
        (4, vec![o("2"), o("multi\nline \"q\""), o("w")]),
        (6, vec![o("3"), o("tailafter"), o("v")]),
        (8, vec![o("4"), None, o(" ")]),
        (9, vec![o("5"), o("é’£€"), o("end")]),
    ];
    let utf8 = text.as_bytes().to_vec();
    let (cp1252, _, bad) = encoding_rs::WINDOWS_1252.encode(&text[3..]);
    assert!(!bad);
    let latin1: Vec<u8> = "a,\"b c\",d\n1,x,é\n".chars().map(|c| c as u32 as u8).collect();
    use crate::transform::config::Encoding;
    for block in [1, 2, 3, 5, 7, 16, 1 << 20] {
        let (names, rows) = parse_csv(&utf8, Encoding::Utf8, block);
        assert_eq!(names, ["a", "b c", "d"], "utf-8, block {block}");
        assert_eq!(rows, want, "utf-8, block {block}");
        let (names, rows) = parse_csv(&cp1252, Encoding::Cp1252, block);
        assert_eq!(names, ["a", "b c", "d"], "cp1252, block {block}");
        assert_eq!(rows, want, "cp1252, block {block}");
        let (_, rows) = parse_csv(&latin1, Encoding::Latin1, block);
        assert_eq!(rows, vec![(2, vec![o("1"), o("x"), o("é")])], "latin-1, block {block}");
    }
}

#[tokio::test]
async fn headers_names_delimiters_and_null_values() {
    let dir = Dir::new();
    let from = dir.file("t.tsv", b"x\t\tx\n1\tNA\t\n");
    let to = dir.path("o.csv");
    let ran = run(&format!(
        "from: {}\nto: {}\nread:\n  null_values: [NA]\nwrite:\n  delimiter: \";\"\n",
        from.display(),
        to.display()
    ))
    .await;
    assert_eq!(ran.result.unwrap()["columns"], json!(["x", "Unnamed: 1", "x.1"]));
    // Null and empty text both become an empty field, as pandas writes them.
    assert_eq!(std::fs::read_to_string(&to).unwrap(), "x;Unnamed: 1;x.1\n1;;\n");
    let from = dir.file("n.csv", b"1,2\n3,4\n");
    let ran = run(&format!(
        "from: {}\nto: {}\nread:\n  header: false\n  names: [a, b]\nwrite:\n  header: false\n",
        from.display(),
        to.display()
    ))
    .await;
    assert_eq!(
        ran.result.unwrap(),
        json!({"rows": 2, "columns": ["a", "b"], "location": to.to_string_lossy()})
    );
    assert_eq!(std::fs::read_to_string(&to).unwrap(), "1,2\n3,4\n");
}

#[tokio::test]
async fn csv_output_writes_types_as_text() {
    let dir = Dir::new();
    let from = dir.file("small.csv", SMALL.as_bytes());
    let to = dir.path("out.csv");
    let ran = run(&format!(
        "from: {}\nto: {}\nread:\n  types: {{qty: int64, price: float64}}\nsteps:\n  - parse_timestamp: {{column: when, format: \"%m/%d/%Y %H:%M\"}}\n  - derive: {{column: spend, expr: qty * price}}\n  - drop: [id, code]\n",
        from.display(),
        to.display()
    ))
    .await;
    ran.result.unwrap();
    assert_eq!(
        std::fs::read_to_string(&to).unwrap(),
        "name,qty,price,when,spend\n\
         Crème brûlée,3,2.55,2010-12-01 08:26:00,7.6499999999999995\n\
         ,1,0.5,2010-12-01 08:28:00,0.5\n\
         \"Tea, \"\"green\"\"\",-2,1.25,2011-01-13 14:05:00,-2.5\n  spaced  ,,3.0,2011-01-13 14:05:00,\n"
    );
}

#[tokio::test]
async fn an_empty_table_still_has_its_columns() {
    let dir = Dir::new();
    let from = dir.file("h.csv", b"a,b\n");
    let to = dir.path("o.parquet");
    let ran = run(&format!(
        "from: {}\nto: {}\nread:\n  types: {{b: float64}}\n",
        from.display(),
        to.display()
    ))
    .await;
    assert_eq!(ran.result.unwrap()["rows"], 0);
    let rb = read_parquet(&to);
    assert_eq!(rb.num_rows(), 0);
    assert_eq!(rb.schema().field(1).data_type(), &DataType::Float64);
}

fn pandas_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seed-data/output/data/2024-11-08/df_cluster_rfm.parquet")
}

#[tokio::test]
async fn a_parquet_file_pandas_wrote_is_read_without_its_index_column() {
    let src = pandas_file();
    let original = read_parquet(&src);
    assert!(original.schema().field_with_name("__index_level_0__").is_ok());
    let dir = Dir::new();
    let to = dir.path("copy.parquet");
    let ran = run(&format!("from: {}\nto: {}\n", src.display(), to.display())).await;
    let out = ran.result.unwrap();
    assert_eq!(out["rows"], 4372);
    let copy = read_parquet(&to);
    let kept: Vec<&str> = original
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| *n != "__index_level_0__")
        .collect();
    assert_eq!(out["columns"], json!(kept));
    for name in &kept {
        let a = original.column_by_name(name).unwrap();
        let b = copy.column_by_name(name).unwrap();
        let a = arrow_cast::cast(a, b.data_type()).unwrap();
        assert_eq!(&a.to_data(), &b.to_data(), "{name}");
    }
    // Steps on it, CSV out.
    let numeric = kept
        .iter()
        .find(|n| original.column_by_name(n).unwrap().data_type() == &DataType::Float64)
        .expect("a float column");
    let to = dir.path("some.csv");
    let ran = run(&format!(
        "from: {}\nto: {}\nsteps:\n  - filter: \"`{numeric}` > 0\"\n  - select: [`{numeric}`]\n",
        src.display(),
        to.display()
    )
    .replace("[`", "[\"")
    .replace("`]", "\"]"))
    .await;
    let f = original
        .column_by_name(numeric)
        .unwrap()
        .as_any()
        .downcast_ref::<PrimitiveArray<Float64Type>>()
        .unwrap()
        .clone();
    let positive = f.iter().filter(|v| v.is_some_and(|x| x > 0.0)).count();
    assert_eq!(ran.result.unwrap()["rows"], positive);
    assert_eq!(std::fs::read_to_string(&to).unwrap().lines().count(), positive + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_outputs_are_cut_into_row_groups() {
    let dir = Dir::new();
    let n = (1 << 20) + 1000;
    let mut csv = String::from("n\n");
    for i in 0..n {
        csv.push_str(&format!("{i}\n"));
    }
    let from = dir.file("n.csv", csv.as_bytes());
    let to = dir.path("n.parquet");
    let ran = run(&format!(
        "from: {}\nto: {}\nread:\n  types: {{n: int64}}\nwrite:\n  compression: snappy\n",
        from.display(),
        to.display()
    ))
    .await;
    assert_eq!(ran.result.unwrap()["rows"], n);
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&to).unwrap()).unwrap();
    let groups: Vec<i64> = b.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(groups, [1 << 20, 1000]);
    assert!(matches!(
        b.metadata().row_group(0).column(0).compression(),
        Codec::SNAPPY
    ));
    let rb = read_parquet(&to);
    let v = prims::<Int64Type>(&rb, "n");
    assert!(v.iter().enumerate().all(|(i, x)| *x == Some(i as i64)));
}
