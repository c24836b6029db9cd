#!/usr/bin/env python3
"""Reference for issue 9's "authenticated workload" row: the same Python MCP
server as tests/peers/pyserver.py (PyPI `mcp` 2.x `MCPServer`, stateless JSON,
uvicorn defaults, one worker), but doing its own OAuth: a PyJWT/JWKS
`TokenVerifier` that verifies every bearer token's RS256 signature, issuer,
audience and expiry (keys cached by PyJWKClient). Loopback only; prints one
JSON ready line.

    pyauth_server.py --issuer URL --jwks URL [--port N]
"""
import argparse
import json
import socket
import sys

import jwt
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

HOST = "127.0.0.1"


class JwksVerifier:
    def __init__(self, jwks_uri, issuer, audience):
        self.keys = jwt.PyJWKClient(jwks_uri, cache_keys=True)
        self.issuer, self.audience = issuer, audience

    async def verify_token(self, token):
        try:
            key = self.keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token, key.key, algorithms=["RS256", "ES256", "EdDSA"],
                audience=self.audience, issuer=self.issuer, options={"require": ["exp"]}, leeway=30,
            )
        except jwt.PyJWTError:
            return None
        return AccessToken(
            token=token, client_id=str(claims.get("client_id", "")),
            scopes=str(claims.get("scope", "")).split(), expires_at=claims.get("exp"),
            resource=self.audience, subject=claims.get("sub"),
        )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--jwks", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, a.port))
    sock.listen(128)
    port = sock.getsockname()[1]
    url = f"http://{HOST}:{port}/mcp"
    server = MCPServer(
        "pyauth", version="1.0.0", log_level="WARNING",
        token_verifier=JwksVerifier(a.jwks, a.issuer, url),
        auth=AuthSettings(issuer_url=a.issuer, resource_server_url=url, validate_token_resource=False),
    )

    @server.tool()
    def echo(message: str) -> str:
        """Echoes the message back."""
        return f"Echo: {message}"

    app = server.streamable_http_app(streamable_http_path="/mcp", json_response=True, stateless_http=True, host=HOST)
    print(json.dumps({"ready": True, "port": port, "url": url}), flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
