#!/usr/bin/env python3
"""faultline adapter for PostgreSQL: list-append transactions (the
`list-append` workload), one transaction an op, at the isolation level given
by --isolation (the system file's `isolation` parameter).

    <- {"id":4,"f":"txn","value":[["append","x",3],["r","y",null]]}
    -> {"id":4,"type":"ok","value":[["append","x",3],["r","y",[1,2]]]}

Each key is a row of the table `lists` (the system file's ready command
creates it), its list a jsonb array; an append is an
upsert that concatenates (`v || [3]`), a read selects the row (a missing row
reads as the empty list).

Outcomes, honestly:
- ok: COMMIT returned success.
- fail: certainly not committed: PostgreSQL aborted it (a serialization
  failure or deadlock, at any statement or at COMMIT), or the connection
  failed before COMMIT was sent (the server rolls back an open transaction
  whose connection is gone).
- info: COMMIT was sent and no answer came (timeout, connection lost): it may
  have committed.

psycopg2 runs in asynchronous mode so that a paused server (SIGSTOP: its
kernel still acknowledges packets, so no socket timeout fires) cannot hold the
adapter past faultline's per-op timeout: each wait is a select with a
deadline, and a connection that overran is dropped.

Needs Debian's python3-psycopg2 (scripts/setup installs it); run with
/usr/bin/python3. Diagnostics go to stderr.
"""
import argparse
import json
import os
import select
import sys
import time

import psycopg2
import psycopg2.errors
import psycopg2.extensions as ext

p = argparse.ArgumentParser()
p.add_argument(
    "--isolation",
    choices=["read-committed", "repeatable-read", "serializable"],
    default="serializable",
)
args = p.parse_args()
LEVEL = args.isolation.replace("-", " ").upper()
HOST, PORT = os.environ["FAULTLINE_NODE"].rsplit(":", 1)
# Answer well before faultline gives up on us.
BUDGET_S = int(os.environ.get("FAULTLINE_OP_TIMEOUT_MS", "5000")) * 0.8 / 1000
# Aborts that leave nothing committed.
ABORTED = (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected)


class Overran(Exception):
    """The server did not answer before the deadline."""


def wait(conn, deadline):
    """Drives an asynchronous connection until its current step is done."""
    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise Overran("no answer within %.1f s" % BUDGET_S)
        if state == ext.POLL_READ:
            select.select([conn.fileno()], [], [], left)
        elif state == ext.POLL_WRITE:
            select.select([], [conn.fileno()], [], left)


class Db:
    def __init__(self):
        self.conn = None

    def drop(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None

    def connect(self, deadline):
        if self.conn is None:
            conn = psycopg2.connect(
                host=HOST, port=PORT, user="postgres", dbname="postgres",
                connect_timeout=max(1, int(BUDGET_S)), async_=1,
            )
            try:
                wait(conn, deadline)
            except BaseException:
                conn.close()
                raise
            self.conn = conn

    def execute(self, sql, params, deadline):
        cur = self.conn.cursor()
        cur.execute(sql, params)
        wait(self.conn, deadline)
        return cur

    def txn(self, micro_ops, deadline):
        """Runs micro_ops in one transaction; returns them with reads filled.
        Raises with `sent_commit` set on the exception once COMMIT was sent."""
        self.execute("BEGIN ISOLATION LEVEL " + LEVEL, (), deadline)
        done = []
        for f, k, v in micro_ops:
            key = json.dumps(k)
            if f == "append":
                self.execute(
                    "INSERT INTO lists (k, v) VALUES (%s, jsonb_build_array(%s::jsonb)) "
                    "ON CONFLICT (k) DO UPDATE SET v = lists.v || EXCLUDED.v",
                    (key, json.dumps(v)), deadline,
                )
                done.append([f, k, v])
            elif f == "r":
                row = self.execute("SELECT v FROM lists WHERE k = %s", (key,), deadline).fetchone()
                done.append([f, k, row[0] if row else []])
            else:
                raise ValueError("unknown micro-op %r" % f)
        try:
            self.execute("COMMIT", (), deadline)
        except BaseException as e:
            e.sent_commit = True
            raise
        return done


def answer(db, op):
    if op.get("f") != "txn":
        return {"type": "fail", "error": "unknown f %r (this adapter runs list-append txns)" % op.get("f")}
    deadline = time.monotonic() + BUDGET_S
    try:
        db.connect(deadline)
    except Exception as e:
        db.drop()
        return {"type": "fail", "error": "connect: %s" % str(e).strip()}
    try:
        return {"type": "ok", "value": db.txn(op["value"], deadline)}
    except ValueError as e:
        db.drop()
        return {"type": "fail", "error": str(e)}
    except ABORTED as e:
        # The server aborted it; roll back what is left of it and keep the
        # connection.
        try:
            db.execute("ROLLBACK", (), time.monotonic() + BUDGET_S)
        except Exception:
            db.drop()
        return {"type": "fail", "error": type(e).__name__}
    except Exception as e:
        db.drop()
        what = "%s: %s" % (type(e).__name__, str(e).strip())
        if getattr(e, "sent_commit", False):
            return {"type": "info", "error": "commit: " + what}
        return {"type": "fail", "error": what}


def main():
    db = Db()
    print("postgres adapter for %s:%s at %s" % (HOST, PORT, LEVEL), file=sys.stderr)
    for line in sys.stdin:
        op = json.loads(line)
        reply = answer(db, op)
        reply["id"] = op["id"]
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
