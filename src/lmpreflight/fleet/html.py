"""The HTML placement matrix: one self-contained file, VMs × destinations, coloured.

The matrix travels as compact JSON inside the page (embedded with jinja2's ``tojson``,
which escapes what could end the script element) and the page draws only the rows in
view: 4,000 VMs × 200 destinations open and filter as fast as a dozen. What a cell needs to
be drawn (its code, whether it has warnings) is in that JSON; the problems' words (messages,
fixes, PowerShell), tens of MB in a fleet, travel gzip-compressed in blocks and are unpacked
in the browser only for the block a selected cell or host needs. Every value reaches the
page's DOM as text (``textContent``), never as markup.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from lmpreflight._version import __version__
from lmpreflight.fleet.document import PlanInfo, without_destination
from lmpreflight.fleet.placement import Placement, PlacementMatrix, VmRow
from lmpreflight.fleet.render import PAIR_ONLY_NOTE
from lmpreflight.resources import template_environment
from lmpreflight.vocabulary import Status

PROBLEMS_PER_BLOCK = 500
"""Problems per compressed block: one block is unpacked (a few ms) when a cell needs it."""
STATUS_CODES = {"fail": "f", "error": "e", "warn": "w"}


def plan_data(matrix: PlacementMatrix) -> dict[str, Any]:
    """What the page's script draws from at once; arrays rather than objects to stay small.
    A row's placements are one letter per destination, upper case where warnings come with
    it, then its own number; which problems make up each cell is packed (:func:`packed`)
    until a cell is opened."""
    sources = {name: index for index, name in enumerate(matrix.sources)}
    warns = {i for i, p in enumerate(matrix.problems) if p.status == Status.WARN}
    return {
        "destinations": matrix.destinations,
        "sources": matrix.sources,
        "strict": matrix.strict,
        "status": "".join(STATUS_CODES[p.status.value] for p in matrix.problems),
        "block": PROBLEMS_PER_BLOCK,
        "rows": [[sources[row.source], row.vm, _marked(matrix, row, warns), i] for i, row in enumerate(matrix.rows)],
        "cells": packed(
            {
                "pairs": {
                    f"{sources[source]}:{index}": list(ids) for (source, index), ids in matrix.pair_problems.items()
                },
                "own": [{str(k): list(v) for k, v in row.own.items()} for row in matrix.rows],
            }
        ),
        "hosts": [
            [host.name, host.os, host.error, matrix.host_problems.get(host.name, [])]
            for host in matrix.hosts
            if host.error or matrix.host_problems.get(host.name)
        ],
    }


def _marked(matrix: PlacementMatrix, row: VmRow, warns: set[int]) -> str:
    """The row's placement codes, each in upper case where the cell has a warning."""
    return "".join(
        code.upper()
        if not warns.isdisjoint(matrix.pair_problems.get((row.source, index), ()))
        or not warns.isdisjoint(row.own.get(index, ()))
        else code
        for index, code in enumerate(row.placements)
    )


def packed(value: Any) -> str:
    """``value`` as JSON, gzip-compressed and base64-encoded: the browser's DecompressionStream
    unpacks it when it is needed, so the page parses at load only what it draws."""
    return base64.b64encode(gzip.compress(json.dumps(value).encode(), compresslevel=6, mtime=0)).decode("ascii")


def problem_blocks(matrix: PlacementMatrix) -> list[str]:
    """The problems' details, :data:`PROBLEMS_PER_BLOCK` at a time, each block :func:`packed`."""
    rows = [
        [p.check_id, p.status.value, p.host, p.message, p.fix, p.powershell, p.run_on, p.automated, p.title]
        for p in matrix.problems
    ]
    return [packed(rows[start : start + PROBLEMS_PER_BLOCK]) for start in range(0, len(rows), PROBLEMS_PER_BLOCK)]


def render_plan_html(matrix: PlacementMatrix, info: PlanInfo) -> str:
    template = template_environment(autoescape=True).get_template("plan.html.j2")
    return template.render(
        info=info,
        version=__version__,
        counts={p.value: matrix.count(p) for p in Placement},
        vms=len(matrix.rows),
        pairs=matrix.pairs,
        destinations=len(matrix.destinations),
        without=without_destination(matrix),
        data=plan_data(matrix),
        blocks=problem_blocks(matrix),
        note=PAIR_ONLY_NOTE,
    )
