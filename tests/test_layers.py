"""The import contract: reglab's layers point down, and no package reaches into another's private names.

The layers are declared once, in ``pyproject.toml`` (``[tool.importlinter]``); import-linter checks
them here, so a test run fails on the first upward import. The private-name rule is checked here
with :mod:`ast`: a name that starts with ``_`` belongs to the package that holds it (a private
module to its package, a private name in a module to that module's package), and only modules in
that package (or below it) import it. ``reglab._io`` is private to ``reglab``: every module may use it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "reglab"


def test_imports_point_down_through_the_layers_declared_in_pyproject() -> None:
    """``lint-imports`` keeps the ``layers`` contract (exhaustive: every top-level module has a layer)."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), f"{lint_imports} not found: install the test extra (pip install -e '.[test]')."
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    report = run.stdout + run.stderr
    assert run.returncode == 0, "the import contract is broken:\n" + report[report.find("Broken contracts"):]
    assert "1 kept, 0 broken" in report, report


# -- private names stay in their package ------------------------------------------------------------


@dataclass(frozen=True)
class PrivateImport:
    """``importer`` (file:line) imports ``target``, private to ``owner``, from outside ``owner``."""

    where: str
    importer: str
    target: str
    owner: str

    def __str__(self) -> str:
        return f"{self.where}: {self.importer} imports {self.target} (private to {self.owner})"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (SRC.joinpath(*name.split(".")) / "__init__.py").exists()


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def owner_of_private(dotted: str) -> str | None:
    """The package a dotted ``reglab…`` path's first private part belongs to, or None if all are public.

    A private part that follows a package (``reglab.observe._record_kernels``, or a private name
    in a package's ``__init__``) belongs to that package; one that follows a module
    (``reglab.training.engine._resolve``) belongs to the module's package.
    """
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        if is_private(parts[i]):
            before = ".".join(parts[:i])
            return before if is_package(before) else before.rpartition(".")[0]
    return None


def is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported_paths(tree: ast.Module, importer: str, importer_is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted path) for each ``reglab`` module or name that ``import`` / ``from … import`` names,
    and for each ``alias._name`` read through a name bound to a ``reglab`` module."""
    out: list[tuple[int, str]] = []
    modules: dict[str, str] = {}  # local name -> the reglab module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "reglab":
                    out.append((node.lineno, alias.name))
                    if alias.asname:
                        modules[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importer's package
                base = importer.split(".")
                base = base if importer_is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] == "reglab":
                for alias in node.names:
                    if alias.name != "*":
                        out.append((node.lineno, f"{source}.{alias.name}"))
                        if is_module(f"{source}.{alias.name}"):
                            modules[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and is_private(node.attr)):
            out.append((node.lineno, f"{modules[node.value.id]}.{node.attr}"))
    return sorted(out)


def private_imports_across_packages() -> list[PrivateImport]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in imported_paths(tree, importer, path.name == "__init__.py"):
            owner = owner_of_private(target)
            if owner is not None and importer != owner and not importer.startswith(owner + "."):
                found.append(PrivateImport(f"{path.relative_to(ROOT)}:{line}", importer, target, owner))
    return found


def test_the_private_name_check_sees_each_kind_of_private_import() -> None:
    assert owner_of_private("reglab.training.engine._resolve") == "reglab.training"
    assert owner_of_private("reglab.observe._record_kernels.summarize") == "reglab.observe"
    assert owner_of_private("reglab._io.atomic_write_text") == "reglab"
    assert owner_of_private("reglab.penalties.L1") is None
    assert owner_of_private("reglab.__version__") is None
    tree = ast.parse("from ..training.engine import _resolve\nimport reglab.observe._record_kernels\n"
                     "from reglab.training import monitor as m\nm._MAX_LOG\n")
    assert imported_paths(tree, "reglab.sweep.batched", False) == [
        (1, "reglab.training.engine._resolve"), (2, "reglab.observe._record_kernels"),
        (3, "reglab.training.monitor"), (4, "reglab.training.monitor._MAX_LOG")]


def test_no_module_imports_a_private_name_from_another_package() -> None:
    offenders = private_imports_across_packages()
    assert not offenders, "private names imported across packages:\n" + "\n".join(map(str, offenders))
