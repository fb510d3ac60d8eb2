"""Imports point one way (docs/architecture.md): a subpackage imports only from subpackages
before it in ``ORDER`` (or beside it, at the same rank, without a cycle). Every import counts,
also one inside a function. A new subpackage must be given its place here first."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "healthcnn"

#: the import order; names on one line share a rank (they may import each other, acyclically)
ORDER: tuple[tuple[str, ...], ...] = (
    ("helpers",),  # top-level modules: _atomic, _json, _progress, _validate, shapes, published
    ("data", "io"),
    ("tasks",),
    ("layers",),
    ("models",),
    ("analysis",),
    ("metrics",),
    ("bundle",),
    ("inference",),
    ("training",),
    ("evaluation",),
    ("explain",),
    ("report",),
    ("studies",),
    ("serve",),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(ORDER) for name in names}


#: top-level modules that start the command line (they sit with cli, at the top)
ENTRY_POINTS = ("__main__.py", "_entry.py")


def layer_of(parts: tuple[str, ...], package_root: Path) -> str:
    """The subpackage a module (its path parts below the package) belongs to."""
    if len(parts) == 1:
        return "cli" if parts[0] in ENTRY_POINTS else "helpers"
    return parts[0]


def imported_layers(path: Path, root: Path) -> set[tuple[str, int]]:
    """(subpackage, line) of every healthcnn import in the file at ``path``."""
    rel = path.relative_to(root).parts
    package = list(rel[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                targets.append(base + node.module.split("."))
            else:
                targets += [[*base, a.name] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("healthcnn."):
            targets.append(node.module.split(".")[1:])
        elif isinstance(node, ast.Import):
            targets += [
                a.name.split(".")[1:] for a in node.names if a.name.startswith("healthcnn.")
            ]
        for t in targets:
            if t:
                name = t[0] if (root / t[0]).is_dir() else "helpers"
                found.add((name, node.lineno))
    return found


def import_graph(root: Path) -> dict[str, dict[str, list[str]]]:
    """subpackage -> imported subpackage -> ["file:line", ...] (imports within one subpackage
    are left out)."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(root.rglob("*.py")):
        src = layer_of(path.relative_to(root).parts, root)
        for dst, line in imported_layers(path, root):
            if dst != src:
                graph[src][dst].append(f"{path.relative_to(root)}:{line}")
    return graph


def violations(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    """Imports against the order, and subpackages the order does not know."""
    problems = []
    for src, targets in sorted(graph.items()):
        for dst, where in sorted(targets.items()):
            unknown = [n for n in (src, dst) if n not in RANK]
            if unknown:
                problems.append(f"{unknown[0]} has no place in ORDER (imported at {where[0]})")
            elif RANK[dst] > RANK[src]:
                problems.append(f"{src} imports {dst}, which comes after it: {', '.join(where)}")
    return problems


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Every cycle between subpackages (depth-first search over the graph)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_imports_follow_the_order() -> None:
    assert violations(import_graph(SRC)) == []


def test_no_import_cycle_between_subpackages() -> None:
    assert cycles(import_graph(SRC)) == []


def test_every_subpackage_has_a_place() -> None:
    subpackages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages - set(RANK) == set()


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        # a lazy import inside a function still counts
        (
            {
                "data/__init__.py": "",
                "training/__init__.py": "",
                "data/x.py": "def f():\n    from ..training import y\n",
            },
            "data imports training, which comes after it: data/x.py:2",
        ),
        ({"data/__init__.py": "", "data/x.py": "import healthcnn.report.html\n"}, "data imports"),
        ({"gadgets/__init__.py": "from ..data import x\n"}, "gadgets has no place in ORDER"),
    ],
)
def test_the_check_finds_violations(tmp_path: Path, files: dict, problem: str) -> None:
    root = _write(tmp_path / "healthcnn", {"__init__.py": "", **files})
    (root / "report").mkdir(exist_ok=True)
    found = violations(import_graph(root))
    assert any(problem in p for p in found), found


def test_the_check_finds_cycles(tmp_path: Path) -> None:
    root = _write(
        tmp_path / "healthcnn",
        {
            "__init__.py": "",
            "data/__init__.py": "from ..io import a\n",
            "io/__init__.py": "from ..data import b\n",
        },
    )
    assert cycles(import_graph(root)) == [["data", "io", "data"]]
    assert violations(import_graph(root)) == []  # same rank: only the cycle is wrong
