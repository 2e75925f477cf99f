# bench/stacks plug-in (sourced by run.sh): phpfpm (see phpfpm/stack.sh) with nginx keeping its
# FastCGI connections to the FPM pool (upstream keepalive 16, fastcgi_keep_conn on).
PHPFPM_DIR=$(cd "$SDIR/../phpfpm" && pwd)
PHPFPM_KEEPCONN=1
# shellcheck source=../phpfpm/stack.sh
source "$PHPFPM_DIR/stack.sh"
