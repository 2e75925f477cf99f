"""kspan stack bench: CPython thread-pool front, asyncio back, redis + memcached; stdlib only.

usage: python3 svc.py ROLE LISTEN_IP:PORT BACK_IP:PORT TRUTH_DIR STORE_IP
  ROLE front: http.server.ThreadingHTTPServer (HTTP/1.1 keep-alive, one thread per connection).
              /par: the request's thread submits 2 jobs to one process-wide
              ThreadPoolExecutor(max_workers=4) and waits for both; /one: 1 job. A job takes an
              http.client.HTTPConnection to BACK from a shared LIFO pool (opened on demand) and
              GETs /work. Then the request's thread does redis INCR over a shared pool of
              persistent redis connections (STORE_IP:6379) and answers.
  ROLE back:  single-threaded asyncio server; /work: under one asyncio.Lock, memcached `set`
              then `get` over ONE persistent memcached connection (STORE_IP:11211) shared by
              the whole process (opened at first use), then answers.
Truth (docs/ground-truth.md): TRUTH_DIR/ROLE.jsonl, one line per request; every call carries
the caller's end of the connection it used and the OS thread that made it ("tid").
"""
import importlib.util
import json
import os
import queue
import socket
import sys
import threading
import time

role, listen, back, truth, store = sys.argv[1:6]
lhost, lport = listen.rsplit(":", 1)
bhost, bport = back.rsplit(":", 1)
REDIS = (store, 6379)
MEMCACHED = (store, 11211)
log_fd = os.open(f"{truth}/{role}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def log(rec):
    os.write(log_fd, (json.dumps(rec) + "\n").encode())


def addr(a):
    return f"{a[0]}:{a[1]}"


# ------------------------------------------------------------------------------------ front
def run_front():
    import concurrent.futures
    import http.client
    import http.server

    executor = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    back_pool = queue.LifoQueue()  # idle keep-alive HTTPConnections to the back
    redis_pool = queue.LifoQueue()  # idle (socket, reader) pairs to redis

    def back_call(path, rid):
        """One job on a pool thread: GET BACK path on a pooled connection."""
        rec = {"target": "back", "proto": "http", "local": "", "peer": back,
               "start_unix_ns": time.time_ns(), "tid": threading.get_native_id()}
        try:
            conn = back_pool.get_nowait()
        except queue.Empty:
            conn = http.client.HTTPConnection(bhost, int(bport), timeout=2)
        try:
            conn.request("GET", path, headers={"X-Request-Id": rid})  # connects if needed
            rec["local"] = addr(conn.sock.getsockname())
            resp = conn.getresponse()
            resp.read()
            rec["status"] = "ok" if resp.status == 200 else f"error: back: HTTP status {resp.status}"
            if resp.will_close:
                conn.close()
            else:
                back_pool.put(conn)
        except Exception as e:  # noqa: BLE001
            conn.close()
            rec["status"] = f"error: back: {e!r}"
        rec["end_unix_ns"] = time.time_ns()
        return rec

    def redis_incr(key):
        """INCR key on a pooled persistent redis connection (RESP by hand), on this thread."""
        rec = {"target": "redis", "proto": "redis", "local": "", "peer": addr(REDIS),
               "start_unix_ns": time.time_ns(), "tid": threading.get_native_id()}
        conn = None
        try:
            try:
                conn = redis_pool.get_nowait()
            except queue.Empty:
                s = socket.create_connection(REDIS, timeout=1)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = (s, s.makefile("rb"))
            s, rd = conn
            rec["local"] = addr(s.getsockname())
            k = key.encode()
            s.sendall(b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(k), k))
            line = rd.readline()
            if not line.startswith(b":"):
                raise RuntimeError(f"reply {line!r}")
            redis_pool.put(conn)
            rec["status"] = "ok"
        except Exception as e:  # noqa: BLE001
            if conn:
                conn[0].close()
            rec["status"] = f"error: redis: {e!r}"
        rec["end_unix_ns"] = time.time_ns()
        return rec

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # head and body are two writes (send_response + wfile)

        def log_message(self, *args):
            pass

        def do_GET(self):
            start = time.time_ns()
            rid = self.headers.get("X-Request-Id", "")
            path = self.path.split("?", 1)[0]
            calls, status, code = [], "ok", 200
            if path == "/par":
                futs = [executor.submit(back_call, "/work", rid) for _ in range(2)]
                calls = sorted((f.result() for f in futs), key=lambda c: c["start_unix_ns"])
            elif path == "/one":
                calls = [executor.submit(back_call, "/work", rid).result()]
            else:
                status, code = f"error: unknown endpoint {path}", 404
            if code == 200:
                calls.append(redis_incr("kst:pypool:" + path.strip("/")))
            bad = [c["status"] for c in calls if c["status"] != "ok"]
            if bad:
                status, code = bad[0], 502
            body = f"front {path} {code}\n".encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            end = time.time_ns()
            log({"rid": rid, "service": "front", "design": "pool", "pid": os.getpid(),
                 "tid": threading.get_native_id(), "start_unix_ns": start, "end_unix_ns": end,
                 "peer": addr(self.client_address), "local": addr(self.connection.getsockname()),
                 "endpoint": path, "status": status, "calls": calls})

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 128

    srv = Server((lhost, int(lport)), Handler)
    print(f"front listening on {listen}", file=sys.stderr, flush=True)
    srv.serve_forever()


# ------------------------------------------------------------------------------------- back
def run_back():
    import asyncio

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(
        "http1", os.path.join(here, "..", "pyasync", "http1.py"))
    http1 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(http1)
    read_message = http1.read_message

    lock = asyncio.Lock()
    mc = {}  # the one shared memcached connection: reader, writer, local

    async def mc_call(cmd, expect_end):
        """One memcached request/reply on the shared connection (caller holds the lock)."""
        rec = {"target": "memcached", "proto": "memcached", "local": "", "peer": addr(MEMCACHED),
               "start_unix_ns": time.time_ns(), "tid": threading.get_native_id()}
        try:
            if not mc:
                r, w = await asyncio.wait_for(asyncio.open_connection(*MEMCACHED), 1)
                mc.update(reader=r, writer=w, local=addr(w.get_extra_info("sockname")))
            rec["local"] = mc["local"]
            mc["writer"].write(cmd)
            reply = await asyncio.wait_for(mc["reader"].readuntil(expect_end), 1)
            rec["status"] = "ok" if not reply.startswith((b"ERROR", b"SERVER_ERROR", b"CLIENT_ERROR")) \
                else f"error: memcached: {reply[:40]!r}"
        except Exception as e:  # noqa: BLE001
            if mc:
                mc["writer"].close()
                mc.clear()
            rec["status"] = f"error: memcached: {e!r}"
        rec["end_unix_ns"] = time.time_ns()
        return rec

    async def handle(reader, writer):
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
            calls, status, code = [], "ok", 200
            if path == "/work":
                key = ("kst:" + rid).encode()[:200]
                val = rid.encode() or b"-"
                async with lock:
                    calls.append(await mc_call(b"set %s 0 60 %d\r\n%s\r\n" % (key, len(val), val), b"\r\n"))
                    if calls[-1]["status"] == "ok":
                        calls.append(await mc_call(b"get %s\r\n" % key, b"END\r\n"))
                bad = [c["status"] for c in calls if c["status"] != "ok"]
                if bad:
                    status, code = bad[0], 502
            else:
                status, code = f"error: unknown endpoint {path}", 404
            body = f"back {path} {code}\n".encode()
            writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (code, b"OK" if code == 200 else b"ERR", len(body), body))
            await writer.drain()
            end = time.time_ns()
            log({"rid": rid, "service": "back", "design": "asyncio", "pid": os.getpid(),
                 "tid": threading.get_native_id(), "start_unix_ns": start, "end_unix_ns": end,
                 "peer": peer, "local": local, "endpoint": path, "status": status, "calls": calls})
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, lhost, int(lport), backlog=256)
        print(f"back listening on {listen}", file=sys.stderr, flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


if role == "front":
    run_front()
elif role == "back":
    run_back()
else:
    sys.exit(f"unknown role {role}")
