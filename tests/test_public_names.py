"""One home per public name: each name in a module's `__all__` is that module's own, no two modules export it, and
the project's own code imports it from there.

A package's `__init__` (`efficient_trl`, `efficient_trl.analysis`, ...) is its public face and may gather names of
its modules; it is left out. A module may still import another's name to keep an old import path working, but only
the home module lists it in `__all__`.
"""

import ast
import importlib
import inspect
import json
import pkgutil
from pathlib import Path

import efficient_trl

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> list:
    names = [
        info.name
        for info in pkgutil.walk_packages(efficient_trl.__path__, "efficient_trl.")
        if not info.ispkg and info.name.rpartition(".")[2] != "__main__"  # running it is not importing it
    ]
    return [importlib.import_module(name) for name in sorted(names)]


def test_no_public_name_is_exported_by_two_modules():
    homes: dict[str, list[str]] = {}
    for module in _modules():
        for name in getattr(module, "__all__", []):
            homes.setdefault(name, []).append(module.__name__)
    shared = {name: where for name, where in homes.items() if len(where) > 1}
    assert not shared, f"names in two modules' __all__ (keep each in its home module's only): {shared}"
    assert "SamplingSettings" in homes and "model_fingerprint" in homes  # the walk found the modules


def test_every_exported_function_and_class_is_defined_in_its_module():
    elsewhere = []
    for module in _modules():
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)  # an AttributeError names a stale __all__ entry
            if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ != module.__name__:
                elsewhere.append(f"{module.__name__}.{name} (defined in {value.__module__})")
    assert not elsewhere, f"exported by a module that is not their home: {elsewhere}"


def _imports_from_modules(path: Path, source: str) -> list[tuple[str, str, int]]:
    """(module, name, line) of each `from efficient_trl.<module> import name` (or relative import) in `source`."""
    package = path.relative_to(ROOT).parent.parts  # what a relative import starts from
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        found.extend((module, alias.name, node.lineno) for alias in node.names)
    return found


def test_the_project_imports_each_public_name_from_its_home():
    modules = _modules()
    homes = {name: module.__name__ for module in modules for name in getattr(module, "__all__", [])}
    module_names = {module.__name__ for module in modules}
    sources = [(path, path.read_text()) for folder in ("efficient_trl", "tests", "recipes", "benchmarks")
               for path in sorted((ROOT / folder).rglob("*.py"))]  # fmt: skip
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
        sources.append((notebook, "\n".join(line for line in code.splitlines() if not line.startswith(("%", "!")))))
    elsewhere = [
        f"{path.relative_to(ROOT)}:{line} imports {name} from {module} (its home: {homes[name]})"
        for path, source in sources
        for module, name, line in _imports_from_modules(path, source)
        if module in module_names and name in homes and homes[name] != module
    ]
    assert not elsewhere, "\n".join(elsewhere)
