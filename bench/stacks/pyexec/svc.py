"""kspan stack bench: asyncio front running blocking calls in a thread pool; stdlib only.

The design of a FastAPI/Starlette service with plain `def` endpoints: the event loop reads
and answers each request, the blocking work runs on `loop.run_in_executor` worker threads.

usage: python3 svc.py ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR
  ROLE front: asyncio server (HTTP/1.1 keep-alive), one ThreadPoolExecutor(max_workers=4).
              /one: one job that GETs BACK /work on a pooled blocking http.client connection
              (shared LIFO pool) and then INCRs redis on a pooled blocking connection;
              /two: one job that GETs BACK /work twice in a row;
              /par: two jobs at once (asyncio.gather), each one GET, then the loop itself INCRs
              redis over its own asyncio connection (one shared connection, under a lock).
  ROLE back:  http.server.ThreadingHTTPServer (a thread per connection); /work INCRs redis on
              a persistent connection of its own thread (threading.local), then answers.
Truth (docs/ground-truth.md): TRUTH_DIR/ROLE.jsonl, one line per request; every call carries
the caller's end of the connection it used and the OS thread that made it ("tid").
"""
import json
import os
import queue
import socket
import sys
import threading
import time

role, listen, back, store, truth = sys.argv[1:6]
lhost, lport = listen.rsplit(":", 1)
bhost, bport = back.rsplit(":", 1)
REDIS = (store, 6379)
log_fd = os.open(f"{truth}/{role}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def log(rec):
    os.write(log_fd, (json.dumps(rec) + "\n").encode())


def addr(a):
    return f"{a[0]}:{a[1]}"


def call_record(target, proto, peer):
    return {"target": target, "proto": proto, "local": "", "peer": peer,
            "start_unix_ns": time.time_ns(), "tid": threading.get_native_id()}


def incr_command(key):
    k = key.encode()
    return b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(k), k)


def blocking_incr(conn, key):
    """INCR on a blocking (socket, reader) pair; returns the call's truth record."""
    rec = call_record("redis", "redis", addr(REDIS))
    s, rd = conn
    rec["local"] = addr(s.getsockname())
    s.sendall(incr_command(key))
    line = rd.readline()
    rec["status"] = "ok" if line.startswith(b":") else f"error: redis: reply {line!r}"
    rec["end_unix_ns"] = time.time_ns()
    return rec


def redis_connection():
    s = socket.create_connection(REDIS, timeout=2)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return (s, s.makefile("rb"))


# ------------------------------------------------------------------------------------ front
def run_front():
    import asyncio
    import concurrent.futures
    import http.client

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "pyasync"))
    from http1 import read_message

    executor = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    back_pool = queue.LifoQueue()  # idle keep-alive HTTPConnections to the back
    redis_pool = queue.LifoQueue()  # idle blocking (socket, reader) pairs to redis

    def back_get(rid):
        """GET BACK /work on a pooled blocking connection, on this worker thread."""
        rec = call_record("back", "http", back)
        try:
            conn = back_pool.get_nowait()
        except queue.Empty:
            conn = http.client.HTTPConnection(bhost, int(bport), timeout=2)
        try:
            conn.request("GET", "/work", headers={"X-Request-Id": rid})
            rec["local"] = addr(conn.sock.getsockname())
            resp = conn.getresponse()
            resp.read()
            rec["status"] = "ok" if resp.status == 200 else f"error: back: HTTP {resp.status}"
            back_pool.put(conn)
        except Exception as e:  # noqa: BLE001
            conn.close()
            rec["status"] = f"error: back: {e!r}"
        rec["end_unix_ns"] = time.time_ns()
        return rec

    def pooled_incr(key):
        try:
            conn = redis_pool.get_nowait()
        except queue.Empty:
            conn = redis_connection()
        rec = blocking_incr(conn, key)
        redis_pool.put(conn)
        return rec

    def job_one(rid):
        return [back_get(rid), pooled_incr("kst:pyexec:one")]

    def job_two(rid):
        return [back_get(rid), back_get(rid)]

    loop_redis = {}
    loop_lock = asyncio.Lock()

    async def loop_incr(key):
        """INCR over the loop's one asyncio redis connection (under a lock)."""
        async with loop_lock:
            rec = call_record("redis", "redis", addr(REDIS))
            try:
                if not loop_redis:
                    r, w = await asyncio.open_connection(*REDIS)
                    loop_redis.update(r=r, w=w, local=addr(w.get_extra_info("sockname")))
                rec["local"] = loop_redis["local"]
                loop_redis["w"].write(incr_command(key))
                line = await loop_redis["r"].readline()
                rec["status"] = "ok" if line.startswith(b":") else f"error: redis: {line!r}"
            except Exception as e:  # noqa: BLE001
                loop_redis.clear()
                rec["status"] = f"error: redis: {e!r}"
            rec["end_unix_ns"] = time.time_ns()
            return rec

    async def handle(reader, writer):
        loop = asyncio.get_running_loop()
        peer = addr(writer.get_extra_info("peername"))
        local = addr(writer.get_extra_info("sockname"))
        while True:
            try:
                first, headers = await read_message(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            start = time.time_ns()
            rid = headers.get("x-request-id", "")
            path = first.split()[1]
            calls, code = [], 200
            if path == "/one":
                calls = await loop.run_in_executor(executor, job_one, rid)
            elif path == "/two":
                calls = await loop.run_in_executor(executor, job_two, rid)
            elif path == "/par":
                calls = list(await asyncio.gather(loop.run_in_executor(executor, back_get, rid),
                                                  loop.run_in_executor(executor, back_get, rid)))
                calls.sort(key=lambda c: c["start_unix_ns"])
                calls.append(await loop_incr("kst:pyexec:par"))
            else:
                code = 404
            bad = [c["status"] for c in calls if c["status"] != "ok"]
            status = bad[0] if bad else ("ok" if code == 200 else f"error: unknown endpoint {path}")
            if bad:
                code = 502
            body = f"front {path} {code}\n".encode()
            writer.write(b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (code, len(body), body))
            await writer.drain()
            log({"rid": rid, "service": "front", "design": "asyncio+executor", "pid": os.getpid(),
                 "tid": threading.get_native_id(), "start_unix_ns": start,
                 "end_unix_ns": time.time_ns(), "peer": peer, "local": local, "endpoint": path,
                 "status": status, "calls": calls})
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, lhost, int(lport), backlog=256)
        print(f"front listening on {listen}", file=sys.stderr, flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ------------------------------------------------------------------------------------- back
def run_back():
    import http.server

    mine = threading.local()  # this thread's persistent redis connection

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):
            start = time.time_ns()
            rid = self.headers.get("X-Request-Id", "")
            path = self.path.split("?", 1)[0]
            calls, status, code = [], "ok", 200
            if path == "/work":
                try:
                    if not hasattr(mine, "conn"):
                        mine.conn = redis_connection()
                    calls.append(blocking_incr(mine.conn, "kst:pyexec:work"))
                except Exception as e:  # noqa: BLE001
                    mine.__dict__.pop("conn", None)
                    status, code = f"error: redis: {e!r}", 502
            else:
                status, code = f"error: unknown endpoint {path}", 404
            body = f"back {path} {code}\n".encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            log({"rid": rid, "service": "back", "design": "threads", "pid": os.getpid(),
                 "tid": threading.get_native_id(), "start_unix_ns": start,
                 "end_unix_ns": time.time_ns(), "peer": addr(self.client_address),
                 "local": addr(self.connection.getsockname()), "endpoint": path,
                 "status": status, "calls": calls})

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 128

    srv = Server((lhost, int(lport)), Handler)
    print(f"back listening on {listen}", file=sys.stderr, flush=True)
    srv.serve_forever()


if role == "front":
    run_front()
elif role == "back":
    run_back()
else:
    sys.exit(f"unknown role {role}")
