"""The first user's cleaning in polars, matching pandas_clean.py value for value.

    python polars_clean.py IN.csv OUT.parquet

- The schema is given: polars guesses types from the first 100 rows, where
  InvoiceNo looks like a number until the first cancellation (`C536379`).
- `encoding="cp1252"`: polars reads UTF-8 only and decodes anything else in
  Python first (as its documentation says), so that is part of the time.
- Most frequent description per upper-cased StockCode, ties to the one
  that appears first in the file, said explicitly (count descending, then
  first row ascending): polars' `mode()` and group order promise nothing.
- `maintain_order="left"` on the join: polars does not keep the left order
  unless asked.
Prints the seconds spent after the imports.
"""

import sys
import time

import polars as pl

SCHEMA = {
    "InvoiceNo": pl.String,
    "StockCode": pl.String,
    "Description": pl.String,
    "Quantity": pl.Int64,
    "InvoiceDate": pl.String,
    "UnitPrice": pl.Float64,
    "CustomerID": pl.Int64,
    "Country": pl.String,
}
OUTPUT = [*SCHEMA, "total_spend"]


def clean(src: str, dst: str) -> None:
    df = pl.read_csv(src, encoding="cp1252", schema=SCHEMA).with_row_index("row")
    df = df.with_columns(
        pl.col("Description").fill_null("No Description"),
        pl.col("CustomerID").fill_null(0),
        pl.col("InvoiceDate").str.to_datetime("%m/%d/%Y %H:%M", time_unit="us"),
        (pl.col("Quantity") * pl.col("UnitPrice")).alias("total_spend"),
        pl.col("StockCode").str.to_uppercase(),
    )
    most_freq = (
        df.group_by("StockCode", "Description")
        .agg(pl.len().alias("n"), pl.col("row").min().alias("first"))
        .group_by("StockCode")
        .agg(pl.col("Description").sort_by("n", "first", descending=[True, False]).first())
    )
    out = df.drop("Description").join(most_freq, on="StockCode", how="left", maintain_order="left").select(OUTPUT)
    out.write_parquet(dst, compression="zstd")


if __name__ == "__main__":
    started = time.perf_counter()
    clean(sys.argv[1], sys.argv[2])
    print(f"work_seconds={time.perf_counter() - started:.3f}")
