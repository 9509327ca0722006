"""Adding a provider is one module (plus its sandbox): nothing outside ``batching/providers/``
and ``sandbox/`` may keep a table of providers, or probe a provider for what it can do."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

from batchline.batching.providers import PROVIDERS

PACKAGE = Path(__file__).resolve().parents[1] / "batchline"
#: The only folders allowed to name providers.
PROVIDER_HOMES = (PACKAGE / "batching" / "providers", PACKAGE / "sandbox")


def outside_provider_homes() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if not any(path.is_relative_to(home) for home in PROVIDER_HOMES):
            yield path


def names_a_provider(node: ast.AST) -> bool:
    """A string that is a provider name, or a ``provider/model`` of one."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    text = node.value.lower()
    return any(text == name or text.startswith(f"{name}/") for name in PROVIDERS)


def provider_tables(tree: ast.AST) -> Iterator[ast.expr]:
    """Lists, tuples, sets and dicts holding provider names, and comparisons against one."""
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            members: list[ast.expr] = list(node.elts)
        elif isinstance(node, ast.Dict):
            members = [key for key in node.keys if key is not None] + list(node.values)
        elif isinstance(node, ast.Compare):
            members = [node.left, *node.comparators]
        else:
            continue
        if any(names_a_provider(member) for member in members):
            yield node


def getattr_probes(tree: ast.AST) -> Iterator[ast.Call]:
    """``getattr``/``hasattr`` calls on something named like a provider."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "hasattr"}
            and node.args
            and "provider" in ast.unparse(node.args[0]).lower()
        ):
            yield node


def findings(check: Callable[[ast.AST], Iterator[ast.expr]]) -> list[str]:
    """Every node ``check`` finds in batchline outside the provider homes, as ``file:line``."""
    found = []
    for path in outside_provider_homes():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in check(tree):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_check_sees_a_provider_table_when_there_is_one() -> None:
    tree = ast.parse('MODELS = {"openai": "openai/gpt-4.1-mini"}\nok = ["x", "y"]')
    assert len(list(provider_tables(tree))) == 1
    assert list(getattr_probes(ast.parse('getattr(provider, "find")'))) != []


def test_no_table_of_providers_outside_the_provider_modules_and_the_sandbox() -> None:
    assert findings(provider_tables) == []


def test_no_provider_is_probed_with_getattr() -> None:
    assert findings(getattr_probes) == []
