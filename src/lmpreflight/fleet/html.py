"""The HTML placement matrix: one self-contained file, VMs × destinations, coloured.

The matrix travels as compact JSON inside the page (embedded with jinja2's ``tojson``,
which escapes what could end the script element) and the page draws only the rows in
view: 4,000 VMs × 200 destinations open and filter as fast as a dozen. Every value
reaches the page's DOM as text (``textContent``), never as markup.
"""

from __future__ import annotations

from typing import Any

from lmpreflight._version import __version__
from lmpreflight.fleet.document import PlanInfo, without_destination
from lmpreflight.fleet.placement import Placement, PlacementMatrix
from lmpreflight.fleet.render import PAIR_ONLY_NOTE
from lmpreflight.resources import template_environment


def plan_data(matrix: PlacementMatrix) -> dict[str, Any]:
    """What the page's script draws from; arrays rather than objects to stay small."""
    sources = {name: index for index, name in enumerate(matrix.sources)}
    return {
        "destinations": matrix.destinations,
        "sources": matrix.sources,
        "strict": matrix.strict,
        "problems": [
            [p.check_id, p.status.value, p.host, p.message, p.fix, p.powershell, p.run_on, p.automated, p.title]
            for p in matrix.problems
        ],
        "pairs": {f"{sources[source]}:{index}": list(ids) for (source, index), ids in matrix.pair_problems.items()},
        "rows": [
            [sources[row.source], row.vm, row.placements, {str(k): list(v) for k, v in row.own.items()}]
            for row in matrix.rows
        ],
        "hosts": [
            [host.name, host.os, host.error, matrix.host_problems.get(host.name, [])]
            for host in matrix.hosts
            if host.error or matrix.host_problems.get(host.name)
        ],
    }


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
        note=PAIR_ONLY_NOTE,
    )
