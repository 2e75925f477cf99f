# bench/stacks plug-in (sourced by run.sh): Node.js front, Python forking back, redis + PostgreSQL.
#   front (node front.js): /par = Promise.all(back /pg, back /redis), /one = back /redis, every
#     call through ONE keep-alive http.Agent with maxSockets 4 (calls queue for sockets).
#   back (python3 back.py): socketserver.ForkingTCPServer, one long-lived child per connection;
#     /pg fork+execs psql against the store's PostgreSQL, /redis INCRs over a new connection.
STACK_STORES=(redis postgres)
STACK_MIX="/par=2,/one=1"
STACK_RATES="20 50"
stack_build() {
  command -v node >/dev/null && command -v psql >/dev/null || { echo "nodefork needs node and psql" >&2; return 1; }
}
stack_start() {
  # Debian's python3, not a pyenv shim: the pid run.sh kills must be the server itself (its
  # SIGTERM handler ends the children).
  local py=/usr/bin/python3
  [[ -x $py ]] || py=python3
  svc back "$py" -u "$SDIR/back.py" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
  svc front node "$SDIR/front.js" "${IP[front]}:8080" "${IP[back]}:8080" "$TRUTH"
}
