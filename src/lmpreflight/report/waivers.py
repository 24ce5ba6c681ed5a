"""Accepted risks: a YAML file of waivers, each naming a check, a subject, why, until when and who.

A waived result keeps its status and stays in every report, marked "accepted" with the
reason, so the risk stays visible (as muted findings do in cloud-posture scanners); it only
stops counting towards the verdict. A waiver past its expiry date counts for nothing and is
shown as expired; one that matched no result is shown as unused. The file format::

    waivers:
      - check: network.migration-networks-isolated
        subject: HV02              # a host or VM name, source, destination, pair, or '*'
        reason: Dedicated migration VLAN arrives in Q3; accepted by the change board
        expires: 2026-12-31
        by: j.smith
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmpreflight.errors import UserError
from lmpreflight.facts.validation import describe_validation_error
from lmpreflight.registry import CHECK_ID

MAX_WAIVER_BYTES = 1_048_576
WAIVABLE = ("fail", "warn", "error")


class Waiver(BaseModel):
    """One accepted risk as written in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    check: str = Field(pattern=CHECK_ID.pattern, description="The check id, as 'lmpreflight checks' lists it")
    subject: str = Field(min_length=1, description="A host or VM name, source, destination, pair, or '*'")
    reason: str = Field(min_length=1, description="Why the risk is accepted")
    expires: date = Field(description="The last day the waiver counts (YYYY-MM-DD)")
    by: str = Field(min_length=1, description="Who accepted the risk")

    def covers(self, check_id: str, subject: str, host: str | None) -> bool:
        """Whether this waiver names the result: the same check, and its subject by role, by
        host name or by VM name (case-insensitive), or any subject with '*'."""
        if check_id != self.check:
            return False
        wanted = self.subject.casefold()
        names = {subject.casefold(), (host or "").casefold()}
        if subject.startswith("vm:"):
            names.add(subject[3:].casefold())
        return wanted == "*" or wanted in names


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver]


WaiverState = Literal["applied", "unused", "expired"]


class WaiverOut(Waiver):
    """A waiver as the report shows it: what it said and what became of it in this run."""

    state: WaiverState = Field(
        description="applied: it accepted at least one result; unused: it matched none; expired: past its date"
    )


def load_waivers(path: Path, known_checks: set[str] | None = None) -> list[Waiver]:
    """The waivers in ``path``, validated; any problem is one line naming the file and entry."""
    try:
        if path.stat().st_size > MAX_WAIVER_BYTES:
            raise UserError(f"--waivers {path}: larger than 1 MB; is this a waiver file?")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"--waivers {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UserError(f"--waivers {path}: not UTF-8 text") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"--waivers {path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except ValueError as exc:  # a date YAML recognises but the calendar has not (2026-13-45)
        raise UserError(f"--waivers {path}: not a valid date: {exc}") from None
    if document is None:
        raise UserError(f"--waivers {path}: the file is empty; it starts with 'waivers:' and lists the accepted risks")
    try:
        waivers = WaiverFile.model_validate(document).waivers
    except ValidationError as exc:
        raise UserError(f"--waivers {path}: {describe_validation_error(exc)}") from None
    for index, waiver in enumerate(waivers):
        if known_checks is not None and waiver.check not in known_checks:
            raise UserError(
                f"--waivers {path}: waivers[{index}].check: no check has the id '{waiver.check}' "
                "('lmpreflight checks' lists them)"
            )
    return waivers


def active(waiver: Waiver, today: date) -> bool:
    """A waiver counts up to and including its expiry day."""
    return today <= waiver.expires
