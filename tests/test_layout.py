"""The import arrows point one way, read from the source with `ast`.

config -> boards -> generations -> presets -> accounts -> providers -> common: an app may
import the apps to its right, never one to its left. The simulator is a stand-alone fake of the
upstreams: it imports no app and no app imports it. Lazy imports inside functions
count (hiding an arrow in a function does not turn it round); imports under
`if TYPE_CHECKING:` count for the arrows but not for cycles, since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["config", "boards", "generations", "presets", "accounts", "providers", "common"]
STANDALONE = "simulator"
PACKAGES = [*LAYERS, STANDALONE]


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "generations.services"
    target: str  # the imported module or name, absolute, e.g. "accounts.models"
    where: str  # path:line
    runtime: bool  # False under `if TYPE_CHECKING:`


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if not node.level:
        base = node.module or ""
    else:
        parts = module.split(".")[: None if is_package else -1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, node.module] if node.module else parts)
    return [f"{base}.{alias.name}" for alias in node.names]


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports() -> Iterator[Import]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module, is_package = _module_name(path)
            tree = ast.parse(path.read_text(), filename=str(path))
            typing_only = _type_checking_lines(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    targets = _absolute(module, is_package, node)
                else:
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                runtime = node.lineno not in typing_only
                for target in targets:
                    yield Import(module, target, where, runtime)


def wrong_way(imp: Import) -> bool:
    """True when `imp` crosses from one package to another against the arrows."""
    source, target = imp.source.split(".")[0], imp.target.split(".")[0]
    if target not in PACKAGES or source == target:
        return False
    if STANDALONE in (source, target):
        return True
    return LAYERS.index(target) < LAYERS.index(source)


def test_every_import_between_apps_points_down_the_layers() -> None:
    found = list(imports())
    assert len({imp.source for imp in found}) > 100  # the walk really read the tree
    backwards = [
        f"{imp.where}: {imp.source} imports {imp.target}" for imp in found if wrong_way(imp)
    ]
    assert backwards == []


def test_the_rule_catches_an_arrow_pointing_up() -> None:
    assert wrong_way(Import("providers.views", "generations.services.x", "", True))
    assert wrong_way(Import("accounts.views", "generations.api.webhooks.x", "", True))
    assert wrong_way(Import("providers.x", "simulator.SimulatorServer", "", True))
    assert wrong_way(Import("simulator.server", "providers.base.x", "", True))
    assert not wrong_way(Import("generations.services", "accounts.services.x", "", True))
    assert not wrong_way(Import("config.urls", "django.urls.path", "", True))


def _modules() -> set[str]:
    return {_module_name(p)[0] for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for imp in imports():
        if not imp.runtime:
            continue
        target = imp.target
        while target and target not in known:  # `from pkg.mod import name` -> pkg.mod
            target = target.rpartition(".")[0]
        if target and target != imp.source and not imp.source.startswith(f"{target}."):
            graph[imp.source].add(target)
    return graph


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    path: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph[node]):
            found = visit(nxt)
            if found:
                return found
        path.pop()
        done.add(node)
        return None

    return visit(start)


def test_no_module_imports_itself_round_a_cycle() -> None:
    graph = _graph()
    cycles = {" -> ".join(c) for name in graph if (c := _cycle_from(name, graph))}
    assert cycles == set()


AUDIENCES = ["generations.api", "generations.portal", "generations.reports"]


def _audience(module: str) -> str | None:
    return next((a for a in AUDIENCES if module == a or module.startswith(f"{a}.")), None)


def crosses_audiences(imp: Import) -> bool:
    """True when one audience package (the API, the portal, the reports) imports another.

    Each speaks to its own audience on top of the app's services and selectors; what two
    of them share belongs in the app (generations.sync, generations.broker, ...).
    """
    source, target = _audience(imp.source), _audience(imp.target)
    return source is not None and target is not None and source != target


def test_audience_packages_never_import_each_other() -> None:
    crossing = [
        f"{imp.where}: {imp.source} imports {imp.target}"
        for imp in imports()
        if crosses_audiences(imp)
    ]
    assert crossing == []


def test_the_audience_rule_catches_a_crossing() -> None:
    assert crosses_audiences(Import("generations.portal.live", "generations.api.sync.x", "", True))
    assert crosses_audiences(Import("generations.api.schema", "generations.reports.q", "", True))
    assert not crosses_audiences(Import("generations.api.views", "generations.sync.x", "", True))
    assert not crosses_audiences(Import("generations.api.a", "generations.api.b", "", True))


def _own_deadline_loops() -> list[str]:
    """Loops in tests/ and bench/ that sleep until a clock passes a deadline of their own."""
    waits = ("sleep(", ".wait(", "wait_for_timeout(")
    clocks = ("monotonic()", "time.time()", "timezone.now()", "perf_counter()")
    found = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        if path == ROOT / "tests" / "harness.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.While | ast.For):
                text = ast.unparse(node)
                if any(w in text for w in waits) and any(c in text for c in clocks):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_tests_and_bench_wait_through_the_one_wait_until() -> None:
    """A test or benchmark that waits for something calls tests.harness.wait_until, which
    fails naming what was not reached; a hand-written deadline loop is its twin."""
    assert _own_deadline_loops() == []
