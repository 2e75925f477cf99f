import http.client
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
pool = ThreadPoolExecutor(max_workers=2)
def call(path):
    c = http.client.HTTPConnection("127.0.0.1", 8081)
    c.request("GET", path)
    data = c.getresponse().read()
    c.close()
    return data
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        data = pool.submit(call, self.path).result()
        body = b"front:" + data
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", 8080), H).serve_forever()
