#!/usr/bin/python3
"""The node's DNS relay for its pods (dnsPolicy Default, and cluster DNS's own upstream).

A node container's resolver is Docker's embedded DNS at 127.0.0.11, which answers the compose
names (`apiserver`) and forwards the rest to the host's resolvers; but 127.0.0.11 exists only
in the node container's own network namespace, not in its pods'. This relays DNS over UDP and
TCP from the node's address (port 53, where its pods reach it) to 127.0.0.11, as a node's
systemd-resolved stub or dnsmasq would for a kind node. Standard library only.

    dns-relay.py LISTEN_ADDRESS [UPSTREAM]
"""

import socket
import socketserver
import sys

LISTEN = sys.argv[1]
UPSTREAM = (sys.argv[2] if len(sys.argv) > 2 else "127.0.0.11", 53)
TIMEOUT = 5.0


class UDP(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True


class TCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class UDPRelay(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        query, sock = self.request
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.settimeout(TIMEOUT)
            try:
                up.sendto(query, UPSTREAM)
                answer = up.recv(65535)
            except OSError:
                return  # the client retries or times out, as with a lost datagram
        sock.sendto(answer, self.client_address)


def read_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


class TCPRelay(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        c = self.request
        c.settimeout(TIMEOUT)
        try:
            with socket.create_connection(UPSTREAM, timeout=TIMEOUT) as up:
                while True:  # one message after another on the same connection
                    head = read_exact(c, 2)
                    up.sendall(head + read_exact(c, int.from_bytes(head, "big")))
                    head = read_exact(up, 2)
                    c.sendall(head + read_exact(up, int.from_bytes(head, "big")))
        except (OSError, ConnectionError):
            return


def main() -> None:
    import threading
    udp, tcp = UDP((LISTEN, 53), UDPRelay), TCP((LISTEN, 53), TCPRelay)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    print(f"relaying DNS on {LISTEN}:53 to {UPSTREAM[0]}:53", flush=True)
    udp.serve_forever()


if __name__ == "__main__":
    main()
