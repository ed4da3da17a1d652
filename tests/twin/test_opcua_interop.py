"""Our OPC UA server read by a stack we did not write (node-opcua, tests/interop/read_layout.js),
over Basic256Sha256 SignAndEncrypt with a user name and password (the server offers nothing else).

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

from tests.twin.opcua_support import free_port
from twin.events import Event
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
    if not (here / "node_modules" / "node-opcua-client").is_dir():
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
