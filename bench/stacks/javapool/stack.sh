# bench/stacks plug-in (sourced by run.sh): Java 17 HttpServer + Executors.newFixedThreadPool(8);
# front /two = 2 sequential HttpURLConnection calls (JDK keep-alive cache), then memcached `get`
# on a per-thread persistent socket. The back echoes the caller's end in X-Peer (the front's
# call.local). nodelay: HttpServer writes head and body separately (Nagle + delayed ACK: +40 ms).
STACK_STORES=(memcached)
STACK_MIX=/two=1
STACK_RATES="50 200"
stack_build() { mkdir -p "$BUILD/javapool" && javac -d "$BUILD/javapool" "$SDIR/Svc.java"; }
stack_start() {
  local j=(java -XX:+UseSerialGC -Xmx256m -Dsun.net.httpserver.nodelay=true -Dhttp.maxConnections=16
           -cp "$BUILD/javapool" Svc)
  svc back "${j[@]}" back "${IP[back]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
  svc front "${j[@]}" front "${IP[front]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
}
