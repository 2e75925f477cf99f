# bench/stacks plug-in (sourced by run.sh): nginx -> PHP-FPM (Debian php8.2-fpm) -> Node back.
#   gateway: nginx fastcgi_pass to the FPM pool on front:8080 (FastCGI over TCP, a new
#     connection per request: nginx's default, fastcgi_keep_conn off).
#   front (front.php): a static pool of PHPFPM_CHILDREN (8) single-threaded worker processes
#     (PHPFPM_PM=dynamic: 2..PHPFPM_CHILDREN, forked by the master under load);
#     /one = 1 curl call to back, /two = 2 sequential on one curl handle, /par = 2 in parallel
#     (curl_multi), each then redis INCR on a new connection (hand-written RESP).
#   back: node/svc.js's back (answers /work after a 1 ms timer, keep-alive).
# PHPFPM_KEEPCONN=1 (the phpfpm-keep stack): nginx keeps its FastCGI connections (upstream
# keepalive 16, fastcgi_keep_conn on), as tuned deployments do.
STACK_STORES=(redis)
STACK_MIX=/one=1,/two=1,/par=1
STACK_RATES="50 200"
PHPFPM_BIN=${PHPFPM_BIN:-$(ls /usr/sbin/php-fpm* 2>/dev/null | sort -V | tail -1)}
PHPFPM_DIR=${PHPFPM_DIR:-$SDIR}
if [[ ${PHPFPM_KEEPCONN:-0} == 1 ]]; then
  STACK_GATEWAY_UPSTREAM="upstream fpm { server ${IP[front]}:8080; keepalive 16; }"
  STACK_GATEWAY_LOCATION="fastcgi_pass fpm; fastcgi_keep_conn on; include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $PHPFPM_DIR/front.php; fastcgi_read_timeout 3s;"
else
  STACK_GATEWAY_UPSTREAM=""
  STACK_GATEWAY_LOCATION="fastcgi_pass ${IP[front]}:8080; include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $PHPFPM_DIR/front.php; fastcgi_read_timeout 3s;"
fi
stack_build() {
  local need=()
  [[ -n $PHPFPM_BIN && -x $PHPFPM_BIN ]] || need+=(php-fpm)
  php -m 2>/dev/null | grep -qx curl || need+=(php-curl)
  php -m 2>/dev/null | grep -qx FFI || need+=(php-cli)
  command -v node >/dev/null || need+=(nodejs)
  if [[ ${#need[@]} -gt 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2
    PHPFPM_BIN=$(ls /usr/sbin/php-fpm* 2>/dev/null | sort -V | tail -1)
  fi
  [[ -x $PHPFPM_BIN ]] || { echo "phpfpm: no php-fpm in /usr/sbin" >&2; return 1; }
}
stack_start() {
  svc back node "$PHPFPM_DIR/../node/svc.js" back "${IP[back]}:8080" "${IP[back]}:8080" "$TRUTH"
  local pm=${PHPFPM_PM:-static} n=${PHPFPM_CHILDREN:-8}
  mkdir -p "$OUT/phpfpm"
  cat >"$OUT/phpfpm/fpm.conf" <<FPM
[global]
pid = $OUT/phpfpm/fpm.pid
error_log = $OUT/phpfpm/error.log
daemonize = no
[front]
user = root
group = root
listen = ${IP[front]}:8080
listen.backlog = 511
pm = $pm
pm.max_children = $n
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = $n
pm.max_requests = 0
catch_workers_output = yes
clear_env = yes
env[KST_BACK] = ${IP[back]}:8080
env[KST_STORE] = ${IP[store]}
env[KST_TRUTH] = $TRUTH
env[KST_LISTEN_PORT] = 8080
php_admin_value[ffi.enable] = 1
php_admin_value[error_log] = $OUT/phpfpm/php.log
php_admin_flag[log_errors] = on
FPM
  # -F: foreground (the pid run.sh kills is the master; SIGTERM ends its workers), -R: as root.
  svc front "$PHPFPM_BIN" -F -R -y "$OUT/phpfpm/fpm.conf"
}
