"""Compares Parquet outputs of the cleaning with the first (the reference):
column names and order, types, row count, and values column by column
(row by row, order included; floats must be equal, not close).

    python compare.py REFERENCE.parquet OTHER.parquet [...]

Prints what differs, with a few examples per column; exits 1 if anything does.
Text types (string, large_string, string_view) count as the same type.
"""

import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

EXAMPLES = 3


def normal_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    return t


def differing_rows(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.Array:
    """Indices where a and b differ (null equals null only)."""
    same = pc.equal(a, b)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    same = pc.or_(pc.fill_null(same, False), both_null)
    return pc.indices_nonzero(pc.invert(same))


def compare(ref_path: str, path: str) -> bool:
    ref, other = pq.read_table(ref_path), pq.read_table(path)
    ok = True
    print(f"{path} against {ref_path}:")
    if ref.column_names != other.column_names:
        print(f"  columns: {ref.column_names} vs {other.column_names}")
        ok = False
    if ref.num_rows != other.num_rows:
        print(f"  rows: {ref.num_rows} vs {other.num_rows}")
        ok = False
    for name in ref.column_names:
        if name not in other.column_names:
            print(f"  {name}: missing")
            continue
        a, b = ref.column(name), other.column(name)
        ta, tb = normal_type(a.type), normal_type(b.type)
        if ta != tb:
            print(f"  {name}: type {a.type} vs {b.type}")
            ok = False
            try:
                b = b.cast(ta)
            except pa.ArrowInvalid:
                continue
        a, b = a.cast(ta), b.cast(ta)
        n = min(len(a), len(b))
        bad = differing_rows(a.slice(0, n), b.slice(0, n))
        if len(bad):
            ok = False
            print(f"  {name}: {len(bad)} rows differ, e.g.")
            for i in bad.to_pylist()[:EXAMPLES]:
                print(f"    row {i}: {a[i].as_py()!r} vs {b[i].as_py()!r}")
    if ok:
        print(f"  same: {ref.num_rows} rows, {len(ref.column_names)} columns, types and values")
    return ok


def main(paths: list[str]) -> int:
    if len(paths) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    ref = pq.read_table(paths[0])
    print(f"{paths[0]}: {ref.num_rows} rows; " + ", ".join(f"{f.name} {f.type}" for f in ref.schema))
    results = [compare(paths[0], p) for p in paths[1:]]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
