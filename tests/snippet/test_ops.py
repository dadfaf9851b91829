"""Ops to the loader: each constructor makes the shape docs/protocol.md section 2 gives it, and
the loader (or, for `storage`, the worker) acts on every op Python makes."""

import json
import re
from pathlib import Path

import pytest

from snippet import ops

ROOT = Path(__file__).resolve().parents[2]
EVERY_OP = [
    ops.set_cookies(["a=1; path=/"]),
    ops.probe_cookie_domain(["example.com"], "_hp2_hld.1", "SameSite=Lax"),
    ops.state(user_id="1", identity=None, session_id=None, opted_out=False),
    ops.beacon("http://127.0.0.1:8000/api/ingest", ["{}"], [["0" * 32]]),
    ops.warn("careful"),
    ops.ready(),
    ops.storage(True),
    ops.handled(3),
]


def protocol_table() -> dict[str, set[str]]:
    """Op name → the backticked words of its `fields` cell, from section 2's table."""
    text = (ROOT / "docs" / "protocol.md").read_text()
    section = text.split("## 2.", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = set(re.findall(r"`(\w+)`", cells[1]))
    return rows


@pytest.mark.parametrize("op", EVERY_OP, ids=lambda op: str(op["op"]))
def test_each_op_has_the_fields_protocol_md_gives_it(op: ops.Op) -> None:
    table = protocol_table()
    assert op["op"] in table
    assert set(op) - {"op"} <= table[str(op["op"])]
    json.dumps(op)  # it crosses to the loader as JSON


@pytest.mark.parametrize("op", EVERY_OP, ids=lambda op: str(op["op"]))
def test_the_loader_or_the_worker_acts_on_each_op(op: ops.Op) -> None:
    loader = (ROOT / "snippet" / "loader.js").read_text()
    worker = (ROOT / "snippet" / "worker.mjs").read_text()
    assert re.search(rf"\n\s+{op['op']}: ", loader) or f'name === "{op["op"]}"' in worker
