# bench/stacks plug-in (sourced by run.sh): Java HttpServer + fixed pool, java.net.http.HttpClient.
STACK_STORES=()
STACK_MIX=/one=1,/two=1,/par=1
stack_build() { mkdir -p "$BUILD/java" && javac -d "$BUILD/java" "$SDIR/Svc.java"; }
# nodelay: HttpServer writes head and body in two writes; with Nagle + delayed ACK every
# call took ~40 ms more and the 4-thread front saturated below 50 req/s.
stack_start() {
  svc_pair java -XX:+UseSerialGC -Xmx256m -Dsun.net.httpserver.nodelay=true -cp "$BUILD/java" Svc
}
