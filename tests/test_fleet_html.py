"""The HTML matrix's data: drawn from at load, the rest packed until a cell is opened."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from lmpreflight.fleet.html import PROBLEMS_PER_BLOCK, plan_data, problem_blocks
from lmpreflight.fleet.placement import PlacementMatrix
from lmpreflight.vocabulary import Status
from tests.test_fleet_placement import fleet, matrix_for


def unpacked(text: str) -> Any:
    return json.loads(gzip.decompress(base64.b64decode(text)))


def sample() -> PlacementMatrix:
    def one_way(hosts: dict[str, Any]) -> None:
        hosts["hv02"]["migration"]["use_any_network"] = True  # a warning on the ready destination

    return matrix_for(fleet({"x": one_way}))


def test_problem_blocks_hold_every_problem_in_order() -> None:
    matrix = sample()
    problems = [p for block in problem_blocks(matrix) for p in unpacked(block)]
    assert [(p[0], p[1], p[3]) for p in problems] == [(p.check_id, p.status.value, p.message) for p in matrix.problems]
    assert all(len(unpacked(b)) <= PROBLEMS_PER_BLOCK for b in problem_blocks(matrix))
    assert plan_data(matrix)["status"] == "".join(p.status.value[0] for p in matrix.problems)


def test_rows_mark_warnings_and_cells_unpack_to_the_cell_problems() -> None:
    matrix = sample()
    data = plan_data(matrix)
    cells = unpacked(data["cells"])
    for number, (row, drawn) in enumerate(zip(matrix.rows, data["rows"], strict=True)):
        assert drawn[2].lower() == row.placements and drawn[3] == number
        for index, code in enumerate(row.placements):
            if code == "-":
                continue
            ids = cells["pairs"].get(f"0:{index}", []) + cells["own"][number].get(str(index), [])
            assert sorted(set(ids)) == sorted(matrix.cell_problems(row, index))
            warned = any(matrix.problems[i].status == Status.WARN for i in ids)
            assert drawn[2][index] == (code.upper() if warned else code)
    assert any(c.isupper() for row in data["rows"] for c in row[2])  # the warning was marked
