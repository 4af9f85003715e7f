#!/usr/bin/env python3
"""faultline adapter: Redlock over five independent Redis servers, for the
`lock` workload. Standard library only (RESP, Redis's protocol, is a few
lines).

Redlock, as redis.io's "Distributed Locks with Redis" describes it:

- acquire {holder, lease_ms}: with a random value of its own, send
  `SET l VALUE NX PX ttl` to every server at once, wait at most a short
  round time for the answers; the lock is held if a majority said OK and
  the validity time (ttl - time spent - clock drift) is positive, until
  start + ttl - drift by this client's monotonic clock. Otherwise undo it
  everywhere (compare-and-delete) and fail.
- renew {token}: the holder's unit of work. While the lock is valid, write
  the protected resource (the key `resource` on the first server, n1), then
  extend the lock the same way as it was taken (compare-and-PEXPIRE on every
  server, a majority within the validity time). An expired lock fails
  `lease-lost`; a failed extension gives the lock up (the next renew fails).
- release: compare-and-delete (a Lua script) on every server.

The protected resource, and the token (FAULTLINE_PARAM_FENCING):

- off: the token is only a label (the grant's wall-clock time in ns,
  rising in grant order); the write is a plain SET. The holder relies on
  the lock until its validity deadline, and at least until its write was
  answered: a write sent in time may be applied any time until its answer.
- on: at each grant the holder draws its token from a counter on n1
  (`INCR fence`), which also fences out every earlier holder: the write
  applies only if its token is still the counter's value (a Lua script).
  Then the holder relies on the resource, not on Redlock's clocks: an
  accepted write proves no later grant had drawn a token when it applied,
  and a new holder waits GRACE_S after drawing its token before it starts.
  So a holder claims GRACE_S after sending each accepted write (and the
  checker sees those claims never overlap, whatever the clocks do).

FAULTLINE_NODES lists the servers; the first is the resource's.
"""
import json
import os
import socket
import sys
import time
import uuid

ADDRS = os.environ["FAULTLINE_NODES"].split(",")
NAMES = os.environ["FAULTLINE_NODE_NAMES"].split(",")
FENCING = os.environ.get("FAULTLINE_PARAM_FENCING", "off") == "on"
# Answer before faultline gives up on us (it kills adapters that overrun).
BUDGET_S = int(os.environ.get("FAULTLINE_OP_TIMEOUT_MS", "5000")) * 0.8 / 1000
# Redlock's clock drift allowance: 1% of the TTL plus 2 ms.
DRIFT_FACTOR = 0.01
# How long a fenced holder relies on an accepted write, and how long a new
# holder waits after drawing its token.
GRACE_S = 1.0
RESOURCE = "resource"
FENCE = "fence"

UNLOCK = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('del', KEYS[1]) else return 0 end")
EXTEND = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end")
FENCED_WRITE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
                "redis.call('set', KEYS[2], ARGV[2]) return 1 else return 0 end")


class RedisError(Exception):
    """Redis answered with an error reply (-ERR ...)."""


class Server:
    """One Redis server and our connection to it (opened on demand; closed
    after any error or timeout, since a late reply would confuse the next)."""

    def __init__(self, addr, name):
        host, port = addr.rsplit(":", 1)
        self.host, self.port, self.name = host, int(port), name
        self.sock = None
        self.file = None

    def close(self):
        if self.sock is not None:
            self.file.close()
            self.sock.close()
        self.sock = self.file = None

    def send(self, args, deadline):
        try:
            if self.sock is None:
                self.sock = socket.create_connection(
                    (self.host, self.port), timeout=max(0.01, deadline - time.monotonic()))
                self.file = self.sock.makefile("rb")
            out = [b"*%d\r\n" % len(args)]
            for a in args:
                a = str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            self.sock.sendall(b"".join(out))
        except BaseException:
            self.close()
            raise

    def receive(self, deadline):
        try:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            return self.reply()
        except RedisError:
            raise
        except BaseException:
            self.close()
            raise

    def call(self, deadline, *args):
        self.send(args, deadline)
        return self.receive(deadline)

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
            return None if n < 0 else self.file.read(n + 2)[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError(f"not RESP: {line!r}")


SERVERS = [Server(a, n) for a, n in zip(ADDRS, NAMES)]
MAJORITY = len(SERVERS) // 2 + 1


def everywhere(args, deadline):
    """Sends args to every server at once, then collects the replies until
    deadline: a list of replies, an exception in place of each one missing."""
    sent, replies = [], []
    for s in SERVERS:
        try:
            s.send(args, deadline)
            sent.append(True)
        except Exception as e:
            sent.append(e)
    for s, ok in zip(SERVERS, sent):
        if ok is not True:
            replies.append(ok)
            continue
        try:
            replies.append(s.receive(deadline))
        except Exception as e:
            replies.append(e)
    return replies


class Redlock:
    """One held Redlock lock: its random value and validity deadline."""

    def __init__(self, key, ttl_ms):
        self.key, self.ttl_ms = key, ttl_ms
        self.value = uuid.uuid4().hex
        self.deadline = None
        self.round_s = min(0.5, ttl_ms / 4000)

    def _validity(self, t0, answers, good):
        """The deadline if a majority answered `good` in time, else None."""
        drift = self.ttl_ms * DRIFT_FACTOR / 1000 + 0.002
        deadline = t0 + self.ttl_ms / 1000 - drift
        won = sum(1 for a in answers if good(a))
        if won >= MAJORITY and time.monotonic() < deadline:
            return deadline
        return None

    def acquire(self):
        t0 = time.monotonic()
        answers = everywhere(["SET", self.key, self.value, "NX", "PX", self.ttl_ms],
                             t0 + self.round_s)
        self.deadline = self._validity(t0, answers, lambda a: a == "OK")
        if self.deadline is None:
            self.unlock()
        return self.deadline is not None

    def extend(self):
        t0 = time.monotonic()
        answers = everywhere(["EVAL", EXTEND, 1, self.key, self.value, self.ttl_ms],
                             t0 + self.round_s)
        deadline = self._validity(t0, answers, lambda a: a == 1)
        if deadline is not None:
            self.deadline = deadline
        return deadline is not None

    def unlock(self):
        """On every server (a server that misses it lets the key expire)."""
        everywhere(["EVAL", UNLOCK, 1, self.key, self.value],
                   time.monotonic() + self.round_s)


class Client:
    def __init__(self):
        self.lock = None
        self.token = None
        self.resource = SERVERS[0]
        # A lock given up during an op, undone once the op is answered.
        self.given_up = None

    def drop(self):
        lock, self.lock, self.token = self.lock, None, None
        if lock is not None:
            lock.unlock()

    def give_up(self):
        """Stops relying on the lock. Its keys are deleted only after the
        answer (cleanup): until then the checker counts the lock as held, so
        no one else may get it."""
        self.given_up, self.lock, self.token = self.lock, None, None

    def cleanup(self):
        if self.given_up is not None:
            self.given_up.unlock()
            self.given_up = None

    def acquire(self, op, start):
        self.drop()
        lock = Redlock(op["key"], op["value"]["lease_ms"])
        if not lock.acquire():
            return {"type": "fail", "error": "no-majority"}
        if not FENCING:
            self.lock, self.token = lock, time.time_ns()
            return ok(self.token, held_ms(start, lock.deadline))
        # Draw the token; it fences out every earlier holder at once.
        try:
            token = self.resource.call(start + BUDGET_S - GRACE_S - 0.2, "INCR", FENCE)
        except (OSError, RedisError, ValueError) as e:
            lock.unlock()
            # The INCR may still apply: unknown.
            return {"type": "info", "error": f"token: {type(e).__name__}: {e}",
                    "node": self.resource.name}
        drawn = time.monotonic()
        # An earlier holder relies on a write for GRACE_S after sending it;
        # every write it sends from now on is refused.
        time.sleep(max(0.0, drawn + GRACE_S - time.monotonic()))
        self.lock, self.token = lock, token
        return ok(token, held_ms(start, start + GRACE_S), self.resource.name)

    def renew(self, op, start):
        if self.token is None or op["value"].get("token") != self.token:
            return {"type": "fail", "error": "not-held"}
        # Work only while the lock is valid by this client's clock...
        if time.monotonic() >= self.lock.deadline:
            self.give_up()
            return {"type": "fail", "error": "lease-lost"}
        payload = json.dumps(op["value"])
        deadline = start + BUDGET_S
        node = self.resource.name
        try:
            sent = time.monotonic()
            if FENCING:
                applied = self.resource.call(deadline, "EVAL", FENCED_WRITE, 2, FENCE, RESOURCE,
                                             self.token, payload)
                if applied != 1:
                    self.give_up()
                    return {"type": "fail", "error": "lease-lost", "node": node}
            else:
                self.resource.call(deadline, "SET", RESOURCE, payload)
        except (OSError, RedisError, ValueError) as e:
            # The write may yet be applied.
            return {"type": "info", "error": f"{type(e).__name__}: {e}", "node": node}
        answered = time.monotonic()
        # ...then extend it for the next piece of work (or give it up).
        token, relied = self.token, self.lock.deadline
        if self.lock.extend():
            relied = self.lock.deadline
        else:
            self.give_up()
        if FENCING:
            return ok(token, held_ms(start, sent + GRACE_S), node)
        return ok(token, held_ms(start, max(relied, answered)), node)

    def release(self, op):
        if self.token is None or op["value"].get("token") != self.token:
            return {"type": "fail", "error": "not-held"}
        self.drop()
        return {"type": "ok"}


def ok(token, lease_ms, node=None):
    reply = {"type": "ok", "value": {"token": token, "lease_ms": lease_ms}}
    if node is not None:
        reply["node"] = node
    return reply


def held_ms(start, until):
    return max(0, round((until - start) * 1000))


def answer(client, op):
    start = time.monotonic()
    f = op["f"]
    if f == "acquire":
        return client.acquire(op, start)
    if f == "renew":
        return client.renew(op, start)
    if f == "release":
        return client.release(op)
    return {"type": "fail", "error": f"unsupported op {f!r}"}


def main():
    client = Client()
    print(f"redlock adapter over {','.join(ADDRS)}, fencing {'on' if FENCING else 'off'}, "
          f"budget {BUDGET_S:.1f}s", file=sys.stderr)
    for line in sys.stdin:
        if not line.strip():
            continue
        op = json.loads(line)
        reply = answer(client, op)
        reply["id"] = op["id"]
        if reply["type"] != "ok" and reply.get("error") not in ("no-majority",):
            print(f"op {op} -> {reply}", file=sys.stderr)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        client.cleanup()


if __name__ == "__main__":
    main()
