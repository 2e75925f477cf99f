"""A minimal OTLP/HTTP traces receiver for kspan's tests, on the official opentelemetry-proto
package: every POST to /v1/traces is gunzipped when it says gzip, parsed as an
ExportTraceServiceRequest, and each span written to --out as one line
`<trace id hex> <span id hex> <parent span id hex or -> <name>`; the first --fail-first
requests are answered 503 without recording anything. The port it listens on is written to
--port-file once it listens. On SIGUSR1 it goes down for --outage seconds: once the request in
progress is answered it closes its listening socket (connections are refused), then listens
again on the same port; the outage's start and end are written to --port-file + ".outage"."""

import argparse
import gzip
import http.server
import os
import signal
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--outage", type=float, default=0.0)
    args = parser.parse_args()
    out = open(args.out, "a", buffering=1)
    state = {"requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def answer(self, status, body=b""):
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state["requests"] += 1
            if self.path != "/v1/traces":
                out.write(f"ERROR path {self.path}\n")
                return self.answer(404)
            if self.headers.get("Content-Type") != "application/x-protobuf":
                out.write(f"ERROR content type {self.headers.get('Content-Type')}\n")
                return self.answer(415)
            if state["requests"] <= args.fail_first:
                return self.answer(503)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            else:
                out.write("ERROR not gzipped\n")
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        parent = span.parent_span_id.hex() or "-"
                        out.write(f"{span.trace_id.hex()} {span.span_id.hex()} {parent} {span.name}\n")
            self.answer(200, ExportTraceServiceResponse().SerializeToString())

    server = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    # Ready for SIGUSR1 before the port file says it listens.
    outage = {"asked": False}
    signal.signal(signal.SIGUSR1, lambda *_: outage.update(asked=True))
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.timeout = 0.05
    while True:
        server.handle_request()
        if outage["asked"]:
            outage["asked"] = False
            server.server_close()
            with open(args.port_file + ".outage", "a", buffering=1) as log:
                log.write(f"down {time.monotonic()}\n")
                time.sleep(args.outage)
                server = http.server.HTTPServer(("127.0.0.1", port), Handler)
                server.timeout = 0.05
                log.write(f"up {time.monotonic()}\n")


if __name__ == "__main__":
    main()
