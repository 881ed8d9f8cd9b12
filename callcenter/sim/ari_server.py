"""The simulated Asterisk on the network: ARI over HTTP, the events websocket, REST over that websocket, and
the Swagger resource files at /ari/api-docs (so a Swagger-driven client such as aioari can load them).

Listens on 127.0.0.1 only; port 0 picks a free port (tests). Authentication is what Asterisk's ari.conf
users give: HTTP basic auth, or ``?api_key=user:password`` (what aioari sends). A restart
(:meth:`AriServer.restart`) drops every websocket and refuses new ones for a while; channels survive.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import socket
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from callcenter.logs import get_logger
from callcenter.sim.ari import AriSimulator, _parse_query, rest_over_websocket
from callcenter.sim.errors import SimulatorError
from callcenter.sim.swagger import RESOURCE_NAMES

log = get_logger(__name__)


class _WebSocketConnection:
    """One accepted events websocket: events are queued synchronously by the simulator and written by a task."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.dropped = False

    def deliver(self, text: str) -> None:
        if not self.dropped:
            self.outbox.put_nowait(text)

    def drop(self) -> None:
        self.dropped = True
        self.outbox.put_nowait(None)

    async def write(self) -> None:
        while True:
            text = await self.outbox.get()
            if text is None:
                with contextlib.suppress(Exception):
                    await self.ws.close(code=1012)  # "service restart"
                return
            await self.ws.send_text(text)


def _credentials(headers: Any, query: Any) -> tuple[str, str] | None:
    header = headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password
    key = query.get("api_key")
    if key:
        user, _, password = key.partition(":")
        return user, password
    return None


class AriServer:
    """Serve one :class:`AriSimulator` over real sockets."""

    def __init__(self, sim: AriSimulator, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SimulatorError(f"the ARI simulator listens on loopback only, not {host!r}")
        self.sim, self.host, self.port = sim, host, port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._writers: set[asyncio.Task[None]] = set()
        self.app = Starlette(routes=[
            Route("/ari/api-docs/{name}", self._api_docs, methods=["GET"]),
            WebSocketRoute("/ari/events", self._events),
            Route("/ari/{path:path}", self._rest, methods=["GET", "POST", "PUT", "DELETE"]),
        ])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/`` (what aioari wants); the ARI root is ``base_url + "ari"``."""
        return f"http://{self.host}:{self.port}/"

    @property
    def ari_url(self) -> str:
        return f"http://{self.host}:{self.port}/ari"

    async def start(self) -> AriServer:
        # proto=IPPROTO_TCP: asyncio disables Nagle only on sockets that say so; with proto 0 every accepted
        # connection would hold small frames for the peer's delayed ACK (~40 ms per REST-over-ws exchange).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", ws="websockets-sansio", lifespan="off",
                                access_log=False, ws_ping_interval=None, ws_per_message_deflate=False)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.005)
        return self

    async def stop(self) -> None:
        self.sim.drop_websockets()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._writers):
            task.cancel()

    async def __aenter__(self) -> AriServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def restart(self, down_for: float = 1.0) -> None:
        """Asterisk restarts: websockets drop now, new ones are refused for ``down_for`` simulated seconds."""
        self.sim.accepting = False
        self.sim.drop_websockets()

        def up() -> None:
            self.sim.accepting = True

        self.sim.clock.call_later(down_for, up)

    # ------------------------------------------------------------------ handlers

    def _authorised(self, headers: Any, query: Any) -> bool:
        creds = _credentials(headers, query)
        return creds is not None and self.sim.check_auth(*creds)

    async def _api_docs(self, request: Request) -> Response:
        name = request.path_params["name"]
        base = f"http://{request.headers.get('host', f'{self.host}:{self.port}')}/ari"
        if name == "resources.json":
            listing = {
                "apiVersion": "2.0.0", "swaggerVersion": "1.1", "basePath": base,
                "apis": [{"path": f"/api-docs/{n}.{{format}}", "description": n} for n in RESOURCE_NAMES],
            }
            return JSONResponse(listing)
        stem = name.removesuffix(".json")
        if stem not in self.sim.docs.declarations:
            return JSONResponse({"message": "Resource not found"}, status_code=404)
        return JSONResponse({**self.sim.docs.declarations[stem], "basePath": base})

    async def _rest(self, request: Request) -> Response:
        if not self._authorised(request.headers, request.query_params):
            return JSONResponse({"message": "Authentication required"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'})
        if not self.sim.accepting:
            return JSONResponse({"message": "Asterisk is restarting"}, status_code=503)
        query = _parse_query(request.url.query)
        query.pop("api_key", None)
        body: dict[str, Any] = {}
        raw = await request.body()
        if raw and request.headers.get("content-type", "").startswith("application/json"):
            with contextlib.suppress(json.JSONDecodeError):
                parsed = json.loads(raw)
                body = parsed if isinstance(parsed, dict) else {}
        status, payload = self.sim.handle(request.method, "/" + request.path_params["path"], query, body)
        if payload is None:
            return Response(status_code=status)
        return JSONResponse(payload, status_code=status)

    async def _events(self, ws: WebSocket) -> None:
        apps = [a for a in ws.query_params.get("app", "").split(",") if a]
        if not self._authorised(ws.headers, ws.query_params):
            await self._deny(ws, 401, "Authentication required")
            return
        if not self.sim.accepting:
            await self._deny(ws, 503, "Asterisk is restarting")
            return
        if not apps:
            await self._deny(ws, 400, "app parameter is required")
            return
        await ws.accept()
        conn = _WebSocketConnection(ws)
        writer = asyncio.create_task(conn.write())
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)
        self.sim.connect_app(apps, conn)
        try:
            while not conn.dropped:
                text = await ws.receive_text()
                response = rest_over_websocket(self.sim, apps[0], text)
                if response is not None:
                    self.sim._send(conn, response)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.sim.disconnect_app(conn)
            conn.drop()

    async def _deny(self, ws: WebSocket, status: int, message: str) -> None:
        if "websocket.http.response" in ws.scope.get("extensions", {}):
            await ws.send_denial_response(JSONResponse({"message": message}, status_code=status))
        else:
            await ws.close(code=1008)
