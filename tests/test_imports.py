"""The package's import graph: no circle of imports, and the layers point one way (inference, metrics and the
latent tools never import training; config.py imports nothing of the package but its errors)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src"
PACKAGE = SRC / "ganforge"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """ganforge modules `path` imports at module level or inside functions (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("ganforge"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("ganforge"))
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports, at module level or inside functions."""
    return {name: {t for t in _imports(path) if t in MODULES and t != name} for name, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports between modules (a package importing its own submodules is not one)."""
    colour, stack = {}, []

    def visit(node):
        colour[node] = "grey"
        stack.append(node)
        for nxt in graph[node]:
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):  # parent packages are imported first anyway
                continue
            if colour.get(nxt) == "grey":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in colour and (found := visit(nxt)):
                return found
        colour[node] = "black"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in colour and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_modules():
    """Imports inside functions count too: deferring an import hides a circle from the interpreter, not from the
    reader."""
    graph = _graph()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


@pytest.mark.parametrize(
    "lower",
    [
        "ganforge.artifacts",
        "ganforge.metrics",
        "ganforge.latent",
        "ganforge.translation",
        "ganforge.tiling",
        "ganforge.data",
        "ganforge.models",
        "ganforge.augment",
        "ganforge.dist",
        "ganforge.config",
    ],
)
def test_lower_layers_never_import_training(lower):
    graph = _graph()
    offenders = {
        name: sorted(t for t in targets if t == "ganforge.training" or t.startswith("ganforge.training."))
        for name, targets in graph.items()
        if name == lower or name.startswith(lower + ".")
    }
    assert not any(offenders.values()), offenders


def test_config_is_plain_data():
    plain = {"ganforge.errors", "ganforge.errors.ConfigError", "ganforge.errors.GanforgeError"}
    assert _imports(PACKAGE / "limits.py") <= plain  # the table of bounds that config's checks read
    assert _imports(PACKAGE / "families.py") <= plain  # what each model family accepts, which config's checks read
    assert {
        name
        for name in _imports(PACKAGE / "config.py")
        if not name.startswith(("ganforge.limits", "ganforge.families"))
    } <= plain


@pytest.mark.slow
def test_every_module_imports_in_a_fresh_interpreter():
    """Each module on its own, first in a fresh interpreter: an import circle fails here as an ImportError."""
    names = sorted(n for n in MODULES if not n.endswith("__main__"))
    code = (
        "import importlib, sys\nfor name in sys.argv[1:]:\n"
        "    for m in [m for m in sys.modules if m.startswith('ganforge')]: del sys.modules[m]\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *names],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
