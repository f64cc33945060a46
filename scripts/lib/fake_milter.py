#!/usr/bin/env python3
"""A stand-in milter for proving the e2e tests can fail (and for trying the
harness without quotamilter). Speaks the milter protocol (v6) on TCP.

  fake_milter.py --port P                    accepts everything
  fake_milter.py --port P --limit N          toy quota: N messages per sender
                                             (in memory, counted at end of
                                             message, refused 550 at MAIL)
Never use it for anything but tests: it is single-purpose and unhardened.
"""
import argparse
import socket
import struct
import sys
import threading

SMFIC_OPTNEG, SMFIC_MACRO, SMFIC_MAIL, SMFIC_EOB, SMFIC_ABORT = b"O", b"D", b"M", b"E", b"A"
SMFIC_QUIT, SMFIC_QUIT_NC = b"Q", b"K"
CONTINUE, ACCEPT = b"c", b"a"

counts = {}
counts_lock = threading.Lock()


def read_packet(conn):
    header = b""
    while len(header) < 4:
        chunk = conn.recv(4 - len(header))
        if not chunk:
            return None, None
        header += chunk
    (length,) = struct.unpack("!I", header)
    data = b""
    while len(data) < length:
        chunk = conn.recv(length - len(data))
        if not chunk:
            return None, None
        data += chunk
    return data[:1], data[1:]


def send_packet(conn, cmd, payload=b""):
    conn.sendall(struct.pack("!I", len(payload) + 1) + cmd + payload)


def normalise(raw):
    addr = raw.split(b"\0")[0].decode(errors="replace").strip("<>").lower()
    local, _, domain = addr.rpartition("@")
    return local.split("+")[0] + "@" + domain


def serve_connection(conn, limit):
    sender = None
    with conn:
        while True:
            cmd, data = read_packet(conn)
            if cmd is None or cmd in (SMFIC_QUIT,):
                return
            if cmd == SMFIC_OPTNEG:
                # version 6, no actions, no protocol steps skipped
                send_packet(conn, SMFIC_OPTNEG, struct.pack("!III", 6, 0, 0))
            elif cmd == SMFIC_MACRO:
                continue  # macros expect no reply
            elif cmd == SMFIC_QUIT_NC:
                sender = None
            elif cmd == SMFIC_ABORT:
                sender = None  # abort expects no reply
            elif cmd == SMFIC_MAIL:
                sender = normalise(data)
                with counts_lock:
                    used = counts.get(sender, 0)
                if limit is not None and used >= limit:
                    send_packet(conn, b"y", b"550 5.7.1 fake milter: quota exceeded\0")
                else:
                    send_packet(conn, CONTINUE)
            elif cmd == SMFIC_EOB:
                if sender is not None:
                    with counts_lock:
                        counts[sender] = counts.get(sender, 0) + 1
                sender = None
                send_packet(conn, CONTINUE)
            else:
                send_packet(conn, CONTINUE)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--limit", type=int)
    args = p.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_connection, args=(conn, args.limit), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
