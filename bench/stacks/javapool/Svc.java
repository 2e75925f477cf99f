// kspan stack bench: Java 17, HttpServer + fixed pool of 8, HttpURLConnection keep-alive, memcached.
// usage: java Svc ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR
//   ROLE front: /two = 2 sequential GET BACK /work via java.net.HttpURLConnection (keep-alive: the
//               JDK's own KeepAliveCache), then a memcached `get` over a per-thread persistent
//               socket (ThreadLocal, memcached text protocol)
//   ROLE back:  /work answers after ~1 ms (Thread.sleep); echoes the caller's end in X-Peer,
//               because HttpURLConnection does not expose its socket (the front logs X-Peer as
//               the call's local end)
// tid: the OS thread id, read once per thread from the /proc/thread-self symlink (PID/task/TID).
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;

public class Svc {
    static String role, back, memcached;
    static FileOutputStream log;

    static long nowNs() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    static String addr(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    static final ThreadLocal<Long> TID = ThreadLocal.withInitial(() -> {
        try {
            String t = Files.readSymbolicLink(Paths.get("/proc/thread-self")).toString();
            return Long.parseLong(t.substring(t.lastIndexOf('/') + 1));
        } catch (Exception e) {
            return 0L;
        }
    });

    static final class Call {
        String target, proto, peer, local = "";
        long start, end, tid = TID.get();
        String status = "ok";
        Call(String target, String proto, String peer) { this.target = target; this.proto = proto; this.peer = peer; }
        String json() {
            return String.format("{\"target\":\"%s\",\"proto\":\"%s\",\"local\":\"%s\",\"peer\":\"%s\",\"tid\":%d,\"start_unix_ns\":%d,\"end_unix_ns\":%d,\"status\":\"%s\"}",
                target, proto, local, peer, tid, start, end, status.replace("\"", "'"));
        }
    }

    static Call callBack(String path, String rid) {
        Call c = new Call("back", "http", back);
        c.start = nowNs();
        try {
            HttpURLConnection conn = (HttpURLConnection) new URL("http://" + back + path).openConnection();
            conn.setRequestProperty("X-Request-Id", rid);
            conn.setConnectTimeout(2000);
            conn.setReadTimeout(2000);
            int code = conn.getResponseCode();
            try (InputStream in = code < 400 ? conn.getInputStream() : conn.getErrorStream()) {
                if (in != null) in.readAllBytes(); // read fully + close: the connection goes back to the cache
            }
            c.end = nowNs();
            String peer = conn.getHeaderField("X-Peer");
            c.local = peer == null ? "" : peer;
            if (code != 200) c.status = "error: HTTP status " + code;
        } catch (Exception e) {
            c.end = nowNs();
            c.status = "error: " + e.getClass().getSimpleName();
        }
        return c;
    }

    static final class Mc { Socket s; InputStream in; OutputStream out; }
    static final ThreadLocal<Mc> MC = new ThreadLocal<>();

    static Call memcachedGet(String key) {
        Call c = new Call("memcached", "memcached", memcached);
        c.start = nowNs();
        Mc mc = MC.get();
        try {
            if (mc == null) {
                mc = new Mc();
                String[] hp = memcached.split(":");
                mc.s = new Socket();
                mc.s.setTcpNoDelay(true);
                mc.s.connect(new InetSocketAddress(hp[0], Integer.parseInt(hp[1])), 2000);
                mc.s.setSoTimeout(2000);
                mc.in = mc.s.getInputStream();
                mc.out = mc.s.getOutputStream();
                MC.set(mc);
            }
            c.local = mc.s.getLocalAddress().getHostAddress() + ":" + mc.s.getLocalPort();
            mc.out.write(("get " + key + "\r\n").getBytes(StandardCharsets.US_ASCII));
            mc.out.flush();
            // read until the reply ends with END\r\n (VALUE ... lines before it)
            StringBuilder sb = new StringBuilder();
            byte[] buf = new byte[4096];
            while (!(sb.toString().endsWith("END\r\n") || sb.toString().contains("ERROR"))) {
                int n = mc.in.read(buf);
                if (n < 0) throw new IOException("memcached closed");
                sb.append(new String(buf, 0, n, StandardCharsets.US_ASCII));
            }
            c.end = nowNs();
            if (sb.toString().contains("ERROR")) c.status = "error: memcached: " + sb.toString().trim();
        } catch (Exception e) {
            c.end = nowNs();
            c.status = "error: memcached: " + e.getClass().getSimpleName();
            if (mc != null && mc.s != null) try { mc.s.close(); } catch (IOException x) { }
            MC.remove();
        }
        return c;
    }

    static void handle(HttpExchange ex) throws IOException {
        try (InputStream in = ex.getRequestBody()) { in.readAllBytes(); }
        long start = nowNs();
        long tid = TID.get();
        String rid = ex.getRequestHeaders().getFirst("X-Request-Id");
        if (rid == null) rid = "";
        String path = ex.getRequestURI().getPath();
        List<Call> calls = new ArrayList<>();
        String status = "ok";
        int code = 200;
        if (role.equals("back") && path.equals("/work")) {
            try { Thread.sleep(1); } catch (InterruptedException e) { }
            ex.getResponseHeaders().set("X-Peer", addr(ex.getRemoteAddress()));
        } else if (role.equals("front") && path.equals("/two")) {
            calls.add(callBack("/work", rid));
            calls.add(callBack("/work", rid));
            calls.add(memcachedGet("kst:javapool"));
        } else {
            status = "error: unknown endpoint " + path;
            code = 404;
        }
        for (Call c : calls) if (!c.status.equals("ok")) { status = c.status; code = 502; break; }
        byte[] body = (role + " " + path + " " + status + "\n").getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain");
        ex.sendResponseHeaders(code, body.length);
        try (OutputStream out = ex.getResponseBody()) { out.write(body); }
        long end = nowNs();
        StringBuilder cs = new StringBuilder();
        for (Call c : calls) { if (cs.length() > 0) cs.append(','); cs.append(c.json()); }
        String line = String.format("{\"rid\":\"%s\",\"service\":\"%s\",\"design\":\"pool\",\"pid\":%d,\"tid\":%d,\"start_unix_ns\":%d,\"end_unix_ns\":%d,\"peer\":\"%s\",\"local\":\"%s\",\"endpoint\":\"%s\",\"status\":\"%s\",\"calls\":[%s]}\n",
            rid, role, ProcessHandle.current().pid(), tid, start, end, addr(ex.getRemoteAddress()), addr(ex.getLocalAddress()), path, status.replace("\"", "'"), cs);
        synchronized (Svc.class) { log.write(line.getBytes(StandardCharsets.UTF_8)); }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: java Svc ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR");
            System.exit(2);
        }
        role = args[0];
        back = args[2];
        memcached = args[3] + ":11211";
        log = new FileOutputStream(args[4] + "/" + role + ".jsonl", true);
        String[] l = args[1].split(":");
        HttpServer server = HttpServer.create(new InetSocketAddress(l[0], Integer.parseInt(l[1])), 256);
        server.createContext("/", ex -> {
            try { handle(ex); } catch (Exception e) { e.printStackTrace(); } finally { ex.close(); }
        });
        server.setExecutor(Executors.newFixedThreadPool(8));
        server.start();
        System.err.println(role + " listening on " + args[1]);
    }
}
