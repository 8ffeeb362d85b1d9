//! The table's side: its columns and their types as the catalog has them,
//! what each type is to the encoder, and a table created from a file's
//! columns.

use arrow_schema::{DataType, Schema};
use sqlx::Row;
use sqlx::postgres::PgConnection;
use updraft_operator_api::TaskError;

use crate::postgres::error::sql_error;
use crate::postgres::ident::quote;
use crate::postgres::pgtype::PgKind;

/// What a table column's type is to the encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Moved in binary from its Arrow type.
    Kind(PgKind),
    /// `numeric` without a precision, or above 38 digits: binary, from the
    /// value's decimal text (exact).
    Numeric,
    Bytea,
    /// Anything else (uuid, arrays, enums, ranges, ...): the whole load
    /// goes as CSV text, and Postgres parses this column's values.
    Text(String),
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// The catalog's name for the type, for messages.
    pub type_name: String,
    pub target: Target,
    pub not_null: bool,
}

/// The table's columns that take values (not generated ones), in order;
/// `None` if there is no such table.
pub async fn columns(conn: &mut PgConnection, qualified: &str) -> Result<Option<Vec<Column>>, TaskError> {
    let context = "postgres_load: reading the table's columns";
    let oid: Option<sqlx::postgres::types::Oid> = sqlx::query("SELECT to_regclass($1)::oid")
        .bind(qualified)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| sql_error(context, e, None))?;
    let Some(oid) = oid else { return Ok(None) };
    // A domain moves as its base type.
    let rows = sqlx::query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                COALESCE(b.typname, t.typname)::text, \
                CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, \
                a.attnotnull \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype \
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
         ORDER BY a.attnum",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| sql_error(context, e, None))?;
    rows.iter()
        .map(|r| {
            let typname: String = r.try_get(2)?;
            let typmod: i32 = r.try_get(3)?;
            let target = match PgKind::from_catalog(&typname, typmod) {
                Some(k) => Target::Kind(k),
                None if typname == "numeric" => Target::Numeric,
                None if typname == "bytea" => Target::Bytea,
                None => Target::Text(typname),
            };
            Ok(Column {
                name: r.try_get(0)?,
                type_name: r.try_get(1)?,
                target,
                not_null: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map(Some)
        .map_err(|e| sql_error(context, e, None))
}

/// The column type a new table gets for an Arrow type.
pub fn ddl_type(t: &DataType) -> Result<String, String> {
    Ok(match t {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "numeric(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) if *s >= 0 => format!("numeric({p},{s})"),
        DataType::Decimal128(..) | DataType::Decimal256(..) => "numeric".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => "text".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            "bytea".into()
        }
        DataType::Dictionary(_, v) => return ddl_type(v),
        other => return Err(format!("a column of type {other} has no Postgres type here")),
    })
}

/// `CREATE TABLE name (col type, ...)` for the file's columns under their
/// table names.
pub fn create_table(qualified: &str, schema: &Schema, names: &[String]) -> Result<String, String> {
    let cols = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(f, n)| {
            let t = ddl_type(f.data_type()).map_err(|e| format!("column {:?}: {e}", f.name()))?;
            Ok(format!("{} {t}", quote(n)))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(format!("CREATE TABLE {qualified} ({})", cols.join(", ")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::{Field, TimeUnit};

    use super::*;

    #[test]
    fn a_new_table_takes_the_file_types() {
        let schema = Schema::new(vec![
            Field::new("InvoiceNo", DataType::Utf8, true),
            Field::new("Quantity", DataType::Int64, true),
            Field::new("InvoiceDate", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("UnitPrice", DataType::Float64, true),
            Field::new("price", DataType::Decimal128(10, 2), true),
            Field::new(
                "code",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
        ]);
        let names: Vec<String> = ["invoice_no", "quantity", "invoice_date", "unit_price", "price", "code"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            create_table(r#""s"."t""#, &schema, &names).unwrap(),
            r#"CREATE TABLE "s"."t" ("invoice_no" text, "quantity" bigint, "invoice_date" timestamp, "unit_price" double precision, "price" numeric(10,2), "code" text)"#
        );
        let nested = Schema::new(vec![Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        )]);
        let e = create_table("t", &nested, &["tags".into()]).unwrap_err();
        assert!(e.contains("\"tags\"") && e.contains("no Postgres type"), "{e}");
    }
}
