"""The standard job-shop text format as a workshop.

Format (Taillard/OR-Library style)::

    # comment lines start with '#'
    n_jobs n_machines
    m t m t m t ...      one line per job: (machine, processing time) per operation, in order

Machines are numbered from 0 and become stations ``M0..M{m-1}``; jobs become WIP
``J0..J{n-1}`` in file order, each in its own order ``OJ0..OJ{n-1}`` (order and WIP ids
differ because every entity id is unique in a recording). Processing times are seconds,
used exactly as given: no setup, no AGV transport (parts move instantly), no failures,
all jobs released at t = 0.
"""

from __future__ import annotations

import math
from pathlib import Path

from twin.workshop_model import (
    AisleNode,
    Order,
    Product,
    RouteStep,
    Station,
    Workshop,
    WorkshopError,
)

#: Spacing of the machines on the generated floor plan [m].
_PITCH_M = 6.0
_PER_ROW = 5


def _content_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, stripped line) for lines that are neither blank nor comments."""
    out = []
    for no, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if s and not s.startswith("#"):
            out.append((no, s))
    return out


def looks_like_jobshop(text: str) -> bool:
    """True if the first non-comment line is exactly two integers."""
    lines = _content_lines(text)
    if not lines:
        return False
    parts = lines[0][1].split()
    return len(parts) == 2 and all(p.lstrip("+-").isdigit() for p in parts)


def parse_jobshop(text: str, path: Path, digest: str) -> Workshop:
    """Build a :class:`Workshop` from job-shop text; errors name the file and line."""

    def fail(line: int, problem: str) -> WorkshopError:
        return WorkshopError(f"{path}: line {line}: {problem}")

    lines = _content_lines(text)
    head_no, head = lines[0]
    n_jobs, n_machines = (int(p) for p in head.split())
    if n_jobs < 1 or n_machines < 1:
        raise fail(head_no, f"need n_jobs >= 1 and n_machines >= 1, got {n_jobs} {n_machines}")
    job_lines = lines[1:]
    if len(job_lines) < n_jobs:
        raise fail(
            job_lines[-1][0] if job_lines else head_no,
            f"header announces {n_jobs} jobs but the file has {len(job_lines)} job line(s)",
        )
    if len(job_lines) > n_jobs:
        raise fail(job_lines[n_jobs][0],
                   f"header announces {n_jobs} jobs but there are more job lines")

    times: dict[str, dict[str, float]] = {f"M{m}": {} for m in range(n_machines)}
    products: dict[str, Product] = {}
    orders: list[Order] = []
    for j, (no, line) in enumerate(job_lines):
        parts = line.split()
        if len(parts) % 2:
            raise fail(no, f"job J{j}: expected 'machine time' pairs, got an odd count "
                           f"of {len(parts)} numbers")
        if not parts:
            raise fail(no, f"job J{j} has no operations")
        steps: list[RouteStep] = []
        for k in range(0, len(parts), 2):
            try:
                m = int(parts[k])
            except ValueError:
                raise fail(no, f"job J{j} operation {k // 2}: machine {parts[k]!r} "
                               "is not an integer") from None
            try:
                t = float(parts[k + 1])
            except ValueError:
                raise fail(no, f"job J{j} operation {k // 2}: time {parts[k + 1]!r} "
                               "is not a number") from None
            if not 0 <= m < n_machines:
                raise fail(no, f"job J{j} operation {k // 2}: machine {m} out of range "
                               f"0..{n_machines - 1}")
            if not math.isfinite(t) or t < 0:
                raise fail(no, f"job J{j} operation {k // 2}: negative or invalid time {parts[k + 1]}")
            proc = f"J{j}.{k // 2}"
            times[f"M{m}"][proc] = t
            steps.append(RouteStep(proc, (f"M{m}",)))
        products[f"J{j}"] = Product(f"J{j}", f"job {j}", tuple(steps))
        orders.append(Order(f"OJ{j}", f"J{j}", 1, 0.0, math.inf, wip_ids=(f"J{j}",)))

    nodes: dict[str, AisleNode] = {}
    stations: dict[str, Station] = {}
    for m in range(n_machines):
        row, col = divmod(m, _PER_ROW)
        x, y = (col + 1) * _PITCH_M, (row + 1) * _PITCH_M
        nid = f"N{m}"
        nodes[nid] = AisleNode(nid, x, y - 2.0)
        stations[f"M{m}"] = Station(
            id=f"M{m}", name=f"machine {m}", type="machining_centre", x=x, y=y,
            heading=270.0, processes=times[f"M{m}"], setup_s=0.0, mtbf_h=math.inf,
            mttr_min=0.0, node=nid, input_capacity=max(n_jobs, 1),
            output_capacity=max(n_jobs, 1),
        )
    ids = list(nodes)
    edges = list(zip(ids, ids[1:]))
    cols = min(n_machines, _PER_ROW)
    rows = (n_machines + _PER_ROW - 1) // _PER_ROW
    return Workshop(
        name=path.stem, path=path.resolve(), stations=stations, agvs={}, buffers={},
        nodes=nodes, edges=edges, products=products, orders=orders, source_hash=digest,
        order_generator=None, title=f"job shop {path.name} ({n_jobs} x {n_machines})",
        description="job-shop instance", floor=((cols + 1) * _PITCH_M, (rows + 1) * _PITCH_M),
        format="jobshop", transport=False, stochastic=False,
    )
