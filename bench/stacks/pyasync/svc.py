"""kspan stack bench: Python asyncio front/back service, stdlib only.

usage: python3 svc.py ROLE LISTEN_IP:PORT BACK_IP:PORT TRUTH_DIR
  ROLE front: /one (1 call), /two (2 sequential calls), /par (2 parallel calls, asyncio.gather)
              to BACK /work over a pool of persistent asyncio connections
  ROLE back:  /work answers after ~1 ms (asyncio.sleep)
"""
import asyncio
import json
import os
import sys
import time

from http1 import read_message

role, listen, back, truth = sys.argv[1:5]
lhost, lport = listen.rsplit(":", 1)
bhost, bport = back.rsplit(":", 1)
log_fd = os.open(f"{truth}/{role}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


class Pool:
    """Persistent connections to the back service, reused LIFO; opened on demand."""

    def __init__(self):
        self.idle = []

    async def call(self, path, rid):
        start = time.time_ns()
        rec = {"target": "back", "local": "", "peer": back, "start_unix_ns": start}
        try:
            if self.idle:
                reader, writer = self.idle.pop()
            else:
                reader, writer = await asyncio.open_connection(bhost, int(bport))
            sock = writer.get_extra_info("sockname")
            rec["local"] = f"{sock[0]}:{sock[1]}"
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {back}\r\nX-Request-Id: {rid}\r\n\r\n".encode())
            status, _ = await read_message(reader)
            self.idle.append((reader, writer))
            rec["status"] = "ok" if status.split()[1] == "200" else f"error: {status}"
        except Exception as e:  # noqa: BLE001
            rec["status"] = f"error: {e!r}"
        rec["end_unix_ns"] = time.time_ns()
        return rec


pool = Pool()


async def handle(reader, writer):
    peer = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    while True:
        try:
            first, headers = await read_message(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            break
        start = time.time_ns()
        rid = headers.get("x-request-id", "")
        path = first.split()[1]
        calls = []
        if role == "back":
            await asyncio.sleep(0.001)
        elif path == "/one":
            calls.append(await pool.call("/work", rid))
        elif path == "/two":
            calls.append(await pool.call("/work", rid))
            calls.append(await pool.call("/work", rid))
        elif path == "/par":
            calls = list(await asyncio.gather(pool.call("/work", rid), pool.call("/work", rid)))
        body = f"{role} {path} ok\n".encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        end = time.time_ns()
        rec = {"rid": rid, "service": role, "design": "asyncio", "pid": os.getpid(), "tid": os.getpid(),
               "start_unix_ns": start, "end_unix_ns": end, "peer": f"{peer[0]}:{peer[1]}",
               "local": f"{local[0]}:{local[1]}", "endpoint": path, "status": "ok", "calls": calls}
        os.write(log_fd, (json.dumps(rec) + "\n").encode())
    writer.close()


async def main():
    server = await asyncio.start_server(handle, lhost, int(lport), backlog=256)
    print(f"{role} listening on {listen}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
