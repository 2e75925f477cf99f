# bench/stacks plug-in (sourced by run.sh): Perl (core modules) preforking servers (svc.pl): 8
# workers per service taking turns in accept() under an flock, one request per connection;
# front /one, /two with HTTP::Tiny (a new connection per call), /par = 2 forked children (one
# call each, results through a pipe); then redis INCR on the worker's persistent connection.
# Back /work sleeps 1 ms.
STACK_STORES=(redis)
STACK_MIX=/one=1,/two=1,/par=1
STACK_RATES="50 200"
stack_build() {
  perl -MHTTP::Tiny -MJSON::PP -MTime::HiRes -e 1 || { echo "perlprefork: perl core modules missing" >&2; return 1; }
}
stack_start() {
  svc back perl "$SDIR/svc.pl" back "${IP[back]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
  svc front perl "$SDIR/svc.pl" front "${IP[front]}:8080" "${IP[back]}:8080" "${IP[store]}" "$TRUTH"
}
