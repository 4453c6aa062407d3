"""The `refserver` command: serve, migrate, seed, token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn

from app.config import Settings

SERVE_FLAGS = (
    ("--host", "host", str),
    ("--port", "port", int),
    ("--broker-ws-port", "broker_ws_port", int),
    ("--database-url", "database_url", str),
    ("--admin-token", "admin_token", str),
    ("--seed", "seed", str),
    ("--clock", "clock", str),
    ("--fix-port", "fix_port", int),
    ("--log-level", "log_level", str),
    ("--chaos", "chaos", str),
)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for _flag, name, _type in SERVE_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


class _Server(uvicorn.Server):
    """A uvicorn server whose signals are handled once, for both listeners, by `serve`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class BrokerPort:
    """The broker WebSocket listener: every WebSocket goes to the broker handler at `/ws`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope = dict(scope, path="/ws", raw_path=b"/ws")
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            body = b'{"error":"NOT_FOUND","message":"this port serves the broker WebSocket only"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elif scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return


def _port(server: uvicorn.Server) -> int:
    for srv in server.servers:
        for sock in srv.sockets:
            return int(sock.getsockname()[1])
    return 0


async def serve(settings: Settings) -> int:
    from app.main import create_app

    app = create_app(settings)
    common: dict[str, Any] = {
        "host": settings.host,
        "log_level": settings.log_level,
        "access_log": settings.access_log,
        "timeout_graceful_shutdown": 10,
        "ws_ping_interval": None,
    }
    main = _Server(uvicorn.Config(app, port=settings.port, lifespan="on", **common))
    broker = _Server(uvicorn.Config(BrokerPort(app), port=settings.broker_ws_port, lifespan="off", **common))
    app.state.servers = (main, broker)

    loop = asyncio.get_running_loop()

    def stop() -> None:
        # end live streams first: uvicorn waits for open connections before the lifespan ends
        ctx = getattr(app.state, "ctx", None)
        if ctx is not None:
            ctx.streams.hub.clear("shutdown")
        main.should_exit = True
        broker.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)

    main_task = asyncio.create_task(main.serve())
    while not main.started:
        if main_task.done():
            return 1
        await asyncio.sleep(0.01)
    broker_task = asyncio.create_task(broker.serve())
    while not broker.started:
        if broker_task.done():
            main.should_exit = True
            await main_task
            return 1
        await asyncio.sleep(0.01)
    app.state.ports = {"http": _port(main), "broker_ws": _port(broker)}
    sys.stdout.write(f"refserver listening http={_port(main)} broker_ws={_port(broker)}\n")
    sys.stdout.flush()
    _banner(app, settings, _credentials(app.state.ctx))
    await asyncio.gather(main_task, broker_task, return_exceptions=True)
    return 0


def _banner(app: Any, settings: Settings, credentials: list[str]) -> None:
    """Demo credentials and URLs, on stderr so stdout carries only the listening line."""
    ports = app.state.ports
    lines = [
        "",
        "=" * 72,
        f" refserver is up — dashboard http://{settings.host}:{ports['http']}/#admin={settings.admin_token}",
        f" OpenAPI http://{settings.host}:{ports['http']}/docs   AsyncAPI /asyncapi.json",
        f" broker WebSocket ws://{settings.host}:{ports['broker_ws']}/   control API /_admin",
        f" admin token: {settings.admin_token}",
        f" database: {settings.database_url}   clock: {settings.clock}   seed: {settings.seed}",
    ]
    lines.extend(credentials)
    lines.append("=" * 72)
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


async def _with_context(settings: Settings, fn: Any) -> Any:
    from app.lifecycle import discover, start_context, stop_context

    ctx = await start_context(
        settings.model_copy(update={"musubi_auto_quote": "off", "oe_liquidity": "off"}), discover()
    )
    try:
        return await fn(ctx)
    finally:
        await stop_context(ctx)


def _credentials(ctx: Any) -> list[str]:
    lines: list[str] = []
    for svc in ctx.services.values():
        lines.extend(svc.credentials())
    return lines


async def _credentials_async(ctx: Any) -> list[str]:
    return _credentials(ctx)


def _chaos_problem(path: str) -> str | None:
    """Why `serve --chaos FILE` cannot start with that file, or None."""
    from app.engine.errors import DomainError
    from app.integrator.chaos import ChaosConfig
    from app.lifecycle import discover, load_chaos

    try:
        ChaosConfig.parse(load_chaos(path), tuple(discover().names))
    except OSError as exc:
        return exc.strerror or str(exc)
    except ValueError as exc:  # not JSON
        return f"not JSON: {exc}"
    except DomainError as exc:
        return exc.message
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="refserver", description="refserver: reference server")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="start the server")
    for flag, name, typ in SERVE_FLAGS:
        p_serve.add_argument(flag, dest=name, type=typ, default=None, help=f"env REFSERVER_{name.upper()}")
    p_mig = sub.add_parser("migrate", help="apply the Alembic migrations (upgrade head)")
    p_mig.add_argument("--database-url", dest="database_url", default=None)
    p_seed = sub.add_parser("seed", help="add the demo identities and print their credentials")
    p_seed.add_argument("--database-url", dest="database_url", default=None)
    p_tok = sub.add_parser("token", help="mint a token: refserver token <family> <identity…>")
    p_tok.add_argument("--database-url", dest="database_url", default=None)
    from app.lifecycle import discover

    p_tok.add_argument("family", choices=discover().names)
    p_tok.add_argument("args", nargs="*")
    from app.integrator import report

    report.add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("REFSERVER_LOG_LEVEL", "WARNING").upper(), stream=sys.stderr)

    if args.command == "coverage":
        return report.run(args)
    if args.command == "serve":
        settings = _settings(args)
        if settings.chaos and (problem := _chaos_problem(settings.chaos)):
            sys.stderr.write(f"refserver: --chaos {settings.chaos}: {problem}\n")
            return 2
        return asyncio.run(serve(settings))
    settings = _settings(args)
    if args.command == "migrate":
        from app.db import Database

        db = Database(settings.database_url)
        db.migrate()
        db.dispose()
        print("migrated to head")
        return 0
    if args.command == "seed":
        lines = asyncio.run(_with_context(settings.model_copy(update={"seed": "demo"}), _credentials_async))
        print("\n".join(lines) if lines else "demo data seeded")
        return 0
    if args.command == "token":

        async def mint(ctx: Any) -> str:
            return str(await ctx.services[args.family].token(list(args.args)))

        print(asyncio.run(_with_context(settings, mint)))
        return 0
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
