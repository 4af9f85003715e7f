#!/usr/bin/env python3
"""faultline adapter for etcd 3.4's lock API, for the `lock` workload, through
etcd's JSON gateway. Standard library only.

It behaves as a client of etcd's own Go library (clientv3/concurrency) does,
but counts its lease more carefully:

- acquire {holder, lease_ms}: grant a lease of ceil(lease_ms / 1000) s, keep it
  alive from a background thread (every TTL/3, as clientv3 does), and
  `POST /v3/lock/lock` with it. The fencing token is the create revision of
  the lock's key (etcd grants the lock in that order).
- renew {token}: the holder's unit of work on the protected resource, a key
  in the same etcd. The holder considers its lease live until TTL after it
  *sent* the last keep-alive that was answered (clientv3 counts from the
  answer, which can outlive the lease by the answer's delay); past that it
  knows it lost the lock (renew fails `lease-lost`). Otherwise it writes:
    fencing=off: a plain put, trusting the lease;
    fencing=on:  a transaction that applies only if the holder's lock key
                 still exists with the token as its create revision, i.e. only
                 while etcd still grants it the lock.
- release: unlock, revoke the lease.

What the checker is told (lease_ms, counted from the op's start): how long
the holder relies on holding the lock. That is until its lease deadline,
and, without fencing, at least until its write was answered: a write sent
while the lease was live may be applied at any moment until its answer, by
which time the lease may have expired and another client hold the lock. With
fencing, the holder relies on etcd's check instead: its completions say
`"fenced": true`, and a write's carries `rev`, the revision it made, so the
checker judges the writes (no write with an older token after a newer grant
or write) and not the lease, which etcd 3.4 can revoke while it is being kept
alive (README).

FAULTLINE_NODE is the node this worker talks to; FAULTLINE_PARAM_FENCING is
`on` or `off` (--set fencing=...).
"""
import base64
import http.client
import json
import math
import os
import socket
import sys
import threading
import time

NODE = os.environ["FAULTLINE_NODE"]
FENCING = os.environ.get("FAULTLINE_PARAM_FENCING", "off") == "on"
# Answer before faultline gives up on us (it kills adapters that overrun).
TIMEOUT_S = int(os.environ.get("FAULTLINE_OP_TIMEOUT_MS", "5000")) * 0.8 / 1000
RESOURCE = "resource"


def b64(text):
    return base64.b64encode(text.encode()).decode()


class Refused(Exception):
    """The connection was refused: nothing was sent."""


class EtcdError(Exception):
    """etcd answered with an error (a gRPC status)."""


class Gateway:
    """One keep-alive HTTP connection to the node's JSON gateway."""

    def __init__(self, addr, timeout):
        host, port = addr.rsplit(":", 1)
        self.host, self.port, self.timeout = host, int(port), timeout
        self.conn = None

    def call(self, path, body, timeout=None):
        """POSTs body; waits at most `timeout` (default: the gateway's) per read."""
        if self.conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                conn.connect()
            except ConnectionRefusedError as e:
                raise Refused(str(e))
            self.conn = conn
        try:
            if self.conn.sock is not None:
                self.conn.sock.settimeout(timeout or self.timeout)
            self.conn.request("POST", path, json.dumps(body),
                              {"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            data = json.loads(resp.read() or b"{}")
        except BaseException:
            # The connection's state is unknown: start a new one next time.
            self.conn.close()
            self.conn = None
            raise
        if resp.status != 200 or "error" in data:
            raise EtcdError(data.get("error") or data.get("message") or f"HTTP {resp.status}")
        return data


class Session:
    """A lease kept alive in the background, with clientv3's deadline rule."""

    def __init__(self, lease_id, ttl_s, granted_at):
        self.id, self.ttl_s = lease_id, ttl_s
        self.mutex = threading.Lock()
        self.deadline = granted_at + ttl_s
        self.lost = False
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.keep_alive, daemon=True)
        self.thread.start()

    def keep_alive(self):
        gw = Gateway(NODE, max(0.5, self.ttl_s / 3))
        while not self.stopped.wait(self.ttl_s / 3):
            sent = time.monotonic()
            try:
                data = gw.call("/v3/lease/keepalive", {"ID": self.id})
            except Exception as e:  # retried at the next tick, as clientv3 does
                print(f"keepalive {self.id}: {e}", file=sys.stderr)
                continue
            ttl = int(data.get("result", {}).get("TTL", "0"))
            with self.mutex:
                if ttl <= 0:
                    self.lost = True
                    return
                # Counted from the request, not the answer: etcd renewed the
                # lease no earlier than that, so this never outlives it.
                self.deadline = sent + ttl

    def live_until(self):
        """The clientv3 deadline, or None once the session is done."""
        with self.mutex:
            if self.lost or time.monotonic() > self.deadline:
                return None
            return self.deadline

    def stop(self):
        self.stopped.set()


class Client:
    def __init__(self):
        self.gw = Gateway(NODE, TIMEOUT_S)
        self.session = None
        self.lock_key = None
        self.token = None

    def drop(self):
        """Forget the lock; revoking the lease lets others have it at once."""
        session, self.session, self.lock_key, self.token = self.session, None, None, None
        if session is not None:
            session.stop()
            try:  # briefly: the op's time may be nearly spent
                Gateway(NODE, 0.5).call("/v3/lease/revoke", {"ID": session.id})
            except Exception as e:  # it expires by itself
                print(f"revoke {session.id}: {e}", file=sys.stderr)

    def acquire(self, op, start):
        if self.session is not None:
            self.drop()
        lease_ms = op["value"]["lease_ms"]
        # The whole acquire, revoke included, fits in faultline's op timeout.
        granted_at = time.monotonic()
        data = self.gw.call("/v3/lease/grant", {"TTL": math.ceil(lease_ms / 1000)},
                            TIMEOUT_S / 4)
        self.session = Session(data["ID"], int(data["TTL"]), granted_at)
        try:
            data = self.gw.call("/v3/lock/lock", {"name": b64(op["key"]), "lease": self.session.id},
                                TIMEOUT_S / 2)
            self.lock_key = data["key"]
            kvs = self.gw.call("/v3/kv/range", {"key": self.lock_key},
                               TIMEOUT_S / 4).get("kvs") or []
            if not kvs:
                raise EtcdError("lock key gone right after the grant")
            self.token = int(kvs[0]["create_revision"])
        except Refused:
            self.drop()
            return {"type": "fail", "error": "connection-refused"}
        except BaseException:
            # The lock may or may not be ours: give it up, and say we do not know.
            self.drop()
            raise
        until = self.session.live_until() or time.monotonic()
        value = {"token": self.token, "lease_ms": held_ms(start, until)}
        if FENCING:
            value["fenced"] = True
        return {"type": "ok", "value": value}

    def renew(self, op, start):
        if self.token is None or op["value"].get("token") != self.token:
            return {"type": "fail", "error": "not-held"}
        if self.session.live_until() is None:
            self.drop()
            return {"type": "fail", "error": "lease-lost"}
        put = {"request_put": {"key": b64(RESOURCE),
                               "value": b64(json.dumps(op["value"]))}}
        if FENCING:
            compare = {"key": self.lock_key, "target": "CREATE", "result": "EQUAL",
                       "create_revision": str(self.token)}
            data = self.gw.call("/v3/kv/txn", {"compare": [compare], "success": [put]})
            if not data.get("succeeded", False):
                self.drop()
                return {"type": "fail", "error": "lease-lost"}
            # Fenced: etcd applied the write while the lock key was ours. The
            # checker judges the writes (in etcd's order: the revision this
            # txn made), not the lease, which etcd 3.4 can revoke early
            # (README: the demoted leader's revokes).
            until = self.session.live_until() or time.monotonic()
            return {"type": "ok", "value": {"token": self.token, "fenced": True,
                                            "rev": int(data["header"]["revision"]),
                                            "lease_ms": held_ms(start, until)}}
        self.gw.call("/v3/kv/txn", {"success": [put]})
        answered = time.monotonic()
        until = max(self.session.live_until() or answered, answered)
        return {"type": "ok", "value": {"token": self.token, "lease_ms": held_ms(start, until)}}

    def release(self, op):
        if self.token is None or op["value"].get("token") != self.token:
            return {"type": "fail", "error": "not-held"}
        key = self.lock_key
        self.session.stop()
        try:
            self.gw.call("/v3/lock/unlock", {"key": key})
        finally:
            self.drop()
        return {"type": "ok"}


def held_ms(start, until):
    return max(0, round((until - start) * 1000))


def answer(client, op):
    start = time.monotonic()
    f = op["f"]
    try:
        if f == "acquire":
            return client.acquire(op, start)
        if f == "renew":
            return client.renew(op, start)
        if f == "release":
            return client.release(op)
        return {"type": "fail", "error": f"unsupported op {f!r}"}
    except Refused:
        return {"type": "fail", "error": "connection-refused"}
    except socket.timeout:
        return {"type": "info", "error": "timeout"}
    except (EtcdError, OSError, http.client.HTTPException) as e:
        return {"type": "info", "error": f"{type(e).__name__}: {e}"}


def main():
    client = Client()
    print(f"etcd-lock adapter for {NODE}, fencing {'on' if FENCING else 'off'}, "
          f"timeout {TIMEOUT_S:.1f}s", file=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            continue
        op = json.loads(line)
        reply = answer(client, op)
        reply["id"] = op["id"]
        if reply["type"] != "ok":
            print(f"op {op} -> {reply}", file=sys.stderr)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
