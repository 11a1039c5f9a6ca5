"""The helpers' layers, and the one direction their imports point.

core  <-  servers, load  <-  lessons

core imports nothing above it; servers and load import core (and their own
layer), never each other or a lesson; a lesson module imports the layers
below it and never another lesson module.
"""

import ast
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
LAYERS = ("core", "servers", "load", "lessons")
ALLOWED = {
    "core": {"core"},
    "servers": {"core", "servers"},
    "load": {"core", "load"},
    "lessons": {"core", "servers", "load"},  # plus the lesson module itself
}


def modules():
    for layer in LAYERS:
        for path in sorted((HELPERS / layer).glob("*.py")):
            yield layer, path


def helper_imports(path: Path) -> set[str]:
    """Every helpers.X(.Y) module the file imports, at any depth (function-level imports too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("helpers.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "helpers":
                out |= {f"helpers.{a.name}" for a in node.names}
            elif node.module.startswith("helpers."):
                out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_every_module_lives_in_a_layer():
    loose = [p.name for p in HELPERS.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules outside the layers: {loose}"
    assert {p.name for p in HELPERS.iterdir() if p.is_dir() and not p.name.startswith("_")} == set(LAYERS)


@pytest.mark.parametrize("layer, path", list(modules()), ids=lambda v: getattr(v, "name", v))
def test_imports_point_down(layer, path):
    bad = []
    for name in helper_imports(path):
        parts = name.split(".")
        target = parts[1]
        if target not in LAYERS:
            bad.append(f"{name} (not a layer)")
        elif target not in ALLOWED[layer]:
            if layer == "lessons" and target == "lessons" and len(parts) > 2 and parts[2] == path.stem:
                continue
            bad.append(name)
    assert not bad, f"{layer}/{path.name} imports {bad}"


def test_the_checker_sees_a_wrong_import(tmp_path):
    wrong = tmp_path / "x.py"
    wrong.write_text("def f():\n    from helpers.lessons import pools\n")
    assert "helpers.lessons.pools" in helper_imports(wrong)
