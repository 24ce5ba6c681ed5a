"""Declaring checks and finding them: built-in family modules plus an entry-point group.

The decorator only builds a :class:`~lmpreflight.vocabulary.Check` value; importing a module
registers nothing. :func:`load_checks` collects the values it finds in the built-in
modules and in the modules third parties name in the ``lmpreflight.checks`` group.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType

from lmpreflight.vocabulary import (
    Category,
    Check,
    CheckFunction,
    FixBuilder,
    PathPart,
    Remediation,
    RunPlace,
    Severity,
    ShowsOn,
)

ENTRY_POINT_GROUP = "lmpreflight.checks"
CHECK_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$")
BUILTIN_MODULES = (
    "lmpreflight.checks.domain",
    "lmpreflight.checks.identity",
    "lmpreflight.checks.resolver",
    "lmpreflight.checks.hyperv",
    "lmpreflight.checks.delegation",
    "lmpreflight.checks.credssp",
    "lmpreflight.checks.network",
    "lmpreflight.checks.vm",
)


def check(
    *,
    id: str,
    title: str,
    category: Category,
    severity: Severity,
    remediation: Remediation,
    references: Iterable[str],
    needs: Iterable[str] = (),
    fix: FixBuilder | None = None,
    shows_on: Iterable[ShowsOn] = (),
    guards: Iterable[RunPlace] = (),
    quotes_destination: bool = False,
) -> Callable[[CheckFunction], Check]:
    """Declare a check. The function's docstring is its explanation: why it matters.

    ``fix`` builds the check's step in the remediation script from a failing or warning
    finding (see :func:`lmpreflight.vocabulary.host_step`); ``shows_on`` names the parts of the
    report's migration-path picture the check colours, e.g. ``(PathPart.FORWARD_AUTH,)`` or,
    for findings about one subject only, ``((PathPart.TCP_6600, "source"),)``. ``guards`` names
    the places (e.g. ``"directory"``) whose fix steps are written only when this check passed.
    ``quotes_destination``: see :attr:`lmpreflight.vocabulary.Check.quotes_destination`.
    """
    if not CHECK_ID.match(id):
        raise ValueError(f"check id {id!r} must look like 'family.kebab-name'")
    places = tuple((place, None) if isinstance(place, PathPart) else place for place in shows_on)

    def declare(function: CheckFunction) -> Check:
        explanation = inspect.cleandoc(function.__doc__ or "")
        if not explanation:
            raise ValueError(f"check {id} needs a docstring explaining why it matters")
        return Check(
            id=id,
            title=title,
            category=category,
            severity=severity,
            needs=tuple(needs),
            references=tuple(references),
            remediation=remediation,
            explanation=explanation,
            function=function,
            fix=fix,
            shows_on=places,
            guards=tuple(guards),
            quotes_destination=quotes_destination,
        )

    return declare


@dataclass(frozen=True, slots=True)
class PluginLoadError:
    """A third-party module that could not be imported, named so the user can act."""

    name: str
    module: str
    error: str


@dataclass(slots=True)
class Registry:
    checks: dict[str, Check] = field(default_factory=dict)
    load_errors: list[PluginLoadError] = field(default_factory=list)

    def add_module(self, module: ModuleType) -> None:
        for value in vars(module).values():
            if not isinstance(value, Check):
                continue
            known = self.checks.get(value.id)
            if known is value:
                continue
            if known is not None:
                raise ValueError(f"two checks share the id {value.id!r} (in {module.__name__})")
            self.checks[value.id] = value

    def sorted(self) -> list[Check]:
        return sorted(self.checks.values(), key=lambda c: c.id)


def load_checks(include_plugins: bool = True) -> Registry:
    registry = Registry()
    for name in BUILTIN_MODULES:
        registry.add_module(importlib.import_module(name))
    if include_plugins:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                module = entry.load()
                if not isinstance(module, ModuleType):
                    raise TypeError("the entry point must name a module holding checks")
                registry.add_module(module)
            except Exception as exc:  # a broken plugin must not stop the run
                registry.load_errors.append(PluginLoadError(entry.name, entry.value, f"{type(exc).__name__}: {exc}"))
    return registry
