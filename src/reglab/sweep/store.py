"""The result store: one summary row per run, as Parquet parts in a folder, queried with DuckDB.

Layout of a store folder::

    DIR/sweep.json                 the sweep that filled it (base + grid), for the record
    DIR/parts/part-<uuid>.parquet  one part per write: a batch of rows
    DIR/history/<run_id>.parquet   a run's logged history (step, losses, penalty, lr), when kept

A part is written to a hidden temporary file in ``DIR/parts/``, flushed with ``fsync`` and renamed over
its final name with ``os.replace`` (atomic on POSIX; ``reglab._io.atomic_path``), and the folder is
fsynced: a process killed at
any moment leaves complete parts and, at worst, a temporary file, which readers ignore and the
next writer removes. ``--resume`` reads the ``run_id`` column of every part and skips those runs,
so a killed sweep, resumed, stores every run exactly once.

Examples
--------
>>> import tempfile
>>> store = ResultStore(tempfile.mkdtemp())
>>> part = store.write_rows([{"run_id": "a1", "status": "max_steps", "train_loss": 0.5}])
>>> sorted(store.stored_ids())
['a1']
>>> store.query("SELECT run_id, train_loss FROM runs").to_dict("records")
[{'run_id': 'a1', 'train_loss': 0.5}]
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from reglab._io import atomic_write_bytes, atomic_write_text, clean_temporary
from reglab.sweep.runner import HISTORY_KEY
from reglab.sweep.spec import param_column

__all__ = ["ResultStore", "FIXED_SCHEMA"]

# columns every row has, with fixed types (so parts of failed runs, all null, still agree)
FIXED_SCHEMA: Final = pa.schema([
    ("run_id", pa.string()), ("status", pa.string()), ("error", pa.string()),
    ("executor", pa.string()), ("batched_with", pa.int64()), ("batch_reason", pa.string()),
    ("steps", pa.int64()), ("lr", pa.float64()), ("seed", pa.int64()),
    ("train_loss", pa.float64()), ("test_loss", pa.float64()),
    ("null_train_loss", pa.float64()), ("null_test_loss", pa.float64()),
    ("penalty", pa.float64()), ("objective", pa.float64()),
    ("l2_norm", pa.float64()), ("l1_norm", pa.float64()),
    ("exact_zeros", pa.int64()), ("n_parameters", pa.int64()),
    ("diagnose", pa.string()), ("diagnose_error", pa.string()),
    ("elapsed", pa.float64()), ("torch_version", pa.string()), ("threads", pa.int64()),
    ("finished_at", pa.float64()), ("params", pa.string()), ("tensors", pa.string()), ("spec", pa.string()),
])


def _param_value(value: Any) -> Any:
    """A grid value as a Parquet cell: numbers as float64 (ints too, so columns agree across parts),
    strings and booleans as they are, anything else as JSON."""
    if isinstance(value, bool) or isinstance(value, str) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return json.dumps(value, sort_keys=True)


class ResultStore:
    """A folder of Parquet parts holding one row per run.

    Parameters
    ----------
    root : str or Path
        The store folder (created when missing).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.parts = self.root / "parts"
        self.parts.mkdir(parents=True, exist_ok=True)

    # -- writing -----------------------------------------------------------------------------------
    def clean_temporary(self) -> int:
        """Remove temporary files a killed writer left behind; return how many."""
        stale = list(self.parts.glob(".tmp-*")) + list((self.root / "history").glob(".tmp-*"))
        for f in stale:
            f.unlink(missing_ok=True)
        return len(stale) + sum(clean_temporary(d) for d in (self.root, self.parts, self.root / "history"))

    def write_sweep(self, sweep: Mapping[str, Any]) -> None:
        """Keep the sweep's definition beside its results (``sweep.json``, written atomically)."""
        atomic_write_text(self.root / "sweep.json", json.dumps(sweep, indent=2, sort_keys=True, default=str))

    def _table(self, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        fixed = set(FIXED_SCHEMA.names)
        grid = [{param_column(k): v for k, v in json.loads(r.get("params") or "{}").items()} for r in rows]
        params = list(dict.fromkeys(col for g in grid for col in g))
        columns: dict[str, list[Any]] = {name: [r.get(name) for r in rows] for name in FIXED_SCHEMA.names}
        fields = list(FIXED_SCHEMA)
        for col in params:
            columns[col] = [_param_value(g.get(col)) for g in grid]
            fields.append(pa.field(col, pa.array(columns[col]).type))
        extra = [k for r in rows for k in r if k not in fixed and k not in params]
        if extra:
            raise ValueError(f"Row column(s) {sorted(set(extra))} are not in the store's schema.")
        return pa.table(columns, schema=pa.schema(fields))

    def write_rows(self, rows: Sequence[Mapping[str, Any]], *, keep_history: bool = False) -> Path | None:
        """Write ``rows`` as one new part, atomically; return its path (None for no rows).

        With ``keep_history``, each row's ``_history`` (step, data_loss, penalty, objective, lr) is
        written first to ``DIR/history/<run_id>.parquet``, so a stored row always has its history.
        """
        if not rows:
            return None
        if keep_history:
            for r in rows:
                if r.get(HISTORY_KEY):
                    self._write_atomic(pa.table(r[HISTORY_KEY]), self.root / "history", f"{r['run_id']}.parquet")
        table = self._table([{k: v for k, v in r.items() if k != HISTORY_KEY} for r in rows])
        data = _parquet_bytes(table)
        # the part's name carries the SHA-256 of its bytes: any damage, footer included, is caught
        name = f"part-{uuid.uuid4().hex}-{hashlib.sha256(data).hexdigest()[:_DIGEST]}.parquet"
        atomic_write_bytes(self.parts / name, data)
        return self.parts / name

    @staticmethod
    def _write_atomic(table: pa.Table, folder: Path, name: str) -> Path:
        atomic_write_bytes(folder / name, _parquet_bytes(table))
        return folder / name

    def history(self, run_id: str) -> Any:
        """The kept history of one run as a DataFrame (``FileNotFoundError`` when it was not kept)."""
        path = self.root / "history" / f"{run_id}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"No history kept for run {run_id!r} in {str(self.root)!r}; "
                                    "sweep with keep_history=True (--keep-history) to keep them.")
        return _read_part(path).to_pandas()

    # -- reading -----------------------------------------------------------------------------------
    def part_files(self) -> list[Path]:
        """Complete parts (temporary files excluded), sorted by name."""
        return sorted(p for p in self.parts.glob("part-*.parquet"))

    def stored_ids(self) -> set[str]:
        """The ``run_id`` of every stored row."""
        ids: set[str] = set()
        for part in self.part_files():
            self._verify(part)  # every column's pages, not only run_id's
            ids.update(_read_part(part, columns=["run_id"]).column("run_id").to_pylist())
        return ids

    def query(self, sql: str = "SELECT * FROM runs") -> Any:
        """Run ``sql`` with DuckDB over the view ``runs`` (every part, columns united by name).

        Returns
        -------
        pandas.DataFrame
        """
        import duckdb

        for part in self.part_files():
            self._verify(part)
        con = duckdb.connect()
        try:
            files = [str(p) for p in self.part_files()]
            if files:
                con.execute(f"CREATE VIEW runs AS SELECT * FROM read_parquet({files!r}, union_by_name = true)")
            else:
                cols = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in FIXED_SCHEMA)
                con.execute(f"CREATE VIEW runs AS SELECT {cols} WHERE false")
            return con.execute(sql).df()
        except duckdb.Error as err:
            named = [f for f in self.part_files() if str(f) in str(err)]
            if named:
                raise _damaged(named[0], err) from err
            for part in self.part_files():  # DuckDB does not always say which file: check each footer
                try:
                    pq.read_metadata(part)
                except (pa.ArrowException, OSError) as bad:
                    raise _damaged(part, bad) from err
            raise
        finally:
            con.close()

    @staticmethod
    def _verify(part: Path) -> None:
        """Read every page of ``part`` with its checksum checked (DuckDB and column reads do not)."""
        _read_part(part)

    def read(self) -> Any:
        """Every stored row as a DataFrame."""
        return self.query("SELECT * FROM runs")

    def __iter__(self) -> Iterable[Path]:
        return iter(self.part_files())


def _damaged(path: Path, err: BaseException) -> ValueError:
    detail = " ".join(str(err).split())
    return ValueError(f"Parquet file {str(path)!r} is damaged or not a Parquet file ({type(err).__name__}: {detail}). "
                      "Move it aside; a sweep rerun with --resume recomputes the runs it held.")


_DIGEST: Final = 16
_PART_NAME: Final = re.compile(r"part-[0-9a-f]{32}-(?P<digest>[0-9a-f]{16})\.parquet")


def _parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as Parquet bytes, with page checksums (CRC32) that readers verify."""
    buf = pa.BufferOutputStream()  # in memory; the caller writes it atomically
    pq.write_table(table, buf, write_page_checksum=True)
    return buf.getvalue().to_pybytes()


def _read_part(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read one Parquet file; a truncated or corrupted file raises ``ValueError`` naming it.

    A part whose name carries a digest is checked against it first, so a damaged footer or page
    is refused even where Parquet's own checks would read it without complaint.
    """
    named = _PART_NAME.fullmatch(path.name)
    if named and hashlib.sha256(path.read_bytes()).hexdigest()[:_DIGEST] != named["digest"]:
        raise _damaged(path, ValueError("its bytes do not match the SHA-256 digest in its name"))
    try:
        return pq.read_table(path, columns=columns, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as err:
        raise _damaged(path, err) from err


def _duck_type(t: pa.DataType) -> str:
    return {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}[t]
