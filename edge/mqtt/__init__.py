"""The broker link: the only package of edge that uses paho (imported in `client` alone).

paho is driven by the daemon's event loop through its external-loop API (as
Home Assistant's MQTT client does): the loop watches paho's socket, calls
`loop_read`/`loop_write` when it is ready and `loop_misc` on a timer, runs the
blocking connect on an executor and reconnects with backoff. Nothing in the
package runs on a thread of its own.

What it adds to paho, and why:
- a persistent session (stable client id, clean_start=False, session expiry)
  and manual acknowledgement, so a request is acked only once its result is
  safe (the service decides when; `ack` is the hook);
- a completion callback per publication, fired on PUBACK, so the service can
  tie "result delivered" to "request acknowledged";
- TCP_NODELAY on the socket: without it a QoS 1 round trip costs 40-90 ms of
  Nagle/delayed-ACK interplay instead of about 0.3 ms;
- a retained `online`/`offline` status with a last will;
- start-up errors that are the user's to fix (bad credentials, TLS files)
  surface as `LinkError` instead of an endless silent retry loop;
- supervised callbacks: an exception in any of our callbacks would drop the
  connection inside paho, so each is caught, logged and counted
  (`callback_errors`);
- Retain Handling 2 on MQTT 5 subscriptions (a retained request is never
  sent to us); `Message.retain` lets the service drop one that a 3.1.1
  broker still sends;
- the broker's Receive Maximum honoured, and refused publications counted;
- a hook after each read (`on_read_done`), where the service answers what
  that read brought, and paho's per-packet I/O made cheaper;
- one TLS set-up (`setup_tls`) for the daemon and the command-line tools, and
  a TLS failure while reconnecting logged at WARNING once per change;
- quiet logs: one WARNING when the broker goes away, one INFO when it is
  back, nothing on a clean stop; paho's own log lines go to DEBUG.

Modules, from wiring to leaves: `link` (the `Link` the service uses: the session,
its subscriptions, publications with completions, acks and stop), `connection`
(paho's socket driven by the loop, the reconnect task with its backoff, the
keepalive), `configure` (how a paho client is set up: TLS, CONNECT and PUBLISH
properties, TCP_NODELAY), `message` (the vocabulary: `Message`, `LinkError`),
`client` (paho's client with its I/O made cheaper; the one module that imports
paho, giving the others its names), `packets` (the packets read and written on
every request as plain bytes, no paho: `client` wraps them in paho's objects), `tools` (`connect_once`, the
throw-away client of `edge send`, `edge homeassistant` and `edge deploy`, with the daemon's TLS), `fleet`
(`edge deploy`'s sending and watching, over `connect_once`).
Keeping paho behind one module is the rule that lets the broker library be
swapped or pinned in one place.
"""

from typing import Any

from edge.mqtt.link import Link, LinkError, Message

__all__ = ["Link", "LinkError", "Message", "publish_once", "request_once"]


def __getattr__(name: str) -> Any:
    # `tools` on first use: the command-line clients (`edge send`, `edge homeassistant remove`) need
    # it, the daemon never does (tests/test_idle_imports.py checks that an idle daemon leaves it out).
    if name in ("publish_once", "request_once"):
        from edge.mqtt import tools

        return getattr(tools, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
