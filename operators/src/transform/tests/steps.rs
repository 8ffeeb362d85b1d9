//! Each step on small fixtures.

use super::*;

#[tokio::test]
async fn text_is_read_as_written_and_empty_fields_are_null() {
    let (ran, rb) = small("  - select: [id, name, qty]\n").await;
    ran.result.unwrap();
    let rb = rb.unwrap();
    assert_eq!(
        strings(&rb, "name"),
        s(&[Some("Crème brûlée"), None, Some("Tea, \"green\""), Some("  spaced  ")])
    );
    assert_eq!(strings(&rb, "qty"), s(&[Some("3"), Some("1"), Some("-2"), None]));
    assert_eq!(rb.num_columns(), 3);
}

#[tokio::test]
async fn fill_null_fills_by_the_column_type() {
    let (ran, rb) = small_with(
        "  - fill_null: {column: name, value: No Description}\n  - fill_null: {columns: [qty, price], value: 0}\n",
        "read:\n  types: {qty: int64}\n",
    )
    .await;
    ran.result.unwrap();
    let rb = rb.unwrap();
    assert_eq!(strings(&rb, "name")[1].as_deref(), Some("No Description"));
    assert_eq!(prims::<Int64Type>(&rb, "qty"), [Some(3), Some(1), Some(-2), Some(0)]);
    // `price` is text: nothing null there.
    assert_eq!(strings(&rb, "price")[3].as_deref(), Some("3"));
    let (ran, _) = small_with(
        "  - fill_null: {column: qty, value: none}\n",
        "read:\n  types: {qty: int64}\n",
    )
    .await;
    assert!(
        err(&ran).contains("\"none\" cannot fill column `qty`, which is int64"),
        "{}",
        err(&ran)
    );
}

#[tokio::test]
async fn parse_timestamp_and_cast() {
    let (ran, rb) = small(concat!(
        "  - parse_timestamp: {column: when, format: \"%m/%d/%Y %H:%M\"}\n",
        "  - cast: {columns: [id, qty], to: int32}\n",
        "  - cast: {column: price, to: float64}\n",
        "  - cast: {column: id, to: string}\n",
    ))
    .await;
    ran.result.unwrap();
    let rb = rb.unwrap();
    assert_eq!(
        prims::<TimestampMicrosecondType>(&rb, "when"),
        [
            Some(us(2010, 12, 1, 8, 26)),
            Some(us(2010, 12, 1, 8, 28)),
            Some(us(2011, 1, 13, 14, 5)),
            Some(us(2011, 1, 13, 14, 5))
        ]
    );
    assert_eq!(strings(&rb, "id"), s(&[Some("1"), Some("2"), Some("3"), Some("4")]));
    assert_eq!(
        prims::<arrow_array::types::Int32Type>(&rb, "qty"),
        [Some(3), Some(1), Some(-2), None]
    );
    assert_eq!(
        prims::<Float64Type>(&rb, "price"),
        [Some(2.55), Some(0.5), Some(1.25), Some(3.0)]
    );
    // A float becomes an integer only when whole.
    let (ran, _) = small("  - cast: {column: price, to: float64}\n  - cast: {column: price, to: int64}\n").await;
    assert!(
        err(&ran).ends_with("row 1 (line 2), column `price`: \"2.55\": is not a whole number; add `on_error: null` to make such values null"),
        "{}",
        err(&ran)
    );
}

#[tokio::test]
async fn text_steps_derive_rename_select_drop() {
    let (ran, rb) = small_with(
        concat!(
            "  - upper: code\n",
            "  - lower: [name]\n",
            "  - trim: name\n",
            "  - derive: {column: spend, expr: qty * price}\n",
            "  - derive: {column: twice, expr: \"-(qty + 1) * 2\"}\n",
            "  - derive: {column: price, expr: price / 2}\n",
            "  - rename: {qty: quantity, spend: total}\n",
            "  - drop: when\n",
            "  - select: [code, name, quantity, price, total, twice]\n",
        ),
        "read:\n  types: {qty: int64, price: float64}\n",
    )
    .await;
    ran.result.unwrap();
    let rb = rb.unwrap();
    let names: Vec<&str> = rb.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["code", "name", "quantity", "price", "total", "twice"]);
    assert_eq!(
        strings(&rb, "code"),
        s(&[Some("85123A"), Some("85123A"), Some("POST"), Some("POST")])
    );
    assert_eq!(
        strings(&rb, "name"),
        s(&[Some("crème brûlée"), None, Some("tea, \"green\""), Some("spaced")])
    );
    assert_eq!(
        prims::<Float64Type>(&rb, "total"),
        [Some(3.0 * 2.55), Some(0.5), Some(-2.0 * 1.25), None]
    );
    assert_eq!(prims::<Int64Type>(&rb, "twice"), [Some(-8), Some(-4), Some(2), None]);
    assert_eq!(
        prims::<Float64Type>(&rb, "price"),
        [Some(1.275), Some(0.25), Some(0.625), Some(1.5)]
    );
    // Steps that do not fit the column's type say so before reading rows.
    let (ran, _) = small("  - derive: {column: x, expr: qty * 2}\n").await;
    assert!(
        err(&ran).contains("`steps[0]` (derive): `qty` is string, not a number; cast it first"),
        "{}",
        err(&ran)
    );
    let (ran, _) = small_with("  - upper: qty\n", "read:\n  types: {qty: int64}\n").await;
    assert!(
        err(&ran).contains("`steps[0]` (upper): `qty` is int64, not text"),
        "{}",
        err(&ran)
    );
    let (ran, _) = small("  - rename: {name: code}\n").await;
    assert!(
        err(&ran).contains("cannot rename `name` to `code`: there is a column `code`"),
        "{}",
        err(&ran)
    );
}

#[tokio::test]
async fn filter_keeps_row_numbers_for_later_errors() {
    let (ran, rb) = small_with(
        "  - filter: \"qty > 0 and not code starts_with 'P'\"\n",
        "read:\n  types: {qty: int64}\n",
    )
    .await;
    ran.result.unwrap();
    assert_eq!(strings(&rb.unwrap(), "id"), s(&[Some("1"), Some("2")]));
    // After the filter, a bad value is still named by its row in the file.
    let (ran, _) = small_with(
        "  - filter: \"qty is null or qty < 0\"\n  - cast: {column: name, to: int64}\n",
        "read:\n  types: {qty: int64}\n",
    )
    .await;
    assert!(
        err(&ran).contains("small.csv, row 3 (line 4), column `name`: \"Tea, \\\"green\\\"\": is not an integer"),
        "{}",
        err(&ran)
    );
}

#[tokio::test]
async fn most_frequent_and_dedupe() {
    let dir = Dir::new();
    let from = dir.file(
        "d.csv",
        b"k,v,n\nA,x,1\nB,z,2\nA,y,3\nA,y,1\nB,w,2\nA,x,3\nB,w,2\nC,,1\n,x,1\n",
    );
    let to = dir.path("o.csv");
    let ran = run(&format!(
        "from: {}\nto: {}\nsteps:\n  - most_frequent: {{column: v, by: k}}\n",
        from.display(),
        to.display()
    ))
    .await;
    ran.result.unwrap();
    // A: x and y twice each, x first; B: w; C: only a null; no key: null.
    assert_eq!(
        std::fs::read_to_string(&to).unwrap(),
        "k,v,n\nA,x,1\nB,w,2\nA,x,3\nA,x,1\nB,w,2\nA,x,3\nB,w,2\nC,,1\n,,1\n"
    );
    for (dedupe, rows, text) in [
        ("[k, n]", 5, "A,x,1\nB,z,2\nA,y,3\nC,,1\n,x,1\n"),
        ("{columns: [k, n], keep: last}", 5, "A,y,1\nA,x,3\nB,w,2\nC,,1\n,x,1\n"),
        ("{}", 8, "A,x,1\nB,z,2\nA,y,3\nA,y,1\nB,w,2\nA,x,3\nC,,1\n,x,1\n"),
    ] {
        let ran = run(&format!(
            "from: {}\nto: {}\nsteps:\n  - dedupe: {dedupe}\n",
            from.display(),
            to.display()
        ))
        .await;
        assert_eq!(ran.result.unwrap()["rows"], rows, "{dedupe}");
        assert_eq!(
            std::fs::read_to_string(&to).unwrap(),
            format!("k,v,n\n{text}"),
            "{dedupe}"
        );
    }
}

#[tokio::test]
async fn parquet_in_parquet_out_with_whole_table_steps() {
    let dir = Dir::new();
    let first = dir.path("first.parquet");
    let from = dir.file("d.csv", b"k,v,n\nA,x,1\nB,z,2\nA,y,3\nA,y,1\nB,w,2\nA,x,3\nB,w,2\n");
    run(&format!(
        "from: {}\nto: {}\nread:\n  types: {{n: int32}}\n",
        from.display(),
        first.display()
    ))
    .await
    .result
    .unwrap();
    let to = dir.path("second.parquet");
    let ran = run(&format!(
        "from: {}\nto: {}\nsteps:\n  - most_frequent: {{column: v, by: k}}\n  - dedupe: {{keep: last}}\n  - filter: \"n >= 2\"\n",
        first.display(),
        to.display()
    ))
    .await;
    assert_eq!(ran.result.unwrap()["rows"], 2);
    let rb = read_parquet(&to);
    assert_eq!(strings(&rb, "k"), s(&[Some("A"), Some("B")]));
    assert_eq!(strings(&rb, "v"), s(&[Some("x"), Some("w")]));
    assert_eq!(prims::<arrow_array::types::Int32Type>(&rb, "n"), [Some(3), Some(2)]);
}
