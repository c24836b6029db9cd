#!/usr/bin/env python3
"""A real Python MCP server (PyPI `mcp` 2.x, `MCPServer`) for mcp-warden's end-to-end tests.

Streamable HTTP on 127.0.0.1 only. Same contract as the node peers (README.md): exactly one JSON
ready line on stdout, logs on stderr, exit 0 on SIGTERM/SIGINT.

    pyserver.py [--port N] [--path /mcp] [--stateless]

`--stateless` runs the stateless JSON flavour (`stateless_http=True, json_response=True`: no
`Mcp-Session-Id`, plain JSON answers), the shape used for load tests. Without it the server is
stateful with SSE answers.

Tools: `echo {message}` answers `Echo: <message>` (as server-everything does), and `whoami`
answers a JSON object of the identity headers the gateway sent (`x-mcp-auth-*`) and whether an
`Authorization` header reached the upstream (it must not: MCP forbids token passthrough).
"""

import argparse
import json
import signal
import socket
import sys

import uvicorn
from mcp.server.mcpserver import Context, MCPServer

HOST = "127.0.0.1"


def main() -> None:
    parser = argparse.ArgumentParser(prog="pyserver.py")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--path", default="/mcp")
    parser.add_argument("--stateless", action="store_true")
    args = parser.parse_args()

    server = MCPServer("mcp-warden-python-peer", version="1.0.0", log_level="WARNING")

    @server.tool()
    def echo(message: str) -> str:
        """Echoes the message back."""
        return f"Echo: {message}"

    @server.tool()
    def whoami(ctx: Context) -> str:
        """The identity headers the gateway forwarded."""
        headers = {k.lower(): v for k, v in (ctx.headers or {}).items()}
        return json.dumps(
            {
                "identity": {k: v for k, v in headers.items() if k.startswith("x-mcp-auth-")},
                "authorization_forwarded": "authorization" in headers,
            },
            sort_keys=True,
        )

    app = server.streamable_http_app(
        streamable_http_path=args.path,
        json_response=args.stateless,
        stateless_http=args.stateless,
        host=HOST,
    )

    # Bind first so the ready line can carry the real port of `--port 0`.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, args.port))
    except OSError as err:
        print(f"listen failed: {err}", file=sys.stderr)
        sys.exit(1)
    sock.listen(128)
    port = sock.getsockname()[1]

    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)

    def stop(_signum, _frame):
        uv.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # uvicorn installs its own handlers in serve(); ours above cover the start-up window.
    config.timeout_graceful_shutdown = 1

    print(
        json.dumps(
            {
                "ready": True,
                "port": port,
                "url": f"http://{HOST}:{port}{args.path}",
                "stateless": args.stateless,
            }
        ),
        flush=True,
    )
    uv.run(sockets=[sock])


if __name__ == "__main__":
    main()
