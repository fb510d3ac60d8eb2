"""Every file the toolkit and its scripts write goes through :mod:`healthcnn._atomic` (a
temporary sibling, fsync, rename), so that a crash or a kill never leaves half a file where a
whole one was or is expected. This test reads the source (its syntax tree, so docstrings and
comments do not count) for plain writes (``write_text``, ``write_bytes``, ``open`` for writing
or appending, and the libraries' own writers: ``save`` of PIL, torch, nibabel or a bundle,
NumPy's ``save``/``savez``, ``savefig``, ``imwrite``, ``to_csv``) and allows only those listed
below, each with the reason it is safe; a new plain write fails here until it is made atomic or
listed with its reason. A writer's call whose first argument is named ``buf`` or ``buffer``
writes to memory and is not a file write."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (file, enclosing function, what) -> why that plain write is safe
ALLOWED = {
    ("src/healthcnn/_atomic.py", "crash_point", "open a"): "the crash-point test log (tests only)",
    ("src/healthcnn/_atomic.py", "atomic_write_bytes", "write_bytes"): "fills the helper's temp",
    ("src/healthcnn/bundle/io.py", "_write_json", "write_text"): "inside the bundle's staging "
    "folder, which is renamed into place whole",
    ("src/healthcnn/data/cache.py", "save_array", "open wb"): "a temporary file, then renamed",
    ("src/healthcnn/data/cache.py", "save_text", "write_text"): "a temporary file, then renamed",
    ("src/healthcnn/serve/uploads.py", "_unzipped", "open wb"): "a request's own temporary "
    "folder, removed after the request",
    ("src/healthcnn/training/trainer.py", "fit", "write_text"): "starts log.jsonl, an "
    "append-only log that a resume rewrites atomically from the checkpoint",
    ("src/healthcnn/training/trainer.py", "_save", "open a"): "appends to log.jsonl (above)",
    ("scripts/_generated_doc.py", "run", "write_text"): "a temporary file, then renamed",
    ("scripts/dr_recipe_sweep.py", "run_one.write_scores", "open wb"): "fills the temp of "
    "atomic_write_with",
    ("scripts/make_golden_mixing.py", "main", "write_text"): "a temporary file, then renamed "
    "(its venv has no healthcnn)",
    ("scripts/make_golden_torchvision.py", "main", "write_text"): "a temporary file, then "
    "renamed (its venv has no healthcnn)",
    # the libraries' writers
    ("src/healthcnn/data/cache.py", "save_array", "save"): "into the temporary file opened "
    "above, then renamed",
    ("src/healthcnn/studies/dr_data.py", "_preprocess_all", "save"): "into the staging folder, "
    "which data.csv names only once renamed into place",
    ("src/healthcnn/studies/recipe.py", "save_member", "save"): "Fitted.save: the bundle "
    "writer stages the bundle and renames it into place",
    ("src/healthcnn/studies/run.py", "train_run", "save"): "Fitted.save (the bundle writer, above)",
    ("src/healthcnn/studies/dr_screening.py", "_ensemble", "save"): "StudyRun.save: "
    "save_member (the bundle writer, above)",
    ("src/healthcnn/studies/dr_screening.py", "_referable_step", "save"): "StudyRun.save (above)",
    ("scripts/dr_recipe_sweep.py", "run_one.write_scores", "savez_compressed"): "into the "
    "temp of atomic_write_with (above)",
    ("scripts/serving_screenshots.py", "adrenal_32", "savez"): "inputs made in the script's "
    "own temporary work folder",
    ("scripts/serving_screenshots.py", "retina_case", "save"): "inputs made in the script's "
    "own temporary work folder",
    ("scripts/serving_screenshots.py", "adrenal_case", "save"): "inputs made in the script's "
    "own temporary work folder",
    ("scripts/skin_sweep_report.py", "write_report", "save"): "Ensembles.save writes atomically",
    ("scripts/skin_sweep_report.py", "write_recipe_report", "save"): "Ensembles.save (above)",
    ("scripts/skin_sweep_report.py", "write_metadata_report", "save"): "Ensembles.save (above)",
    ("scripts/skin_sweep_report.py", "write_fusion_report", "save"): "Ensembles.save (above)",
}

#: the libraries' writers of files (a name as its call reads: ``x.save(...)``, ``np.savez(...)``)
WRITERS = ("save", "savez", "savez_compressed", "savefig", "imwrite", "to_csv")
#: first arguments that name an in-memory buffer, not a file
IN_MEMORY = ("buf", "buffer")


def plain_writes(source: str) -> list[tuple[str, str]]:
    """(enclosing function, what) for each plain write in ``source``."""
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = child.name if where == "<module>" else f"{where}.{child.name}"
            if isinstance(child, ast.Call):
                fn = child.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
                if name in ("write_text", "write_bytes"):
                    found.append((inner, name))
                elif name in WRITERS:
                    first = child.args[0] if child.args else None
                    if not (isinstance(first, ast.Name) and first.id in IN_MEMORY):
                        found.append((inner, name))
                elif name == "open":
                    at = 1 if isinstance(fn, ast.Name) else 0  # open(path, mode) / path.open(mode)
                    mode = child.args[at] if len(child.args) > at else None
                    mode = next((k.value for k in child.keywords if k.arg == "mode"), mode)
                    if isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax+"):
                        found.append((inner, f"open {mode.value}"))
            visit(child, inner)

    visit(ast.parse(source), "<module>")
    return found


def test_the_scan_finds_each_kind_of_plain_write() -> None:
    source = '''
"""open(path, "w") in a docstring is not a write."""
def f(p):
    p.write_text("x")  # a comment: p.write_bytes(b"")
    open(p, "a").close()
    with p.open(mode="wb") as fh:
        pass
    open(p).read()
    p.open("rb")
    def g():
        p.write_bytes(b"")
        image.save(p)
        image.save(buf, format="PNG")
        np.savez_compressed(buffer, x=1)
        np.save(p, x)
'''
    assert plain_writes(source) == [
        ("f", "write_text"),
        ("f", "open a"),
        ("f", "open wb"),
        ("f.g", "write_bytes"),
        ("f.g", "save"),
        ("f.g", "save"),
    ]


def test_every_plain_write_of_the_package_and_scripts_is_listed_with_its_reason() -> None:
    seen: Counter[tuple[str, str, str]] = Counter()
    for base in ("src/healthcnn", "scripts"):
        for path in sorted((ROOT / base).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for where, what in plain_writes(path.read_text()):
                seen[(rel, where, what)] += 1
    new = sorted(k for k in seen if k not in ALLOWED)
    assert not new, f"plain writes (use healthcnn._atomic, or list them with the reason): {new}"
    gone = sorted(k for k in ALLOWED if k not in seen)
    assert not gone, f"listed plain writes that are no longer there (remove them): {gone}"
