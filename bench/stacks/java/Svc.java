// kspan stack bench: Java 17 front/back service.
// Server: com.sun.net.httpserver.HttpServer with Executors.newFixedThreadPool(4).
// Front calls back with java.net.http.HttpClient (HTTP/1.1 forced), synchronously (send()).
// usage: java Svc ROLE LISTEN_IP:PORT BACK_IP:PORT TRUTH_DIR
//   ROLE front: /one (1 call), /two (2 sequential calls), /par (2 calls in parallel via sendAsync)
//   ROLE back:  /work answers after ~1 ms (Thread.sleep); echoes the caller's socket end in
//               X-Peer, because HttpClient does not expose its connection's local address.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;

public class Svc {
    static String role, back;
    static FileOutputStream log;
    static HttpClient client;

    static long nowNs() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    static String addr(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    static final class Call {
        String local = "";
        long start, end;
        String status = "ok";
        String json() {
            return String.format("{\"target\":\"back\",\"local\":\"%s\",\"peer\":\"%s\",\"start_unix_ns\":%d,\"end_unix_ns\":%d,\"status\":\"%s\"}",
                local, back, start, end, status);
        }
    }

    static HttpRequest request(String path, String rid) {
        return HttpRequest.newBuilder(URI.create("http://" + back + path)).header("X-Request-Id", rid).GET().build();
    }

    static void finish(Call c, HttpResponse<byte[]> resp) {
        c.end = nowNs();
        c.local = resp.headers().firstValue("x-peer").orElse("");
        if (resp.statusCode() != 200) c.status = "error: HTTP status " + resp.statusCode();
    }

    static Call call(String path, String rid) {
        Call c = new Call();
        c.start = nowNs();
        try {
            finish(c, client.send(request(path, rid), HttpResponse.BodyHandlers.ofByteArray()));
        } catch (Exception e) {
            c.end = nowNs();
            c.status = "error: " + e.getClass().getSimpleName();
        }
        return c;
    }

    static List<Call> parallel(String path, String rid) {
        Call a = new Call(), b = new Call();
        a.start = nowNs();
        CompletableFuture<HttpResponse<byte[]>> fa = client.sendAsync(request(path, rid), HttpResponse.BodyHandlers.ofByteArray());
        b.start = nowNs();
        CompletableFuture<HttpResponse<byte[]>> fb = client.sendAsync(request(path, rid), HttpResponse.BodyHandlers.ofByteArray());
        for (Object[] p : new Object[][] {{a, fa}, {b, fb}}) {
            Call c = (Call) p[0];
            try {
                @SuppressWarnings("unchecked")
                HttpResponse<byte[]> r = ((CompletableFuture<HttpResponse<byte[]>>) p[1]).join();
                finish(c, r);
            } catch (Exception e) {
                c.end = nowNs();
                c.status = "error: " + e.getClass().getSimpleName();
            }
        }
        return List.of(a, b);
    }

    static void handle(HttpExchange ex) throws IOException {
        try (InputStream in = ex.getRequestBody()) { in.readAllBytes(); }
        long start = nowNs();
        String rid = ex.getRequestHeaders().getFirst("X-Request-Id");
        if (rid == null) rid = "";
        String path = ex.getRequestURI().getPath();
        List<Call> calls = new ArrayList<>();
        if (role.equals("back")) {
            try { Thread.sleep(1); } catch (InterruptedException e) { }
            ex.getResponseHeaders().set("X-Peer", addr(ex.getRemoteAddress()));
        } else if (path.equals("/one")) {
            calls.add(call("/work", rid));
        } else if (path.equals("/two")) {
            calls.add(call("/work", rid));
            calls.add(call("/work", rid));
        } else if (path.equals("/par")) {
            calls.addAll(parallel("/work", rid));
        }
        byte[] body = (role + " " + path + " ok\n").getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain");
        ex.sendResponseHeaders(200, body.length);
        try (OutputStream out = ex.getResponseBody()) { out.write(body); }
        long end = nowNs();
        StringBuilder cs = new StringBuilder();
        for (Call c : calls) { if (cs.length() > 0) cs.append(','); cs.append(c.json()); }
        String line = String.format("{\"rid\":\"%s\",\"service\":\"%s\",\"design\":\"java\",\"pid\":%d,\"tid\":0,\"start_unix_ns\":%d,\"end_unix_ns\":%d,\"peer\":\"%s\",\"local\":\"%s\",\"endpoint\":\"%s\",\"status\":\"ok\",\"calls\":[%s]}\n",
            rid, role, ProcessHandle.current().pid(), start, end, addr(ex.getRemoteAddress()), addr(ex.getLocalAddress()), path, cs);
        synchronized (Svc.class) { log.write(line.getBytes(StandardCharsets.UTF_8)); }
    }

    public static void main(String[] args) throws Exception {
        role = args[0];
        back = args[2];
        log = new FileOutputStream(args[3] + "/" + role + ".jsonl", true);
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        String[] l = args[1].split(":");
        HttpServer server = HttpServer.create(new InetSocketAddress(l[0], Integer.parseInt(l[1])), 256);
        server.createContext("/", ex -> {
            try { handle(ex); } catch (Exception e) { e.printStackTrace(); } finally { ex.close(); }
        });
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
        System.err.println(role + " listening on " + args[1]);
    }
}
