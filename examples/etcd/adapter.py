#!/usr/bin/env python3
"""faultline adapter for etcd 3.4, through etcd's JSON gateway (HTTP on the
client port). Standard library only.

faultline starts one of these per client worker. It reads ops as JSON lines on
stdin and answers each with one JSON line on stdout (see docs/adapters.md):

    <- {"id":1,"f":"write","key":"r","value":3}    -> {"id":1,"type":"ok"}
    <- {"id":2,"f":"read","key":"r"}               -> {"id":2,"type":"ok","value":3}
    <- {"id":3,"f":"cas","key":"r","value":[3,4]}  -> {"id":3,"type":"ok"}
                                                      {"id":3,"type":"fail","error":"precondition"}
    <- {"id":4,"f":"add","key":"s","value":7}      -> {"id":4,"type":"ok"}
    (set: the key holds the sorted JSON list of the elements, so a read of
    "s" returns it; an add is a read and a compare-and-swap on the key)

The node to talk to is in FAULTLINE_NODE (host:port of its client port). Keys
are etcd keys; values are stored as their JSON text. etcd's gateway wants keys
and values base64-encoded.

Outcomes, honestly:
- ok: etcd answered success.
- fail: certainly no effect: the compare of a cas did not hold, the connection
  was refused before anything was sent, etcd rejected the request before
  proposing it, or the op was a read (a read has no effect, so a read that
  did not answer is simply a failed read).
- info: anything else for a write or cas: a timeout, a dropped connection,
  "request timed out", "leader changed": the write may still be committed.

Diagnostics go to stderr (faultline keeps them per worker).
"""
import base64
import http.client
import json
import os
import socket
import sys
import time

NODE = os.environ["FAULTLINE_NODE"]
# Answer before faultline gives up on us (it kills adapters that overrun).
TIMEOUT_S = int(os.environ.get("FAULTLINE_OP_TIMEOUT_MS", "5000")) * 0.8 / 1000

# The set workload's key (docs/adapters.md): its value is a JSON list.
SET_KEY = "s"

# etcd errors raised before a request is proposed to raft: certainly no effect.
NOT_PROPOSED = (
    "etcdserver: too many requests",
    "etcdserver: request is too large",
    "etcdserver: not capable",
    "etcdserver: key is not provided",
)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def unb64(text):
    return base64.b64decode(text).decode()


class Refused(Exception):
    """The connection was refused: nothing was sent."""


class EtcdError(Exception):
    """etcd answered with an error (a gRPC status)."""


class Etcd:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.conn = None

    def call(self, path, body):
        """POSTs body to the gateway; returns the decoded JSON answer."""
        if self.conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
            try:
                conn.connect()
            except ConnectionRefusedError as e:
                raise Refused(str(e))
            self.conn = conn
        try:
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

    def read(self, key):
        data = self.call("/v3/kv/range", {"key": b64(key)})
        kvs = data.get("kvs") or []
        return json.loads(unb64(kvs[0]["value"])) if kvs else None

    def write(self, key, value):
        self.call("/v3/kv/put", {"key": b64(key), "value": b64(json.dumps(value))})

    def cas(self, key, old, new):
        """True if the register held `old` and now holds `new`."""
        if old is None:
            # "Unset" is a key that was never created.
            compare = {"key": b64(key), "target": "CREATE", "result": "EQUAL",
                       "create_revision": "0"}
        else:
            compare = {"key": b64(key), "target": "VALUE", "result": "EQUAL",
                       "value": b64(json.dumps(old))}
        put = {"request_put": {"key": b64(key), "value": b64(json.dumps(new))}}
        data = self.call("/v3/kv/txn", {"compare": [compare], "success": [put]})
        # proto3 JSON leaves out false fields.
        return bool(data.get("succeeded", False))

    def add(self, key, elem, deadline):
        """Adds elem to the set kept as a sorted JSON list at key: read it,
        then write it back in a txn that holds only if nobody wrote the key
        in between (mod_revision), retrying while others get in first.
        Returns False if the deadline passed first (then no txn took effect)."""
        while time.monotonic() < deadline:
            data = self.call("/v3/kv/range", {"key": b64(key)})
            kvs = data.get("kvs") or []
            if kvs:
                members = json.loads(unb64(kvs[0]["value"]))
                compare = {"key": b64(key), "target": "MOD", "result": "EQUAL",
                           "mod_revision": kvs[0]["mod_revision"]}
            else:
                members = []
                compare = {"key": b64(key), "target": "CREATE", "result": "EQUAL",
                           "create_revision": "0"}
            members = sorted(set(members) | {elem})
            put = {"request_put": {"key": b64(key), "value": b64(json.dumps(members))}}
            data = self.call("/v3/kv/txn", {"compare": [compare], "success": [put]})
            if data.get("succeeded", False):
                return True
        return False


def perform(etcd, op):
    f, key = op["f"], op.get("key")
    if f == "read":
        value = etcd.read(key)
        if value is None and key == SET_KEY:
            value = []  # the set workload's set, before any add
        return {"type": "ok", "value": value}
    if f == "write":
        etcd.write(key, op["value"])
        return {"type": "ok"}
    if f == "cas":
        old, new = op["value"]
        if etcd.cas(key, old, new):
            return {"type": "ok"}
        return {"type": "fail", "error": "precondition"}
    if f == "add":
        if etcd.add(key, op["value"], time.monotonic() + TIMEOUT_S):
            return {"type": "ok"}
        return {"type": "fail", "error": "contention: every txn lost its compare"}
    return {"type": "fail", "error": f"unsupported op {f!r}"}


def answer(etcd, op):
    is_read = op["f"] == "read"
    uncertain = "fail" if is_read else "info"
    try:
        return perform(etcd, op)
    except Refused:
        return {"type": "fail", "error": "connection-refused"}
    except EtcdError as e:
        message = str(e)
        if is_read or message.startswith(NOT_PROPOSED):
            return {"type": "fail", "error": message}
        return {"type": "info", "error": message}
    except socket.timeout:
        return {"type": uncertain, "error": "timeout"}
    except (OSError, http.client.HTTPException) as e:
        return {"type": uncertain, "error": f"{type(e).__name__}: {e}"}


def main():
    etcd = Etcd(NODE)
    print(f"etcd adapter for {NODE}, timeout {TIMEOUT_S:.1f}s", file=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            continue
        op = json.loads(line)
        reply = answer(etcd, op)
        reply["id"] = op["id"]
        if reply["type"] != "ok":
            print(f"op {op} -> {reply}", file=sys.stderr)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
