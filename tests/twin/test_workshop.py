"""Workshop files: the bundled shops load, and every kind of mistake is reported clearly."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from twin.workshop import STATION_TYPES, Workshop, WorkshopError, load_workshop

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "workshops"
BUNDLED = ["machining13", "machining8", "assembly4", "assembly8"]

SMALL = """
[workshop]
name = "small"

[aisles.nodes]
A = [0.0, 0.0]
B = [10.0, 0.0]
C = [10.0, 5.0]

[aisles]
edges = [["A", "B", "C"]]

[[buffer]]
id = "RAW"
kind = "raw"
position = [0.0, -1.0]
node = "A"

[[buffer]]
id = "FG"
kind = "finished"
position = [10.0, 6.0]
node = "C"

[[station]]
id = "S1"
type = "lathe"
position = [10.0, -2.0]
heading = 90
node = "B"
processes = { turn = 60 }
setup_s = 10
mtbf_h = 50
mttr_min = 10
mesh = { path = "meshes/lathe.stl", units = "mm", up_axis = "y" }

[[station]]
id = "S2"
type = "drill"
position = [12.0, 5.0]
node = "C"
processes = { drill = 30, turn = 90 }

[[agv]]
id = "AGV1"
speed = 1.5
load_s = 5
unload_s = 5
home = "A"

[[product]]
id = "part"
route = [{ process = "turn", stations = ["S1", "S2"] }, "drill"]

[orders]
interarrival_min = 10
mix = { part = 1.0 }
quantity = [1, 3]
"""


def write(tmp_path: Path, text: str, name: str = "shop.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_workshops_load_with_connected_aisles(name: str) -> None:
    ws = load_workshop(ASSETS / f"{name}.toml")
    assert ws.name == name
    assert ws.transport and ws.agvs
    assert {b.kind for b in ws.buffers.values()} >= {"raw", "finished"}
    assert all(s.type in STATION_TYPES for s in ws.stations.values())
    # every station and store can be reached from the raw-material store
    raw = ws.buffer_of_kind("raw")
    assert raw is not None
    reach = ws.reachable_from(raw.node)
    assert {s.node for s in ws.stations.values()} <= reach
    assert {b.node for b in ws.buffers.values()} <= reach
    # every route step can be done somewhere, at a positive nominal time
    for p in ws.products.values():
        for step in p.route:
            assert step.stations
            assert all(ws.stations[s].processes[step.process] > 0 for s in step.stations)
    # everything lies on the declared floor
    xmin, ymin, xmax, ymax = ws.bounds()
    assert 0 <= xmin and 0 <= ymin and xmax <= ws.floor[0] and ymax <= ws.floor[1]


def test_machining13_is_the_seed_shop() -> None:
    ws = load_workshop(ASSETS / "machining13.toml")
    assert len(ws.stations) == 13
    assert 3 <= len(ws.agvs) <= 5
    types = {s.type for s in ws.stations.values()}
    assert types == {"lathe", "machining_centre", "drill", "grinder", "deburring", "washer",
                     "inspection"}
    # cycle times are minutes, not seconds or hours
    times = [t for s in ws.stations.values() for t in s.processes.values()]
    assert 60 <= min(times) and max(times) <= 3600


def test_loaded_fields_units_and_hash(tmp_path: Path) -> None:
    p = write(tmp_path, SMALL)
    ws = load_workshop(p)
    assert isinstance(ws, Workshop)
    assert ws.source_hash == hashlib.sha256(p.read_bytes()).hexdigest()
    assert ws.path == p.resolve()
    s1 = ws.stations["S1"]
    assert (s1.x, s1.y, s1.heading, s1.setup_s, s1.mtbf_h, s1.mttr_min) == (10, -2, 90, 10, 50, 10)
    assert s1.mesh is not None
    assert s1.mesh.path == (tmp_path / "meshes" / "lathe.stl").resolve()
    assert s1.mesh.metres_per_unit == pytest.approx(0.001)
    assert s1.mesh.up_axis == "y"
    s2 = ws.stations["S2"]
    assert s2.mtbf_h == math.inf and s2.mesh is None
    # a step without `stations` may go to every station offering the process
    route = ws.products["part"].route
    assert route[0].stations == ("S1", "S2")
    assert route[1].stations == ("S2",)
    assert ws.agvs["AGV1"].speed == 1.5
    assert ws.order_generator is not None and ws.order_generator.quantity == (1, 3)
    path, length = ws.shortest_path("A", "C")
    assert path == ["A", "B", "C"] and length == pytest.approx(15.0)


def test_hash_changes_with_content(tmp_path: Path) -> None:
    a = load_workshop(write(tmp_path, SMALL, "a.toml"))
    b = load_workshop(write(tmp_path, SMALL.replace("speed = 1.5", "speed = 1.6"), "b.toml"))
    assert a.source_hash != b.source_hash


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('stations = ["S1", "S2"]', 'stations = ["S1", "S9"]',
         "product[0] (part).route[0].stations: unknown station 'S9'"),
        ("setup_s = 10", "setup_s = -10", "station[0] (S1).setup_s: must not be negative"),
        ("processes = { turn = 60 }", "processes = { turn = -60 }",
         "station[0] (S1).processes.turn: must be > 0"),
        ('id = "S2"', 'id = "S1"', "station[1].id: duplicate id 'S1'"),
        ('type = "drill"', 'type = "mill"', "station[1] (S2).type: unknown station type 'mill'"),
        ('edges = [["A", "B", "C"]]', 'edges = [["A", "B"]]',
         "aisle node 'C' (station S2) is unreachable from node 'B'"),
        ('node = "B"', 'node = "Z"', "station[0] (S1).node: unknown aisle node 'Z'"),
        ("C = [10.0, 5.0]", "C = [10.0, 5.0]\nD = [20.0, 5.0]",
         "aisles.edges: aisle node 'D' is unreachable from node 'B' (station S1)"),
        ("speed = 1.5", "speed = 0", "agv[0] (AGV1).speed: must be > 0"),
        ('route = [{ process = "turn", stations = ["S1", "S2"] }, "drill"]',
         'route = ["turn", "polish"]', "product[0] (part).route[1].process: no station offers process 'polish'"),
        ('stations = ["S1", "S2"]', 'stations = ["S1"], time = 3',
         "product[0] (part).route[0]: unknown key(s) time"),
        ("mix = { part = 1.0 }", "mix = { gear = 1.0 }", "orders.mix: unknown product 'gear'"),
        ('position = [10.0, -2.0]', 'position = [10.0]', "station[0] (S1).position: must be [x, y]"),
        ('kind = "finished"', 'kind = "scrap"', "buffer[1] (FG).kind: unknown buffer kind 'scrap'"),
        ('units = "mm"', 'units = "furlong"', "station[0] (S1).mesh.units: unknown unit 'furlong'"),
    ],
)
def test_errors_name_file_key_and_problem(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in SMALL
    p = write(tmp_path, SMALL.replace(old, new, 1))
    with pytest.raises(WorkshopError) as info:
        load_workshop(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: ")
    assert expected in msg


def test_agv_shop_needs_raw_and_finished_stores(tmp_path: Path) -> None:
    text = SMALL.replace('kind = "finished"', 'kind = "buffer"')
    with pytest.raises(WorkshopError, match="needs a buffer of kind 'finished'"):
        load_workshop(write(tmp_path, text))


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    p = write(tmp_path, SMALL.replace("setup_s = 10", "setup_s = = 10"))
    with pytest.raises(WorkshopError) as info:
        load_workshop(p)
    line = SMALL.splitlines().index("setup_s = 10") + 1
    assert str(info.value).startswith(f"{p}: invalid TOML")
    assert f"line {line}" in str(info.value)


def test_missing_and_binary_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkshopError, match="cannot read workshop file"):
        load_workshop(tmp_path / "nope.toml")
    p = tmp_path / "garbage.toml"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(WorkshopError, match=r"garbage\.toml: not a workshop file"):
        load_workshop(p)


def test_shop_without_agvs_moves_parts_without_transport(tmp_path: Path) -> None:
    text = SMALL.split("[[agv]]")[0] + "[[product]]" + SMALL.split("[[product]]")[1]
    ws = load_workshop(write(tmp_path, text))
    assert not ws.agvs and not ws.transport
