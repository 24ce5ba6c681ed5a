"""The HTML placement matrix: one self-contained file, VMs × destinations, coloured.

At fleet size (4,000 VMs × 200 destinations, 100,000 problems) the time to open the page is
the bytes the browser must parse and the cells it must lay out and paint, so the page keeps
both small. Everything travels gzip-compressed and base64-encoded (the browser's
DecompressionStream unpacks it): the rows' placements (one letter per destination) at load,
each cell's list of problems (delta-coded ids, which compress to almost nothing) when the first
cell or host is opened, and the problems' words, column by column in blocks, only for the block
a selected cell or host needs. The script draws only the rows of one page and the destinations
in view. The few plain values (names of hosts and destinations) are embedded with jinja2's
``tojson``, which escapes what could end the script element, and every value reaches the
page's DOM as text (``textContent``), never as markup.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable
from typing import Any

from lmpreflight._version import __version__
from lmpreflight.fleet.document import PlanInfo, without_destination
from lmpreflight.fleet.placement import HostSummary, Placement, PlacementMatrix, VmRow
from lmpreflight.fleet.render import PAIR_ONLY_NOTE
from lmpreflight.resources import template_environment
from lmpreflight.vocabulary import Status

PROBLEMS_PER_BLOCK = 2000
"""Problems per compressed block: one block (about 10 kB packed) is unpacked in a few ms when
a cell needs it; larger blocks compress better, the words of one check repeating across hosts."""
STATUS_CODES = {"fail": "f", "error": "e", "warn": "w"}


def plan_view(matrix: PlacementMatrix) -> dict[str, Any]:
    """What the page draws at once. ``rows`` is :func:`packed` ``[source, VM, codes]`` per VM:
    one letter per destination, upper case where warnings come with it."""
    sources = {name: index for index, name in enumerate(matrix.sources)}
    warns = {i for i, p in enumerate(matrix.problems) if p.status == Status.WARN}
    return {
        "destinations": matrix.destinations,
        "sources": matrix.sources,
        "strict": matrix.strict,
        "block": PROBLEMS_PER_BLOCK,
        "rows": packed([[sources[row.source], row.vm, _marked(matrix, row, warns)] for row in matrix.rows]),
        "hosts": [
            [host.name, host.error, *_blocking_and_warnings(matrix, host.name)] for host in _listed_hosts(matrix)
        ],
    }


def plan_cells(matrix: PlacementMatrix) -> dict[str, Any]:
    """Which problems make up each cell and each host's list, unpacked when the first is opened.
    ``pairs[source][destination]`` and ``own[row]`` (``[destination step, count, ids...]`` per
    cell) hold ids as :func:`deltas`, counted again from 0 for each source, row and host."""
    return {
        "status": "".join(STATUS_CODES[p.status.value] for p in matrix.problems),
        "pairs": [
            [deltas(matrix.pair_problems.get((source, index), ())) for index in range(len(matrix.destinations))]
            for source in matrix.sources
        ],
        "own": [_own(row) for row in matrix.rows],
        "hosts": [deltas(matrix.host_problems.get(host.name, [])) for host in _listed_hosts(matrix)],
    }


def _listed_hosts(matrix: PlacementMatrix) -> list[HostSummary]:
    """The hosts the page lists: those not collected and those with problems of their own."""
    return [host for host in matrix.hosts if host.error or matrix.host_problems.get(host.name)]


def _blocking_and_warnings(matrix: PlacementMatrix, host: str) -> tuple[int, int]:
    ids = matrix.host_problems.get(host, [])
    warnings = sum(1 for i in ids if matrix.problems[i].status == Status.WARN)
    return len(ids) - warnings, warnings


def _own(row: VmRow) -> list[int]:
    flat: list[int] = []
    previous = 0
    for index in sorted(row.own):
        ids = row.own[index]
        flat += [index - previous, len(ids), *deltas(ids)]
        previous = index
    return flat


def deltas(ids: Iterable[int]) -> list[int]:
    """Each id as its difference from the one before (the first from 0): ids of one pair or
    host are mostly consecutive, so the list is mostly ones and packs to a few bytes."""
    out: list[int] = []
    previous = 0
    for i in ids:
        out.append(i - previous)
        previous = i
    return out


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
    """``value`` as compact JSON, gzip-compressed and base64-encoded: a few percent of its size,
    and text the HTML parser passes over quickly."""
    text = json.dumps(value, separators=(",", ":"))
    return base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)).decode("ascii")


def problem_blocks(matrix: PlacementMatrix) -> list[str]:
    """The problems' details, :data:`PROBLEMS_PER_BLOCK` at a time, each block :func:`packed`
    column by column (every check id, then every status, ...): like values side by side
    compress better than mixed rows."""
    rows = [
        (p.check_id, p.status.value, p.host, p.message, p.fix, p.powershell, p.run_on, p.automated, p.title)
        for p in matrix.problems
    ]
    return [
        packed([list(column) for column in zip(*rows[start : start + PROBLEMS_PER_BLOCK], strict=True)])
        for start in range(0, len(rows), PROBLEMS_PER_BLOCK)
    ]


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
        view=plan_view(matrix),
        cells=packed(plan_cells(matrix)),
        blocks=problem_blocks(matrix),
        note=PAIR_ONLY_NOTE,
    )
