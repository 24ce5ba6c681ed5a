"""The layer rules of docs/architecture.md, read from the source's own import statements."""

from __future__ import annotations

import ast
from pathlib import Path

from lmpreflight.registry import load_checks
from lmpreflight.runner import COLLECTION_CHECK_ID, PLUGIN_LOAD_CHECK_ID

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lmpreflight"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The lmpreflight modules ``path`` imports, at any depth of the file (deferred imports too):
    ``from a import b`` counts as ``a.b`` when that is a module, else as ``a``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {name for name in found if name in MODULES}


def modules_under(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


def test_the_import_graph_has_no_cycle() -> None:
    """Package ``__init__`` modules aside (importing ``a.b`` runs ``a`` first; that is Python, not design)."""
    graph = {
        name: {i for i in imports_of(path) if MODULES[i].name != "__init__.py"}
        for name, path in MODULES.items()
        if path.name != "__init__.py"
    }
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(name) :], name]))
        if name in done:
            return
        for target in sorted(graph.get(name, ())):
            visit(target, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_facts_import_nothing_of_ours_but_errors_and_fileio() -> None:
    allowed = {"lmpreflight.errors", "lmpreflight.fileio"}
    for path in modules_under("facts"):
        outside = {i for i in imports_of(path) if not i.startswith("lmpreflight.facts") and i not in allowed}
        assert not outside, f"{_module_name(path)} imports {sorted(outside)}"


def test_collection_and_reports_never_import_the_checks() -> None:
    for package in ("collect", "report"):
        for path in modules_under(package):
            leaks = {name for name in imports_of(path) if name.startswith("lmpreflight.checks")}
            assert not leaks, f"{_module_name(path)} imports {sorted(leaks)}"


def test_reports_and_commands_name_no_check_by_its_id() -> None:
    """What a report or a command does for one check belongs to that check (fix=, shows_on=)."""
    ids = set(load_checks(include_plugins=False).checks) | {COLLECTION_CHECK_ID, PLUGIN_LOAD_CHECK_ID}
    for package in ("report", "commands"):
        for path in modules_under(package):
            literals = {
                node.value
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            }
            assert not literals & ids, f"{_module_name(path)} names {sorted(literals & ids)}"


def test_every_optional_fact_section_has_a_required_accessor_that_names_its_path() -> None:
    import pytest

    from lmpreflight.facts.model import HostFacts
    from lmpreflight.vocabulary import Context, MissingFact, RequiredFacts
    from tests.helpers import healthy_pair

    optional = {name for name, field in HostFacts.model_fields.items() if field.default is None}
    accessors = {name for name, value in vars(RequiredFacts).items() if hasattr(value, "__set_name__")}
    assert optional == accessors
    source, destination = healthy_pair()
    context = Context(source, destination.model_copy(update={"migration": None}))
    assert context.required("source").migration is source.migration
    with pytest.raises(MissingFact) as missing:
        _ = context.required("destination").migration
    assert missing.value.path == "destination.migration"
