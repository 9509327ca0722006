"""The package's structure, read from its source with ``ast``: no import cycle (imports inside
functions included), no Redis call outside the stores, task names and exception classes each
in one module, and the root error never raised as such."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import batchline
from batchline.workers import tasknames

PACKAGE = Path(batchline.__file__).parent
STORES = PACKAGE / "workers" / "stores"
#: The sandbox stands in for the providers' servers: its exceptions become HTTP answers and
#: never reach a caller, so they are not part of batchline's error family.
SANDBOX = PACKAGE / "sandbox"
#: The demo is an application on top of batchline: its callback hands a line back through
#: Redis under the demo's own key, as a user's code would.
DEMO = PACKAGE / "demo"


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path, ast.parse(path.read_text(), str(path))


def _under(path: Path, folder: Path) -> bool:
    return folder in path.parents


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` (they never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                skipped.update(id(n) for n in ast.walk(inner))
    return skipped


def _imported(name: str, node: ast.Import | ast.ImportFrom, known: set[str]) -> Iterator[str]:
    """The batchline modules one import statement loads (a package's ``__init__`` counts only
    when it is what is named, as in ``from batchline.workers import enqueue_batch``)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in known:
                yield alias.name
        return
    base = node.module or ""
    if node.level:
        package = name.rsplit(".", node.level)[0]
        base = f"{package}.{base}" if base else package
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        if submodule in known:
            yield submodule
        elif base in known:
            yield base


def import_graph() -> dict[str, set[str]]:
    parsed = list(modules())
    known = {name for name, _, _ in parsed}
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, _, tree in parsed:
        skipped = _type_checking_blocks(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
                graph[name].update(t for t in _imported(name, node, known) if t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of module names, or ``[]``."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_the_graph_counts_imports_inside_functions() -> None:
    graph = import_graph()
    # ``batchline.__getattr__`` imports the job API lazily (to keep Celery out of the library).
    assert "batchline.workers.api" in graph["batchline"]
    assert "batchline.workers.stores.jobs" in graph["batchline.workers.runtime"]


def test_no_module_of_batchline_imports_itself_back() -> None:
    assert find_cycle(import_graph()) == []


def _talks_to_redis(module: str, node: ast.AST) -> bool:
    """An import of redis-py, a call on a client (``x.redis.anything``), or a pipeline or
    script of one's own."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
        # The runtime builds the one client the stores share; nothing else needs redis-py.
        return "redis" in names and module != "batchline.workers.runtime"
    if not isinstance(node, ast.Attribute):
        return False
    on_client = isinstance(node.value, ast.Attribute) and node.value.attr == "redis"
    return on_client or node.attr in ("pipeline", "register_script")


def test_only_the_stores_talk_to_redis() -> None:
    offenders = [
        f"{name}:{getattr(node, 'lineno', 0)} {ast.unparse(node)}"
        for name, path, tree in modules()
        if not (_under(path, STORES) or _under(path, DEMO))
        for node in ast.walk(tree)
        if _talks_to_redis(name, node)
    ]
    assert offenders == []


def test_task_names_are_spelled_only_in_tasknames() -> None:
    names = {value for key, value in vars(tasknames).items() if key.isupper()}
    offenders = [
        f"{name}:{node.lineno} {node.value!r}"
        for name, _, tree in modules()
        if name != "batchline.workers.tasknames"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in names
    ]
    assert len(names) == 6  # submit, poll, complete, callback, cancel, sweep
    assert offenders == []


def _exception_classes(tree: ast.Module) -> Iterator[ast.ClassDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            ast.unparse(base).endswith(("Error", "Exception", "Pending")) for base in node.bases
        ):
            yield node


def test_every_exception_class_is_in_errors_with_a_one_line_docstring() -> None:
    elsewhere = []
    for name, path, tree in modules():
        if _under(path, SANDBOX):
            continue
        for cls in _exception_classes(tree):
            if name != "batchline.errors":
                elsewhere.append(f"{name}.{cls.name}")
            else:
                doc = ast.get_docstring(cls) or ""
                assert doc and "\n" not in doc, f"{cls.name} needs a one-line docstring"
    assert elsewhere == []


def test_the_root_error_is_never_raised_as_such() -> None:
    raised = [
        f"{name}:{node.lineno}"
        for name, _, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and ast.unparse(node.exc.func) in ("BatchlineError", "errors.BatchlineError")
    ]
    assert raised == []
