#!/usr/bin/env python3
"""faultline adapter for Redis with Sentinel, for the `set` workload.
Standard library only: RESP, Redis's protocol, is a few lines.

A client as Sentinel's documentation describes one: before each op, ask the
sentinel on its own node (port 26379 of FAULTLINE_NODE's host) which server
is the primary (`SENTINEL get-master-addr-by-name mymaster`), then:

    add v  -> SADD s v   (wait=on: then WAIT 1 T, ok only if >= 1 replica)
    read   -> SMEMBERS s (sorted ints)

Outcomes, honestly:
- ok: Redis answered the SADD (and, with wait=on, WAIT counted a replica).
- fail: certainly not applied: the connection was refused, or Redis refused
  the write before applying it (READONLY: the server is a replica now); any
  read that did not answer.
- info: a timeout or dropped connection after sending, or WAIT counting no
  replica (the primary has the add; whether it survives is unknown).

Each completion names the node whose server answered ("node").
"""
import json
import os
import socket
import sys
import time

NODE = os.environ["FAULTLINE_NODE"]
WAIT = os.environ.get("FAULTLINE_PARAM_WAIT", "off") == "on"
TIMEOUT_S = int(os.environ.get("FAULTLINE_OP_TIMEOUT_MS", "5000")) * 0.8 / 1000
SENTINEL_PORT = 26379
# WAIT's own timeout: well inside ours.
WAIT_MS = int(TIMEOUT_S * 1000 / 3)
# host:port -> node name, for the "node" of each completion.
NAMES = dict(zip(os.environ["FAULTLINE_NODES"].split(","),
                 os.environ["FAULTLINE_NODE_NAMES"].split(",")))


class Refused(Exception):
    """The connection was refused: nothing was sent."""


class RedisError(Exception):
    """Redis answered with an error reply (-ERR ...)."""


class Conn:
    def __init__(self, host, port, timeout):
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except ConnectionRefusedError as e:
            raise Refused(str(e))
        self.file = self.sock.makefile("rb")

    def close(self):
        self.file.close()
        self.sock.close()

    def call(self, *args, deadline=None):
        """Sends a command and reads its reply, by `deadline` (monotonic) if given."""
        if deadline is not None:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self.reply()

    def reply(self):
        line = self.file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed mid-reply")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)
            return data[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError(f"not RESP: {line!r}")


class Client:
    def __init__(self):
        self.host = NODE.rsplit(":", 1)[0]
        self.server = None      # (addr, Conn) of the current primary
        self.sentinel = None

    def primary(self):
        """The primary's host:port, as this node's sentinel sees it."""
        if self.sentinel is None:
            self.sentinel = Conn(self.host, SENTINEL_PORT, TIMEOUT_S / 4)
        try:
            host, port = self.sentinel.call("SENTINEL", "get-master-addr-by-name", "mymaster")
        except BaseException:
            self.sentinel.close()
            self.sentinel = None
            raise
        return f"{host}:{port}"

    def conn(self):
        addr = self.primary()
        if self.server is None or self.server[0] != addr:
            self.drop()
            host, port = addr.rsplit(":", 1)
            self.server = (addr, Conn(host, int(port), TIMEOUT_S / 4))
        return self.server

    def drop(self):
        if self.server is not None:
            self.server[1].close()
            self.server = None


def perform(client, op):
    # Everything, sentinel included, is done before faultline's own timeout.
    deadline = time.monotonic() + TIMEOUT_S
    if op["f"] == "read":
        try:
            addr, conn = client.conn()
            members = conn.call("SMEMBERS", op.get("key", "s"), deadline=deadline)
        except Refused:
            return {"type": "fail", "error": "connection-refused"}
        except (OSError, RedisError, ValueError) as e:
            client.drop()
            return {"type": "fail", "error": f"{type(e).__name__}: {e}"}
        return {"type": "ok", "value": sorted(int(m) for m in members), "node": NAMES.get(addr)}
    if op["f"] != "add":
        return {"type": "fail", "error": f"unsupported op {op['f']!r}"}
    try:
        addr, conn = client.conn()
    except Refused:
        return {"type": "fail", "error": "connection-refused"}
    except (OSError, RedisError, ValueError) as e:
        # Only the sentinel or a connect failed: nothing was written.
        client.drop()
        return {"type": "fail", "error": f"no primary: {type(e).__name__}: {e}"}
    node = NAMES.get(addr)
    try:
        conn.call("SADD", op.get("key", "s"), op["value"], deadline=deadline)
        if WAIT:
            replicas = conn.call("WAIT", 1, WAIT_MS, deadline=deadline)
            if replicas < 1:
                return {"type": "info", "error": "WAIT: no replica acknowledged", "node": node}
    except RedisError as e:
        # READONLY and the like are refused before the write is applied.
        return {"type": "fail", "error": str(e), "node": node}
    except (OSError, ValueError) as e:
        client.drop()
        return {"type": "info", "error": f"{type(e).__name__}: {e}", "node": node}
    return {"type": "ok", "node": node}


def main():
    client = Client()
    print(f"redis adapter for {NODE}, wait {'on' if WAIT else 'off'}", file=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            continue
        op = json.loads(line)
        reply = perform(client, op)
        reply["id"] = op["id"]
        if reply.get("node") is None:
            reply.pop("node", None)
        if reply["type"] != "ok":
            print(f"op {op} -> {reply}", file=sys.stderr)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
