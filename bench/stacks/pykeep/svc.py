"""kspan stack bench: CPython thread-per-connection services with persistent, pooled connections.

usage: python3 svc.py ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR
  front (http.server.ThreadingHTTPServer, HTTP/1.1 keep-alive from nginx):
    /seq: takes an http.client.HTTPConnection to BACK from a shared LifoQueue pool (a new one
          when the pool is empty), makes 2 sequential GET /work on it (keep-alive), returns it
          to the pool; then redis GET over the thread's own persistent connection
          (threading.local, hand-written RESP)
  back (same server class):
    /work: memcached `set` over a persistent connection taken from a shared LifoQueue pool
Truth: one JSON line per request in TRUTH_DIR/ROLE.jsonl; tid = threading.get_native_id().
"""
import http.client
import http.server
import json
import os
import queue
import socket
import sys
import threading
import time

role, listen, back, store_ip, truth = sys.argv[1:6]
lhost, lport = listen.rsplit(":", 1)
bhost, bport = back.rsplit(":", 1)
REDIS = (store_ip, 6379)
MEMCACHED = (store_ip, 11211)
TIMEOUT = 2.0
log_fd = os.open(f"{truth}/{role}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
back_pool = queue.LifoQueue()  # idle http.client.HTTPConnection to BACK
mc_pool = queue.LifoQueue()  # idle (socket, buffer) to memcached
local = threading.local()  # .redis: this thread's (socket, buffer) to redis


def addr(a):
    return f"{a[0]}:{a[1]}"


def read_line(sock, buf):
    """Reads up to and including the next CRLF; returns (line, rest)."""
    while b"\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    line, rest = buf.split(b"\r\n", 1)
    return line, rest


def call_back(conn, rid):
    """GET BACK /work on conn (keep-alive); returns the call's truth record."""
    rec = {"target": "back", "proto": "http", "local": "", "peer": back,
           "tid": threading.get_native_id(), "start_unix_ns": time.time_ns()}
    try:
        if conn.sock is None:
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rec["local"] = addr(conn.sock.getsockname())
        conn.request("GET", "/work", headers={"X-Request-Id": rid})
        resp = conn.getresponse()
        resp.read()
        rec["status"] = "ok" if resp.status == 200 else f"error: back: HTTP status {resp.status}"
    except Exception as e:  # noqa: BLE001
        rec["status"] = f"error: back: {e!r}"
        conn.close()
    rec["end_unix_ns"] = time.time_ns()
    return rec


def store_call(target, peer, conn, request, reply_done):
    """One request/reply on conn = [socket or None, buffer] (connects when None); returns the record."""
    rec = {"target": target, "proto": target, "local": "", "peer": addr(peer),
           "tid": threading.get_native_id(), "start_unix_ns": time.time_ns()}
    try:
        if conn[0] is None:
            conn[0] = socket.create_connection(peer, timeout=TIMEOUT)
            conn[0].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn[1] = b""
        sock = conn[0]
        rec["local"] = addr(sock.getsockname())
        sock.sendall(request)
        lines = []
        while True:
            line, conn[1] = read_line(sock, conn[1])
            lines.append(line)
            if reply_done(lines):
                break
        rec["status"] = "ok"
        if lines[0].startswith((b"-", b"ERROR", b"SERVER_ERROR", b"CLIENT_ERROR")):
            rec["status"] = f"error: {target}: {lines[0].decode(errors='replace')}"
    except Exception as e:  # noqa: BLE001
        rec["status"] = f"error: {target}: {e!r}"
        if conn[0] is not None:
            conn[0].close()
        conn[0] = None
    rec["end_unix_ns"] = time.time_ns()
    return rec


def redis_done(lines):
    first = lines[0]
    if first.startswith(b"$") and int(first[1:]) >= 0:
        return len(lines) == 2  # bulk string: its data line
    return True


def redis_get():
    conn = getattr(local, "redis", None)
    if conn is None:
        conn = local.redis = [None, b""]
    key = b"kst:count"
    return store_call("redis", REDIS, conn, b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key), redis_done)


def memcached_set(rid):
    try:
        conn = mc_pool.get_nowait()
    except queue.Empty:
        conn = [None, b""]
    key = b"kst:" + rid.encode()[:200]
    value = b"v" * 32
    rec = store_call("memcached", MEMCACHED, conn, b"set %s 0 60 %d\r\n%s\r\n" % (key, len(value), value),
                     lambda ls: True)
    if conn[0] is not None:
        mc_pool.put(conn)
    return rec


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # no access log on stderr
        pass

    def do_GET(self):
        start = time.time_ns()
        rid = self.headers.get("X-Request-Id", "")
        path = self.path
        calls = []
        status = "ok"
        code = 200
        if role == "back" and path == "/work":
            calls.append(memcached_set(rid))
        elif role == "front" and path == "/seq":
            try:
                conn = back_pool.get_nowait()
            except queue.Empty:
                conn = http.client.HTTPConnection(bhost, int(bport), timeout=TIMEOUT)
            for _ in range(2):
                calls.append(call_back(conn, rid))
                if calls[-1]["status"] != "ok":
                    break
            if calls[-1]["status"] == "ok":
                back_pool.put(conn)
                calls.append(redis_get())
            else:
                conn.close()
        else:
            status, code = f"error: unknown endpoint {path}", 404
        failed = [c["status"] for c in calls if c["status"] != "ok"]
        if failed:
            status, code = failed[0], 502
        body = f"{role} {path} {'ok' if code == 200 else status}\n".encode()
        head = (f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.wfile.write(head + body)  # one write: head and body together
        end = time.time_ns()
        rec = {"rid": rid, "service": role, "design": "thread", "pid": os.getpid(),
               "tid": threading.get_native_id(), "start_unix_ns": start, "end_unix_ns": end,
               "peer": addr(self.client_address), "local": addr(self.connection.getsockname()),
               "endpoint": path, "status": status, "calls": calls}
        os.write(log_fd, (json.dumps(rec) + "\n").encode())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


server = Server((lhost, int(lport)), Handler)
print(f"{role} listening on {listen}", file=sys.stderr, flush=True)
server.serve_forever()
