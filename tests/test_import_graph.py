"""The import graph of edge/ (issue 24): no import circle, and paho and the TFLite runtime each
behind the one module named for them. Read from the source with `ast`, every `import` statement
counted, lazy ones inside functions included; those under `if TYPE_CHECKING:` are left out (they
never run: type names only)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "edge"


def _module(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module name `path` imports at run time (absolute; relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(x) for n in ast.walk(tree)
                   if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
                   for stmt in n.body for x in ast.walk(stmt)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for n in ast.walk(tree):
        if id(n) in typing_only:
            continue
        if isinstance(n, ast.Import):
            names |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                up = package.split(".")[: len(package.split(".")) - (n.level - 1)]
                base = ".".join(up + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{a.name}" for a in n.names}  # `from edge import deploy` imports edge.deploy
    return names


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the same tree it imports."""
    files = {_module(p, root): p for p in root.rglob("*.py")}
    out = {}
    for module, path in files.items():
        out[module] = {m for m in _imports(path, module) if m in files and m != module}
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of `g` (its strongly connected components of more than one module), by Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def importers_of(prefixes: tuple[str, ...], root: Path = ROOT) -> set[str]:
    files = {_module(p, root): p for p in root.rglob("*.py")}
    return {m for m, p in files.items()
            if any(n == x or n.startswith(x + ".") for n in _imports(p, m) for x in prefixes)}


def test_no_import_circle() -> None:
    assert cycles(graph()) == []


def test_only_the_mqtt_client_imports_paho() -> None:
    assert importers_of(("paho",)) == {"edge.mqtt.client"}


def test_only_the_model_imports_a_tflite_runtime() -> None:
    assert importers_of(("ai_edge_litert", "tflite_runtime")) == {"edge.model"}


def test_the_checks_see_a_circle_and_an_import(tmp_path: Path) -> None:
    """The walk finds what it is for: a circle through a lazy import, and none through TYPE_CHECKING."""
    pkg = tmp_path / "edge"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from edge.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from edge import a\n    import paho.mqtt.client\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from edge import a\n"
                              "from . import d\n")
    (pkg / "d.py").write_text("from .a import x\n")
    g = graph(pkg)
    assert cycles(g) == [["edge.a", "edge.sub.b"]]
    assert g["edge.c"] == {"edge", "edge.d"} and g["edge.d"] == {"edge.a"}  # a package imports its __init__
    assert importers_of(("paho",), pkg) == {"edge.sub.b"}


def private_uses(root: Path = ROOT, package: str = "edge.train") -> set[tuple[str, str]]:
    """(module, what) for each private name (a leading underscore) one module of `package` takes from
    another: `from edge.train.x import _y`, or `x._y` on a module it imported (issue 24's named circle was
    fast.py reaching into cli.py's helpers). A module's own names, and `as _alias` of a public one, are fine."""
    files = {_module(p, root): p for p in root.rglob("*.py")}
    out: set[tuple[str, str]] = set()
    for module, path in files.items():
        if not module.startswith(package):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: set[str] = set()  # names bound to a module of `package`
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and (n.module or "").startswith(package):
                for a in n.names:
                    if f"{n.module}.{a.name}" in files:
                        aliases.add(a.asname or a.name)
                    elif a.name.startswith("_") and n.module != module:
                        out.add((module, f"{n.module}.{a.name}"))
            elif isinstance(n, ast.Import):
                aliases |= {a.asname for a in n.names if a.asname and a.name.startswith(package)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases \
                    and n.attr.startswith("_") and not n.attr.startswith("__"):
                out.add((module, f"{n.value.id}.{n.attr}"))
    return out


# Private uses inside the home model's data modules, there before this check (not the recipes'): each goes
# when its name is made public or moved to the module that uses it; none may be added.
KNOWN_PRIVATE_USES = {
    ("edge.train.home_paraphrases", "home._Lang"), ("edge.train.home_paraphrases", "home._polite"),
    ("edge.train.home_schema", "edge.train.home._Lang"), ("edge.train.home_wildcards", "edge.train.home._Lang"),
    ("edge.train.oos", "edge.train.data._FRAME"),
}


def test_no_training_module_uses_another_s_private_names() -> None:
    """The recipes (cli, distil, fast, fast_data, fast_cv, home_recipe, package) share only public names."""
    assert private_uses() <= KNOWN_PRIVATE_USES, sorted(private_uses() - KNOWN_PRIVATE_USES)


def test_the_private_use_check_sees_both_forms(tmp_path: Path) -> None:
    pkg = tmp_path / "edge"
    (pkg / "train").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "train" / "__init__.py").write_text("")
    (pkg / "train" / "cli.py").write_text("def _helper():\n    pass\ndef log():\n    pass\n")
    (pkg / "train" / "fast.py").write_text("from edge.train.cli import _helper\nfrom edge.train.cli import log as _log\n")
    (pkg / "train" / "home.py").write_text("from edge.train import cli\ncli._helper()\ncli.log()\n")
    assert private_uses(pkg) == {("edge.train.fast", "edge.train.cli._helper"), ("edge.train.home", "cli._helper")}
