"""The house's layout: every module's imports (read with ast, lazy ones included) make no cycle and none runs
against the layering the subpackages' docstrings declare; mlxvspt/ keeps at most 8 top-level modules."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mlxvspt"

# Lowest first; a module may import its own layer and those below. The longest matching prefix decides.
LAYERS = [
    ("mlxvspt", "mlxvspt.errors", "mlxvspt.paths", "mlxvspt.ledger"),
    ("mlxvspt.measure", "mlxvspt.measure.devices", "mlxvspt.measure.frameworks", "mlxvspt.measure.settings",
     "mlxvspt.measure.presets", "mlxvspt.measure.check", "mlxvspt.measure.weights", "mlxvspt.measure.timing",
     "mlxvspt.measure.processes"),  # measure's ground: what a workload stands on
    ("mlxvspt.workloads",),
    ("mlxvspt.measure.asvbench", "mlxvspt.measure.process", "mlxvspt.measure.overhead",
     "mlxvspt.measure.profile"),  # measure's side that builds workloads and times them
    ("mlxvspt.publish",),
    ("mlxvspt.track",),
    ("mlxvspt.cli", "mlxvspt.__main__"),
]
# publish reads what runs stored: of measure, only what describes a row
PUBLISH_MAY_USE_OF_MEASURE = {"mlxvspt.measure.presets", "mlxvspt.measure.check"}


def modules():
    """{dotted name: (path, is a package)} of every module under mlxvspt/."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def imports(name, path, package, known):
    """The mlxvspt modules `name` imports, anywhere in its body."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for target in targets:
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                out.add(target)
    return out


def graph():
    known = modules()
    return {name: imports(name, path, package, known) for name, (path, package) in known.items()}


def layer(name):
    """The index in LAYERS of the longest prefix of `name`; the bare "mlxvspt" covers only the package and the
    modules directly in mlxvspt/, so a module of a new subpackage has no layer until LAYERS places it."""
    top = name == "mlxvspt" or (name.count(".") == 1 and (PACKAGE / f"{name.split('.')[1]}.py").is_file())
    matches = [prefix for group in LAYERS for prefix in group
               if (name == prefix or name.startswith(prefix + ".")) and (prefix != "mlxvspt" or top)]
    if not matches:
        raise LookupError(f"{name}: no layer in LAYERS")
    best = max(matches, key=len)
    return next(i for i, group in enumerate(LAYERS) if best in group)


def cycles(edges):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def against_layering(edges):
    bad = [(a, b) for a, targets in edges.items() for b in targets if layer(a) < layer(b)]
    bad += [(a, b) for a, targets in edges.items() if a.startswith("mlxvspt.publish") for b in targets
            if b.startswith("mlxvspt.measure") and b not in PUBLISH_MAY_USE_OF_MEASURE]
    return sorted(bad)


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_no_import_against_the_layering():
    assert against_layering(graph()) == []


def test_every_module_has_a_layer():
    for name in graph():
        assert 0 <= layer(name) < len(LAYERS), name
    assert layer("mlxvspt.cli") == len(LAYERS) - 1 and layer("mlxvspt.jsonlines") == 0
    with pytest.raises(LookupError):
        layer("mlxvspt.brand_new_subpackage.module")  # the root's layer does not take it in


def test_every_subpackage_says_what_it_owns():
    for folder in ("measure", "track", "publish", "workloads"):
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc and ("import" in doc or folder == "workloads"), folder


def test_at_most_eight_top_level_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top
