"""The layout's rules, read from the source: imports point one way, no package touches another's
tables, a page never imports an API view, and only the VRP model imports OR-Tools."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Lowest first: a package imports only packages below it, never one beside it (routing and
#: welfare_checks know nothing of each other; the carrier app uses both).
LEVELS = {
    "core": 0,
    "postal": 1,
    "municipalities": 2,
    "routing": 3,
    "welfare_checks": 3,
    "carrier_api": 4,
    "demo": 5,
}


def imports_of(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in a file, names imported from a module included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def package_sources() -> Iterator[tuple[str, Path]]:
    for package in LEVELS:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_imports_point_one_way():
    wrong = []
    for package, path in package_sources():
        for line, module in imports_of(path):
            other = module.split(".")[0]
            if other in LEVELS and other != package and LEVELS[other] >= LEVELS[package]:
                wrong.append(f"{_where(path, line)} {package} imports {module}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_no_package_imports_another_packages_tables():
    wrong = []
    for package, path in package_sources():
        for line, module in imports_of(path):
            parts = module.split(".")
            owner = parts[0]
            if owner in LEVELS and owner != package and parts[-1] == "models":
                wrong.append(f"{_where(path, line)} {module}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_no_table_named_by_string_outside_its_package():
    # sa.table("x") / sa.text("... FROM x") is how a package reaches a table it does not own.
    wrong = [
        str(path.relative_to(ROOT))
        for _, path in package_sources()
        if "sa.table(" in path.read_text(encoding="utf-8")
    ]
    assert not wrong, wrong


def test_a_page_never_imports_an_api_view():
    wrong = []
    for _, path in package_sources():
        if "pages" not in path.stem:
            continue
        for line, module in imports_of(path):
            if module.split(".")[-1] == "views" or module.endswith(("_views", ".views")):
                wrong.append(f"{_where(path, line)} {module}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_only_the_vrp_model_imports_ortools():
    importers = {
        str(path.relative_to(ROOT))
        for _, path in package_sources()
        for _, module in imports_of(path)
        if module.split(".")[0] == "ortools"
    }
    assert importers == {"routing/vrp/model.py"}


def test_the_check_sees_a_wrong_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from routing.models import RoutePlan\nimport postal.services\n")
    assert list(imports_of(sample)) == [
        (1, "routing.models"),
        (1, "routing.models.RoutePlan"),
        (2, "postal.services"),
    ]
