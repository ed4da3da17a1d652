"""``serve`` sub-command: publish the simulated shop over MQTT and/or OPC UA (demos, tests).

    python main.py serve --mqtt mqtt://localhost:1883/dmw [--profile json|sparkplug]
        --workshop machining13 [--scenario S.toml] [--speed 60] [--duration 600]
    python main.py serve --opcua opc.tcp://0.0.0.0:4840 --workshop machining13 \
        [--opcua-security None,SignAndEncrypt --opcua-user U --opcua-password-env VAR]

The simulated physical shop (``sim://``, paced at real time × ``--speed``) is drained in a
loop and every batch handed to each publisher (``start()``, ``publish(events)``, ``stop()``:
:class:`twin.sources.mqtt_publisher.MqttPublisher`, and the OPC UA publisher
``twin.sources.opcua_server.OpcUaPublisher``, imported only when ``--opcua`` is given).
A broker login: ``--user NAME``; the password comes from ``--password-env VAR``, else the
system keyring (:mod:`twin.credentials`), else it is asked for on the terminal. Ctrl-C or
SIGTERM stop it cleanly (in-flight messages delivered, Sparkplug NDEATH sent).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from twin.errors import CommandError

#: Wall seconds between drains of the simulated shop.
POLL_S = 0.05
#: Wall seconds between progress lines.
REPORT_S = 10.0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``serve`` sub-command."""
    p = subparsers.add_parser(
        "serve", help="publish the simulated shop over MQTT and/or OPC UA",
        description="Run the simulated physical shop in real time x speed and publish every "
                    "event over MQTT (JSON or Sparkplug B) and/or OPC UA.")
    p.add_argument("--mqtt", metavar="URL", default=None,
                   help="broker and topic prefix / Sparkplug group, e.g. mqtt://localhost:1883/dmw "
                        "(mqtts:// for TLS)")
    p.add_argument("--profile", choices=("json", "sparkplug"), default=None,
                   help="MQTT payload profile (default: the URL's profile= or json)")
    p.add_argument("--batch", action="store_true",
                   help="JSON profile: send each slice of events as one array on <prefix>/events "
                        "(for high rates) instead of one message per event")
    p.add_argument("--opcua", metavar="URL", default=None,
                   help="OPC UA endpoint to serve, e.g. opc.tcp://0.0.0.0:4840")
    p.add_argument("--opcua-security", default="None", metavar="MODES",
                   help="OPC UA message security modes offered, comma-separated: None, Sign, "
                        "SignAndEncrypt (default None)")
    p.add_argument("--opcua-user", default=None, help="OPC UA user name sessions may log in with")
    p.add_argument("--opcua-password-env", metavar="VAR", default=None,
                   help="environment variable holding that OPC UA user's password")
    p.add_argument("--shdr", metavar="HOST:PORT", default=None,
                   help="replay MTConnect adapter logs (--replay) as an adapter on this address")
    p.add_argument("--replay", nargs="+", metavar="FILE", default=None,
                   help="SHDR log files (plain or .gz) or folders replayed by --shdr")
    p.add_argument("--workshop", default="machining13",
                   help="bundled workshop name or workshop file (default machining13)")
    p.add_argument("--scenario", type=Path, default=None, help="scenario file (disturbances)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="shift seconds per wall second (default 1 = real time)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--warmup-min", type=float, default=0.0,
                   help="minutes of the shift simulated at once before pacing (default 0)")
    p.add_argument("--duration", type=float, default=None,
                   help="stop after this many wall seconds (default: run until stopped)")
    p.add_argument("--user", default=None, help="broker user name (MQTT)")
    p.add_argument("--password-env", metavar="VAR", default=None,
                   help="read the broker password from this environment variable")
    p.add_argument("--ca", default=None, help="CA certificate file for mqtts:// (PEM)")
    p.add_argument("--cert", default=None, help="client certificate file (PEM), optional")
    p.add_argument("--key", default=None, help="client private key file (PEM), optional")
    p.set_defaults(func=run_serve)


def resolve_password(url: str, user: str | None, env: str | None) -> str | None:
    """The broker password: ``$env``, else the keyring, else asked on the terminal.

    Raises :class:`CommandError` when a user is given and no password can be had."""
    if not user:
        return None
    if urlsplit(url).password:
        return urlsplit(url).password
    if env:
        value = os.environ.get(env)
        if value is None:
            raise CommandError(f"--password-env {env}: the variable is not set")
        return value
    from twin import credentials

    stored = credentials.get_password(url, user)
    if stored is not None:
        return stored
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        print(credentials.store().description, file=sys.stderr)
        return getpass.getpass(f"password of {user} at {credentials.connection_key(url)}: ")
    raise CommandError(f"{url}: no password for user {user!r} ({credentials.store().description}; "
                       "use --password-env VAR or run it on a terminal)")


def _publishers(args: argparse.Namespace, workshop: Any) -> list[Any]:
    from twin.sources.base import SourceError

    pubs: list[Any] = []
    if args.mqtt:
        from twin.sources.mqtt_publisher import MqttPublisher

        user = args.user or urlsplit(args.mqtt).username
        password = resolve_password(args.mqtt, user, args.password_env)
        try:
            pubs.append(MqttPublisher(args.mqtt, workshop, profile=args.profile, speed=args.speed,
                                      batch=args.batch,
                                      username=user, password=password, ca_file=args.ca,
                                      cert_file=args.cert, key_file=args.key))
        except SourceError as exc:
            raise CommandError(str(exc)) from None
    if args.opcua:
        try:
            from twin.sources.opcua_server import OpcUaPublisher
        except ImportError as exc:
            raise CommandError(f"--opcua: the OPC UA server is not available ({exc})") from None
        users = {}
        if args.opcua_user:
            password = resolve_password(args.opcua, args.opcua_user, args.opcua_password_env)
            users[args.opcua_user] = password or ""
        modes = [m.strip() for m in args.opcua_security.split(",") if m.strip()]
        try:
            pubs.append(OpcUaPublisher(args.opcua, workshop, security=modes, users=users))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    return pubs


def _serve_shdr(args: argparse.Namespace) -> int:
    """``serve --shdr ADDR --replay FILE…``: an MTConnect adapter replaying recorded logs."""
    import signal
    import threading

    from twin.sources.shdr_server import serve_replay

    if not (args.shdr and args.replay):
        raise CommandError("--shdr HOST:PORT and --replay FILE… go together")
    if args.mqtt or args.opcua:
        raise CommandError("--shdr replays logs; serve the simulated shop (--mqtt/--opcua) separately")
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.duration is not None:
        threading.Timer(args.duration, stop.set).start()
    try:
        serve_replay(args.shdr, args.replay, args.speed, until=stop)
    except (OSError, ValueError) as exc:
        raise CommandError(f"--shdr {args.shdr}: {exc}") from None
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Handler of ``serve``: runs until Ctrl-C, SIGTERM, ``--duration`` or the shop's end."""
    if not (args.speed > 0):
        raise CommandError(f"--speed must be > 0, got {args.speed}")
    if args.shdr or args.replay:
        return _serve_shdr(args)
    if not args.mqtt and not args.opcua:
        raise CommandError("nothing to serve: give --mqtt URL, --opcua URL or --shdr ADDR --replay FILE…")
    from twin.events import Event
    from twin.sources.base import SourceError, SourceState
    from twin.sources.sim import SimSource, resolve_workshop
    from twin.workshop import WorkshopError, load_workshop

    try:
        workshop = load_workshop(resolve_workshop(args.workshop))
        sim = SimSource(f"sim://{workshop.name}", workshop=workshop, speed=args.speed,
                        seed=args.seed, warmup_min=args.warmup_min,
                        scenario=str(args.scenario) if args.scenario else None)
    except (SourceError, WorkshopError, OSError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    pubs = _publishers(args, workshop)
    stop = threading.Event()
    old = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started: list[Any] = []
    try:
        for p in pubs:
            try:
                p.start()
            except SourceError as exc:
                raise CommandError(str(exc)) from None
            started.append(p)
        sim.start()
        print(f"serving {workshop.name} at {args.speed:g}x on "
              + ", ".join(p.url for p in pubs), flush=True)
        return _loop(sim, pubs, args, stop, Event, SourceState)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, old)
        sim.stop()
        for p in started:
            try:
                p.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others too
                print(f"stopping {p.url}: {exc}", file=sys.stderr)
        total = sum(getattr(p, "published", 0) for p in started)
        dropped = sum(getattr(p, "dropped", 0) for p in started)
        print(f"stopped: {total} events published"
              + (f", {dropped} dropped while the broker was away" if dropped else ""), flush=True)


def _loop(sim: Any, pubs: list[Any], args: argparse.Namespace, stop: threading.Event,
          event_cls: type, states: Any) -> int:
    t_start = last_report = time.monotonic()
    n_events = 0
    shown: dict[int, str] = {}
    while not stop.is_set():
        batch = sim.drain()
        events = [e for e in batch.events if isinstance(e, event_cls)]
        for p in pubs:
            p.publish(events)
        n_events += len(events)
        _print_statuses(pubs, shown)
        if any(s.state in (states.STOPPED, states.FAILED) for s in batch.statuses):
            print(f"the simulated shop ended: {batch.statuses[-1].message}", flush=True)
            break
        now = time.monotonic()
        if args.duration is not None and now - t_start >= args.duration:
            break
        if now - last_report >= REPORT_S:
            print(f"t={sim.reached:.0f} s of the shift, {n_events} events "
                  f"({n_events / (now - t_start):.0f}/s)", flush=True)
            last_report = now
        stop.wait(POLL_S)
    _print_statuses(pubs, shown)  # a change since the last poll (stopped right after connecting)
    return 0


def _print_statuses(pubs: list[Any], shown: dict[int, str]) -> None:
    """Print each publisher's status when it changed since ``shown``; a publisher that
    failed ends the command."""
    for i, p in enumerate(pubs):
        st = getattr(p, "status", None)
        if st is not None and shown.get(i) != st.message:
            shown[i] = st.message
            print(f"{p.url}: {st.state.value}: {st.message}", flush=True)
        if getattr(p, "error", ""):
            raise CommandError(f"{p.url}: {p.error}")
