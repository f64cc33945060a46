#!/usr/bin/env python3
"""Plays SMTP transactions against a test server and prints what it answered.

One JSON object per transaction on stdout, e.g.
  {"session": 0, "n": 0, "mail": 250, "rcpt": [[addr, 250, "text"], ...],
   "data": 250, "data_text": "...", "outcome": "accepted", "seconds": 0.01}
outcome is "accepted" (250 after DATA), "refused" (5xx at any stage),
"deferred" (4xx at any stage), "quit" (stopped on purpose before DATA),
or "error" (connection problem). With --summary only a count per outcome
is printed (one JSON object).

  smtp_probe.py --port P --from F --to A [--to B ...]
                [--messages N]        transactions per session (default 1)
                [--sessions S]        parallel sessions (default 1)
                [--quit-after mail|rcpt]  end the transaction before DATA
                [--rset-after rcpt]   RSET after the recipients (next MAIL or QUIT)
                [--drop-in-data]      DATA, half a body, then close the socket
                [--body-bytes K]      body size (default ~100 bytes)
                [--timeout SEC]       per-command socket timeout (default 20)
Only loopback; every loop is bounded by the counts given.
"""
import argparse
import json
import smtplib
import sys
import threading
import time


def one_transaction(conn, args, session, n):
    rec = {"session": session, "n": n, "rcpt": []}
    start = time.monotonic()
    try:
        code, text = conn.mail(args.sender)
        rec["mail"], rec["mail_text"] = code, text.decode(errors="replace")
        if code >= 400:
            rec["outcome"] = "refused" if code >= 500 else "deferred"
            conn.rset()
            return rec
        if args.quit_after == "mail":
            rec["outcome"] = "quit"
            return rec
        accepted = 0
        first_refusal = None
        for rcpt in args.to:
            code, text = conn.rcpt(rcpt)
            rec["rcpt"].append([rcpt, code, text.decode(errors="replace")])
            if code < 400:
                accepted += 1
            elif first_refusal is None:
                first_refusal = code
        if args.quit_after == "rcpt":
            rec["outcome"] = "quit"
            return rec
        if args.drop_in_data:
            # Start the content, then vanish: a lost connection mid-message.
            code, text = conn.docmd("DATA")
            rec["data"] = code
            conn.send(b"Subject: never finished\r\n\r\nhalf a body")
            conn.sock.close()
            conn.sock = None
            rec["outcome"] = "quit"
            return rec
        if args.rset_after == "rcpt":
            conn.rset()
            rec["outcome"] = "quit"
            return rec
        if accepted == 0:
            rec["outcome"] = "refused" if first_refusal >= 500 else "deferred"
            conn.rset()
            return rec
        body = ("From: %s\r\nTo: %s\r\nSubject: probe %d/%d\r\n\r\n" %
                (args.sender, args.to[0], session, n)) + "x" * args.body_bytes + "\r\n"
        code, text = conn.data(body.encode())
        rec["data"], rec["data_text"] = code, text.decode(errors="replace")
        rec["outcome"] = ("accepted" if code < 400 else
                          "refused" if code >= 500 else "deferred")
        if code >= 400:
            conn.rset()
        return rec
    finally:
        rec["seconds"] = round(time.monotonic() - start, 3)


def run_session(args, session, out, lock, barrier):
    results = []
    try:
        conn = smtplib.SMTP("127.0.0.1", args.port, timeout=args.timeout)
        conn.ehlo("probe.test.invalid")
    except (OSError, smtplib.SMTPException) as e:
        results.append({"session": session, "n": 0, "outcome": "error", "error": str(e)})
        conn = None
    try:
        # Every session is connected before any sends MAIL FROM, so they
        # really race for the same quota.
        barrier.wait(timeout=args.timeout)
    except threading.BrokenBarrierError:
        pass
    if conn is not None:
        for n in range(args.messages):
            try:
                results.append(one_transaction(conn, args, session, n))
            except (OSError, smtplib.SMTPException) as e:
                results.append({"session": session, "n": n, "outcome": "error", "error": str(e)})
                break
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass
    with lock:
        out.extend(results)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--from", dest="sender", required=True)
    p.add_argument("--to", action="append", required=True)
    p.add_argument("--messages", type=int, default=1)
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--quit-after", choices=["mail", "rcpt"])
    p.add_argument("--rset-after", choices=["rcpt"])
    p.add_argument("--drop-in-data", action="store_true")
    p.add_argument("--body-bytes", type=int, default=100)
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--summary", action="store_true")
    args = p.parse_args()
    if not (1 <= args.sessions <= 200 and 1 <= args.messages <= 10000):
        p.error("sessions 1..200, messages 1..10000")

    out, lock = [], threading.Lock()
    barrier = threading.Barrier(args.sessions)
    threads = [threading.Thread(target=run_session, args=(args, s, out, lock, barrier))
               for s in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.timeout * (args.messages + 2))
    out.sort(key=lambda r: (r["session"], r["n"]))
    if args.summary:
        counts = {}
        for r in out:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        print(json.dumps(counts, sort_keys=True))
    else:
        for r in out:
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
