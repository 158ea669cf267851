"""Refusing every kind of forwarding, and telling the operator about each refusal.

sshchat offers interactive chat only.  asyncssh already refuses port, agent
and X11 forwarding when the server does not enable them, but silently: an
operator could not see that someone is probing a chat server for tunnels.
:class:`RefusedForwards` is mixed into the per-connection server object and
logs each request as one ``forward.refused`` event (with who, from where and
what was asked), then refuses it with a reason the client can print.

Port forwards arrive as :class:`asyncssh.SSHServer` callbacks.  Agent and
X11 requests never reach the application: asyncssh answers them inside the
connection, so :meth:`RefusedForwards.watch_session_forwards` wraps the two
connection methods that give the (negative) answer, to log it as it goes out.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncssh

from sshchat.ops.logs import log_event

__all__ = ["FORWARD_REFUSED", "RefusedForwards"]

log = logging.getLogger("sshchat.ssh.server")

#: What an SSH client prints after "open failed: administratively prohibited:".
FORWARD_REFUSED = "sshchat offers chat only; forwarding is refused"


class RefusedForwards:
    """Callbacks refusing port, socket, tunnel, agent and X11 forwarding, each logged.

    The class it is mixed into provides ``_peer`` (the client's address) and
    ``login`` (the authenticated user, or None).
    """

    _peer: str

    @property
    def login(self) -> str | None:  # the server class's own property takes precedence
        raise NotImplementedError

    def _forward_refused(self, request: str, target: str) -> None:
        log_event(
            log,
            "forward.refused",
            user=self.login or "",
            source=self._peer,
            request=request,
            target=target,
        )

    def _refuse(self, request: str, target: str) -> Any:
        self._forward_refused(request, target)
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, FORWARD_REFUSED)

    # ssh -L and -D: the client asks the server to connect somewhere.
    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> Any:
        return self._refuse("port", _address(dest_host, dest_port))

    # ssh -R: the client asks the server to listen for it.
    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        self._forward_refused("remote-port", _address(listen_host or "*", listen_port))
        return False

    def unix_connection_requested(self, dest_path: str) -> Any:
        return self._refuse("unix-socket", dest_path)

    def unix_server_requested(self, listen_path: str) -> bool:
        self._forward_refused("remote-unix-socket", listen_path)
        return False

    # ssh -w: layer 3 / layer 2 tunnels.
    def tun_requested(self, unit: int | None) -> Any:
        return self._refuse("tun", "any" if unit is None else str(unit))

    def tap_requested(self, unit: int | None) -> Any:
        return self._refuse("tap", "any" if unit is None else str(unit))

    def watch_session_forwards(self, conn: asyncssh.SSHServerConnection) -> None:
        """Log the agent (``ssh -A``) and X11 (``ssh -X``) requests *conn* refuses.

        The server never enables either, so asyncssh always answers no; the
        wrappers only add the log line and keep asyncssh's answer.
        """
        agent = getattr(conn, "create_agent_listener", None)
        x11 = getattr(conn, "attach_x11_listener", None)
        if agent is not None:

            async def create_agent_listener() -> bool:
                granted = bool(await agent())
                if not granted:
                    self._forward_refused("agent", "")
                return granted

            conn.create_agent_listener = create_agent_listener  # type: ignore[method-assign]
        if x11 is not None:

            async def attach_x11_listener(*args: Any, **kwargs: Any) -> str | None:
                display: str | None = await x11(*args, **kwargs)
                if not display:
                    self._forward_refused("x11", "")
                return display

            conn.attach_x11_listener = attach_x11_listener  # type: ignore[method-assign]


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
