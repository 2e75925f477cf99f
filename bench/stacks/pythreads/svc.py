"""kspan stack bench: CPython thread-per-connection services, stdlib only.

usage: python3 svc.py ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR
  front (http.server.ThreadingHTTPServer, HTTP/1.1 keep-alive from nginx):
    /one: GET BACK /work on a new http.client connection, then redis INCR on a new connection
    /par: two GET BACK /work in parallel, each from its own threading.Thread (started and
          joined by the request's thread) on its own new connection, then redis INCR
  back (same server class):
    /work: memcached `set` then `get` on one new connection, then answers
Every connection to BACK or a store is new and closed after its call(s); X-Request-Id is
forwarded on every call to BACK. Truth: one JSON line per request in TRUTH_DIR/ROLE.jsonl.
"""
import http.client
import http.server
import json
import os
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


def call_back(rid, out):
    """GET BACK /work on a new connection; appends the call's truth record to out."""
    rec = {"target": "back", "proto": "http", "local": "", "peer": back,
           "tid": threading.get_native_id(), "start_unix_ns": time.time_ns()}
    conn = http.client.HTTPConnection(bhost, int(bport), timeout=TIMEOUT)
    try:
        conn.connect()
        rec["local"] = addr(conn.sock.getsockname())
        conn.request("GET", "/work", headers={"X-Request-Id": rid})
        resp = conn.getresponse()
        resp.read()
        rec["status"] = "ok" if resp.status == 200 else f"error: back: HTTP status {resp.status}"
    except Exception as e:  # noqa: BLE001
        rec["status"] = f"error: back: {e!r}"
    rec["end_unix_ns"] = time.time_ns()
    conn.close()
    out.append(rec)


def store_call(target, peer, request, reply_done, out, sock=None):
    """One request/reply on sock (or a new connection to peer); returns the socket."""
    rec = {"target": target, "proto": target, "local": "", "peer": addr(peer),
           "tid": threading.get_native_id(), "start_unix_ns": time.time_ns()}
    try:
        if sock is None:
            sock = socket.create_connection(peer, timeout=TIMEOUT)
        rec["local"] = addr(sock.getsockname())
        sock.sendall(request)
        buf = b""
        lines = []
        while True:
            line, buf = read_line(sock, buf)
            lines.append(line)
            if reply_done(lines):
                break
        rec["status"] = "ok"
    except Exception as e:  # noqa: BLE001
        rec["status"] = f"error: {target}: {e!r}"
    rec["end_unix_ns"] = time.time_ns()
    out.append(rec)
    return sock


def redis_incr(out):
    key = b"kst:count"
    req = b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(key), key)
    sock = store_call("redis", REDIS, req, lambda ls: ls[0].startswith((b":", b"-")), out)
    if sock is not None:
        sock.close()


def memcached_set_get(rid, out):
    key = b"kst:" + rid.encode()[:200]
    value = b"v" * 32
    sock = store_call("memcached", MEMCACHED, b"set %s 0 60 %d\r\n%s\r\n" % (key, len(value), value),
                      lambda ls: True, out)
    if sock is None or out[-1]["status"] != "ok":
        if sock is not None:
            sock.close()
        return
    store_call("memcached", MEMCACHED, b"get %s\r\n" % key,
               lambda ls: ls[-1] in (b"END",) or ls[-1].startswith((b"ERROR", b"SERVER_ERROR", b"CLIENT_ERROR")),
               out, sock)
    sock.close()


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
            memcached_set_get(rid, calls)
        elif role == "front" and path == "/one":
            call_back(rid, calls)
            if calls[-1]["status"] == "ok":
                redis_incr(calls)
        elif role == "front" and path == "/par":
            got = [[], []]
            threads = [threading.Thread(target=call_back, args=(rid, got[i])) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            calls = sorted(got[0] + got[1], key=lambda c: c["start_unix_ns"])
            if all(c["status"] == "ok" for c in calls):
                redis_incr(calls)
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
