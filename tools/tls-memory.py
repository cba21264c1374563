#!/usr/bin/env python3
"""Memory a pchatd spends per idle connection, plain and TLS (docs/performance.md "Memory per TLS connection").

Opens N connections to a running pchatd (SIP over TCP, SIP over TLS, HTTP or HTTPS), completes the TLS handshake
where there is one, sends nothing more, and reads pchatd's resident memory (VmRSS) before and after. The clients
spread over 127.0.0.x source addresses so that the per-address caps do not refuse them; raise sip.sign-in-timeout
and web.header-timeout above the measuring time or pchatd closes the silent connections.

  tools/tls-memory.py --pid PID --port PORT [--tls] [-n 500]
"""
import argparse
import socket
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--tls12", action="store_true", help="TLS 1.2 instead of the newest the server offers")
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--per-address", type=int, default=25)
    a = ap.parse_args()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if a.tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    before = rss_kib(a.pid)
    held = []
    for i in range(a.n):
        s = socket.socket()
        s.bind((f"127.0.0.{2 + i // a.per_address}", 0))
        s.connect(("127.0.0.1", a.port))
        if a.tls:
            s = ctx.wrap_socket(s)  # the handshake, then silence
        held.append(s)
    time.sleep(1.0)
    after = rss_kib(a.pid)
    alive = 0
    for s in held:
        try:
            s.setblocking(False)
            alive += 0 if s.recv(1) == b"" else 1
        except (BlockingIOError, ssl.SSLWantReadError):
            alive += 1
        except OSError:
            pass
    kind = "TLS" if a.tls else "plain"
    print(f"{kind}: {a.n} connections ({alive} still open): RSS {before} -> {after} KiB, "
          f"{(after - before) * 1024 / a.n / 1024:.1f} KiB per connection")
    for s in held:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
