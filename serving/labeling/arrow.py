"""pyarrow, imported on first use (it is slow to import) and typed as Any (it ships no
type hints), plus the table helpers the Parquet output needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

# What pyarrow raises on values that do not fit (ArrowException subclasses these too).
ARROW_ERRORS = (ValueError, TypeError, OverflowError, NotImplementedError)


def pyarrow() -> Any:
    import pyarrow  # type: ignore[import-untyped, unused-ignore]

    return pyarrow


def parquet() -> Any:
    import pyarrow.parquet  # type: ignore[import-untyped, unused-ignore]

    return pyarrow.parquet


def csv() -> Any:
    import pyarrow.csv  # type: ignore[import-untyped, unused-ignore]

    return pyarrow.csv


def conform(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """Tables with some of `schema`'s columns (possibly narrower types) as one table of it."""
    merged = pyarrow().concat_tables([schema.empty_table(), *tables], promote_options="permissive")
    return merged.select(schema.names).cast(schema)


def rows_table(rows: list[dict[str, Any]], schema: pa.Schema | None) -> pa.Table:
    """Columns from the union of the rows' keys (pyarrow's from_pylist would keep only the
    first row's), typed by `schema` where it names them."""
    pa = pyarrow()
    names = list(schema.names) if schema else []
    seen = set(names)
    for row in rows:
        for name in row:
            if name not in seen:
                seen.add(name)
                names.append(name)
    types = dict(zip(schema.names, schema.types, strict=True)) if schema else {}
    arrays = [pa.array([r.get(n) for r in rows], type=types.get(n)) for n in names]
    return pa.Table.from_arrays(arrays, names=names)


def unify(schemas: list[pa.Schema]) -> pa.Schema | None:
    return pyarrow().unify_schemas(schemas, promote_options="permissive") if schemas else None
