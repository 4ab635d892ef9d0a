"""The shape of the code (docs/architecture.md): imports inside `aligner` flow one way (no
cycle), and the CLI imports nothing heavy at start-up."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# installed package name -> source folder (pyproject's package-dir: ui/ installs as aligner.ui)
PACKAGE_DIRS = {"aligner": REPO / "aligner", "aligner.ui": REPO / "ui",
                "aligner.pipelines": REPO / "pipelines"}  # fmt: skip


def module_files(package_dirs: dict[str, Path]) -> dict[str, Path]:
    """`{dotted module name: file}` for every .py file under each package folder."""
    modules = {}
    for package, folder in package_dirs.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def imported_modules(path: Path, module: str, known: set[str]) -> set[str]:
    """The `known` modules the file imports: at module level, inside functions and under
    `if TYPE_CHECKING:` alike (a cycle there still knots the design). `from pkg import sub`
    counts as importing the submodule `pkg.sub`, `from pkg import name` as importing `pkg`."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found & known - {module}


def import_graph(package_dirs: dict[str, Path]) -> dict[str, set[str]]:
    """Edges module -> the modules of the same packages it imports."""
    modules = module_files(package_dirs)
    return {name: imported_modules(path, name, set(modules)) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as `[a, b, ..., a]`, or None when the graph is a DAG."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_aligner_imports_form_a_dag():
    graph = import_graph(PACKAGE_DIRS)
    assert len(graph) > 40 and graph["aligner.tan.train"]  # the walk really found the modules
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_sees_function_level_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .c import g\n")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    graph = import_graph({"pkg": pkg})
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.sub.c"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.sub.c", "pkg.a"]
    (pkg / "sub" / "c.py").write_text("import numpy\n")
    assert find_cycle(import_graph({"pkg": pkg})) is None


def test_cli_help_imports_nothing_heavy():
    """`aligner --help` must stay fast: torch, duckdb, streamlit load inside the commands."""
    code = (
        "import sys, contextlib, io\n"
        "from aligner.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(sorted({'torch', 'duckdb', 'streamlit', 'transformers', 'ray'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
