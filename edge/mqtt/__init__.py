"""The broker link: the only package of edge that uses paho (imported in `client` alone).

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
- supervised callbacks: an exception in any of our callbacks would kill
  paho's network thread silently (the daemon a zombie that reads nothing), so
  each is caught, logged and counted (`callback_errors`); `network_alive()`
  says whether that thread still runs and makes progress, for the watchdog;
- Retain Handling 2 on MQTT 5 subscriptions (a retained request is never
  sent to us); `Message.retain` lets the service drop one that a 3.1.1
  broker still sends;
- the broker's Receive Maximum honoured, and refused publications counted;
- a hook at the end of each turn of paho's network loop, where the service
  answers what that turn read, and paho's per-packet I/O made cheaper;
- quiet logs: one WARNING when the broker goes away, one INFO when it is
  back, nothing on a clean stop; paho's own log lines go to DEBUG.

Modules: `link` (the `Link` the service uses, and its vocabulary: `Message`,
`LinkError`), `client` (paho's client with its I/O made cheaper and the turn
hook; the one module that imports paho, giving the others its names), `tools`
(the throw-away clients of `edge send` and `edge homeassistant remove`).
Keeping paho behind one module is the rule that lets the broker library be
swapped or pinned in one place.
"""

from edge.mqtt.link import Link, LinkError, Message
from edge.mqtt.tools import publish_once, request_once

__all__ = ["Link", "LinkError", "Message", "publish_once", "request_once"]
