"""The port-forward protocol shared by kubelet, API server and clients (Kubernetes'
core/v1 PortHeader, StreamType* and client-go's tools/portforward).

One SPDY/3.1 connection carries every forwarded TCP connection as a pair of streams
opened by the client with the same ``requestID`` header: first ``streamType: error``
(the client half-closes it at once and reads it to the end: the server writes a
message there when forwarding fails), then ``streamType: data`` (the bytes, both ways).
``port`` names the pod's port. kubectl 1.30+ tunnels the SPDY bytes in binary
WebSocket messages, offering the subprotocol ``SPDY/3.1+portforward.k8s.io``
(feature PortForwardWebsockets), and falls back to a plain ``Upgrade: SPDY/3.1``.
"""

from __future__ import annotations

PROTOCOL_V1 = "portforward.k8s.io"
TUNNELING_PREFIX = "SPDY/3.1+"  # constants.WebsocketsSPDYTunnelingPrefix
TUNNELING_PROTOCOL = TUNNELING_PREFIX + PROTOCOL_V1
# The WebSocket channel protocol the official clients use for port-forward (wsstream's
# binary channels, version 4): data on channel 2*i, errors on 2*i+1 for the i-th port.
CHANNEL_PROTOCOL_V4 = "v4.channel.k8s.io"

STREAM_TYPE = "streamType"
STREAM_TYPE_ERROR = "error"
STREAM_TYPE_DATA = "data"
PORT = "port"
REQUEST_ID = "requestID"


def parse_port(value: str) -> int:
    """A port header's value (httpStreamReceived's checks); ValueError with its message."""
    if not value:
        raise ValueError(f'"{PORT}" header is required')
    try:
        port = int(value, 10)
    except ValueError:
        raise ValueError(f'unable to parse "{value}" as a port: strconv.ParseUint: parsing '
                         f'"{value}": invalid syntax') from None
    if not 0 <= port <= 65535:
        raise ValueError(f'unable to parse "{value}" as a port: strconv.ParseUint: parsing '
                         f'"{value}": value out of range')
    if port < 1:
        raise ValueError(f'port "{value}" must be > 0')
    return port


def parse_ports(values: list[str]) -> list[int]:
    """The ports of a channel-protocol port-forward: the ``port`` (kubelet) or ``ports``
    (API server) query values, each comma-separated (NewV4Options' checks and messages);
    ValueError with its message."""
    if not values:
        raise ValueError(f'query parameter "{PORT}" is required')
    ports: list[int] = []
    for value in values:
        if not value:
            raise ValueError(f'query parameter "{PORT}" cannot be empty')
        for p in value.split(","):
            try:
                port = int(p, 10)
                if not 0 <= port <= 65535:
                    raise ValueError
            except ValueError:
                raise ValueError(f'unable to parse "{value}" as a port: strconv.ParseUint: '
                                 f'parsing "{p}": invalid syntax') from None
            if port < 1:
                raise ValueError(f'port "{value}" must be > 0')
            ports.append(port)
    return ports
