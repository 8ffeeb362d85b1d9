"""The first user's cleaning (their Airflow task `transform_data`) in pandas:
the reference the others must match.

    python pandas_clean.py IN.csv OUT.parquet

Their code, in their order, with three changes that do not change values:
the date format is given instead of guessed; the text columns are read as
text (their `astype(str)` came after pandas had guessed numbers for some
chunks of InvoiceNo and StockCode); the Parquet file is zstd with
microsecond timestamps (pyarrow >= 13 would write nanoseconds; their
pyarrow 11 wrote microseconds).

Ties: `value_counts()` sorts by count with a stable sort since pandas 3.0
(pandas-dev/pandas#63158), and lists values in order of first appearance,
so `idxmax()` returns the first-appearing of the most frequent
descriptions. Older pandas sorted with numpy's quicksort, which is not
stable (with AVX-512 even for 5 elements), so its ties were arbitrary.
Prints the seconds spent after the imports.
"""

import sys
import time

import pandas as pd
import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("InvoiceNo", pa.string()),
        ("StockCode", pa.string()),
        ("Description", pa.string()),
        ("Quantity", pa.int64()),
        ("InvoiceDate", pa.timestamp("us")),
        ("UnitPrice", pa.float64()),
        ("CustomerID", pa.int64()),
        ("Country", pa.string()),
        ("total_spend", pa.float64()),
    ]
)
TEXT = {"InvoiceNo": str, "StockCode": str, "Description": str, "Country": str}


def clean(src: str, dst: str) -> None:
    df = pd.read_csv(src, encoding="cp1252", dtype=TEXT)

    df["Description"] = df["Description"].fillna("No Description")
    df["CustomerID"] = df["CustomerID"].fillna(0)
    df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"], format="%m/%d/%Y %H:%M")
    df["total_spend"] = df["Quantity"] * df["UnitPrice"]

    df["CustomerID"] = df["CustomerID"].astype(float).astype("int64")
    df["total_spend"] = df["total_spend"].astype(float)

    df["StockCode"] = df["StockCode"].str.upper()
    most_freq = df.groupby("StockCode")["Description"].agg(lambda x: x.value_counts().idxmax()).reset_index()
    columns = df.columns
    df = df.drop(columns=["Description"])
    df = pd.merge(df, most_freq, on="StockCode", how="left")
    df = df.reindex(columns=columns)

    df.to_parquet(dst, index=False, compression="zstd", schema=SCHEMA)


if __name__ == "__main__":
    started = time.perf_counter()
    clean(sys.argv[1], sys.argv[2])
    print(f"work_seconds={time.perf_counter() - started:.3f}")
