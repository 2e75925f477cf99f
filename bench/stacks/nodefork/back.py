"""kspan stack bench "nodefork": the back, a Python stdlib forking server.

usage: python3 back.py LISTEN_IP:PORT STORE_IP TRUTH_DIR

socketserver.ForkingTCPServer: the parent accepts, one child per connection serves keep-alive
HTTP/1.1 requests on it until the peer closes (a long-lived child per pooled front socket).
  /pg     the child fork+execs `psql -h STORE -U postgres -At -c "select ..."` (subprocess.Popen +
          communicate, i.e. subprocess.run keeping the pid);
          the query answers psql's own end of its connection (inet_client_addr/port), which is
          the call's `local` in the truth log.
  /redis  INCR over a NEW TCP connection to STORE:6379 (hand-written RESP), closed after.
Truth: one line per request in TRUTH_DIR/back.jsonl, written by the child with O_APPEND
(pid = the child, tid = threading.get_native_id()).
"""
import ctypes
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

listen, store, truth = sys.argv[1:4]
lhost, lport = listen.rsplit(":", 1)
log_fd = os.open(f"{truth}/back.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
PSQL_ENV = dict(os.environ, PGSSLMODE="disable", PGGSSENCMODE="disable", PGCONNECT_TIMEOUT="2")
PSQL = ["psql", "-X", "-h", store, "-U", "postgres", "-d", "postgres", "-At", "-c",
        "select host(inet_client_addr()) || ':' || inet_client_port()"]


def call_pg():
    start = time.time_ns()
    rec = {"target": "postgres", "proto": "postgres", "local": "", "peer": f"{store}:5432",
           "start_unix_ns": start, "status": "ok"}
    try:
        # What subprocess.run does (fork+exec, read both pipes, wait), with psql's pid kept: the
        # call is made by psql, a thread of another process, logged as the call's tid.
        with subprocess.Popen(PSQL, env=PSQL_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
            rec["tid"] = p.pid
            try:
                out, err = p.communicate(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                raise
        out = out.decode().strip()
        if p.returncode != 0 or ":" not in out:
            rec["status"] = f"error: postgres: psql exit {p.returncode}: {err.decode().strip()[:120]}"
        else:
            rec["local"] = out
    except subprocess.TimeoutExpired:
        rec["status"] = "error: postgres: timed out"
    except OSError as e:
        rec["status"] = f"error: postgres: {e}"
    rec["end_unix_ns"] = time.time_ns()
    return rec


def call_redis():
    start = time.time_ns()
    rec = {"target": "redis", "proto": "redis", "local": "", "peer": f"{store}:6379",
           "start_unix_ns": start, "status": "ok", "tid": threading.get_native_id()}
    try:
        with socket.create_connection((store, 6379), timeout=2) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            a = s.getsockname()
            rec["local"] = f"{a[0]}:{a[1]}"
            s.sendall(b"*2\r\n$4\r\nINCR\r\n$12\r\nkst:nodefork\r\n")
            buf = b""
            while not buf.endswith(b"\r\n"):
                chunk = s.recv(256)
                if not chunk:
                    raise ConnectionError("redis closed the connection")
                buf += chunk
            if not buf.startswith(b":"):
                rec["status"] = f"error: redis: {buf.decode(errors='replace').strip()[:120]}"
    except OSError as e:
        rec["status"] = f"error: redis: {e}"
    rec["end_unix_ns"] = time.time_ns()
    return rec


class Handler(socketserver.StreamRequestHandler):
    def setup(self):
        super().setup()
        # The child dies with the parent (run.sh kills only the parent).
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self):
        peer = self.request.getpeername()
        local = self.request.getsockname()
        while True:
            line = self.rfile.readline(8192)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            headers = {}
            while True:
                h = self.rfile.readline(8192)
                if not h:
                    return
                if h in (b"\r\n", b"\n"):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", "0") or 0)
            if n:
                self.rfile.read(n)
            start = time.time_ns()
            parts = line.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            rid = headers.get("x-request-id", "")
            calls = []
            if path == "/pg":
                calls.append(call_pg())
            elif path == "/redis":
                calls.append(call_redis())
            if path not in ("/pg", "/redis"):
                code, status = 404, f"error: unknown endpoint {path}"
            elif calls[0]["status"] != "ok":
                code, status = 502, calls[0]["status"]
            else:
                code, status = 200, "ok"
            body = f"back {path} {status}\n".encode()
            head = (f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}\r\nContent-Type: text/plain\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            self.request.sendall(head + body)
            end = time.time_ns()
            rec = {"rid": rid, "service": "back", "design": "fork", "pid": os.getpid(),
                   "tid": threading.get_native_id(), "start_unix_ns": start, "end_unix_ns": end,
                   "peer": f"{peer[0]}:{peer[1]}", "local": f"{local[0]}:{local[1]}",
                   "endpoint": path, "status": status, "calls": calls}
            os.write(log_fd, (json.dumps(rec, separators=(",", ":")) + "\n").encode())


class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    request_queue_size = 64
    max_children = 256


def main():
    srv = Server((lhost, int(lport)), Handler)

    def stop(*_):
        for pid in list(srv.active_children or ()):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"back listening on {listen}, store {store}", file=sys.stderr, flush=True)
    srv.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
