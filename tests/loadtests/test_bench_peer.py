"""The peer benchmark's own logic (issue 13): request bodies, wrk script and the ratio table.
The benchmark itself needs infinity-emb in its own virtualenv and is not run here."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
sys.path.insert(0, str(LOADTESTS))

from bench_peer import Cell, format_table, ratio_rows, request_bodies  # noqa: E402
from bench_wrk import lua_script  # noqa: E402


def test_both_servers_get_the_same_text() -> None:
    captions = ('Un "gatto" sul divano', "due cani sulla neve")
    assert request_bodies("sguardo", captions, "query: ")[0] == {"texts": [captions[0]]}
    peer = request_bodies("infinity-onnx", captions, "query: ")
    assert peer[1] == {"model": "e5", "input": ["query: due cani sulla neve"]}


def test_the_wrk_script_carries_every_body_intact() -> None:
    bodies: list[dict[str, object]] = [{"texts": ['un "gatto" \\ perché']}, {"texts": ["b"]}]
    script = lua_script(bodies)
    literals = re.search(r"local bodies = \{(.*)\}\n", script)
    assert literals is not None and "done = function" in script
    # Undo the Lua escapes and the JSON must be what was given.
    found = re.findall(r'"((?:[^"\\]|\\.)*)"', literals.group(1))
    decoded = [json.loads(s.replace('\\"', '"').replace("\\\\", "\\")) for s in found]
    assert decoded == bodies


def test_ratios_are_per_round_and_the_table_shows_them() -> None:
    cells = [
        Cell("sguardo", 1, [100.0, 120.0, 90.0], [10.0] * 3, [20.0] * 3),
        Cell("infinity-onnx", 1, [50.0, 100.0, 90.0], [20.0] * 3, [40.0] * 3),
        Cell("sguardo", 16, [150.0], [100.0], [200.0]),
    ]
    assert ratio_rows(cells) == [("infinity-onnx", 1, 1.2, 1.0, 2.0)]
    table = format_table(cells).splitlines()
    assert len(table) == 2 + 3
    assert table[2].startswith("| sguardo | 1 | 100.0 | 90.0–120.0 |")
    assert table[3].endswith("| 1.20× (1.00–2.00) |")
    assert table[4].startswith("| sguardo | 16 |") and table[4].endswith("| — |")


def test_the_int8_service_is_sent_what_the_fp32_one_is() -> None:
    captions = ("un gatto",)
    ours = request_bodies("sguardo", captions, "query: ")
    assert request_bodies("sguardo-int8", captions, "query: ") == ours


def test_a_second_table_compares_the_int8_service_with_the_peers() -> None:
    cells = [
        Cell("sguardo", 16, [100.0, 110.0], [10.0] * 2, [20.0] * 2),
        Cell("sguardo-int8", 16, [130.0, 121.0], [8.0] * 2, [16.0] * 2),
        Cell("infinity-onnx", 16, [100.0, 110.0], [10.0] * 2, [20.0] * 2),
    ]
    rows = ratio_rows(cells, base="sguardo-int8")
    assert [(peer, round(m, 2)) for peer, _, m, _, _ in rows] == [
        ("sguardo", 1.2),
        ("infinity-onnx", 1.2),
    ]
    table = format_table(cells, base="sguardo-int8").splitlines()
    assert "sguardo-int8 ÷ it" in table[0]
    assert table[2].startswith("| sguardo-int8 | 16 |")
