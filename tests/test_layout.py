"""The shape of the code: short functions, modules under 400 lines, light pages, layers that import only downward."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
EXEMPT_FUNCTIONS = {("crnn/cli.py", "build_parser")}  # a declarative argument parser
HEAVY = {"numpy", "torch", "sklearn", "scipy", "librosa", "pandas", "plotly"}  # the app's glue imports these, not pages


def sources() -> list[Path]:
    return sorted([*(ROOT / "crnn").rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py"])


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_function_over_60_lines():
    long = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (name(path), node.name) not in EXEMPT_FUNCTIONS:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name(path)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 60 lines:\n" + "\n".join(long)


def test_no_module_over_400_lines():
    big = [f"{name(p)} ({n} lines)" for p in sources() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not big, "modules over 400 lines:\n" + "\n".join(big)


def test_pages_import_no_numerical_library():
    found = []
    for path in sorted((ROOT / "pages").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            found += [f"{name(path)}:{node.lineno} imports {m}" for m in modules if m.split(".")[0] in HEAVY]
    assert not found, "\n".join(found)


def test_layers_import_only_downward():
    """``lint-imports`` (import-linter) keeps the layers contract of pyproject.toml, lazy imports included."""
    beside = Path(sys.executable).with_name("lint-imports")
    tool = str(beside) if beside.is_file() else shutil.which("lint-imports")
    if tool is None:
        pytest.skip("lint-imports (import-linter) is not installed")
    run = subprocess.run([tool, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


def test_every_test_the_readme_names_exists():
    """The README's Reliability section cites tests as evidence: a renamed or deleted test must not stay cited."""
    import re

    cited = set(re.findall(r"`(?:test_\w+\.py::)?(test_\w+)`", (ROOT / "README.md").read_text(encoding="utf-8")))
    tests = ROOT / "tests"
    defined = {name for path in tests.glob("*.py") for name in re.findall(r"def (test_\w+)", path.read_text())}
    missing = sorted(cited - defined - {path.stem for path in tests.glob("test_*.py")})
    assert len(cited) > 20 and not missing, f"the README cites tests that do not exist: {missing}"
