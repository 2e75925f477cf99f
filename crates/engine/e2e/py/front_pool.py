import http.client, os, threading, time
LOG = open(os.environ["POOL_LOG"], "a", buffering=1) if os.environ.get("POOL_LOG") else None
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
pool = ThreadPoolExecutor(max_workers=2)
def call(path):
    worker = threading.get_native_id()
    c = http.client.HTTPConnection("127.0.0.1", 8081)
    c.request("GET", path)
    data = c.getresponse().read()
    c.close()
    return worker, data
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        t0 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        worker, data = pool.submit(call, self.path).result()
        if LOG:
            # Ground truth for the hand-off: which worker made this request's call.
            LOG.write(f"{threading.get_native_id()} {worker} {t0}\n")
        body = b"front:" + data
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", 8080), H).serve_forever()
