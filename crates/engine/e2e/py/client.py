import http.client, sys, threading
n, workers = int(sys.argv[1]), int(sys.argv[2])
def run(w):
    c = http.client.HTTPConnection("127.0.0.1", 8080)
    for i in range(n // workers):
        c.request("GET", f"/{w}/{i}")
        c.getresponse().read()
ts = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
[t.start() for t in ts]; [t.join() for t in ts]
