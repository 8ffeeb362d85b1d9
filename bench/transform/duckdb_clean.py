"""The first user's cleaning in DuckDB SQL, matching pandas_clean.py value for value.

    python duckdb_clean.py IN.csv OUT.parquet

- DuckDB's CSV reader knows UTF-8, UTF-16 and latin-1 only; cp1252 needs
  its `encodings` extension, downloaded from extensions.duckdb.org on first
  use (not reachable here), and latin-1 refuses the bytes 0x80-0x9F that
  cp1252 uses for `’`, `€`, `–`. So the file is decoded in Python and
  handed over as UTF-8 (a temporary file beside the output), and that is
  part of the time.
- File order is the table's rowid (insertion order is preserved by
  default): ties go to the description that appears first, and the output
  keeps the input's order.
Prints the seconds spent after the imports.
"""

import os
import sys
import tempfile
import time

import duckdb

COLUMNS = {
    "InvoiceNo": "VARCHAR",
    "StockCode": "VARCHAR",
    "Description": "VARCHAR",
    "Quantity": "BIGINT",
    "InvoiceDate": "VARCHAR",
    "UnitPrice": "DOUBLE",
    "CustomerID": "BIGINT",
    "Country": "VARCHAR",
}

CLEAN = """
CREATE TABLE clean AS
SELECT rowid AS row_in_file,
       InvoiceNo,
       upper(StockCode) AS StockCode,
       coalesce(Description, 'No Description') AS Description,
       Quantity,
       strptime(InvoiceDate, '%m/%d/%Y %H:%M') AS InvoiceDate,
       UnitPrice,
       coalesce(CustomerID, 0) AS CustomerID,
       Country,
       Quantity * UnitPrice AS total_spend
FROM raw
"""

WRITE = """
COPY (
    WITH counts AS (
        SELECT StockCode, Description, count(*) AS n, min(row_in_file) AS first_row
        FROM clean
        GROUP BY StockCode, Description
    ),
    most_freq AS (
        SELECT StockCode, Description
        FROM counts
        QUALIFY row_number() OVER (PARTITION BY StockCode ORDER BY n DESC, first_row) = 1
    )
    SELECT c.InvoiceNo, c.StockCode, m.Description, c.Quantity, c.InvoiceDate,
           c.UnitPrice, c.CustomerID, c.Country, c.total_spend
    FROM clean c LEFT JOIN most_freq m USING (StockCode)
    ORDER BY c.row_in_file
) TO '{dst}' (FORMAT parquet, COMPRESSION zstd)
"""


def clean(src: str, dst: str) -> None:
    with open(src, "rb") as f:
        text = f.read().decode("cp1252")
    out_dir = os.path.dirname(os.path.abspath(dst))
    with tempfile.NamedTemporaryFile(suffix=".csv", dir=out_dir) as utf8:
        utf8.write(text.encode("utf-8"))
        utf8.flush()
        del text
        con = duckdb.connect()
        con.execute(
            "CREATE TABLE raw AS SELECT * FROM read_csv(?, header = true, delim = ',', quote = '\"', "
            "escape = '\"', columns = " + duck_struct(COLUMNS) + ")",
            [utf8.name],
        )
    con.execute(CLEAN)
    con.execute(WRITE.format(dst=dst.replace("'", "''")))


def duck_struct(d: dict) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in d.items()) + "}"


if __name__ == "__main__":
    started = time.perf_counter()
    clean(sys.argv[1], sys.argv[2])
    print(f"work_seconds={time.perf_counter() - started:.3f}")
