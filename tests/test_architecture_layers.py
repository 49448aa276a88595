"""The layer order of docs/ARCHITECTURE.md, checked on the source: a module imports only modules
of its own layer or of the layers before it. Every `import` and `from ... import` of a repro
module counts, at module level and inside functions (a lazy import is still a dependency), and so
does `importlib.import_module("repro....")` with a literal name."""
import ast
from pathlib import Path

import pytest

REPRO = Path(__file__).resolve().parent.parent / "repro"

# In order; a layer may import its own modules and those of the layers above it.
LAYERS = [
    ("io", ("repro.io",)),
    ("specs", ("repro.specs",)),
    ("paths", ("repro.paths",)),
    ("core", ("repro.core",)),
    ("nn", ("repro.nn",)),
    ("data", ("repro.data",)),
    ("rows", ("repro.rows",)),
    ("train", ("repro.train",)),
    ("eval", ("repro.eval",)),
    ("results", ("repro.results",)),
    ("report", ("repro.report",)),
    ("launch", ("repro.launch",)),
    ("cli", ("repro.cli", "repro.commands")),
]
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}
# The only modules at the top of the package besides the layer packages.
TOP_LEVEL = {"__init__", "io", "specs", "paths", "cli"}


def layer_of(module: str):
    """The layer a dotted module name belongs to; None for 'repro' itself or a non-repro name."""
    best = None
    for name, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > len(best[1])):
                best = (name, p)
    return best[0] if best else None


def module_name(path: Path, root: Path = REPRO) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(module: str, root: Path) -> bool:
    rel = root.parent / Path(*module.split("."))
    return rel.with_suffix(".py").is_file() or (rel / "__init__.py").is_file()


def imports(path: Path, root: Path = REPRO):
    """(line, imported repro module) for every import in the file, however deeply nested."""
    name = module_name(path, root)
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:     # `from repro import specs` imports the module repro.specs
                sub = f"{module}.{alias.name}"
                yield node.lineno, sub if _exists(sub, root) else module
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def violations(root: Path = REPRO) -> list:
    out = []
    for path in sorted(root.rglob("*.py")):
        src = module_name(path, root)
        here = layer_of(src)
        if here is None:
            continue
        for line, target in imports(path, root):
            there = layer_of(target)
            if there is not None and RANK[there] > RANK[here]:
                out.append(f"{path.relative_to(root.parent)}:{line}: {src} ({here}) imports {target} "
                           f"({there}), a later layer")
    return out


def test_every_module_is_in_a_layer():
    loose = sorted(p.relative_to(REPRO.parent).as_posix() for p in REPRO.rglob("*.py")
                   if module_name(p) != "repro" and layer_of(module_name(p)) is None)
    assert not loose, "modules in no layer (add the package to LAYERS and docs/ARCHITECTURE.md):\n" + \
        "\n".join(loose)
    top = {p.stem for p in REPRO.glob("*.py")}
    assert top <= TOP_LEVEL, f"modules loose at the top of repro/: {sorted(top - TOP_LEVEL)}; " \
                             f"put them in the package of their layer"


def test_imports_follow_the_layer_order():
    found = violations()
    assert not found, "imports against the layer order (docs/ARCHITECTURE.md):\n" + "\n".join(found)


def test_core_is_plain_torch():
    """The math never reads gin: rows arrive as specs, so core runs without a config system."""
    found = [f"{path.relative_to(REPRO.parent)}:{line}: imports {mod}"
             for path in sorted((REPRO / "core").rglob("*.py")) for line, mod in imports(path)
             if mod.split(".")[0] == "gin"]
    assert not found, "\n".join(found)


def test_the_checker_sees_nested_relative_and_dynamic_imports(tmp_path):
    pkg = tmp_path / "repro"
    for sub in ("core", "results"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "specs.py").write_text("")
    (pkg / "results" / "tables.py").write_text("")
    (pkg / "core" / "a.py").write_text(
        "from repro import specs\n"                      # earlier layer: fine
        "from . import b\n"                              # own layer: fine
        "def f():\n"
        "    from ..results import tables\n"             # relative, inside a function
        "    import importlib\n"
        "    importlib.import_module('repro.launch')\n")  # dynamic, by a literal name
    (pkg / "core" / "b.py").write_text("")
    found = violations(pkg)
    assert [f.split(": ")[0] for f in found] == ["repro/core/a.py:4", "repro/core/a.py:6"], found
    assert "repro.results.tables (results)" in found[0] and "repro.launch (launch)" in found[1]


@pytest.mark.parametrize("module, layer", [("repro.commands.run", "cli"), ("repro.core", "core"),
                                           ("repro.results.tables", "results"), ("repro", None),
                                           ("torch", None)])
def test_layer_of(module, layer):
    assert layer_of(module) == layer
