"""Our OPC UA server read by a stack we did not write (node-opcua, tests/interop/read_layout.js),
over Basic256Sha256 SignAndEncrypt with a user name and password (the server offers nothing else);
and the other way round, our client reading a node-opcua server (tests/interop/layout_server.js)
that builds the documented layout, one machine without the optional nodes (the fallbacks).

The node project (package.json + package-lock.json) is installed with ``npm ci`` into
``.cache/interop-node/`` (or ``$DMW_TWIN_NODE_CACHE``) the first time, when that folder has no
node_modules for the current lock file; later runs reuse it. Skipped only when node or npm
is not installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.twin.opcua_support import Drained, free_port
from twin.events import Event
from twin.sources import SourceState, open_source
from twin.simulator import Simulator
from twin.sources.opcua_layout import agv_values, machine_values
from twin.sources.opcua_security import CertStore
from twin.sources.opcua_server import OpcUaPublisher
from twin.workshop import Workshop, load_workshop

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "tests" / "interop"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def node_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm not installed: the node-opcua interop check needs Node.js 20 and npm")
    lock = (INTEROP / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("DMW_TWIN_NODE_CACHE", ROOT / ".cache" / "interop-node"))
    here = cache / hashlib.sha256(lock).hexdigest()[:16]
    if not all((here / "node_modules" / p).is_dir()
               for p in ("node-opcua-client", "node-opcua-server")):
        here.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(INTEROP / name, here / name)
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=here,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"npm ci failed in {here}:\n{r.stderr[-3000:]}"
    return here / "node_modules"


@pytest.fixture(scope="module")
def workshop(machining13_path: Path) -> Workshop:
    return load_workshop(machining13_path)


def line(proc: subprocess.Popen[str], timeout: float = 60.0) -> dict:  # type: ignore[type-arg]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = proc.stdout.readline() if proc.stdout else ""
        if out.startswith("{"):
            return json.loads(out)
        if not out and proc.poll() is not None:
            raise AssertionError(f"node client ended ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
    raise AssertionError("node client said nothing in time")


def test_node_opcua_reads_and_subscribes_to_our_layout_by_browse_path_over_sign_and_encrypt(
        node_modules: Path, workshop: Workshop, tmp_path: Path) -> None:
    port = free_port()
    # node-opcua presents a certificate made here, which our server trusts (as a plant's IT would)
    node_certs = CertStore(tmp_path / "node")
    cert, key, uri = node_certs.identity("client")
    CertStore(tmp_path / "server").trust(cert)
    pub = OpcUaPublisher(f"opc.tcp://127.0.0.1:{port}", workshop, cert_dir=tmp_path / "server",
                         security=("SignAndEncrypt",), users={"operator": "pw"}, allow_anonymous=False)
    pub.start()
    sim = Simulator(workshop, seed=5)
    stood: dict[str, Event] = {}
    for e in sim.step_until(1800.0):
        stood[e.entity] = e
    pub.publish([e for e in sorted(stood.values(), key=lambda e: e.t)])
    pem = tmp_path / "node-cert.pem"
    pem.write_bytes(x509.load_der_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.PEM))
    env = {**os.environ, "NODE_PATH": str(node_modules), "INTEROP_CERT_PEM": str(pem), "INTEROP_KEY_PEM": str(key),
           "INTEROP_APP_URI": uri, "INTEROP_SECURITY": "SignAndEncrypt"}
    proc = subprocess.Popen(
        ["node", str(INTEROP / "read_layout.js"), f"opc.tcp://127.0.0.1:{port}", ",".join(workshop.stations),
         ",".join(workshop.agvs), "2", "operator", "pw"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    published_x: dict[str, list[float]] = {a: [] for a in workshop.agvs}
    try:
        first = line(proc)
        # every documented variable, found by browse path in the namespace resolved at run time
        assert first["namespaceIndex"] >= 1
        values = first["values"]
        for sid in workshop.stations:
            e = stood[sid]
            want = machine_values(e.state, process=e.process, order=e.order, wip=e.wip, product=e.product,
                                  queue=e.queue)
            assert {k: values[f"{sid}/{k}"] for k in want} == want, sid
            assert isinstance(values[f"{sid}/Production/PartsCounter"], int)
        for aid in workshop.agvs:
            e = stood[aid]
            want = agv_values(e.state, x=e.x, y=e.y, heading=e.heading, wip=e.wip, station=e.station)
            assert {k: values[f"{aid}/{k}"] for k in want} == pytest.approx(want), aid
        assert line(proc) == {"subscribed": True}
        # the shop moves on while node-opcua watches: its subscription sees the changes
        t = 1800.0
        while proc.poll() is None and t < 3600.0:
            t += 20.0
            ev = [e for e in sim.step_until(t)]
            pub.publish(ev)
            for e in ev:
                if e.kind == "agv" and e.x is not None:
                    published_x[e.entity].append(e.x)
            time.sleep(0.1)
            if t > 2400.0:
                break
        changes = line(proc)["changes"]
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        pub.stop()
    assert pub.rejected == []  # node-opcua's certificate was checked against our trust folder, and trusted
    seen = {k: v for k, v in changes.items() if k.endswith("/X")}
    moved = [a for a in workshop.agvs if len(set(seen[f"{a}/X"])) > 2]
    assert moved, seen
    for a in moved:
        xs = seen[f"{a}/X"][1:]  # after the initial value: each one is a value we published, in order
        it = iter(published_x[a])
        assert all(any(x == pytest.approx(p) for p in it) for x in xs), a


def test_our_client_follows_a_node_opcua_server_built_to_our_layout(
        node_modules: Path, tmp_path: Path) -> None:
    port = free_port()
    # a shift start a minute ahead of the clock: the changes below, dated within it, stay
    # ahead of the source's wall-clock watermark (as with a paced shop)
    t0 = round(time.time()) + 60.0
    t0_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    server = subprocess.Popen(
        ["node", str(INTEROP / "layout_server.js"), str(port), t0_iso, "S01,S02-", "AGV1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def send(t: float, values: dict) -> None:
        assert server.stdin is not None
        server.stdin.write(json.dumps({"t": t, "set": values}) + "\n")
        server.stdin.flush()
        assert line(server) == {"set": len(values)}

    src = open_source(f"opc.tcp://127.0.0.1:{port}", cert_dir=tmp_path / "client")
    d = Drained()
    try:
        assert line(server)["ready"] is True
        src.start()
        # the subscription's initial values: two machines idle, the AGV idle at the origin
        d.pump(src, lambda d: {e.entity for e in d.events} == {"S01", "S02", "AGV1"}, timeout=60)
        assert src.status.state == SourceState.CONNECTED, src.status
        assert {e.entity: e.state for e in d.events} == {"S01": "idle", "S02": "idle",
                                                          "AGV1": "idle"}
        assert src.meta()["t0_epoch"] == t0  # read from node-opcua's Objects/Shop/ShiftStart
        n0 = len(d.events)
        send(10.0, {"S01/ItemState": "Executing", "S01/Production/ActiveProgram/Name": "drill",
                    "S01/Production/ActiveProgram/WipId": "W7",
                    "S01/Production/ActiveProgram/JobId": "O3", "S01/Production/QueueLength": 2,
                    "S02/ItemState": "Executing",
                    "AGV1/X": 2.5, "AGV1/Y": 1.0, "AGV1/Heading": 90.0, "AGV1/State": "moving",
                    "AGV1/Load": "W6"})
        d.pump(src, lambda d: {"S01", "S02", "AGV1"} <= {e.entity for e in d.events[n0:]
                                                         if e.state != "idle"})
        send(20.0, {"S01/ItemState": "OutOfService", "S01/OperationMode": "Maintenance",
                    "S02/ItemState": "NotAvailable"})
        d.pump(src, lambda d: {(e.entity, e.state) for e in d.events} >= {("S01", "down"),
                                                                          ("S02", "off")})
        time.sleep(0.3)
        d.take(src)
    finally:
        src.stop()
        if server.poll() is None and server.stdin is not None:
            server.stdin.write(json.dumps({"quit": True}) + "\n")
            server.stdin.close()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert not d.rejected
    last = {}
    for e in d.events[n0:]:
        last.setdefault((e.entity, e.t), e)  # the latest event per entity and time
        last[(e.entity, e.t)] = e
    s01 = last[("S01", 10.0)]
    assert (s01.state, s01.process, s01.wip, s01.order, s01.queue) == ("processing", "drill",
                                                                        "W7", "O3", 2.0)
    # S02 has ItemState only: Executing without an OperationMode is processing (documented)
    assert last[("S02", 10.0)].state == "processing"
    agv = last[("AGV1", 10.0)]
    assert (agv.state, agv.x, agv.y, agv.heading, agv.wip) == ("moving", 2.5, 1.0, 90.0, "W6")
    assert last[("S01", 20.0)].state == "down"
    assert last[("S02", 20.0)].state == "off"  # NotAvailable: switched off, not a breakdown
    assert [e.t for e in d.events] == sorted(e.t for e in d.events)
