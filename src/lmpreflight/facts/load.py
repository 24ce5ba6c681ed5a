"""Reading and writing fact files, with one clear line for every way a file can be unusable."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lmpreflight.errors import UserError
from lmpreflight.facts.from_collector import COLLECTOR_FORMAT, facts_from_offline
from lmpreflight.facts.model import SCHEMA_VERSION, HostFacts
from lmpreflight.facts.validation import describe_validation_error
from lmpreflight.fileio import write_atomic

MAX_FACTS_BYTES = 32 * 1024 * 1024
"""A host with hundreds of VMs and a day of events stays well below this; anything larger
is not a fact file, and reading it whole would only waste memory."""


class FactsError(UserError):
    """A fact file that cannot be used; the message names the file, the field and the fix."""


def load_host_facts(path: Path) -> HostFacts:
    """Load and validate one host's facts, or raise :class:`FactsError` with one line."""
    try:
        status = path.stat()
    except OSError as exc:
        raise FactsError(f"{path}: cannot read the fact file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(status.st_mode):
        # A FIFO would block forever and /dev/zero never ends: only regular files are read.
        kind = "a folder" if stat.S_ISDIR(status.st_mode) else "not a regular file"
        raise FactsError(f"{path}: cannot read the fact file ({kind}); pass the JSON written by 'lmpreflight collect'")
    size = status.st_size
    if size > MAX_FACTS_BYTES:
        raise FactsError(
            f"{path}: {size / 1_048_576:.0f} MB is too large for a fact file "
            f"(limit {MAX_FACTS_BYTES // 1_048_576} MB); pass the JSON written by 'lmpreflight collect'"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FACTS_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:  # a folder, no permission, a file that went away
        raise FactsError(f"{path}: cannot read the fact file ({exc.strerror or exc})") from None
    try:
        # Windows PowerShell's '>' writes UTF-16 with a BOM; accept it as well as UTF-8.
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FactsError(
            f"{path}: not a text file (not UTF-8); pass the JSON written by 'lmpreflight collect'"
        ) from None
    if len(raw) > MAX_FACTS_BYTES:
        raise FactsError(f"{path}: too large for a fact file (limit {MAX_FACTS_BYTES // 1_048_576} MB)")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FactsError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise FactsError(f"{path}: JSON nested too deeply to be a fact file") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise FactsError(f"{path}: not usable JSON ({str(exc).splitlines()[0][:120]})") from None
    return parse_host_facts(document, source=str(path))


def parse_host_facts(document: Any, source: str) -> HostFacts:
    """Validate an already-decoded document; ``source`` names it in error messages."""
    if not isinstance(document, dict):
        raise FactsError(f"{source}: expected a JSON object with host facts, found {type(document).__name__}")
    if "lmpreflight_collector" in document:
        return _from_offline_script(document, source)
    other = other_document_kind(document)
    if other is not None:
        raise FactsError(
            f"{source}: this is an lmpreflight {other}, not a host-facts file "
            "(use check --save-facts or collect to write one)"
        )
    version = document.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise FactsError(
            f"{source}: schema_version {version} was written by a newer lmpreflight "
            f"(this one reads up to {SCHEMA_VERSION}); upgrade lmpreflight to analyse it"
        )
    try:
        return HostFacts.model_validate(document)
    except ValidationError as exc:
        raise FactsError(f"{source}: {describe_validation_error(exc)}") from None


OTHER_DOCUMENTS = (
    # Each of lmpreflight's other JSON documents, by the top-level keys only it has.
    ("report", {"verdict", "results", "summary"}),
    ("migration plan", {"sources", "destinations", "vms", "problems"}),
    ("explanation", {"matches", "causes", "notes"}),
)


def other_document_kind(document: dict[str, Any]) -> str | None:
    """Which of lmpreflight's other documents (report, plan, explanation) this one is, if any:
    the commonest wrong file given where a fact file is expected."""
    if "collected_at" in document or "target" in document:
        return None
    for kind, keys in OTHER_DOCUMENTS:
        if keys <= document.keys():
            return kind
    return None


def _from_offline_script(document: dict[str, Any], source: str) -> HostFacts:
    if document.get("lmpreflight_collector") != COLLECTOR_FORMAT:
        raise FactsError(
            f"{source}: written by collector format {document.get('lmpreflight_collector')!r}; this lmpreflight "
            f"reads format {COLLECTOR_FORMAT}: regenerate the script with 'lmpreflight collector-script'"
        )
    try:
        return facts_from_offline(document)
    except (ValueError, ValidationError, TypeError, AttributeError, KeyError, OverflowError, OSError) as exc:
        # The document comes from a host: any shape it has that the parser does not expect
        # is a bad file, not a bug to report with a traceback.
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise FactsError(f"{source}: not a usable collector file ({first})") from None
    except RecursionError:
        raise FactsError(f"{source}: not a usable collector file (nested too deeply)") from None


def dump_host_facts(facts: HostFacts) -> str:
    return facts.model_dump_json(indent=2, exclude_none=False) + "\n"


def facts_json_schema() -> str:
    """The JSON Schema of a host-facts file, as committed to ``schemas/facts.schema.json``."""
    schema = HostFacts.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://lmpreflight.dev/schemas/facts.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def save_host_facts(facts: HostFacts, path: Path) -> None:
    write_atomic(path, dump_host_facts(facts))
