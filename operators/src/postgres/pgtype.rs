//! The Postgres column types the operators move in binary form, and what
//! they are as Arrow types. Anything else is read and written as text (the
//! query casts it), so every type works, and the common ones are fast and
//! typed.

use arrow_schema::{DataType, TimeUnit};

/// Microseconds from 1970-01-01 to 2000-01-01, Postgres' epoch.
pub const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
pub const PG_EPOCH_DAYS: i32 = 10_957;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgKind {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(p, s)` with a declared precision up to 38 (Arrow's
    /// Decimal128).
    Numeric {
        precision: u8,
        scale: i8,
    },
    Text,
    Bool,
    Date,
    Timestamp,
    Timestamptz,
    Json,
    Jsonb,
}

impl PgKind {
    /// The kind of a catalog type (`pg_type.typname`, `atttypmod`); `None`
    /// for types moved as text.
    pub fn from_catalog(typname: &str, typmod: i32) -> Option<PgKind> {
        Some(match typname {
            "int2" => PgKind::Int2,
            "int4" => PgKind::Int4,
            "int8" => PgKind::Int8,
            "float4" => PgKind::Float4,
            "float8" => PgKind::Float8,
            "numeric" => {
                // atttypmod is ((precision << 16) | scale) + 4; -1 when the
                // column declares neither (moved as text: exact).
                if typmod < 4 {
                    return None;
                }
                let m = typmod - 4;
                let (precision, scale) = ((m >> 16) & 0xffff, m & 0xffff);
                if !(1..=38).contains(&precision) || scale > precision {
                    return None;
                }
                PgKind::Numeric {
                    precision: precision as u8,
                    scale: scale as i8,
                }
            }
            "text" | "varchar" | "bpchar" | "name" | "citext" => PgKind::Text,
            "bool" => PgKind::Bool,
            "date" => PgKind::Date,
            "timestamp" => PgKind::Timestamp,
            "timestamptz" => PgKind::Timestamptz,
            "json" => PgKind::Json,
            "jsonb" => PgKind::Jsonb,
            _ => return None,
        })
    }

    /// The Arrow type a column of this kind becomes (JSON as text).
    pub fn arrow(self) -> DataType {
        match self {
            PgKind::Int2 => DataType::Int16,
            PgKind::Int4 => DataType::Int32,
            PgKind::Int8 => DataType::Int64,
            PgKind::Float4 => DataType::Float32,
            PgKind::Float8 => DataType::Float64,
            // Moved through its decimal text on the way in (exact).
            PgKind::Numeric { precision, scale } => DataType::Decimal128(precision, scale),
            PgKind::Text | PgKind::Json | PgKind::Jsonb => DataType::Utf8,
            PgKind::Bool => DataType::Boolean,
            PgKind::Date => DataType::Date32,
            PgKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            PgKind::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}
