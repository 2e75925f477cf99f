// kspan stack bench: Go fan-out + redis pipeline (stdlib only, GOMAXPROCS=2).
// usage: gofan ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR
//
//	ROLE front: /fan = 3 GET BACK /work from 3 goroutines (sync.WaitGroup) over the shared
//	            http.Client (keep-alive pool), then one redis pipeline INCR a, INCR b, GET a
//	            (one write, 3 replies read) on a pooled persistent connection (hand-written RESP),
//	            logged as 3 redis calls on that connection's local end (GOFAN_PIPELINE_TRUTH=1:
//	            as one call)
//	ROLE back:  /work answers after ~1 ms (time.Sleep)
//
// Go cannot tell which OS thread runs a goroutine: tid is logged as 0 (unknown).
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type callRec struct {
	target, local, peer string
	start, end          int64
	status              string
}

type redisConn struct {
	c  net.Conn
	rd *bufio.Reader
}

var (
	role, back, redisAddr string
	logMu                 sync.Mutex
	logFile               *os.File
	client                = &http.Client{Transport: &http.Transport{
		MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 120 * time.Second,
	}}
	redisPool = make(chan *redisConn, 64) // idle persistent redis connections
	// GOFAN_PIPELINE_TRUTH=1: log the pipeline as ONE redis call (write .. last reply) instead
	// of 3 (what kspan sees without payload heads: one exchange per pipeline, docs/engine.md).
	pipelineAsOne = os.Getenv("GOFAN_PIPELINE_TRUTH") == "1"
)

func now() int64 { return time.Now().UnixNano() }

func call(path, rid string) callRec {
	rec := callRec{target: "back", peer: back, status: "ok"}
	rec.start = now()
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		rec.local = info.Conn.LocalAddr().String()
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		"GET", "http://"+back+path, nil)
	req.Header.Set("X-Request-Id", rid)
	resp, err := client.Do(req)
	if err != nil {
		rec.end = now()
		rec.status = "error: " + err.Error()
		return rec
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	rec.end = now()
	if resp.StatusCode != 200 {
		rec.status = fmt.Sprintf("error: HTTP status %d", resp.StatusCode)
	}
	return rec
}

// readReply reads one RESP reply (simple string, error, integer or bulk string).
func readReply(rd *bufio.Reader) error {
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return nil
	case '-':
		return errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return err
		}
		if n >= 0 {
			_, err = io.CopyN(io.Discard, rd, int64(n+2))
		}
		return err
	}
	return fmt.Errorf("unexpected reply %q", line)
}

func resp(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

var pipeline = []byte(resp("INCR", "a") + resp("INCR", "b") + resp("GET", "a"))

// redisPipeline sends INCR a, INCR b, GET a in one write on a pooled connection and reads the
// 3 replies; returns 3 call records (same local end, same start, each ended at its reply).
func redisPipeline() []callRec {
	recs := make([]callRec, 3)
	var rc *redisConn
	select {
	case rc = <-redisPool:
	default:
	}
	start := now()
	for i := range recs {
		recs[i] = callRec{target: "redis", peer: redisAddr, start: start, status: "ok"}
	}
	fail := func(from int, err error) []callRec {
		t := now()
		for i := from; i < 3; i++ {
			recs[i].end = t
			recs[i].status = "error: redis: " + err.Error()
		}
		if rc != nil {
			rc.c.Close()
		}
		return recs
	}
	if rc == nil {
		c, err := net.DialTimeout("tcp", redisAddr, 2*time.Second)
		if err != nil {
			return fail(0, err)
		}
		rc = &redisConn{c: c, rd: bufio.NewReader(c)}
	}
	local := rc.c.LocalAddr().String()
	for i := range recs {
		recs[i].local = local
	}
	rc.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := rc.c.Write(pipeline); err != nil {
		return fail(0, err)
	}
	for i := range recs {
		if err := readReply(rc.rd); err != nil {
			return fail(i, err)
		}
		recs[i].end = now()
	}
	select {
	case redisPool <- rc:
	default:
		rc.c.Close()
	}
	return recs
}

func handler(w http.ResponseWriter, r *http.Request) {
	start := now()
	rid := r.Header.Get("X-Request-Id")
	var calls []callRec
	status := "ok"
	switch {
	case role == "back" && r.URL.Path == "/work":
		time.Sleep(time.Millisecond)
	case role == "front" && r.URL.Path == "/fan":
		calls = make([]callRec, 3)
		var wg sync.WaitGroup
		for i := range calls {
			wg.Add(1)
			go func(i int) { defer wg.Done(); calls[i] = call("/work", rid) }(i)
		}
		wg.Wait()
		sort.Slice(calls, func(i, j int) bool { return calls[i].start < calls[j].start })
		pipe := redisPipeline()
		if pipelineAsOne {
			pipe[2].start = pipe[0].start
			pipe = pipe[2:]
		}
		calls = append(calls, pipe...)
	default:
		status = "error: unknown endpoint " + r.URL.Path
	}
	code := 200
	for _, c := range calls {
		if c.status != "ok" {
			status, code = c.status, 502
			break
		}
	}
	if status != "ok" && code == 200 {
		code = 404
	}
	body := role + " " + r.URL.Path + " " + status + "\n"
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(code)
	w.Write([]byte(body))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	end := now()
	local := r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()
	parts := make([]string, len(calls))
	for i, c := range calls {
		parts[i] = fmt.Sprintf(`{"target":"%s","proto":"%s","local":"%s","peer":"%s","tid":0,"start_unix_ns":%d,"end_unix_ns":%d,"status":%q}`,
			c.target, map[string]string{"back": "http", "redis": "redis"}[c.target], c.local, c.peer, c.start, c.end, c.status)
	}
	line := fmt.Sprintf(`{"rid":%q,"service":"%s","design":"go","pid":%d,"tid":0,"start_unix_ns":%d,"end_unix_ns":%d,"peer":"%s","local":"%s","endpoint":%q,"status":%q,"calls":[%s]}`+"\n",
		rid, role, os.Getpid(), start, end, r.RemoteAddr, local, r.URL.Path, status, strings.Join(parts, ","))
	logMu.Lock()
	logFile.WriteString(line)
	logMu.Unlock()
}

func main() {
	if len(os.Args) != 6 {
		log.Fatal("usage: gofan ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR")
	}
	role, back, redisAddr = os.Args[1], os.Args[3], os.Args[4]+":6379"
	var err error
	logFile, err = os.OpenFile(os.Args[5]+"/"+role+".jsonl", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: os.Args[2], Handler: http.HandlerFunc(handler), IdleTimeout: 120 * time.Second}
	log.Printf("%s listening on %s", role, os.Args[2])
	log.Fatal(srv.ListenAndServe())
}
