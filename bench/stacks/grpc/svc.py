"""kspan stack bench: Python front (HTTP/1.1 in, gRPC out) and Python gRPC back (grpcio, grpc.aio).

usage: python3 svc.py ROLE LISTEN_IP:PORT BACK_IP:PORT TRUTH_DIR
  ROLE front: asyncio HTTP/1.1 server (from nginx); /one (1 unary call), /two (2 sequential),
              /par (2 concurrent calls, asyncio.gather) to the back's kst.Back/Work over ONE
              shared grpc.aio channel (one HTTP/2 connection: /par's calls are multiplexed on it)
  ROLE back:  grpc.aio server, kst.Back/Work answers after ~1 ms (asyncio.sleep)

Messages are raw bytes (no .proto: identity serializers); the request id travels in the
`x-request-id` metadata. The channel hides its socket, so the back echoes the caller's end of
the connection (context.peer()) in its response body; the front logs that as the call's local.
Env GRPC_FRONT_CHANNELS=N (default 1) spreads calls over N channels (N connections).
"""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pyasync"))
from http1 import read_message  # noqa: E402

import grpc

role, listen, back, truth = sys.argv[1:5]
lhost, lport = listen.rsplit(":", 1)
log_fd = os.open(f"{truth}/{role}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
METHOD = "/kst.Back/Work"


def log(rec):
    os.write(log_fd, (json.dumps(rec) + "\n").encode())


def peer_addr(p):
    """grpc's peer string ("ipv4:10.78.0.11:41234") to "10.78.0.11:41234"."""
    return p.split(":", 1)[1] if p.startswith("ipv4:") else p


# --- back ----------------------------------------------------------------------------------
async def work(request, context):
    start = time.time_ns()
    md = dict(context.invocation_metadata())
    await asyncio.sleep(0.001)
    peer = peer_addr(context.peer())
    end = time.time_ns()
    log({"rid": md.get("x-request-id", ""), "service": "back", "design": "grpc.aio", "pid": os.getpid(),
         "tid": os.getpid(), "start_unix_ns": start, "end_unix_ns": end, "peer": peer, "local": listen,
         "endpoint": METHOD, "status": "ok", "calls": []})
    return peer.encode()


async def serve_back():
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "kst.Back", {"Work": grpc.unary_unary_rpc_method_handler(work)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(listen)
    await server.start()
    print(f"back listening on {listen}", file=sys.stderr, flush=True)
    await server.wait_for_termination()


# --- front ---------------------------------------------------------------------------------
class Client:
    def __init__(self, n):
        # Distinct channel args keep the channels from sharing one subchannel (connection).
        self.stubs = [grpc.aio.insecure_channel(back, options=[("kst.channel", i)]).unary_unary(METHOD)
                      for i in range(n)]
        self.next = 0

    async def call(self, rid):
        stub = self.stubs[self.next % len(self.stubs)]
        self.next += 1
        start = time.time_ns()
        rec = {"target": "back", "local": "", "peer": back, "start_unix_ns": start}
        try:
            reply = await stub(b"work", metadata=(("x-request-id", rid),), timeout=3)
            rec["local"] = reply.decode()
            rec["status"] = "ok"
        except grpc.aio.AioRpcError as e:
            rec["status"] = f"error: {e.code()}"
        rec["end_unix_ns"] = time.time_ns()
        return rec


async def serve_front():
    client = Client(int(os.environ.get("GRPC_FRONT_CHANNELS", "1")))

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
            if path == "/one":
                calls.append(await client.call(rid))
            elif path == "/two":
                calls.append(await client.call(rid))
                calls.append(await client.call(rid))
            elif path == "/par":
                calls = list(await asyncio.gather(client.call(rid), client.call(rid)))
            body = f"front {path} ok\n".encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()
            end = time.time_ns()
            log({"rid": rid, "service": "front", "design": "asyncio+grpc.aio", "pid": os.getpid(),
                 "tid": os.getpid(), "start_unix_ns": start, "end_unix_ns": end,
                 "peer": f"{peer[0]}:{peer[1]}", "local": f"{local[0]}:{local[1]}", "endpoint": path,
                 "status": "ok", "calls": calls})
        writer.close()

    server = await asyncio.start_server(handle, lhost, int(lport), backlog=256)
    print(f"front listening on {listen}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(serve_back() if role == "back" else serve_front())
