"""What a check read of a destination, so its findings can be reused for an equal destination.

A check is a pure function of the facts it reads. Run once against a destination seen
through :class:`Traced`, it leaves a trace: each part of the destination it read (a path
such as ``("processor", "manufacturer")``) and what it found there, in the order read. Any
other destination that holds the same at every one of those paths makes the check read
exactly the same and so conclude exactly the same: its findings can be reused.

Names are the exception: every destination has its own, and messages quote them. So the
destination's names (``name``, ``full_name``, ``target``, ``identity.fqdn``, ``identity.computer_name``)
are handed to a check as a :class:`Name`: a ``str`` whose text is a marker, which may be
formatted into text (f-strings, ``%``, ``+``, ``str()``) and nothing else. Anything else
(comparing, hashing, slicing, any ``str`` method) raises :class:`NameInspected`, which no
check catches: the check depended on the real name and is run for real per destination.
A finding made with markers is rendered for each destination by putting its names in place
of the markers (:func:`rendered`). Only names made of the characters of DNS names
are passed as markers (the marker is made of them too), so text code that treats such
characters alike (escaping for PowerShell, markup) treats the marker and the name alike.
"""

from __future__ import annotations

import copy
import dataclasses
import operator
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from itertools import repeat
from typing import Any

from pydantic import BaseModel

from lmpreflight.facts.model import HostFacts

Path = tuple[Any, ...]
"""Attribute names from the destination; a call's last step is its ``(args, kwargs)``."""
Read = tuple[str, Path]
"""How a path was read and the path: ``attr``, its value; ``quoted``, a name only quoted
(the same answer for every plain name); ``whole``, used as a whole (compared, iterated, ...)."""

NAME_PATHS: frozenset[Path] = frozenset(
    {("name",), ("full_name",), ("target",), ("identity", "fqdn"), ("identity", "computer_name")}
)
"""The destination's names: different for every destination, quoted in messages."""
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
"""Names passed as markers: the characters of a DNS name, which no escaping changes."""
_NONCE = "lmp" + secrets.token_hex(8)
"""Starts every marker: random per process, so no fact a check quotes can look like one."""
MARKERS: dict[Path, str] = {path: f"{_NONCE}n{index}z" for index, path in enumerate(sorted(NAME_PATHS))}


class NameInspected(BaseException):
    """A check did more with a destination's name than put it into text.

    A ``BaseException``: a check's own ``except Exception`` must not swallow it and go on
    with a marker where the name should be."""


def _inspected(self: Name, *args: Any, **kwargs: Any) -> Any:
    raise NameInspected(self.path)


class Name(str):
    """A destination's name as a marker: fine to format into text, an error to look into."""

    path: Path

    def __new__(cls, path: Path) -> Name:
        name = super().__new__(cls, MARKERS[path])
        name.path = path
        return name

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        if spec:  # padding and alignment depend on the length of the real name
            raise NameInspected(self.path)
        return str.__str__(self)

    def __add__(self, other: object) -> str:
        if type(other) is not str:
            raise NameInspected(self.path)
        return str.__str__(self) + other

    def __radd__(self, other: object) -> str:
        if type(other) is not str:
            raise NameInspected(self.path)
        return other + str.__str__(self)

    def __rmod__(self, template: object) -> str:
        """``template % name``: only a template whose one conversion is a plain ``%s``."""
        if type(template) is not str or template.replace("%%", "").replace("%s", "", 1).count("%"):
            raise NameInspected(self.path)
        return template % str.__str__(self)


_FORMATTING = {"__str__", "__format__", "__add__", "__radd__", "__rmod__", "__new__", "__init__", "__getattribute__"}
_FORMATTING |= {"__class__", "__init_subclass__", "__subclasshook__", "__setattr__", "__delattr__", "__dir__"}
for _method in dir(str):
    if _method not in _FORMATTING and callable(getattr(str, _method)):
        setattr(Name, _method, _inspected)
Name.__hash__ = _inspected  # type: ignore[assignment]


def plain_name(value: object) -> bool:
    return type(value) is str and PLAIN_NAME.fullmatch(value) is not None


def frozen(value: Any) -> Any:
    """A hashable stand-in for a value: equal stand-ins mean values a check cannot tell apart
    (the type is part of it, so ``1`` is not ``True`` and a list is not a tuple)."""
    kind = type(value)
    if isinstance(value, BaseModel):
        return kind, tuple(frozen(getattr(value, name)) for name in kind.model_fields)
    if kind in (list, tuple):
        return kind, tuple(frozen(item) for item in value)
    if kind is dict:
        return kind, tuple((frozen(key), frozen(item)) for key, item in value.items())
    if kind in (set, frozenset):
        return kind, frozenset(frozen(item) for item in value)
    try:
        hash(value)
    except TypeError:
        return kind, id(value)  # an unknown mutable value: equal only to itself
    return kind, value


class _Raised:
    """What reading a path raised (``getattr`` with a default reads absent attributes so)."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class Answers:
    """One host's values by path and answers by read (see :class:`DestinationReads`)."""

    __slots__ = ("by_source", "destination", "kind_key", "names", "needs_met", "numbers", "source_leaves", "values")

    def __init__(self, destination: HostFacts) -> None:
        self.destination = destination
        self.values: dict[Path, Any] = {(): destination}
        self.numbers: dict[int, int] = {}
        """Read number → answer number."""
        self.names: dict[str, str] | None = None
        self.needs_met: dict[tuple[str, ...], bool] = {}
        """A check's needs → whether this host, as the destination, holds every fact of them it needs of the destination."""
        self.kind_key: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
        """The reads a source last asked of this host for its kind, and the host's answers to them
        (kept by :class:`lmpreflight.runner.SourcePairs`): the sources of a fleet mostly ask the
        same reads, so a destination's answers are looked up once, not once per source."""
        self.by_source: dict[str, Any] = {}
        """Check id → what the check, run for every pair, concluded against this host as the
        destination, by what it read of each source (kept by :class:`lmpreflight.runner.SourcePairs`)."""
        self.source_leaves: dict[str, int] = {}
        """Check id → how many different answers of sources :attr:`by_source` holds for it."""


class DestinationReads:
    """Each destination's answer to each read, as a small number: a trace is compared with a
    destination by a few dictionary look-ups, not by comparing facts. Reads are numbered too.
    Shared by every source a process judges: the destinations are the same for all of them."""

    def __init__(self) -> None:
        self._answers: dict[Any, int] = {}
        self._reads: dict[Read, int] = {}
        self._read_of: list[Read] = []
        self._destinations: dict[int, Answers] = {}
        self.per_pair: set[str] = set()
        """Checks that ran for real for every pair of an earlier source: for the next sources
        they are given up on after their second kind of destination, not after many (a hint
        that costs runs, never correctness)."""
        self.per_source: set[str] = set()
        """Checks of :attr:`per_pair` that also read something different of every source: run
        for real, nothing recorded."""
        self.source_hits: dict[str, int] = {}
        self.source_misses: dict[str, int] = {}
        """Per check, how often what it read of a source was found, or not, among what other
        sources answered against the same destination (see :attr:`Answers.by_source`)."""
        self.source_trees: dict[str, int] = {}
        """Per check, how many destinations hold what sources answered it (see :attr:`Answers.by_source`)."""

    def of(self, destination: HostFacts) -> Answers:
        answers = self._destinations.get(id(destination))
        if answers is None or answers.destination is not destination:
            answers = self._destinations[id(destination)] = Answers(destination)
        return answers

    def every_host(self) -> Iterator[Answers]:
        return iter(self._destinations.values())

    def read_of(self, number: int) -> Read:
        return self._read_of[number]

    def read_number(self, read: Read) -> int:
        number = self._reads.get(read)
        if number is None:
            number = self._reads[read] = len(self._read_of)
            self._read_of.append(read)
        return number

    def value(self, answers: Answers, path: Path) -> Any:
        """The destination's value at ``path``, or :class:`_Raised` with what reading it raised."""
        values = answers.values
        if path not in values:
            parent, step = self.value(answers, path[:-1]), path[-1]
            try:
                if isinstance(parent, _Raised):
                    values[path] = parent
                elif isinstance(step, tuple):
                    values[path] = parent(*step[0], **dict(step[1]))
                else:
                    values[path] = getattr(parent, step)
            except Exception as error:
                values[path] = _Raised(error)
        return values[path]

    def is_option(self, read: int) -> bool:
        """Whether the read numbered ``read`` is of the context's options (:meth:`Recording.option`)."""
        return self._read_of[read][0] == "option"

    def option_number(self, value: Any) -> int:
        """An option's value (the selected VMs, ...) as an answer number."""
        return self._answers.setdefault(("option", frozen(value)), len(self._answers))

    def number(self, answers: Answers, read: int) -> int:
        """The destination's answer to the read numbered ``read``, as a number."""
        number = answers.numbers.get(read)
        if number is None:
            answer = self._answer(answers, self._read_of[read])
            number = answers.numbers[read] = self._answers.setdefault(answer, len(self._answers))
        return number

    def _answer(self, answers: Answers, read: Read) -> Any:
        how, path = read
        value = self.value(answers, path)
        if isinstance(value, _Raised):
            return "raised", type(value.error), str(value.error)
        if how in ("whole", "call"):
            return how, frozen(value)
        if how == "quoted" and plain_name(value):
            return "name"
        if isinstance(value, BaseModel):
            return "model", type(value)
        return "value", frozen(value)

    def names(self, answers: Answers) -> dict[str, str]:
        """The destination's names that are handed out as markers, by marker."""
        if answers.names is None:
            values = {marker: self.value(answers, path) for path, marker in MARKERS.items()}
            answers.names = {marker: value for marker, value in values.items() if plain_name(value)}
        return answers.names


class Recording:
    """One run of a check against a host seen through :class:`Traced` (the destination, or for
    checks run for every pair, the source): the reads it made, in order, each with the host's answer."""

    def __init__(self, reads: DestinationReads, host: HostFacts, quotes: bool) -> None:
        self.reads = reads
        self.answers = reads.of(host)
        self.quotes = quotes
        """Whether the check only quotes the destination's names (they are handed out as markers)."""
        self.trace: list[tuple[int, int]] = []
        """(read number, answer number) for each read, in order."""
        self.marked = False
        """Whether a name was handed out as a marker (the findings must be rendered per destination)."""
        self._noted: set[int] = set()
        """The reads already in the trace: a read made again answers as it did the first time (the
        same part of the same host), so it tells nothing new; a check that reads the destination's
        processor once per VM leaves it in the trace once, not once per VM."""
        self._seen: dict[Path, Any] = {}
        """What :meth:`read` handed out for each path, handed out again when the check reads it again."""

    def _note(self, how: str, path: Path) -> Any:
        read = self.reads.read_number((how, path))
        if read not in self._noted:
            self._noted.add(read)
            self.trace.append((read, self.reads.number(self.answers, read)))
        return self.reads.value(self.answers, path)

    def read(self, path: Path) -> Any:
        """The value at ``path`` as the check is to see it, with the read recorded."""
        seen = self._seen.get(path)
        if seen is not None:
            return seen
        quoted = self.quotes and path in NAME_PATHS
        value = self.reads.value(self.answers, path)
        if callable(value) and not isinstance(value, (_Raised, BaseModel)):
            seen = _Method(self, path)  # what the check learns is what the call returns
        else:
            self._note("quoted" if quoted else "attr", path)
            if isinstance(value, _Raised):
                raise value.error
            if quoted and plain_name(value):
                self.marked = True
                seen = Name(path)
            elif isinstance(value, BaseModel):
                seen = Traced(self, path)
            else:
                seen = value
        self._seen[path] = seen
        return seen

    def option(self, name: str, value: Any) -> None:
        """Record that the check read the context's option ``name`` (not a host's fact) as
        ``value`` (:class:`lmpreflight.runner.NotedContext` hands the value on itself)."""
        read = self.reads.read_number(("option", (name,)))
        if read not in self._noted:
            self._noted.add(read)
            self.trace.append((read, self.reads.option_number(value)))

    def whole(self, path: Path) -> Any:
        """The value at ``path``, used as a whole (compared, hashed, iterated, ...)."""
        return self._note("whole", path)

    def call(self, path: Path, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """What the method at ``path`` returns for these arguments: facts are immutable, so that
        is all a check learns from the call (``error_for("resolver")`` is the same for every
        host without a resolver error). Arguments other than plain values (a marker, a part of
        the facts) make it a use of the whole object the method belongs to."""
        if not all(_plain(value) for value in (*args, *kwargs.values())):
            return getattr(self.whole(path[:-1]), path[-1])(*args, **kwargs)
        value = self._note("call", (*path, (args, tuple(sorted(kwargs.items())))))
        if isinstance(value, _Raised):
            raise value.error
        return value


def _plain(value: object) -> bool:
    if type(value) is tuple:
        return all(_plain(item) for item in value)
    return value is None or type(value) in (str, int, float, bool)


_DATACLASS_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """The field names of a dataclass ``kind`` that its constructor takes, found once per type;
    ``None`` for any other type, and for a dataclass with a field its constructor does not take:
    :func:`rendered` could not rebuild it, so it counts as a part :func:`can_render` does not know."""
    if kind not in _DATACLASS_FIELDS:
        fields = dataclasses.fields(kind) if dataclasses.is_dataclass(kind) else None
        rebuilt = fields is not None and all(field.init for field in fields)
        _DATACLASS_FIELDS[kind] = tuple(field.name for field in fields) if fields is not None and rebuilt else None
    return _DATACLASS_FIELDS[kind]


def can_render(value: Any) -> bool:
    """Whether :func:`rendered` knows every part of ``value`` (else a marker might hide in it):
    the scalars it is made of through the containers :func:`rendered` rebuilds, any other object
    being a part it does not know. A container whose items are all of a scalar type already met
    is told so in one pass in C; only the others are walked, stopping at the first unknown part:
    a fleet's recordings search findings about every VM, thousands of parts each."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is list or kind is tuple:
        return _all_render(value)
    if kind is dict:
        return _all_render(value) and _all_render(value.values())
    if (names := _field_names(kind)) is not None:
        return _all_render(list(map(getattr, repeat(value), names)))
    if isinstance(value, (str, int, float, Enum)):
        if value.__class__ is kind:  # not a stand-in that says it is of another type
            _SCALARS.add(kind)
        return True
    return False


def _all_render(values: Iterable[Any]) -> bool:
    """Whether :func:`can_render` holds for every item: one look at the items' types when they are
    all scalars (most of a finding's lists), else item by item."""
    return _SCALARS.issuperset(map(type, values)) or all(map(can_render, values))


_SCALARS = {str, int, float, bool, type(None)}
"""Types whose values :func:`rendered` renders or hands back as they are, neither containers nor
dataclasses: these, and each subclass of them or of ``Enum`` once met."""


def rendered(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` (findings) with each marker replaced by the destination's name. A part without
    a marker is handed back as it is, not rebuilt: a fleet renders every run that was handed a
    marker, findings about many VMs among them, and most of their parts quote no name."""
    if isinstance(value, str):
        if not str.__contains__(value, _NONCE):
            return value
        text = str.__str__(value)
        for marker, name in names.items():
            text = text.replace(marker, name)
        return text
    kind = type(value)
    if kind is list or kind is tuple:
        items = [rendered(item, names) for item in value]
        return value if _same_parts(items, value) else kind(items)
    if kind is dict:
        keys = [rendered(key, names) for key in value]
        items = [rendered(item, names) for item in value.values()]
        return (
            value
            if _same_parts(keys, value) and _same_parts(items, value.values())
            else dict(zip(keys, items, strict=True))
        )
    if (fields := _field_names(kind)) is not None:
        parts = [getattr(value, name) for name in fields]
        changed = [rendered(part, names) for part in parts]
        return value if _same_parts(changed, parts) else kind(**dict(zip(fields, changed, strict=True)))
    return value


def _same_parts(rendered_parts: Iterable[Any], parts: Iterable[Any]) -> bool:
    """Whether rendering handed back every part as it was."""
    return all(map(operator.is_, rendered_parts, parts))


class _Method:
    """A method of the destination's facts: calling it records the call and what it returned;
    anything else done with it uses the whole object it belongs to."""

    __slots__ = ("_path", "_recording")

    def __init__(self, recording: Recording, path: Path) -> None:
        self._recording = recording
        self._path = path

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._recording.call(self._path, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(getattr(self._recording.whole(self._path[:-1]), self._path[-1]), name)


class Traced:
    """A part of the destination's facts that records what a check reads of it.

    Attributes are read through the :class:`Recording` (nested facts come back traced too);
    every operator uses the part as a whole and records that. ``isinstance`` sees the real
    type (the type is part of what was recorded when the part was reached)."""

    __slots__ = ("_path", "_recording")

    def __init__(self, recording: Recording, path: Path) -> None:
        object.__setattr__(self, "_recording", recording)
        object.__setattr__(self, "_path", path)

    def __getattr__(self, name: str) -> Any:
        recording: Recording = object.__getattribute__(self, "_recording")
        return recording.read((*object.__getattribute__(self, "_path"), name))

    @property  # type: ignore[misc]  # isinstance() asks __class__
    def __class__(self) -> type:
        recording: Recording = object.__getattribute__(self, "_recording")
        return type(recording.reads.value(recording.answers, object.__getattribute__(self, "_path")))


def _whole(name: str, use: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Traced, *args: Any) -> Any:
        recording: Recording = object.__getattribute__(self, "_recording")
        return use(recording.whole(object.__getattribute__(self, "_path")), *args)

    method.__name__ = name
    return method


_OPERATORS: dict[str, Callable[..., Any]] = {
    "__eq__": operator.eq,
    "__ne__": operator.ne,
    "__lt__": operator.lt,
    "__le__": operator.le,
    "__gt__": operator.gt,
    "__ge__": operator.ge,
    "__hash__": hash,
    "__bool__": bool,
    "__len__": len,
    "__iter__": iter,
    "__contains__": operator.contains,
    "__getitem__": operator.getitem,
    "__repr__": repr,
    "__str__": str,
    "__format__": format,
    "__dir__": dir,
    "__reduce_ex__": lambda value, protocol: value.__reduce_ex__(protocol),
    "__reduce__": lambda value: value.__reduce__(),
    "__copy__": copy.copy,
    "__deepcopy__": copy.deepcopy,
    "__sizeof__": lambda value: value.__sizeof__(),
    "__setattr__": setattr,
    "__delattr__": delattr,
}
"""Whatever a check does with a part of the facts other than reading an attribute, done to the
real value (``bool(part)`` works for a model without ``__bool__``), using it as a whole."""
for _name, _use in _OPERATORS.items():
    setattr(Traced, _name, _whole(_name, _use))
