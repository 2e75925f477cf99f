# bench/stacks plug-in (sourced by run.sh): the erlang stack (see erlang/stack.sh) with gen_tcp on
# the socket NIF ({inet_backend, socket}) instead of the inet port driver.
ERLANG_DIR=$(cd "$SDIR/../erlang" && pwd)
export KST_INET_BACKEND=socket
# shellcheck source=../erlang/stack.sh
source "$ERLANG_DIR/stack.sh"
