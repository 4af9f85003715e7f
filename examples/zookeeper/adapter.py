#!/usr/bin/python3
"""faultline adapter for ZooKeeper 3.8, through kazoo (Debian's python3-kazoo),
for the `register` and `lock` workloads.

Every client is pinned to its own server (FAULTLINE_NODE, the only host kazoo
is given): it reconnects to that server and never fails over, as a client
near one server of a wide ensemble would. That is the client which sees what
its server sees, stale reads included.

register (znode /faultline/r, the value as decimal text):
- read: getData on the client's server; with FAULTLINE_PARAM_SYNC=on, sync()
  first, so the server catches up with the leader before it answers.
- write: setData (create on first use); cas [old, new]: getData, then setData
  with the version read (or create for old = null), checked by the leader.

lock (the standard recipe, kazoo's Lock: an ephemeral sequential node under
/faultline/locks/l, each waiter watching its predecessor):
- acquire {holder, lease_ms}: the recipe, in a session of lease_ms timeout.
  The token is the czxid of the holder's lock node (ZooKeeper's transaction
  id: it rises with every grant).
- renew {token}: the holder's unit of work, a write to the protected
  resource (/faultline/resource), sent until kazoo reports the lock's
  session LOST, as kazoo's Lock does (its is_acquired stays true while the
  connection is down; kazoo's docs advise more care). fencing=off: a plain setData through a second session, to one of
  the other servers (the resource knows nothing of the lock, and stays
  writable when the holder's server stalls). fencing=on: a multi-op in
  the lock's session, check(lock node) + setData, applied only while the
  holder's lock node exists.
- release: delete the lock node.

What the checker is told (lease_ms, from the op's start): the holder relies
on its session for one session timeout after each successful step.
That is sound for a step through the lock's session (the request touched the
session, which cannot expire sooner); a write through another session proves
nothing about the lock's, and without fencing the holder also relies on the
lock until that write was answered. With fencing the holder relies on
ZooKeeper's check instead: its completions say `"fenced": true`, and a
write's carries `rev`, the zxid it was applied at (mzxid), so the checker
judges the writes (no older token after a newer grant or write).
"""
import json
import os
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (BadVersionError, ConnectionLoss, NodeExistsError,
                              NoNodeError, SessionExpiredError, ZookeeperError)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.recipe.lock import LockTimeout
from kazoo.retry import KazooRetry

NODE = os.environ["FAULTLINE_NODE"]
# The protected resource's store, for fencing=off: the other servers (kazoo
# picks one), so the resource stays writable when the holder's server stalls.
STORE_HOSTS = ",".join(n for n in os.environ.get("FAULTLINE_NODES", NODE).split(",")
                       if n != NODE) or NODE
SYNC = os.environ.get("FAULTLINE_PARAM_SYNC", "off") == "on"
FENCING = os.environ.get("FAULTLINE_PARAM_FENCING", "off") == "on"
# Answer before faultline gives up on us (it kills adapters that overrun).
TIMEOUT_S = int(os.environ.get("FAULTLINE_OP_TIMEOUT_MS", "5000")) * 0.8 / 1000
ROOT = "/faultline"
LOCKS = ROOT + "/locks"
RESOURCE = ROOT + "/resource"
# Register sessions: long enough to ride out a short pause (the server allows
# 0.4-4 s with zookeeper.toml's tickTime of 200 ms).
REGISTER_SESSION_S = 4.0


class NotConnected(Exception):
    """No session could be opened: nothing was sent."""


def log(msg):
    print(f"{time.monotonic():.3f} {msg}", file=sys.stderr, flush=True)


def open_session(hosts, session_s):
    """A started kazoo client, or NotConnected."""
    client = KazooClient(hosts=hosts, timeout=session_s,
                         connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.2),
                         command_retry=None)
    try:
        client.start(timeout=min(TIMEOUT_S / 4, 1.0))
    except Exception as e:
        close(client)
        raise NotConnected(f"{hosts}: {e}")
    return client


def close(client):
    """Ends a session in the background: a dead server must not hold us up."""
    def stop():
        try:
            client.stop()
            client.close()
        except Exception as e:
            log(f"close: {e}")
    threading.Thread(target=stop, daemon=True).start()


def wait(async_result, share=0.5):
    """The result, waiting at most `share` of the op's time."""
    return async_result.get(timeout=TIMEOUT_S * share)


class Register:
    def __init__(self):
        self.client = None

    def session(self):
        if self.client is None:
            self.client = open_session(NODE, REGISTER_SESSION_S)
        return self.client

    def path(self, key):
        return f"{ROOT}/{key}"

    def read(self, key):
        zk = self.session()
        if SYNC:
            wait(zk.sync_async(self.path(key)))
        try:
            data, _ = wait(zk.get_async(self.path(key)))
        except NoNodeError:
            return None
        return int(data)

    def write(self, key, value):
        zk = self.session()
        try:
            wait(zk.set_async(self.path(key), str(value).encode()))
        except NoNodeError:
            try:
                zk.ensure_path(ROOT)
                wait(zk.create_async(self.path(key), str(value).encode()))
            except NodeExistsError:  # created meanwhile by another client
                wait(zk.set_async(self.path(key), str(value).encode()))

    def cas(self, key, old, new):
        """True if it applied; False if the compare failed (nothing written)."""
        zk = self.session()
        if old is None:
            try:
                zk.ensure_path(ROOT)
                wait(zk.create_async(self.path(key), str(new).encode()))
                return True
            except NodeExistsError:
                return False
        try:
            data, stat = wait(zk.get_async(self.path(key)))
        except NoNodeError:
            return False
        if int(data) != old:
            return False
        try:
            wait(zk.set_async(self.path(key), str(new).encode(), version=stat.version))
            return True
        except BadVersionError:
            return False

    def answer(self, op):
        f = op["f"]
        try:
            if f == "read":
                return {"type": "ok", "value": self.read(op["key"])}
            if f == "write":
                self.write(op["key"], op["value"])
                return {"type": "ok"}
            if f == "cas":
                old, new = op["value"]
                if self.cas(op["key"], old, new):
                    return {"type": "ok"}
                return {"type": "fail", "error": "precondition"}
            return {"type": "fail", "error": f"unsupported op {f!r}"}
        except NotConnected as e:
            return {"type": "fail", "error": f"not-connected: {e}"}
        except (KazooTimeoutError, ConnectionLoss, SessionExpiredError, ZookeeperError) as e:
            # A read has no effect; a write may still be applied.
            return {"type": "fail" if f == "read" else "info",
                    "error": f"{type(e).__name__}: {e}"}


class Lock:
    def __init__(self):
        self.client = None      # the lock's session, on NODE
        self.store = None       # fencing=off: the resource's session, another server
        self.lock = None
        self.node = None        # the holder's lock node, a full path
        self.token = None
        self.session_s = 2.0
        self.lost = threading.Event()

    def drop(self):
        """Forget the lock and end its session (which deletes the lock node)."""
        if self.client is not None:
            close(self.client)
        self.client, self.lock, self.node, self.token = None, None, None, None

    def acquire(self, op, start):
        self.drop()
        self.session_s = op["value"]["lease_ms"] / 1000
        if not FENCING and self.store is None:
            try:
                self.store = open_session(STORE_HOSTS, REGISTER_SESSION_S)
            except NotConnected as e:  # tried again at the first write
                log(f"store: {e}")
        self.client = open_session(NODE, self.session_s)
        # kazoo's Lock keeps is_acquired while the connection is down; only
        # LOST (kazoo reconnected and learned the session expired) ends it.
        self.lost = lost = threading.Event()
        self.client.add_listener(lambda state: lost.set() if state == KazooState.LOST else None)
        self.lock = self.client.Lock(f"{LOCKS}/{op['key']}", op["value"]["holder"])
        try:
            self.lock.acquire(timeout=TIMEOUT_S / 2.5)
            # A step through the lock's session: it lives a session timeout
            # past this request.
            sent = time.monotonic()
            node = f"{self.lock.path}/{self.lock.node}"
            stat = wait(self.client.exists_async(node), 0.2)
        except LockTimeout:
            self.drop()
            return {"type": "fail", "error": "lock-timeout"}
        except BaseException:
            # The lock may or may not be ours: give it up, say we do not know.
            self.drop()
            raise
        if stat is None:
            self.drop()
            return {"type": "fail", "error": "lease-lost"}
        self.node, self.token = node, stat.czxid
        value = {"token": self.token, "lease_ms": held_ms(start, sent + self.session_s)}
        if FENCING:
            value["fenced"] = True
        return {"type": "ok", "value": value}

    def renew(self, op, start):
        if self.token is None or op["value"].get("token") != self.token:
            return {"type": "fail", "error": "not-held"}
        if self.lost.is_set():
            self.drop()
            return {"type": "fail", "error": "lease-lost: session expired"}
        payload = json.dumps(op["value"]).encode()
        if FENCING:
            txn = self.client.transaction()
            txn.check(self.node, 0)
            txn.set_data(RESOURCE, payload)
            results = wait(txn.commit_async())
            if any(isinstance(r, Exception) for r in results):
                self.drop()
                return {"type": "fail", "error": f"lease-lost: {results}"}
            # Fenced: ZooKeeper applied the write while the lock node
            # existed; the checker judges the writes, in zxid order (rev).
            return {"type": "ok", "value": {"token": self.token, "fenced": True,
                                            "rev": results[1].mzxid,
                                            "lease_ms": held_ms(start, start + self.session_s)}}
        if self.store is None:
            self.store = open_session(STORE_HOSTS, REGISTER_SESSION_S)
        wait(self.store.set_async(RESOURCE, payload))
        until = max(start + self.session_s, time.monotonic())
        return {"type": "ok", "value": {"token": self.token, "lease_ms": held_ms(start, until)}}

    def release(self, op):
        if self.token is None or op["value"].get("token") != self.token:
            return {"type": "fail", "error": "not-held"}
        try:
            wait(self.client.delete_async(self.node))
        finally:
            self.drop()
        return {"type": "ok"}

    def answer(self, op):
        start = time.monotonic()
        f = op["f"]
        try:
            if f == "acquire":
                return self.acquire(op, start)
            if f == "renew":
                return self.renew(op, start)
            if f == "release":
                return self.release(op)
            return {"type": "fail", "error": f"unsupported op {f!r}"}
        except NotConnected as e:
            return {"type": "fail", "error": f"not-connected: {e}"}
        except (KazooTimeoutError, ConnectionLoss, SessionExpiredError, ZookeeperError) as e:
            return {"type": "info", "error": f"{type(e).__name__}: {e}"}


def held_ms(start, until):
    return max(0, round((until - start) * 1000))


def setup():
    """The resource node the lock's holders write (created once, by anyone)."""
    zk = open_session(NODE, REGISTER_SESSION_S)
    try:
        wait(zk.ensure_path_async(LOCKS), 0.2)
        try:
            wait(zk.create_async(RESOURCE, b""), 0.2)
        except NodeExistsError:
            pass
    finally:
        close(zk)


def main():
    register, lock = Register(), Lock()
    log(f"zookeeper adapter for {NODE}, sync {'on' if SYNC else 'off'}, "
        f"fencing {'on' if FENCING else 'off'}, timeout {TIMEOUT_S:.1f}s")
    ready = False
    for line in sys.stdin:
        if not line.strip():
            continue
        op = json.loads(line)
        if op["f"] in ("acquire", "renew", "release"):
            if not ready:
                try:
                    setup()
                    ready = True
                except Exception as e:
                    log(f"setup: {e}")
            reply = lock.answer(op)
        else:
            reply = register.answer(op)
        reply["id"] = op["id"]
        if reply["type"] != "ok":
            log(f"op {op} -> {reply}")
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
