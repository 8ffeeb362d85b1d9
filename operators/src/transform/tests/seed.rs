//! The first user's cleaning on generated invoices, value for value.

use super::*;

/// The `transform_data` task of the example in docs/operators/transform.md,
/// with local paths for `from` and `to`.
fn documented_seed_config(from: &Path, to: &Path) -> TransformConfig {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operators/transform.md")).unwrap();
    let start = doc.find("```yaml\n").expect("a YAML example") + 8;
    let yaml = &doc[start..start + doc[start..].find("```").unwrap()];
    // The whole DAG loads, with the engine's checks (operator fields,
    // templates).
    if let Err(d) = updraft_engine::dag::load_dag(Path::new("transform.md"), yaml, &Registry::with(crate::register_all))
    {
        panic!("the documented DAG does not load: {d:?}");
    }
    let node = parse_document(yaml).unwrap();
    let mut task = node.get("tasks").unwrap().get("transform_data").unwrap().to_json();
    let m = task.as_object_mut().unwrap();
    assert_eq!(m.remove("operator"), Some(json!("transform")));
    assert_eq!(m.remove("gcp_conn_id"), Some(json!("google_cloud_default")));
    m.insert("from".into(), json!(from));
    m.insert("to".into(), json!(to));
    serde_json::from_value(task).unwrap()
}

/// What the cleaning must give for each generated row, computed from the
/// generator's values without the operator's parsers.
struct Expected {
    invoice_no: String,
    stock_code: String,
    description: String,
    quantity: i64,
    invoice_date: i64,
    unit_price: f64,
    customer_id: i64,
    country: String,
    total_spend: f64,
}

fn reference(rows: &[updraft_invoices::Row]) -> Vec<Expected> {
    // Most frequent description per upper-cased code; on a tie, the one
    // seen first.
    let mut counts: HashMap<String, Vec<(String, usize)>> = HashMap::new();
    for r in rows {
        let d = r.description.clone().unwrap_or_else(|| "No Description".into());
        let c = counts.entry(r.stock_code.to_uppercase()).or_default();
        match c.iter_mut().find(|(x, _)| *x == d) {
            Some(e) => e.1 += 1,
            None => c.push((d, 1)),
        }
    }
    let best: HashMap<String, String> = counts
        .into_iter()
        .map(|(code, c)| {
            let top = c.iter().map(|e| e.1).max().unwrap();
            (code, c.into_iter().find(|e| e.1 == top).unwrap().0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let (date, time) = r.invoice_date.split_once(' ').unwrap();
            let d: Vec<i64> = date.split('/').map(|x| x.parse().unwrap()).collect();
            let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
            let quantity: i64 = r.quantity.parse().unwrap();
            let unit_price: f64 = r.unit_price.parse().unwrap();
            Expected {
                invoice_no: r.invoice_no.clone(),
                stock_code: r.stock_code.to_uppercase(),
                description: best[&r.stock_code.to_uppercase()].clone(),
                quantity,
                invoice_date: us(d[2] as i16, d[0] as i8, d[1] as i8, t[0] as i8, t[1] as i8),
                unit_price,
                customer_id: r.customer_id.as_deref().map_or(0, |c| c.parse::<f64>().unwrap() as i64),
                country: r.country.clone(),
                total_spend: quantity as f64 * unit_price,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_cleaning_gives_the_reference_values_for_every_row() {
    let dir = Dir::new();
    let opts = updraft_invoices::Options {
        rows: updraft_invoices::DEFAULT_ROWS,
        ..Default::default()
    };
    let mut csv = Vec::new();
    updraft_invoices::write_csv(&opts, &mut csv).unwrap();
    // The file has what the cleaning must get right: cp1252 bytes (é ’ £),
    // quoted fields, empty Descriptions and CustomerIDs.
    for b in [0xE9u8, 0x92, 0xA3] {
        assert!(csv.contains(&b), "no byte {b:#x} in the generated file");
    }
    assert!(csv.windows(2).any(|w| w == b",\""));
    let from = dir.file("invoices.csv", &csv);
    let to = dir.path("out/ecomm_invoice_transaction.parquet");
    let ran = execute(documented_seed_config(&from, &to)).await;
    let out = ran.result.unwrap();

    let rows: Vec<updraft_invoices::Row> = updraft_invoices::rows(&opts).collect();
    let expected = reference(&rows);
    assert!(rows.iter().any(|r| r.description.is_none()) && rows.iter().any(|r| r.customer_id.is_none()));
    assert!(
        rows.iter()
            .any(|r| r.description.as_deref().is_some_and(|d| d.contains('’')))
    );
    assert!(rows.iter().any(|r| r.stock_code != r.stock_code.to_uppercase()));
    let names = [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
        "total_spend",
    ];
    assert_eq!(
        out,
        json!({"rows": rows.len(), "columns": names, "location": to.to_string_lossy()})
    );

    let rb = read_parquet(&to);
    let fields: Vec<(String, DataType)> = rb
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    let types = [
        DataType::Utf8,
        DataType::Utf8,
        DataType::Utf8,
        DataType::Int64,
        ts,
        DataType::Float64,
        DataType::Int64,
        DataType::Utf8,
        DataType::Float64,
    ];
    assert_eq!(
        fields,
        names.iter().map(|n| n.to_string()).zip(types).collect::<Vec<_>>()
    );
    let meta = ParquetRecordBatchReaderBuilder::try_new(File::open(&to).unwrap())
        .unwrap()
        .metadata()
        .clone();
    for rg in meta.row_groups() {
        for c in rg.columns() {
            assert!(matches!(c.compression(), Codec::ZSTD(_)), "{:?}", c.compression());
        }
    }

    assert_eq!(rb.num_rows(), expected.len());
    let invoice = strings(&rb, "InvoiceNo");
    let code = strings(&rb, "StockCode");
    let desc = strings(&rb, "Description");
    let qty = prims::<Int64Type>(&rb, "Quantity");
    let date = prims::<TimestampMicrosecondType>(&rb, "InvoiceDate");
    let price = prims::<Float64Type>(&rb, "UnitPrice");
    let customer = prims::<Int64Type>(&rb, "CustomerID");
    let country = strings(&rb, "Country");
    let spend = prims::<Float64Type>(&rb, "total_spend");
    for (i, e) in expected.iter().enumerate() {
        let at = format!("row {}", i + 1);
        assert_eq!(invoice[i].as_deref(), Some(e.invoice_no.as_str()), "{at}");
        assert_eq!(code[i].as_deref(), Some(e.stock_code.as_str()), "{at}");
        assert_eq!(desc[i].as_deref(), Some(e.description.as_str()), "{at}");
        assert_eq!(qty[i], Some(e.quantity), "{at}");
        assert_eq!(date[i], Some(e.invoice_date), "{at}");
        assert_eq!(price[i].map(f64::to_bits), Some(e.unit_price.to_bits()), "{at}");
        assert_eq!(customer[i], Some(e.customer_id), "{at}");
        assert_eq!(country[i].as_deref(), Some(e.country.as_str()), "{at}");
        assert_eq!(spend[i].map(f64::to_bits), Some(e.total_spend.to_bits()), "{at}");
    }

    // The generator's own account agrees, and its deliberate ties went to
    // the description written first.
    let theirs = updraft_invoices::most_frequent_descriptions(&rows);
    let ours: HashMap<&str, &str> = code
        .iter()
        .zip(&desc)
        .map(|(c, d)| (c.as_deref().unwrap(), d.as_deref().unwrap()))
        .collect();
    assert_eq!(ours.len(), theirs.len());
    for (c, d) in &theirs {
        assert_eq!(ours[c.as_str()], d.as_str(), "{c}");
    }
    let ties: Vec<_> = updraft_invoices::deliberate_ties(opts.seed)
        .into_iter()
        .filter(|t| ours.contains_key(t.stock_code.as_str()))
        .collect();
    assert!(!ties.is_empty(), "no deliberate tie in the first {} rows", opts.rows);
    for t in &ties {
        assert_eq!(ours[t.stock_code.as_str()], t.first, "{}", t.stock_code);
    }
    // Nothing else beside the output.
    assert_eq!(dir.others(&["invoices.csv", "out"]), Vec::<String>::new());
    let left: Vec<_> = std::fs::read_dir(dir.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["ecomm_invoice_transaction.parquet"]);
    assert!(ran.log.iter().any(|l| l.contains("(parquet, zstd)")), "{:?}", ran.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_and_cp1252_files_give_the_same_table_and_filters_stream() {
    let dir = Dir::new();
    let rows = 70_000; // more than one batch
    let mut outs = Vec::new();
    for (name, encoding, read) in [
        (
            "cp.csv",
            updraft_invoices::Encoding::Cp1252,
            "read:\n  encoding: windows-1252\n",
        ),
        ("u8.csv", updraft_invoices::Encoding::Utf8, ""),
    ] {
        let opts = updraft_invoices::Options {
            rows,
            encoding,
            ..Default::default()
        };
        let mut csv = Vec::new();
        updraft_invoices::write_csv(&opts, &mut csv).unwrap();
        let from = dir.file(name, &csv);
        let to = dir.path(&format!("{name}.parquet"));
        let ran = run(&format!(
            "from: {}\nto: {}\n{read}steps:\n  - filter: \"InvoiceNo starts_with 'C' or Description is null\"\n  - parse_timestamp: {{column: InvoiceDate, format: \"%m/%d/%Y %H:%M\"}}\n  - cast: {{column: Quantity, to: int64}}\n  - select: [InvoiceNo, Description, Quantity, InvoiceDate]\n",
            from.display(),
            to.display()
        ))
        .await;
        ran.result.unwrap();
        outs.push(read_parquet(&to));
    }
    assert_eq!(outs[0], outs[1]);
    let expected: Vec<updraft_invoices::Row> = updraft_invoices::rows(&updraft_invoices::Options {
        rows,
        ..Default::default()
    })
    .filter(|r| r.invoice_no.starts_with('C') || r.description.is_none())
    .collect();
    assert!(expected.len() > 100);
    assert_eq!(
        strings(&outs[0], "InvoiceNo"),
        expected.iter().map(|r| Some(r.invoice_no.clone())).collect::<Vec<_>>()
    );
    assert_eq!(
        strings(&outs[0], "Description"),
        expected.iter().map(|r| r.description.clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        prims::<Int64Type>(&outs[0], "Quantity"),
        expected
            .iter()
            .map(|r| Some(r.quantity.parse().unwrap()))
            .collect::<Vec<_>>()
    );
}
