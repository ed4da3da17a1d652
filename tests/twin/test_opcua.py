"""OPC UA against real servers on loopback ports: our server, our client, security, reconnect."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.twin.opcua_support import (
    Drained, as_carried, assert_same_changes, expected_changes, free_port, per_entity, sim_events,
)
from twin.events import Event
from twin.simulator import Simulator
from twin.sources import Source, SourceError, SourceState, open_source
from twin.sources.opcua_security import CertStore
from twin.sources.opcua_server import OpcUaPublisher
from twin.workshop import Workshop, load_workshop

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def workshop(machining13_path: Path) -> Workshop:
    return load_workshop(machining13_path)


def connected(d: Drained) -> bool:
    return d.state(SourceState.CONNECTED)


def settled(d: Drained) -> bool:
    return d.state(SourceState.FAILED) or connected(d)


def publish_until(pub: OpcUaPublisher, sim: Simulator, t_end: float, step: float = 30.0) -> list[Event]:
    out: list[Event] = []
    t = sim.now
    while t < t_end:
        t = min(t_end, t + step)
        ev = sim.step_until(t)
        pub.publish(ev)
        out.extend(ev)
        time.sleep(0.02)  # a node changes a few times per publishing interval at most
    return out


def test_a_subscriber_sees_every_change_the_layout_carries_in_time_order(tmp_path: Path, workshop: Workshop) -> None:
    port = free_port()
    # the test publishes 15 min of shift in seconds: a shift start ahead of the clock keeps
    # those times ahead of the source's wall-clock watermark, as with a paced shop
    pub = OpcUaPublisher(f"opc.tcp://127.0.0.1:{port}", workshop, cert_dir=tmp_path / "server",
                         t0_epoch=time.time() + 60.0)
    pub.start()
    src = open_source(f"opc.tcp://127.0.0.1:{port}", workshop=workshop, cert_dir=tmp_path / "client")
    try:
        sim = Simulator(workshop, seed=4)
        first = sim.step_until(0.0)
        pub.publish(first)
        src.start()
        d = Drained()
        # the subscription's initial values: every station and AGV, as they stand
        d.pump(src, lambda d: len(d.latest()) == len(workshop.stations) + len(workshop.agvs))
        assert src.status.state == SourceState.CONNECTED, src.status
        n0 = len(d.events)
        stood = {e.entity: e for e in first}
        assert {k: e.state for k, e in d.latest().items()} == {k: e.state for k, e in stood.items()
                                                                if e.kind in ("station", "agv")}
        published = publish_until(pub, sim, 900.0)
        want = expected_changes(published, before=stood)
        n_want = sum(map(len, want.values()))
        assert n_want > 300
        d.pump(src, lambda d: sum(map(len, per_entity(d.events[n0:]).values())) >= n_want)
        time.sleep(0.3)
        d.take(src)
        got = d.events[n0:]
        assert [e.t for e in got] == sorted(e.t for e in got)  # time order, as the ingest needs
        assert_same_changes(per_entity(got), want)
        assert not d.rejected
        assert src.meta()["source"] == f"opc.tcp://127.0.0.1:{port}"
        assert abs(src.meta()["t0_epoch"] - pub.t0_epoch) < 1e-3  # read from Objects/Shop/ShiftStart
    finally:
        src.stop()
        pub.stop()
    assert src.status.state == SourceState.STOPPED


# -- security ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory, workshop: Workshop):  # noqa: ANN201
    """A server that only offers Basic256Sha256 Sign / SignAndEncrypt, with one user and no
    anonymous sessions, and a client folder whose certificate it trusts (and vice versa)."""
    root = tmp_path_factory.mktemp("opcua-secure")
    server_dir, client_dir = root / "server", root / "client"
    server_certs, client_certs = CertStore(server_dir), CertStore(client_dir)
    client_certs.trust(server_certs.identity("server")[0])
    server_certs.trust(client_certs.identity("client")[0])
    port = free_port()
    pub = OpcUaPublisher(f"opc.tcp://127.0.0.1:{port}", workshop, security=("Sign", "SignAndEncrypt"),
                         users={"operator": "correct horse"}, cert_dir=server_dir, t0_epoch=time.time())
    pub.start()
    pub.publish(sim_events(workshop, 120.0))
    yield pub, port, root
    pub.stop()


def open_secure(port: int, cert_dir: Path, workshop: Workshop, **kw: object):  # noqa: ANN201
    kw.setdefault("security", "SignAndEncrypt")
    src = open_source(f"opc.tcp://127.0.0.1:{port}", workshop=workshop, cert_dir=str(cert_dir),
                      initial_attempts=1, **kw)
    src.start()
    return src


def test_sign_and_encrypt_with_user_and_password_reads_the_shop(secure, workshop: Workshop) -> None:  # noqa: ANN001
    pub, port, root = secure
    src = open_secure(port, root / "client", workshop, username="operator", password="correct horse")
    try:
        d = Drained()
        d.pump(src, lambda d: len(d.latest()) == len(workshop.stations) + len(workshop.agvs) or
               d.state(SourceState.FAILED))
        assert src.status.state == SourceState.CONNECTED, src.status
        assert "Basic256Sha256 SignAndEncrypt, user operator" in src.status.message
        state_120 = {}
        for e in sim_events(workshop, 120.0):
            state_120[e.entity] = e
        assert {k: e.state for k, e in d.latest().items()} == \
            {k: as_carried(e).state for k, e in state_120.items() if e.kind in ("station", "agv")}
        assert "correct horse" not in repr(src.meta())
        for key in (root / "server" / "own" / "server_key.pem", root / "client" / "own" / "client_key.pem"):
            assert key.stat().st_mode & 0o077 == 0, key  # private keys: owner only
    finally:
        src.stop()


def test_sign_only_is_offered_too(secure, workshop: Workshop) -> None:  # noqa: ANN001
    pub, port, root = secure
    src = open_secure(port, root / "client", workshop, security="Sign", username="operator",
                      password="correct horse")
    try:
        d = Drained()
        d.pump(src, settled)
        assert src.status.state == SourceState.CONNECTED, src.status
    finally:
        src.stop()


def test_a_wrong_password_fails_with_a_clear_message(secure, workshop: Workshop) -> None:  # noqa: ANN001
    pub, port, root = secure
    src = open_secure(port, root / "client", workshop, username="operator", password="battery staple")
    try:
        d = Drained()
        d.pump(src, settled)
        assert src.status.state == SourceState.FAILED
        assert "refused user 'operator'" in src.status.message
        assert "wrong user name or password" in src.status.message
        assert "battery staple" not in src.status.message
    finally:
        src.stop()


def test_a_password_is_never_sent_in_plain_text(tmp_path: Path, workshop: Workshop) -> None:
    """A server offering only the ``None`` endpoint, with user names: asyncua would send the
    password unencrypted (with a log warning). Ours refuses and says what to change; the
    server never sees the password."""
    port = free_port()
    pub = OpcUaPublisher(f"opc.tcp://127.0.0.1:{port}", workshop, security=("None",),
                         users={"operator": "correct horse"}, cert_dir=tmp_path / "server",
                         t0_epoch=time.time())
    pub.start()
    pub.publish(sim_events(workshop, 60.0))
    src = open_secure(port, tmp_path / "client", workshop, security="None", username="operator",
                      password="correct horse")
    try:
        d = Drained()
        d.pump(src, settled)
        assert src.status.state == SourceState.FAILED, src.status
        assert "password of user 'operator' would travel unencrypted" in src.status.message
        assert "Sign or SignAndEncrypt" in src.status.message
        assert "correct horse" not in src.status.message
    finally:
        src.stop()
        pub.stop()


def test_anonymous_is_refused_when_the_server_does_not_allow_it(secure, workshop: Workshop) -> None:  # noqa: ANN001
    pub, port, root = secure
    src = open_secure(port, root / "client", workshop)
    try:
        d = Drained()
        d.pump(src, settled)
        assert src.status.state == SourceState.FAILED
        assert "requires a user name and password" in src.status.message
    finally:
        src.stop()


def test_an_untrusted_server_certificate_is_refused_saying_where_to_trust_it(
        secure, workshop: Workshop, tmp_path: Path) -> None:  # noqa: ANN001
    pub, port, root = secure
    fresh = tmp_path / "fresh-client"  # a client the server trusts, that has never trusted the server
    CertStore(root / "server").trust(CertStore(fresh).identity("client")[0])
    src = open_secure(port, fresh, workshop, username="operator", password="correct horse")
    try:
        d = Drained()
        d.pump(src, settled)
        assert src.status.state == SourceState.FAILED
        msg = src.status.message
        assert "not trusted" in msg and str(fresh / "trusted") in msg
        saved = list((fresh / "rejected").glob("*.der"))
        assert len(saved) == 1 and str(saved[0]) in msg
        assert saved[0].read_bytes() == (root / "server" / "own" / "server_cert.der").read_bytes()
    finally:
        src.stop()
    # doing what the message says makes the next connection work
    saved[0].rename(fresh / "trusted" / saved[0].name)
    again = open_secure(port, fresh, workshop, username="operator", password="correct horse")
    try:
        d = Drained()
        d.pump(again, settled)
        assert again.status.state == SourceState.CONNECTED, again.status
    finally:
        again.stop()


def test_a_client_the_server_does_not_trust_is_refused_and_told_which_certificate(
        secure, workshop: Workshop, tmp_path: Path) -> None:  # noqa: ANN001
    pub, port, root = secure
    stranger = CertStore(tmp_path / "stranger")
    stranger.trust(root / "server" / "own" / "server_cert.der")  # it trusts the server, not vice versa
    src = open_secure(port, stranger.root, workshop, username="operator", password="correct horse")
    try:
        d = Drained()
        d.pump(src, settled)
        assert src.status.state == SourceState.FAILED
        msg = src.status.message
        assert "refused our client certificate" in msg and str(stranger.own / "client_cert.der") in msg
        assert any("not trusted" in m and str(root / "server" / "trusted") in m for m in pub.rejected)
        assert list((root / "server" / "rejected").glob("*.der"))
    finally:
        src.stop()


def test_a_password_in_the_url_is_used_but_never_kept_in_the_meta(tmp_path: Path) -> None:
    src = open_source("opc.tcp://operator:s3cret%21@127.0.0.1:4840/plant?security=SignAndEncrypt",
                      cert_dir=str(tmp_path))
    assert src.username == "operator" and src._password == "s3cret!"  # type: ignore[attr-defined]
    assert src.meta()["source"] == "opc.tcp://operator@127.0.0.1:4840/plant?security=SignAndEncrypt"
    assert src.meta()["security"] == "SignAndEncrypt"
    with pytest.raises(SourceError, match="security mode 'Strong'"):
        open_source("opc.tcp://127.0.0.1:4840?security=Strong")


def test_an_unreachable_server_fails_readably(tmp_path: Path) -> None:
    src = open_source(f"opc.tcp://127.0.0.1:{free_port()}", cert_dir=str(tmp_path), initial_attempts=2,
                      retry_min_s=0.1)
    src.start()
    try:
        d = Drained()
        d.pump(src, lambda d: d.state(SourceState.FAILED))
        assert "connection refused" in src.status.message
        assert [s.state for s in d.statuses][:2] == [SourceState.CONNECTING, SourceState.CONNECTING]
    finally:
        src.stop()


# -- reconnect -------------------------------------------------------------------------------


def test_a_server_restart_mid_stream_is_a_gap_and_the_state_is_right_after_it(
        tmp_path: Path, workshop: Workshop) -> None:
    port, t0 = free_port(), time.time() - 3600.0  # joining a shift an hour in: a busy shop
    url = f"opc.tcp://127.0.0.1:{port}"
    sim = Simulator(workshop, seed=2)
    published: list[Event] = []
    d = Drained()

    def server() -> OpcUaPublisher:
        p = OpcUaPublisher(url, workshop, cert_dir=tmp_path / "server", t0_epoch=t0)
        p.start()
        return p

    def paced(pub: OpcUaPublisher | None, until) -> None:  # noqa: ANN001
        """Run the shop in real time (shift t = wall clock - t0), publishing while a server is up."""
        while not until():
            ev = sim.step_until(time.time() - t0)
            if pub is not None:
                pub.publish(ev)
                published.extend(ev)
            d.take(src)
            time.sleep(0.05)

    def for_(seconds: float):  # noqa: ANN202
        end = time.time() + seconds
        return lambda: time.time() > end

    pub = server()
    src = open_source(url, workshop=workshop, cert_dir=str(tmp_path / "client"), retry_min_s=0.2, retry_max_s=1.0)
    try:
        src.start()
        paced(pub, lambda: d.state(SourceState.CONNECTED))
        paced(pub, for_(3.0))
        time.sleep(0.5)
        d.take(src)
        received_before, published_before = list(d.events), list(published)
        pub.stop()  # the server goes away mid-stream
        paced(None, lambda: d.state(SourceState.RECONNECTING))
        paced(None, for_(2.0))  # the shop goes on while nobody publishes it
        pub = server()  # back, knowing only the current values (it is a fresh server)
        now: dict[str, Event] = {}
        for e in sim.step_until(time.time() - t0):
            now[e.entity] = e
        current = sorted(now.values(), key=lambda e: e.t)
        pub.publish(current)
        published.extend(current)
        n = len(d.statuses)
        paced(pub, lambda: any(s.state == SourceState.CONNECTED for s in d.statuses[n:]))
        assert d.gaps, "the gap comes with the reconnection"
        later = for_(30.0)  # go on until the shop has changed a few times since we were back
        paced(pub, lambda: later() or sum(e.t > d.gaps[0].t1 + 0.5 and e.kind in ("station", "agv")
                                          for e in published) >= 4)
        time.sleep(0.5)
        d.take(src)
    finally:
        src.stop()
        pub.stop()
    d.take(src)

    states = [s.state for s in d.statuses]
    assert states[:2] == [SourceState.CONNECTING, SourceState.CONNECTED]
    i = states.index(SourceState.RECONNECTING)
    assert SourceState.CONNECTED in states[i:] and states[-1] == SourceState.STOPPED
    assert len(d.gaps) == 1
    gap = d.gaps[0]
    assert gap.t1 - gap.t0 > 2.0 and "connection lost" in gap.reason
    assert d.statuses[i].t == pytest.approx(gap.t0)
    # nothing received before the outage is lost or altered, and it was complete
    assert d.events[:len(received_before)] == received_before
    first = [e for e in published_before if e.t > d.statuses[1].t + 1.0]
    stood: dict[str, Event] = {}
    for e in published_before:
        if e.t <= d.statuses[1].t + 1.0:
            stood[e.entity] = e
    assert_same_changes(per_entity(e for e in received_before if e.t > d.statuses[1].t + 1.0),
                        expected_changes(first, before=stood))
    # after it the state is right again: every station and AGV as the shop stood when we were
    # back, then every change published after that
    back = gap.t1
    shop: dict[str, Event] = {}
    for e in published:
        if e.t <= back and e.kind in ("station", "agv"):
            shop[e.entity] = as_carried(e)
    latest: dict[str, Event] = {}
    for e in d.events:
        if e.t <= back + 1e-3:
            latest[e.entity] = e
    assert {k: (e.state, e.wip, e.x, e.y) for k, e in latest.items()} == \
        {k: (e.state, e.wip, e.x, e.y) for k, e in shop.items()}
    want = expected_changes([e for e in published if e.t > back], before=shop)
    got = per_entity(e for e in d.events[len(received_before):] if e.t > back + 1e-3)
    assert sum(map(len, want.values())) >= 2
    assert_same_changes(got, want)


def test_stop_while_connecting_returns_at_once_and_says_stopped(tmp_path: Path) -> None:
    # a port that accepts TCP but never speaks OPC UA: the connect would hang until its timeout
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        src = open_source(f"opc.tcp://127.0.0.1:{silent.getsockname()[1]}", cert_dir=str(tmp_path), timeout_s=30.0)
        assert isinstance(src, Source)
        src.start()
        time.sleep(0.3)
        t = time.monotonic()
        src.stop()
        assert time.monotonic() - t < 2.0
    d = Drained()
    d.take(src)
    assert [s.state for s in d.statuses] == [SourceState.CONNECTING, SourceState.STOPPED]


def test_the_simulated_shop_served_over_opcua_arrives_as_it_runs(tmp_path: Path) -> None:
    """What ``serve --opcua`` does: the sim:// source drained into our server, read back."""
    shop = open_source("sim://machining13?speed=1&warmup_min=30&seed=1")
    ws = shop.workshop  # type: ignore[attr-defined]
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    pub = OpcUaPublisher(url, ws, cert_dir=tmp_path / "server", t0_epoch=time.time() - 1800.0)
    pub.start()
    shop.start()
    src = open_source(url, workshop=ws, cert_dir=str(tmp_path / "client"))
    src.start()
    published: list[Event] = []
    d = Drained()
    try:
        end = time.monotonic() + 20.0
        while time.monotonic() < end and not (d.state(SourceState.CONNECTED) and
                                              time.monotonic() > end - 17.0):
            ev = [e for e in shop.drain().events if isinstance(e, Event)]
            pub.publish(ev)
            published.extend(ev)
            d.take(src)
            time.sleep(0.05)
        time.sleep(0.5)
        d.take(src)
    finally:
        shop.stop()
        src.stop()
        pub.stop()
    assert published and published[-1].t > 1800.0  # warm-up, then paced in real time
    assert d.state(SourceState.CONNECTED)
    shop_now = {e.entity: as_carried(e) for e in published if e.kind in ("station", "agv")}
    seen = d.latest()
    assert {k: (e.state, e.wip, e.process, e.x, e.y) for k, e in seen.items()} == \
        {k: (e.state, e.wip, e.process, e.x, e.y) for k, e in shop_now.items()}
    assert all(a.t <= b.t for a, b in zip(d.events, d.events[1:]))


# -- a server whose layout we did not make ------------------------------------------------------


class VendorGateway:
    """A plain asyncua server as a plant gateway might be: its own namespace URI, numeric
    NodeIds, and only some of our variables (no OperationMode, Blocked, Production, Heading)."""

    def __init__(self, port: int) -> None:
        import asyncio
        import threading

        self.url = f"opc.tcp://127.0.0.1:{port}"
        self.loop = asyncio.new_event_loop()
        self.nodes: dict[str, object] = {}
        self._stop = asyncio.Event()
        ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(ready),), daemon=True)
        self.thread.start()
        assert ready.wait(60)

    async def _main(self, ready) -> None:  # noqa: ANN001
        from asyncua import Server

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        idx = await server.register_namespace("urn:vendor:gateway")
        objects = server.nodes.objects
        machines = await objects.add_folder(idx, "Machines")
        agvs = await objects.add_folder(idx, "AGVs")
        m1 = await machines.add_object(idx, "M1")
        self.nodes["M1/ItemState"] = await m1.add_variable(idx, "ItemState", "NotExecuting")
        t1 = await agvs.add_object(idx, "T1")
        for name, value in (("X", 1.0), ("Y", 2.0), ("State", "idle")):
            self.nodes[f"T1/{name}"] = await t1.add_variable(idx, name, value)
        async with server:
            ready.set()
            await self._stop.wait()

    def write(self, key: str, value: object) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.nodes[key].write_value(value), self.loop).result(10)  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)


def test_a_server_with_its_own_namespace_and_missing_nodes_falls_back_as_documented(tmp_path: Path) -> None:
    gw = VendorGateway(free_port())
    src = open_source(gw.url, cert_dir=str(tmp_path))
    d = Drained()
    try:
        began = time.time()
        src.start()
        d.pump(src, lambda d: len(d.latest()) == 2)
        first = d.latest()
        assert (first["M1"].kind, first["M1"].state) == ("station", "idle")
        assert (first["T1"].state, first["T1"].x, first["T1"].y, first["T1"].heading) == ("idle", 1.0, 2.0, None)
        assert abs(src.meta()["t0_epoch"] - began) < 30  # no Shop/ShiftStart: t = 0 at our connection
        gw.write("M1/ItemState", "Executing")  # no OperationMode node: Executing is processing
        d.pump(src, lambda d: d.latest()["M1"].state == "processing")
        gw.write("M1/ItemState", "Running")  # not a MachineryItemState: rejected, not guessed
        gw.write("T1/State", "flying")
        d.pump(src, lambda d: len(d.rejected) == 2)
        assert "machine M1" in d.rejected[0].reason and "Running" in d.rejected[0].sample
        assert "AGV T1: State 'flying'" in d.rejected[1].reason
        gw.write("T1/State", "moving")
        gw.write("T1/X", 5.0)
        d.pump(src, lambda d: d.latest()["T1"].x == 5.0)
        assert d.latest()["T1"].state == "moving" and d.latest()["M1"].state == "processing"
        assert src.status.state == SourceState.CONNECTED
    finally:
        src.stop()
        gw.stop()


def test_a_port_in_use_and_publishing_to_a_stopped_server_say_so(tmp_path: Path, workshop: Workshop) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        pub = OpcUaPublisher(f"opc.tcp://127.0.0.1:{taken.getsockname()[1]}", workshop, cert_dir=tmp_path)
        with pytest.raises(SourceError, match="cannot start .*port .*in use"):
            pub.start()
    with pytest.raises(SourceError, match="not running"):
        pub.publish(sim_events(workshop, 0.0))
    pub.stop()  # harmless after a failed start
