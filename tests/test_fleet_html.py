"""The HTML matrix's data: drawn from at load, the rest packed until a cell is opened."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lmpreflight.fleet.document import PlanInfo
from lmpreflight.fleet.html import PROBLEMS_PER_BLOCK, plan_data, problem_blocks, render_plan_html
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


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium (./scripts/bootstrap)")
def test_a_cell_unpacks_its_problems_in_chromium_or_says_why_not(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    path = tmp_path / "plan.html"
    info = PlanInfo(command="test", run_from="here", generated_at=datetime.now(UTC))
    path.write_text(render_plan_html(sample(), info), encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        assert page.locator("td.c.r.w").count() == 2  # the warning mark drawn from the row's letters
        page.locator("td.c.f").first.press("Enter")  # the keyboard opens a cell as a click does
        page.locator("#detail .problem").first.wait_for()
        assert "network.firewall-rule" in page.locator("#detail").inner_text()
        old = browser.new_page()
        old.add_init_script("delete window.DecompressionStream")
        old.goto(path.as_uri())
        old.locator("td.c.f").first.click()
        old.locator("#detail .alert").wait_for()
        assert "cannot unpack the details" in old.locator("#detail").inner_text()
        browser.close()
    assert errors == []
