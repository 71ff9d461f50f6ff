"""Stored files: written atomically through one helper, damaged files refused by name, no unpickling."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import reglab
from reglab._io import atomic_path, atomic_write_bytes, atomic_write_text
from reglab.data import zero_column
from reglab.observe import Trajectory
from reglab.sweep.store import ResultStore

SRC = Path(reglab.__file__).parent

# a call that writes a file by path; each must go through reglab._io (atomic_path / atomic_write_*)
_WRITERS = re.compile(
    r"open\([^)]*['\"][wax]b?\+?['\"]|\.write_text\(|\.write_bytes\(|np\.savez|\.to_parquet\(|torch\.save\(|"
    r"\.savefig\(|write_table\(|\.to_csv\(|json\.dump\(|shutil\.copy|os\.rename\("
)


def _damaged(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif how == "empty":
        path.write_bytes(b"")
    else:  # flip one byte in the middle and one near the end (the zip directory / parquet footer)
        for pos in (len(data) // 2, len(data) - 30):
            data[pos] ^= 0xFF
        path.write_bytes(bytes(data))


def test_every_file_writing_call_in_reglab_goes_through_the_atomic_helper() -> None:
    offenders = []
    for file in sorted(SRC.rglob("*.py")):
        if file.name == "_io.py":
            continue
        lines = file.read_text(encoding="utf-8").splitlines()
        for no, line in enumerate(lines, 1):
            code = line.split("#")[0]
            if ">>>" in code or "..." in code.strip()[:4] or not _WRITERS.search(code):
                continue
            # allowed: writing into the temporary path that atomic_path yields, or into memory
            if any("atomic_path(" in prev for prev in lines[max(0, no - 3):no]) or re.search(r"\b(buf|io\.BytesIO\(\))\b", code):
                continue
            offenders.append(f"{file.relative_to(SRC)}:{no}: {line.strip()}")
    assert not offenders, "non-atomic writes (route them through reglab._io):\n" + "\n".join(offenders)


def test_atomic_write_keeps_the_old_file_and_no_temporary_when_the_writer_fails(tmp_path: Path) -> None:
    dest = atomic_write_text(tmp_path / "a.json", "old")
    with pytest.raises(ZeroDivisionError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half of the new")
            1 / 0  # noqa: B018
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    atomic_write_bytes(dest, b"new")
    assert dest.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_atomic_writers_refuse_the_wrong_content_type(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="atomic_write_text"):
        atomic_write_bytes(tmp_path / "x", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="atomic_write_bytes"):
        atomic_write_text(tmp_path / "x", b"bytes")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trajectory_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = reglab.fit("linear", zero_column(n=30, p=3), penalties=[reglab.L1(0.05, update="proximal")], lr=0.05,
                     steps=20, record=True)
    return res.trajectory.save(tmp_path_factory.mktemp("traj") / "run.npz")


@pytest.mark.parametrize("how", ["truncated", "flipped", "empty"])
def test_a_damaged_trajectory_is_refused_with_an_error_naming_the_file(trajectory_file: Path, tmp_path: Path,
                                                                       how: str) -> None:
    path = tmp_path / f"{how}.npz"
    path.write_bytes(trajectory_file.read_bytes())
    Trajectory.load(path)  # intact: loads
    _damaged(path, how)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        Trajectory.load(path)


def test_an_npz_with_an_object_array_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (exec, ("import pathlib; pathlib.Path(%r).touch()" % str(tmp_path / "pwned"),))

    path = tmp_path / "evil.npz"
    with open(path, "wb") as fh:
        np.savez(fh, steps=np.arange(3), values=np.array([Boom()], dtype=object), names=np.array(["w"]),
                 meta=np.array("{}"))
    with pytest.raises(ValueError, match="pickle") as err:
        Trajectory.load(path)
    assert str(path) in str(err.value)
    assert not (tmp_path / "pwned").exists()


def test_a_raw_pickle_renamed_to_npz_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    buf = io.BytesIO()
    torch.save({"a": 1}, buf, _use_new_zipfile_serialization=False)
    path.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match=re.escape(str(path))):
        Trajectory.load(path)


@pytest.fixture()
def store(tmp_path: Path) -> ResultStore:
    s = ResultStore(tmp_path / "store")
    s.write_rows([{"run_id": f"r{i}", "status": "max_steps", "train_loss": 0.1 * i} for i in range(50)],
                 keep_history=False)
    return s


@pytest.mark.parametrize("how", ["truncated", "flipped", "empty"])
def test_a_damaged_parquet_part_is_refused_with_an_error_naming_the_file(store: ResultStore, how: str) -> None:
    (part,) = store.part_files()
    _damaged(part, how)
    for read in (store.stored_ids, store.read):
        with pytest.raises(ValueError, match=re.escape(part.name)):
            read()


def test_a_flipped_byte_inside_a_parquet_data_page_is_caught_by_its_page_checksum(tmp_path: Path) -> None:
    s = ResultStore(tmp_path / "store")
    values = np.random.default_rng(0).normal(size=2000)  # the data pages are mostly these float bytes
    s.write_rows([{"run_id": f"r{i}", "status": "max_steps", "train_loss": float(v)} for i, v in enumerate(values)],
                 keep_history=False)
    (part,) = s.part_files()
    data = bytearray(part.read_bytes())
    footer_start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    data[footer_start // 2] ^= 0x01  # one bit, in the middle of the column chunks: the footer stays intact
    part.write_bytes(bytes(data))
    for read in (s.stored_ids, s.read):
        with pytest.raises(ValueError, match=re.escape(part.name)):
            read()


def test_a_stale_temporary_part_is_ignored_by_readers_and_cleaned(store: ResultStore) -> None:
    (store.parts / ".part-x.parquet.abc.tmp").write_bytes(b"half a part")
    assert store.stored_ids() == {f"r{i}" for i in range(50)}
    assert store.clean_temporary() == 1
    assert not list(store.parts.glob(".*"))


def test_trajectory_save_leaves_no_temporary_behind(trajectory_file: Path) -> None:
    assert [p.name for p in trajectory_file.parent.iterdir()] == ["run.npz"]
    assert zipfile.is_zipfile(trajectory_file)
