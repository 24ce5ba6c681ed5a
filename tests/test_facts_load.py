"""Unusable fact files end in exit 2 and one line naming the file, the field and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmpreflight.facts import SCHEMA_VERSION, load_host_facts
from lmpreflight.facts.load import FactsError
from tests.helpers import EXAMPLES, example_docs, invoke

HEALTHY_DEST = str(EXAMPLES / "healthy" / "destination.json")


def _write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "source.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _doc_with(change) -> str:
    source, _ = example_docs("healthy")
    change(source)
    return json.dumps(source)


BAD_FILES = {
    "truncated": (lambda: json.dumps(example_docs("healthy")[0])[:500], "not valid JSON at line 1"),
    "wrong type": (lambda: _doc_with(lambda d: d["migration"].update(enabled="maybe")), "migration.enabled"),
    "missing field": (lambda: _doc_with(lambda d: d.pop("collected_at")), "collected_at: required field is missing"),
    "unknown field": (lambda: _doc_with(lambda d: d["hyperv"].update(role="x")), "hyperv.role: unknown field"),
    "bad enum": (
        lambda: _doc_with(lambda d: d["migration"].update(authentication_type="NTLM")),
        "'CredSSP' or 'Kerberos'",
    ),
    "nested list item": (lambda: _doc_with(lambda d: d["vms"][1].pop("version")), "vms[1].version"),
    "newer schema": (lambda: _doc_with(lambda d: d.update(schema_version=SCHEMA_VERSION + 1)), "upgrade lmpreflight"),
    "not an object": (lambda: "[1, 2, 3]", "expected a JSON object"),
    "binary": (lambda: bytes(range(256)) * 4, "not a text file"),
    "empty": (lambda: "", "not valid JSON"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_fact_file_exits_2_with_one_line(kind: str, tmp_path: Path, capsys, monkeypatch) -> None:
    make, expected = BAD_FILES[kind]
    path = _write(tmp_path, make())
    code, out, err = invoke(capsys, monkeypatch, "analyze", str(path), HEALTHY_DEST)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lmpreflight: error: {path}: ")
    assert expected in lines[0]
    assert "Traceback" not in err


def test_huge_file_is_refused_before_reading(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    code, _, err = invoke(capsys, monkeypatch, "analyze", str(path), HEALTHY_DEST)
    assert code == 2
    assert "50 MB is too large for a fact file" in err


def test_missing_file(tmp_path: Path, capsys, monkeypatch) -> None:
    code, _, err = invoke(capsys, monkeypatch, "analyze", str(tmp_path / "nope.json"), HEALTHY_DEST)
    assert code == 2
    assert "cannot read the fact file (No such file or directory)" in err


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    from lmpreflight.facts import save_host_facts

    original = load_host_facts(EXAMPLES / "broken" / "source.json")
    path = tmp_path / "copy.json"
    save_host_facts(original, path)
    assert load_host_facts(path) == original


def test_not_collected_differs_from_empty() -> None:
    source, _ = example_docs("healthy")
    source["vms"] = None
    source["errors"] = [{"section": "vms", "message": "Hyper-V module missing", "hint": None}]
    from lmpreflight.facts.load import parse_host_facts

    facts = parse_host_facts(source, "x")
    assert facts.vms is None
    assert facts.error_for("vms").message == "Hyper-V module missing"
    source["vms"] = []
    source["errors"] = []
    assert parse_host_facts(source, "x").vms == []


def test_facts_error_is_a_user_error() -> None:
    from lmpreflight.errors import UserError

    assert issubclass(FactsError, UserError)


def test_invalid_addresses_and_nul_characters_are_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    for change, expected in (
        (
            lambda d: d["migration"]["networks"].append({"subnet": "10.0.50.0/33", "priority": 0}),
            "migration.networks[1].subnet",
        ),
        (lambda d: d["vms"][0].update(name="SQL\x0001"), "vms[0].name: Value error, a NUL character is not allowed"),
        (lambda d: d["vms"][0].update(name="SQL\ud800"), "vms[0].name: Value error, not valid Unicode text"),
        (lambda d: d["vms"][0].update(path="D:\\VMs\x00"), "vms[0].path: Value error, a NUL character is not allowed"),
        (
            lambda d: d["identity"].update(addresses=["10.0.0.1", "x\ud800"]),
            "identity.addresses: Value error, not valid Unicode text",
        ),
        (
            lambda d: d["resolver"]["peer_names"].append({"name": "hv02", "addresses": ["10.0.0.2", "fe80::1%\x00"]}),
            "resolver.peer_names[1].addresses: Value error, a NUL character is not allowed",
        ),
        (lambda d: d["os"].update(caption=None), "os.caption: Input should be a valid string"),
    ):
        path = _write(tmp_path, _doc_with(change))
        code, _, err = invoke(capsys, monkeypatch, "analyze", str(path), HEALTHY_DEST)
        assert code == 2 and expected in err, err


def test_every_text_field_of_every_fact_is_checked_for_nul_and_lone_surrogates() -> None:
    """The NUL and lone-surrogate check is the last check of each field that can hold text (its
    type is Text, Texts, Name, Address, Addresses or Subnet), not a validator of every field:
    a new field typed plain ``str`` would let corrupt text through, so none is."""
    from types import UnionType
    from typing import Annotated, Literal, Union, get_args, get_origin

    from lmpreflight.facts.model import FactModel, _plain_line, _plain_text

    def holds_text(annotation: object) -> bool:
        if annotation is str:
            return True
        if get_origin(annotation) is Literal:
            return False
        if get_origin(annotation) is Annotated:
            return holds_text(get_args(annotation)[0])
        return any(holds_text(arg) for arg in get_args(annotation))

    def checked_last(metadata: list[object]) -> bool:
        return bool(metadata) and getattr(metadata[-1], "func", None) in (_plain_text, _plain_line)

    def checked(annotation: object, metadata: list[object]) -> bool:
        if checked_last(metadata):
            return True
        if get_origin(annotation) in (Union, UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            return len(members) == 1 and checked(members[0], [])
        return get_origin(annotation) is Annotated and checked_last(list(annotation.__metadata__))  # type: ignore[attr-defined]

    def models(cls: type[FactModel]) -> list[type[FactModel]]:
        return [cls, *(model for sub in cls.__subclasses__() for model in models(sub))]

    unchecked = [
        f"{model.__name__}.{name}"
        for model in models(FactModel)
        for name, field in model.model_fields.items()
        if holds_text(field.annotation) and not checked(field.annotation, field.metadata)
    ]
    checked_fields = [
        name
        for model in models(FactModel)
        for name, field in model.model_fields.items()
        if checked(field.annotation, field.metadata)
    ]
    assert unchecked == [] and len(checked_fields) > 100


def test_names_with_line_breaks_or_control_characters_are_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    """A name that could start a new line in a terminal, report or script never loads: one
    line naming the field and the character."""
    for change, field, char in (
        (lambda d: d["identity"].update(computer_name="HV01\nInvoke-Evil"), "identity.computer_name", "U+000A"),
        (lambda d: d["identity"].update(fqdn="hv01.corp.example\r"), "identity.fqdn", "U+000D"),
        (lambda d: d["vms"][0].update(name="SQL\u2028Invoke-Evil"), "vms[0].name", "U+2028"),
        (lambda d: d["switches"][0].update(name="External\x1b[2J"), "switches[0].name", "U+001B"),
        (lambda d: d["switches"][0].update(name="Ext\u2029\x01\n"), "switches[0].name", "U+2029"),
        (lambda d: d["identity"].update(computer_name="HV\x0001\x01"), "identity.computer_name", "U+0001"),
        (lambda d: d["network"]["adapters"][0].update(name="Mgmt\x0bx"), "network.adapters[0].name", "U+000B"),
        (
            lambda d: d["vms"][0]["network_adapters"][0].update(switch_name="Ext\x85x"),
            "vms[0].network_adapters[0].switch_name",
            "U+0085",
        ),
    ):
        path = _write(tmp_path, _doc_with(change))
        code, out, err = invoke(capsys, monkeypatch, "analyze", str(path), HEALTHY_DEST)
        expected = f"{field}: Value error, a line break or control character ({char}) is not allowed in a name"
        assert code == 2 and expected in err, err
        assert len(err.strip().splitlines()) == 1 and "Invoke-Evil" not in out, err

    path = _write(tmp_path, _doc_with(lambda d: d["vms"][0].update(name="SQL 01 (test)")))
    code, _, err = invoke(capsys, monkeypatch, "analyze", str(path), HEALTHY_DEST)
    assert "is not allowed in a name" not in err, err


@pytest.mark.parametrize("kind", ["report", "explanation"])
def test_other_lmpreflight_documents_are_named_not_validated(kind: str, tmp_path: Path, capsys, monkeypatch) -> None:
    healthy_source = str(EXAMPLES / "healthy" / "source.json")
    document = tmp_path / f"{kind}.json"
    if kind == "report":
        invoke(capsys, monkeypatch, "analyze", healthy_source, HEALTHY_DEST, "--json", str(document))
    else:
        document.write_text(invoke(capsys, monkeypatch, "explain", "--json", "0x8009030E")[1])
    code, out, err = invoke(capsys, monkeypatch, "analyze", str(document), HEALTHY_DEST)
    assert code == 2 and out == ""
    assert err.strip() == (
        f"lmpreflight: error: {document}: this is an lmpreflight {kind}, not a host-facts file "
        "(use check --save-facts or collect to write one)"
    )


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*/*.json")), ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_facts_come_through_pickling_as_they_went_in(path: Path) -> None:
    """A fleet's workers pickle each host's facts up a pipe, record by record as their fields
    (FactModel.__reduce__): every record comes back of the same type with the same values,
    the same fields given and the same extras, still frozen, and judged alike."""
    import pickle

    from pydantic import BaseModel, ValidationError

    from lmpreflight.facts.model import HostFacts

    def same(before: object, after: object, where: str) -> None:
        assert type(after) is type(before), where
        if isinstance(before, BaseModel):
            assert isinstance(after, BaseModel)
            assert after.model_fields_set == before.model_fields_set, where
            assert after.model_extra == before.model_extra, where
            for name in type(before).model_fields:
                same(getattr(before, name), getattr(after, name), f"{where}.{name}")
        elif isinstance(before, list | tuple):
            assert isinstance(after, list | tuple) and len(after) == len(before), where
            for index, (one, other) in enumerate(zip(before, after, strict=True)):
                same(one, other, f"{where}[{index}]")
        elif isinstance(before, dict):
            assert isinstance(after, dict) and list(after) == list(before), where
            for key in before:
                same(before[key], after[key], f"{where}[{key!r}]")
        else:
            assert after == before, where

    facts = load_host_facts(path)
    back = pickle.loads(pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL))
    same(facts, back, "facts")
    assert back.model_dump_json() == facts.model_dump_json()
    with pytest.raises(ValidationError):
        back.target = "changed"  # type: ignore[misc]
    assert isinstance(back, HostFacts) and back.full_name == facts.full_name
