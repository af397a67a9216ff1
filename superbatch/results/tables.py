"""``reduce: table``: one row per point, streamed to .csv, .jsonl or .parquet.

A row is the point's index (``point``), its task (``task_id``), its parameters, then its
output: a scalar as ``value``; a mapping as its keys (nested keys joined with ``.``); a list
or 1-D array of at most 16 numbers as one column per element (``value.0``, ``value.1`` ...),
a longer or deeper one as a single list column (JSON text in CSV). An output column named
like a parameter becomes ``out.<name>``. A point whose output is missing (``--allow-missing``)
keeps its row, with empty output columns. Columns are fixed by the first rows (up to 1,000);
a later row with a new column is refused for CSV and Parquet (JSON lines take any keys).
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from superbatch.contract.codec import to_jsonable
from superbatch.errors import UserError
from superbatch.results.output import check_suffix

TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")
ARRAY_COLUMNS_MAX = 16
HEADER_ROWS = 1000
PARQUET_BATCH = 65_536
PARQUET_EXTRA = "superbatch[parquet]"
MISSING = object()


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def flatten_output(value: Any) -> dict[str, Any]:
    """The output's columns (see the module's docstring)."""
    if _scalar(value):
        return {"value": value}
    if type(value) is dict and all(_scalar(v) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    plain = to_jsonable(value)
    if isinstance(plain, dict):
        out: dict[str, Any] = {}
        _flatten_mapping(plain, "", out)
        return out
    return _flatten_value(plain, "value")


def _flatten_mapping(mapping: dict, prefix: str, out: dict) -> None:
    for key, item in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            _flatten_mapping(item, name + ".", out)
        else:
            out.update(_flatten_value(item, name))


def _flatten_value(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, list):
        if len(value) <= ARRAY_COLUMNS_MAX and all(_scalar(v) for v in value):
            return {f"{name}.{i}": v for i, v in enumerate(value)}
        return {name: value}
    return {name: value}


def rows(items: Iterable[tuple[int, str, dict, Any]]) -> Iterator[dict[str, Any]]:
    """(point, task id, parameters, output or MISSING) -> table rows."""
    for point, task_id, params, output in items:
        row: dict[str, Any] = {"point": point, "task_id": task_id}
        for name, value in params.items():
            row[f"param.{name}" if name in ("point", "task_id") else name] = value
        if output is not MISSING:
            for name, value in flatten_output(output).items():
                row[f"out.{name}" if name in row else name] = value
        yield row


class TableWriter:
    """Writes rows to a temporary file beside ``path``; ``close`` renames it into place."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self.columns: list[str] = []
        self._pending: list[dict] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)

    def add(self, row: dict) -> None:
        self.count += 1
        if not self.columns:
            self._pending.append(row)
            if len(self._pending) >= HEADER_ROWS:
                self._start()
            return
        self._write([row])

    def _start(self) -> None:
        self.columns = list(dict.fromkeys(k for r in self._pending for k in r)) or ["point"]
        self._open()
        pending, self._pending = self._pending, []
        self._write(pending)

    def close(self) -> None:
        if not self.columns:
            self._start()
        self._close()
        from superbatch.util.files import FILE_MODE, UMASK

        os.chmod(self._tmp, FILE_MODE & ~UMASK)
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            self._close()
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)

    def _unknown(self, row: dict) -> None:
        extra = [k for k in row if k not in self.columns]
        if extra:
            raise UserError(
                f"reduce: table: point {row['point']} has output columns "
                f"{', '.join(extra[:5])} that the first rows did not; "
                f"{self.path.suffix} needs the same columns in every row (write "
                f".jsonl, whose rows may differ)."
            )

    def _open(self) -> None: ...
    def _write(self, rows_: list[dict]) -> None: ...
    def _close(self) -> None: ...


class CsvTable(TableWriter):
    def _open(self) -> None:
        self._handle = open(self._tmp, "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._handle, lineterminator="\n")
        self._csv.writerow(self.columns)

    def _write(self, rows_: list[dict]) -> None:
        for row in rows_:
            self._unknown(row)
            self._csv.writerow([_cell(row.get(c, "")) for c in self.columns])

    def _close(self) -> None:
        if hasattr(self, "_handle"):
            self._handle.close()


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return "" if value is None else value


class JsonlTable(TableWriter):
    def _open(self) -> None:
        self._handle = open(self._tmp, "w", encoding="utf-8")

    def _write(self, rows_: list[dict]) -> None:
        for row in rows_:
            self._handle.write(json.dumps(to_jsonable(row)) + "\n")

    def _close(self) -> None:
        if hasattr(self, "_handle"):
            self._handle.close()


class ParquetTable(TableWriter):
    def _open(self) -> None:
        self._pa, self._pq = _pyarrow()
        self._writer = None
        self._batch: list[dict] = []

    def _write(self, rows_: list[dict]) -> None:
        for row in rows_:
            self._unknown(row)
            self._batch.append(row)
        if len(self._batch) >= PARQUET_BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        data = {c: [to_jsonable(r.get(c)) for r in self._batch] for c in self.columns}
        try:
            if self._writer is None:
                table = self._pa.table(data)
                self._writer = self._pq.ParquetWriter(self._tmp, table.schema)
            else:
                table = self._pa.table(data).cast(self._writer.schema)
        except (
            self._pa.ArrowInvalid,
            self._pa.ArrowTypeError,
            self._pa.ArrowNotImplementedError,
        ) as exc:
            raise UserError(
                f"reduce: table: the outputs do not fit one Parquet schema "
                f"({str(exc).splitlines()[0]}); write .jsonl instead."
            ) from None
        assert self._writer is not None  # made above from the first batch
        self._writer.write_table(table)
        self._batch = []

    def _close(self) -> None:
        if hasattr(self, "_batch"):
            self._flush()
        writer = getattr(self, "_writer", None)
        if writer is not None:
            writer.close()


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UserError(
            f"writing .parquet needs pyarrow: pip install '{PARQUET_EXTRA}' (or "
            f"pyarrow), or write .csv or .jsonl."
        ) from None
    return pyarrow, pyarrow.parquet


WRITERS = {".csv": CsvTable, ".jsonl": JsonlTable, ".parquet": ParquetTable}


def check_table_output(path: Path | None, where: str) -> None:
    """``reduce: table`` writes a file of a known kind (and Parquet needs pyarrow)."""
    if path is None:
        raise UserError(
            f"{where}: reduce: table writes a file: give collect.output (or "
            f"--output) ending in {', '.join(TABLE_SUFFIXES)}."
        )
    check_suffix(path, TABLE_SUFFIXES, "table", where)
    if path.suffix.lower() == ".parquet":
        _pyarrow()


def write_table(items: Iterable[tuple[int, str, dict, Any]], path: Path) -> dict:
    """Stream the rows into ``path``; return a summary (rows, columns, output)."""
    writer = WRITERS[path.suffix.lower()](path)
    try:
        for row in rows(items):
            writer.add(row)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return {"rows": writer.count, "columns": writer.columns, "output": str(path)}
