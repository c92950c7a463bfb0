"""The house rules of mailbot/, read from the source with ``ast`` (issue 16).

No module over 500 lines (migrations aside), no class over 350, no function over 80;
at most 12 modules at the top of the package; no import cycle between its modules
(imports inside functions count, those under ``if TYPE_CHECKING:`` do not); and
``mail`` stays pure: none of its modules imports the store.

``layout_problems`` takes any package folder, so the checker itself is tested on
deliberately bad trees in ``tmp_path`` as well as run on the real one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mailbot"

MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 350
MAX_FUNCTION_LINES = 80
MAX_TOP_MODULES = 12
#: generated and append-only: their length is their history
EXEMPT_FOLDERS = ("migrations",)
#: (subpackage, what it must never import)
FORBIDDEN = (("mail", "store"),)


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _exempt(root: Path, path: Path) -> bool:
    return any(part in EXEMPT_FOLDERS for part in path.relative_to(root).parts[:-1])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _imported(name: str, path: Path, tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports at run time, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                # "from pkg import sub" imports the module pkg.sub when there is one.
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else base)
    return {t for t in targets if t in modules and t != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def _sizes(rel: str, tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            lines = node.end_lineno - node.lineno + 1
            is_class = isinstance(node, ast.ClassDef)
            limit = MAX_CLASS_LINES if is_class else MAX_FUNCTION_LINES
            if lines > limit:
                what = "class" if is_class else "function"
                yield f"{rel}:{node.lineno}: {what} {node.name} has {lines} lines (> {limit})"


def layout_problems(root: Path) -> list[str]:
    """Every breach of the house rules in the package at ``root``, one line each."""
    modules = _modules(root)
    problems: list[str] = []
    top = sorted(p.name for p in root.glob("*.py"))
    if len(top) > MAX_TOP_MODULES:
        problems.append(
            f"{root.name}/ has {len(top)} modules at its top (> {MAX_TOP_MODULES}): "
            + ", ".join(top)
        )
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        rel = str(path.relative_to(root.parent))
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=rel)
        graph[name] = _imported(name, path, tree, modules)
        if _exempt(root, path):
            continue
        if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
            problems.append(f"{rel}: module has {lines} lines (> {MAX_MODULE_LINES})")
        problems.extend(_sizes(rel, tree))
        for folder, banned in FORBIDDEN:
            inside, forbidden = f"{root.name}.{folder}", f"{root.name}.{banned}"
            if name == inside or name.startswith(inside + "."):
                for target in sorted(graph[name]):
                    if target == forbidden or target.startswith(forbidden + "."):
                        problems.append(f"{rel}: {folder}/ must not import {banned}: {target}")
    problems.extend(f"import cycle: {' <-> '.join(group)}" for group in _cycles(graph))
    return problems


def test_mailbot_keeps_the_house_rules() -> None:
    problems = layout_problems(PACKAGE)
    assert not problems, "\n" + "\n".join(problems)


# -- the checker on trees made to break each rule -----------------------------------


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _function(name: str, body_lines: int) -> str:
    return f"def {name}() -> None:\n" + "    pass\n" * body_lines


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A small package that keeps every rule, even at the limits."""
    root = tmp_path / "pkg"
    _write(root, "__init__.py", "")
    _write(root, "mail/__init__.py", "from pkg.mail import parse\n")
    _write(root, "mail/parse.py", "from pkg import errors\n")
    _write(root, "errors.py", _function("f", MAX_FUNCTION_LINES - 1))
    _write(root, "store/__init__.py", "from typing import TYPE_CHECKING\n"
           "from pkg.mail.parse import *\n"
           "if TYPE_CHECKING:\n    from pkg import big\n")
    _write(root, "big.py", "import pkg.store\n"
           + "class Big:\n" + "    x = 1\n" * (MAX_CLASS_LINES - 1)
           + "\n" * (MAX_MODULE_LINES - MAX_CLASS_LINES - 1))
    _write(root, "store/migrations/versions/0001.py", "x = 1\n" * 900
           + _function("upgrade", 200))
    for i in range(MAX_TOP_MODULES - 3):
        _write(root, f"m{i}.py", "")
    return root


def test_a_package_within_the_limits_passes(good: Path) -> None:
    assert len(list(good.glob("*.py"))) == MAX_TOP_MODULES
    assert layout_problems(good) == []


def test_each_breach_is_named(good: Path) -> None:
    _write(good, "m_extra.py", "")  # the 13th module at the top
    _write(good, "store/huge.py", "x = 1\n" * (MAX_MODULE_LINES + 1))
    _write(good, "mail/wide.py", "class Wide:\n" + "    x = 1\n" * MAX_CLASS_LINES)
    _write(good, "errors.py", _function("long", MAX_FUNCTION_LINES))
    # a cycle closed by an import inside a function, and a relative one
    _write(good, "mail/auth.py", "def check() -> None:\n    from pkg.store import tables\n")
    _write(good, "store/tables.py", "from ..mail import auth\n")
    problems = layout_problems(good)
    assert problems == [
        "pkg/ has 13 modules at its top (> 12): __init__.py, big.py, errors.py, "
        "m0.py, m1.py, m2.py, m3.py, m4.py, m5.py, m6.py, m7.py, m8.py, m_extra.py",
        "pkg/errors.py:1: function long has 81 lines (> 80)",
        "pkg/mail/auth.py: mail/ must not import store: pkg.store.tables",
        "pkg/mail/wide.py:1: class Wide has 351 lines (> 350)",
        "pkg/store/huge.py: module has 501 lines (> 500)",
        "import cycle: pkg.mail.auth <-> pkg.store.tables",
    ]


def test_type_checking_imports_make_no_cycle_but_other_branches_do(good: Path) -> None:
    # big imports the store; the store imports big only for the type checker
    assert layout_problems(good) == []
    _write(good, "store/__init__.py", "from typing import TYPE_CHECKING\n"
           "if TYPE_CHECKING:\n    pass\nelse:\n    from pkg import big\n")
    assert layout_problems(good) == ["import cycle: pkg.big <-> pkg.store"]


def test_a_mail_module_importing_the_store_package_is_named(good: Path) -> None:
    _write(good, "mail/parse.py", "import pkg.store\n")
    assert layout_problems(good) == [
        "pkg/mail/parse.py: mail/ must not import store: pkg.store",
        # the store imports mail.parse at run time: the two now depend on each other
        "import cycle: pkg.mail.parse <-> pkg.store",
    ]
