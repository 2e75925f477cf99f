// kspan stack bench: Go front/back service (net/http server, shared keep-alive http.Client).
// usage: svc ROLE LISTEN_IP:PORT BACK_IP:PORT TRUTH_DIR
//   ROLE front: /one (1 call), /two (2 sequential calls), /par (2 parallel calls) to BACK /work
//   ROLE back:  /work answers after ~1 ms (time.Sleep)
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"time"
)

type callRec struct {
	local, peer string
	start, end  int64
	status      string
}

var (
	role, back string
	logMu      sync.Mutex
	logFile    *os.File
	client     = &http.Client{Transport: &http.Transport{
		MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 120 * time.Second,
	}}
)

func call(path, rid string) callRec {
	rec := callRec{peer: back, status: "ok"}
	rec.start = time.Now().UnixNano()
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		rec.local = info.Conn.LocalAddr().String()
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		"GET", "http://"+back+path, nil)
	req.Header.Set("X-Request-Id", rid)
	resp, err := client.Do(req)
	if err != nil {
		rec.end = time.Now().UnixNano()
		rec.status = "error: " + err.Error()
		return rec
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	rec.end = time.Now().UnixNano()
	if resp.StatusCode != 200 {
		rec.status = fmt.Sprintf("error: HTTP status %d", resp.StatusCode)
	}
	return rec
}

func handler(w http.ResponseWriter, r *http.Request) {
	start := time.Now().UnixNano()
	rid := r.Header.Get("X-Request-Id")
	var calls []callRec
	switch {
	case role == "back":
		time.Sleep(time.Millisecond)
	case r.URL.Path == "/one":
		calls = append(calls, call("/work", rid))
	case r.URL.Path == "/two":
		calls = append(calls, call("/work", rid))
		calls = append(calls, call("/work", rid))
	case r.URL.Path == "/par":
		calls = make([]callRec, 2)
		var wg sync.WaitGroup
		for i := range calls {
			wg.Add(1)
			go func(i int) { defer wg.Done(); calls[i] = call("/work", rid) }(i)
		}
		wg.Wait()
		if calls[1].start < calls[0].start {
			calls[0], calls[1] = calls[1], calls[0]
		}
	}
	body := role + " " + r.URL.Path + " ok\n"
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write([]byte(body))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	end := time.Now().UnixNano()
	local := r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()
	parts := make([]string, len(calls))
	for i, c := range calls {
		parts[i] = fmt.Sprintf(`{"target":"back","local":"%s","peer":"%s","start_unix_ns":%d,"end_unix_ns":%d,"status":%q}`,
			c.local, c.peer, c.start, c.end, c.status)
	}
	line := fmt.Sprintf(`{"rid":"%s","service":"%s","design":"go","pid":%d,"tid":0,"start_unix_ns":%d,"end_unix_ns":%d,"peer":"%s","local":"%s","endpoint":"%s","status":"ok","calls":[%s]}`+"\n",
		rid, role, os.Getpid(), start, end, r.RemoteAddr, local, r.URL.Path, strings.Join(parts, ","))
	logMu.Lock()
	logFile.WriteString(line)
	logMu.Unlock()
}

func main() {
	role, back = os.Args[1], os.Args[3]
	var err error
	logFile, err = os.OpenFile(os.Args[4]+"/"+role+".jsonl", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: os.Args[2], Handler: http.HandlerFunc(handler), IdleTimeout: 120 * time.Second}
	log.Printf("%s listening on %s", role, os.Args[2])
	log.Fatal(srv.ListenAndServe())
}
