"""Job-shop instances as workshops: exact times, feasible schedules, clear errors."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from twin.events import Event
from twin.simulator import RULES, Simulator
from twin.workshop import Workshop, WorkshopError, load_workshop

FT06 = Path(__file__).resolve().parents[2] / "assets" / "workshops" / "ft06.txt"
FT06_OPTIMUM = 55.0


def schedule(events: list[Event]) -> list[tuple[str, str, str, float, float]]:
    """(station, job, process, start, end) of every operation, read from station events."""
    ops = []
    open_op: dict[str, tuple[str, str, float]] = {}
    for e in events:
        if e.kind != "station":
            continue
        if e.entity in open_op:
            wip, proc, start = open_op[e.entity]
            if not (e.state == "processing" and e.wip == wip and e.process == proc):
                ops.append((e.entity, wip, proc, start, e.t))
                del open_op[e.entity]
        if e.state == "processing" and e.entity not in open_op:
            open_op[e.entity] = (e.wip, e.process, e.t)
    assert not open_op, "operations still running at the end"
    return ops


def lower_bound(ws: Workshop) -> float:
    machine_load = max(sum(s.processes.values()) for s in ws.stations.values())
    job_length = max(
        sum(ws.stations[step.stations[0]].processes[step.process] for step in p.route)
        for p in ws.products.values()
    )
    return max(machine_load, job_length)


def run(ws: Workshop, rule: str = "fifo") -> tuple[list[Event], float]:
    events: list[Event] = []
    result = Simulator(ws, rule=rule, seed=7).run(10.0, sink=events.append)
    assert result.makespan_s is not None
    return events, result.makespan_s


def test_ft06_becomes_six_machines_and_six_jobs() -> None:
    ws = load_workshop(FT06)
    assert ws.format == "jobshop" and not ws.transport and not ws.agvs
    assert list(ws.stations) == [f"M{i}" for i in range(6)]
    assert [o.wip_ids for o in ws.orders] == [(f"J{j}",) for j in range(6)]
    assert all(o.release_s == 0 for o in ws.orders)
    # job 0 line: "2 1 0 3 1 6 3 7 5 3 4 6"
    route = ws.products["J0"].route
    assert [s.stations[0] for s in route] == ["M2", "M0", "M1", "M3", "M5", "M4"]
    assert [ws.stations[s.stations[0]].processes[s.process] for s in route] == [1, 3, 6, 7, 3, 6]
    assert all(s.setup_s == 0 and s.mtbf_h == float("inf") for s in ws.stations.values())
    assert lower_bound(ws) == 47  # job J1 is 47 s long; the optimum is 55


@pytest.mark.parametrize("rule", list(RULES))
def test_ft06_schedule_is_feasible_and_not_better_than_optimum(rule: str) -> None:
    ws = load_workshop(FT06)
    events, makespan = run(ws, rule)
    assert not [e for e in events if e.kind == "agv"]
    ops = schedule(events)
    assert len(ops) == 36
    # processing times exactly as given
    for station, job, proc, start, end in ops:
        assert end - start == ws.stations[station].processes[proc]
    # no two operations overlap on a machine
    by_machine: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for station, _, _, start, end in ops:
        by_machine[station].append((start, end))
    for intervals in by_machine.values():
        intervals.sort()
        for (_, e0), (s1, _) in zip(intervals, intervals[1:]):
            assert s1 >= e0
    # each job's operations in route order, one after the other
    by_job: dict[str, list[tuple[float, float, str, str]]] = defaultdict(list)
    for station, job, proc, start, end in ops:
        by_job[job].append((start, end, station, proc))
    for job, job_ops in by_job.items():
        job_ops.sort()
        route = ws.products[job].route
        assert [(o[2], o[3]) for o in job_ops] == [(s.stations[0], s.process) for s in route]
        for a, b in zip(job_ops, job_ops[1:]):
            assert b[0] >= a[1]
    assert makespan == max(end for *_, end in ops)
    assert makespan >= FT06_OPTIMUM >= lower_bound(ws)


def test_ft06_is_deterministic_and_rules_matter() -> None:
    ws = load_workshop(FT06)
    a, ma = run(ws, "fifo")
    b, mb = run(ws, "fifo")
    assert a == b and ma == mb
    makespans = {rule: run(ws, rule)[1] for rule in RULES}
    assert len(set(makespans.values())) > 1


def test_comments_blank_lines_and_job_revisiting_a_machine(tmp_path: Path) -> None:
    p = tmp_path / "tiny.txt"
    p.write_text("# two jobs, two machines\n\n2 2\n0 5 1 4 0 2\n# second job\n1 3\n")
    ws = load_workshop(p)
    assert ws.stations["M0"].processes == {"J0.0": 5, "J0.2": 2}
    events, makespan = run(ws)
    ops = schedule(events)
    assert sorted((o[1], o[2], o[3], o[4]) for o in ops) == [
        ("J0", "J0.0", 0, 5), ("J0", "J0.1", 5, 9), ("J0", "J0.2", 9, 11), ("J1", "J1.0", 0, 3),
    ]
    assert makespan == 11


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 2\n0 5 1\n1 3\n", "line 2: job J0: expected 'machine time' pairs"),
        ("2 2\n0 5 1 4\n", "line 2: header announces 2 jobs but the file has 1 job line(s)"),
        ("1 2\n0 5 2 4\n", "line 2: job J0 operation 1: machine 2 out of range 0..1"),
        ("1 2\n0 5 1 -4\n", "line 2: job J0 operation 1: negative or invalid time -4"),
        ("1 2\n0 x 1 4\n", "line 2: job J0 operation 0: time 'x' is not a number"),
        ("# c\n1 1\n0 5\n0 6\n", "line 4: header announces 1 jobs but there are more job lines"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(WorkshopError) as info:
        load_workshop(p)
    assert str(info.value).startswith(f"{p}: {expected}")
