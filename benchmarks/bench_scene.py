"""Frame time of the 3D workshop scene, software rendering, 1280x720 off-screen.

For (stations, AGVs) = (13, 5), (100, 20), (500, 100), (2000, 300) it animates the shop -
every frame all AGVs move and 10 % of the stations change state - and prints, for the
product's WorkshopScene and for a naive one-actor-per-entity scene built from the same
models in the same run:

* frame time (apply + render + glFinish), median and p90 [ms], and frames per second;
* update cost excluding rendering (``apply``), median and p90 [ms];
* CPU time per frame of the whole process (the renderer's threads included): on a busy
  machine it shows the cost that wall time hides behind waiting;
* triangles drawn per frame, props in the renderer, build time [s].

Targets (issue 3): 13+5 >= 40 fps; 500+100 >= 10 fps; update < 2 ms at 500+100.
The 13-station shop is the bundled machining13 (plus one AGV); the bigger ones are
synthetic grid layouts (rows of stations facing aisles) generated here.

    python benchmarks/bench_scene.py [--frames N] [--sizes 13x5,500x100] [--view iso|top|close]
                                     [--no-naive]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyvista as pv  # noqa: E402
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper  # noqa: E402

from scene import models, palette  # noqa: E402
from scene.batching import Geom  # noqa: E402
from scene.workshop_scene import WorkshopScene, offscreen_plotter  # noqa: E402
from twin.events import STATES, Event  # noqa: E402
from twin.snapshot import Snapshot  # noqa: E402
from twin.workshop import Agv, AisleNode, Station, Workshop, load_workshop  # noqa: E402

SIZE = (1280, 720)
TYPES = ("lathe", "machining_centre", "drill", "grinder", "deburring", "washer", "inspection")
STATION_STATES = STATES["station"]


# ------------------------------------------------------------------------------------------
# workshops
# ------------------------------------------------------------------------------------------


def synthetic_workshop(n_stations: int, n_agvs: int) -> Workshop:
    """Rows of stations (6 m apart) facing an aisle south of each row (rows 9 m apart),
    cross aisles at both ends; AGVs spread over the row aisles."""
    base = load_workshop(ROOT / "assets" / "workshops" / "machining13.toml")
    cols = max(1, math.ceil(math.sqrt(n_stations * 1.8)))
    rows = math.ceil(n_stations / cols)
    pitch_x, pitch_y = 6.0, 9.0
    nodes: dict[str, AisleNode] = {}
    edges: list[tuple[str, str]] = []
    stations: dict[str, Station] = {}
    for r in range(rows):
        y_aisle = 3.0 + r * pitch_y
        for c in range(-1, cols + 1):
            nid = f"N{r}_{c}"
            nodes[nid] = AisleNode(nid, 6.0 + c * pitch_x, y_aisle)
            if c > -1:
                edges.append((f"N{r}_{c - 1}", nid))
        if r:
            edges.append((f"N{r - 1}_-1", f"N{r}_-1"))
            edges.append((f"N{r - 1}_{cols}", f"N{r}_{cols}"))
    k = 0
    for r in range(rows):
        for c in range(cols):
            if k == n_stations:
                break
            sid = f"S{k + 1:04d}"
            stations[sid] = Station(
                id=sid, name=sid, type=TYPES[k % len(TYPES)], x=6.0 + c * pitch_x,
                y=3.0 + r * pitch_y + 4.0, heading=270.0, processes={"op": 600.0},
                setup_s=60.0, mtbf_h=math.inf, mttr_min=0.0, node=f"N{r}_{c}")
            k += 1
    agvs = {f"AGV{i + 1}": Agv(f"AGV{i + 1}", f"AGV {i + 1}", 1.0, 20.0, 20.0,
                               f"N{i % rows}_{(i * 7) % cols}") for i in range(n_agvs)}
    return dataclasses.replace(
        base, name=f"grid{n_stations}", stations=stations, agvs=agvs, buffers={},
        nodes=nodes, edges=edges, floor=(12.0 + (cols + 1) * pitch_x, 4.0 + rows * pitch_y))


def bench_workshop(n_stations: int, n_agvs: int) -> Workshop:
    if n_stations == 13:
        ws = load_workshop(ROOT / "assets" / "workshops" / "machining13.toml")
        agvs = dict(ws.agvs)
        for i in range(len(agvs), n_agvs):
            agvs[f"AGV{i + 1}"] = dataclasses.replace(next(iter(agvs.values())),
                                                      id=f"AGV{i + 1}", home="C3")
        return dataclasses.replace(ws, agvs=agvs)
    return synthetic_workshop(n_stations, n_agvs)


class Animator:
    """Per frame: every AGV drives 0.5 m along its aisle, 10 % of stations change state."""

    def __init__(self, ws: Workshop, seed: int = 0) -> None:
        self.ws = ws
        self.rng = np.random.default_rng(seed)
        self.snapshot = Snapshot(0.0)
        self.t = 0.0
        self.station_ids = list(ws.stations)
        xs = [n.x for n in ws.nodes.values()]
        self.x_range = (min(xs), max(xs))
        self.agv = {}
        for aid, a in ws.agvs.items():
            node = ws.nodes[a.home]
            self.agv[aid] = [node.x, node.y, 1.0 if self.rng.random() < 0.5 else -1.0]
        for i, sid in enumerate(self.station_ids):
            self.snapshot.apply(Event(0.0, sid, "station", STATION_STATES[i % 5]))

    def step(self) -> Snapshot:
        self.t += 1.0
        t = self.t
        for aid, st in self.agv.items():
            st[0] += 0.5 * st[2]
            if not self.x_range[0] <= st[0] <= self.x_range[1]:
                st[2] = -st[2]
                st[0] += st[2]
            self.snapshot.apply(Event(t, aid, "agv", "moving", x=st[0], y=st[1],
                                      heading=0.0 if st[2] > 0 else 180.0))
        n = max(1, len(self.station_ids) // 10)
        for k in self.rng.choice(len(self.station_ids), n, replace=False):
            self.snapshot.apply(Event(t, self.station_ids[k], "station",
                                      STATION_STATES[int(self.rng.integers(5))]))
        return self.snapshot


# ------------------------------------------------------------------------------------------
# the naive scene: one actor per station body, one per status part, one per AGV
# ------------------------------------------------------------------------------------------


class NaiveScene:
    """What one writes first: an actor per object, moved by its matrix, recoloured by its
    property. Same models (full detail), same floor, no labels, no level of detail."""

    def __init__(self, ws: Workshop, plotter: pv.Plotter) -> None:
        self.plotter = plotter
        x0, y0 = 0.0, 0.0
        x1, y1 = ws.floor
        plotter.add_mesh(pv.Box(bounds=(x0, x1, y0, y1, -0.12, 0.0)),
                         color=palette.rgb_float(palette.FLOOR))
        mappers: dict[str, tuple[vtkPolyDataMapper, vtkPolyDataMapper, int]] = {}
        status_id = int(models.StationPart.STATUS)
        for t in {s.type for s in ws.stations.values()}:
            mesh = models.station_model(t)
            part = np.asarray(mesh.point_data["part"])
            geom = Geom.from_polydata(mesh)
            body = geom.subset(part != status_id).to_polydata()
            status = geom.subset(part == status_id).to_polydata()
            mb, ms = vtkPolyDataMapper(), vtkPolyDataMapper()
            mb.SetInputData(body)
            mb.SetScalarModeToUsePointFieldData()
            mb.SelectColorArray("rgb")
            mb.SetColorModeToDirectScalars()
            ms.SetInputData(status)
            ms.ScalarVisibilityOff()
            mappers[t] = (mb, ms, body.n_cells + status.n_cells)
        self.status_actor: dict[str, vtkActor] = {}
        self.triangles = 12
        for s in ws.stations.values():
            mb, ms, tris = mappers[s.type]
            for m, is_status in ((mb, False), (ms, True)):
                a = vtkActor()
                a.SetMapper(m)
                a.SetPosition(s.x, s.y, 0.0)
                a.SetOrientation(0.0, 0.0, s.heading - 90.0)
                plotter.add_actor(a, reset_camera=False, render=False)
                if is_status:
                    self.status_actor[s.id] = a
            self.triangles += tris
        agv_mesh = models.agv_model("mir100")
        am = vtkPolyDataMapper()
        am.SetInputData(agv_mesh)
        am.SetScalarModeToUsePointFieldData()
        am.SelectColorArray("rgb")
        am.SetColorModeToDirectScalars()
        self.agv_actor: dict[str, vtkActor] = {}
        for aid, agv in ws.agvs.items():
            a = vtkActor()
            a.SetMapper(am)
            node = ws.nodes[agv.home]
            a.SetPosition(node.x, node.y, 0.0)
            plotter.add_actor(a, reset_camera=False, render=False)
            self.agv_actor[aid] = a
            self.triangles += agv_mesh.n_cells
        self.last: dict[str, Event] = {}

    def apply(self, snapshot: Snapshot) -> None:
        for eid, ev in snapshot.entities.items():
            if self.last.get(eid) is ev:
                continue
            self.last[eid] = ev
            if ev.kind == "station":
                self.status_actor[eid].GetProperty().SetColor(
                    *palette.rgb_float(palette.station_state_colour(ev.state)))
            elif ev.kind == "agv":
                a = self.agv_actor[eid]
                a.SetPosition(ev.x, ev.y, 0.0)
                a.SetOrientation(0.0, 0.0, ev.heading or 0.0)

    def render(self) -> None:
        self.plotter.render_window.Render()


def camera_of(plotter: pv.Plotter) -> dict[str, object]:
    cam = plotter.renderer.GetActiveCamera()
    return {"parallel": cam.GetParallelProjection(), "scale": cam.GetParallelScale(),
            "angle": cam.GetViewAngle(), "position": cam.GetPosition(),
            "focal": cam.GetFocalPoint(), "up": cam.GetViewUp()}


def set_camera(plotter: pv.Plotter, c: dict) -> None:
    """Give the naive scene exactly the product scene's view."""
    cam = plotter.renderer.GetActiveCamera()
    cam.SetParallelProjection(c["parallel"])
    cam.SetParallelScale(c["scale"])
    cam.SetViewAngle(c["angle"])
    cam.SetPosition(c["position"])
    cam.SetFocalPoint(c["focal"])
    cam.SetViewUp(c["up"])
    plotter.renderer.ResetCameraClippingRange()


# ------------------------------------------------------------------------------------------


def measure(scene, ws: Workshop, frames: int, warmup: int = 3) -> dict[str, float]:
    anim = Animator(ws)
    rw = scene.plotter.render_window
    scene.apply(anim.snapshot)
    for _ in range(warmup):
        scene.apply(anim.step())
        scene.render()
        rw.WaitForCompletion()
    upd, frame, cpu = [], [], []
    for _ in range(frames):
        snap = anim.step()
        c0 = time.process_time()
        t0 = time.perf_counter()
        scene.apply(snap)
        t1 = time.perf_counter()
        scene.render()
        rw.WaitForCompletion()
        t2 = time.perf_counter()
        cpu.append((time.process_time() - c0) * 1000)
        upd.append((t1 - t0) * 1000)
        frame.append((t2 - t0) * 1000)
    return {
        "frame_med": statistics.median(frame),
        "frame_p90": float(np.percentile(frame, 90)),
        "cpu_med": statistics.median(cpu),
        "upd_med": statistics.median(upd),
        "upd_p90": float(np.percentile(upd, 90)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--sizes", default="13x5,100x20,500x100,2000x300")
    ap.add_argument("--view", choices=("iso", "top", "close"), default="iso",
                    help="whole shop from the south (iso), plan view (top) or a close-up of "
                         "the middle station (close)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive comparison")
    args = ap.parse_args(argv)
    pv.OFF_SCREEN = True
    pv.global_theme.multi_samples = 0
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]

    view = {"iso": "iso view of the whole shop", "top": "plan view of the whole shop",
            "close": "close-up of the middle station"}[args.view]
    print(f"bench_scene: {SIZE[0]}x{SIZE[1]} off-screen, {view}, "
          f"{args.frames} frames; per frame all AGVs move, 10 % of stations change state")
    head = (f"{'stations+AGVs':>14} {'approach':<16} {'frame med':>9} {'p90':>7} {'fps':>6} "
            f"{'cpu med':>8} "
            f"{'update med':>10} {'p90':>6} {'triangles':>10} {'actors':>7} {'build s':>7}")
    print(head)
    print("-" * len(head))
    for n_st, n_agv in sizes:
        ws = bench_workshop(n_st, n_agv)
        frames = args.frames if n_st < 1000 else max(10, args.frames // 2)
        approaches = ["WorkshopScene"] + ([] if args.no_naive else ["actor per entity"])
        view_camera: dict = {}
        for name in approaches:
            plotter = offscreen_plotter(SIZE)
            t0 = time.perf_counter()
            if name == "WorkshopScene":
                scene = WorkshopScene(ws, plotter)
                build = time.perf_counter() - t0
                scene.set_camera("top" if args.view == "top" else "iso")
                if args.view == "close":
                    ids = list(ws.stations)
                    scene.focus(ids[len(ids) // 2 + int(math.sqrt(len(ids))) // 2])
                view_camera = camera_of(plotter)
            else:
                scene = NaiveScene(ws, plotter)
                build = time.perf_counter() - t0
                set_camera(plotter, view_camera)
            r = measure(scene, ws, frames)
            tris = scene.triangles_drawn if name == "WorkshopScene" else scene.triangles
            actors = plotter.renderer.GetViewProps().GetNumberOfItems()
            fps = 1000.0 / r["frame_med"]
            print(f"{n_st:>8}+{n_agv:<5} {name:<16} {r['frame_med']:>7.1f}ms "
                  f"{r['frame_p90']:>5.1f}ms {fps:>6.1f} {r['cpu_med']:>6.1f}ms "
                  f"{r['upd_med']:>8.2f}ms "
                  f"{r['upd_p90']:>4.2f}ms {tris:>10,} {actors:>7} {build:>7.2f}", flush=True)
            if hasattr(scene, "close"):
                scene.close()
            plotter.close()
    print("targets: 13+5 >= 40 fps; 500+100 >= 10 fps; update < 2 ms at 500+100")
    return 0


if __name__ == "__main__":
    sys.exit(main())
