<?php
// kspan stack bench: PHP-FPM front (one worker process per request at a time, FastCGI over
// TCP from the gateway's nginx, a new FastCGI connection per request: nginx's default).
//   /one: GET back /work (curl), then redis INCR
//   /two: 2 sequential GET back /work on one curl handle (the 2nd reuses the 1st's connection:
//         keep-alive within the request; the handle, and its connection, dies with the request)
//   /par: 2 parallel GET back /work (curl_multi, two connections), then redis INCR
//   redis: hand-written RESP over stream_socket_client, a new connection per request
//          (phpredis cannot tell its connection's local end)
// Truth: one line per request in $KST_TRUTH/front.jsonl, written after fastcgi_finish_request()
// (which writes the response; the span's end is taken just before it), tid = pid (an FPM worker is single-threaded). The FastCGI
// connection's ends come from getsockname/getpeername through FFI (PHP has no handle on it).
// Env (pool env[]): KST_BACK ip:port, KST_STORE ip, KST_TRUTH dir, KST_LISTEN_PORT.

function now_ns(): int {
    [$usec, $sec] = explode(' ', microtime());
    return (int)$sec * 1000000000 + (int)round((float)$usec * 1e6) * 1000;
}

$start = now_ns();
$rid = $_SERVER['HTTP_X_REQUEST_ID'] ?? '';
$back = getenv('KST_BACK');
$store = getenv('KST_STORE');
$truth = getenv('KST_TRUTH');
$pid = getmypid();
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);

// The FastCGI connection's ends (the SERVER span's peer and local).
function fcgi_ends(): array {
    static $ffi = null;
    $ffi = FFI::cdef('
        typedef struct { uint16_t family; uint8_t port[2]; uint8_t addr[4]; uint8_t zero[8]; } sin;
        int getsockname(int fd, sin *a, uint32_t *len);
        int getpeername(int fd, sin *a, uint32_t *len);', 'libc.so.6');
    $want = (int)getenv('KST_LISTEN_PORT');
    $s = $ffi->new('sin'); $p = $ffi->new('sin'); $l = $ffi->new('uint32_t');
    $fmt = fn($a) => sprintf('%d.%d.%d.%d:%d', $a->addr[0], $a->addr[1], $a->addr[2], $a->addr[3],
                             $a->port[0] * 256 + $a->port[1]);
    for ($fd = 0; $fd < 64; $fd++) {
        $l->cdata = 16;
        if ($ffi->getsockname($fd, FFI::addr($s), FFI::addr($l)) != 0 || $s->family != 2) continue;
        if ($s->port[0] * 256 + $s->port[1] != $want) continue;
        $l->cdata = 16;
        if ($ffi->getpeername($fd, FFI::addr($p), FFI::addr($l)) != 0) continue; // the listener
        return [$fmt($p), $fmt($s)];
    }
    return ['', ''];
}
[$peer, $local] = fcgi_ends();

function back_opts($ch, string $path, string $rid): void {
    global $back;
    curl_setopt_array($ch, [
        CURLOPT_URL => "http://$back$path",
        CURLOPT_HTTPHEADER => ["X-Request-Id: $rid"],
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_CONNECTTIMEOUT_MS => 1000,
        CURLOPT_TIMEOUT_MS => 2000,
    ]);
}
function back_rec(string $path): array {
    global $back, $pid;
    return ['target' => 'back', 'proto' => 'http', 'method' => 'GET', 'path' => $path, 'local' => '',
            'peer' => $back, 'tid' => $pid, 'start_unix_ns' => now_ns()];
}
function back_done($ch, array $rec, $body): array {
    $rec['end_unix_ns'] = now_ns();
    $ip = curl_getinfo($ch, CURLINFO_LOCAL_IP);
    if ($ip) $rec['local'] = $ip . ':' . curl_getinfo($ch, CURLINFO_LOCAL_PORT);
    $code = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    if ($body === false || $body === null) $rec['status'] = 'error: back: ' . curl_error($ch);
    elseif ($code != 200) $rec['status'] = "error: back: HTTP status $code";
    else $rec['status'] = 'ok';
    return $rec;
}
function call_back($ch, string $path, string $rid): array {
    back_opts($ch, $path, $rid);
    $rec = back_rec($path);
    $body = curl_exec($ch);
    return back_done($ch, $rec, $body);
}
function call_back_par(string $path, string $rid): array {
    $mh = curl_multi_init();
    $hs = [];
    $recs = [];
    for ($i = 0; $i < 2; $i++) {
        $ch = curl_init();
        back_opts($ch, $path, $rid);
        curl_multi_add_handle($mh, $ch);
        $hs[$i] = $ch;
        $recs[$i] = back_rec($path);
    }
    $done = [];
    do {
        $st = curl_multi_exec($mh, $running);
        while ($info = curl_multi_info_read($mh)) {
            $i = array_search($info['handle'], $hs, true);
            $body = $info['result'] === CURLE_OK ? curl_multi_getcontent($info['handle']) : false;
            $done[$i] = back_done($info['handle'], $recs[$i], $body);
        }
        if ($running) curl_multi_select($mh, 1.0);
    } while ($running && $st === CURLM_OK);
    foreach ($hs as $i => $ch) {
        if (!isset($done[$i])) $done[$i] = back_done($ch, $recs[$i], false);
        curl_multi_remove_handle($mh, $ch);
    }
    ksort($done);
    return array_values($done);
}
function redis_incr(): array {
    global $store, $pid;
    $rec = ['target' => 'redis', 'proto' => 'redis', 'command' => 'INCR', 'local' => '',
            'peer' => "$store:6379", 'tid' => $pid, 'start_unix_ns' => now_ns()];
    $s = @stream_socket_client("tcp://$store:6379", $errno, $errstr, 1.0);
    if (!$s) {
        $rec['end_unix_ns'] = now_ns();
        $rec['status'] = "error: redis: $errstr";
        return $rec;
    }
    $rec['local'] = stream_socket_get_name($s, false);
    stream_set_timeout($s, 1);
    fwrite($s, "*2\r\n\$4\r\nINCR\r\n\$9\r\nkst:count\r\n");
    $line = fgets($s);
    $rec['end_unix_ns'] = now_ns();
    $rec['status'] = ($line !== false && $line[0] === ':') ? 'ok' : 'error: redis: ' . trim((string)$line);
    fclose($s);
    return $rec;
}

$calls = [];
$status = 'ok';
$code = 200;
$ch = curl_init();
if ($path === '/one') {
    $calls[] = call_back($ch, '/work', $rid);
} elseif ($path === '/two') {
    $calls[] = call_back($ch, '/work', $rid);
    if ($calls[0]['status'] === 'ok') $calls[] = call_back($ch, '/work', $rid);
} elseif ($path === '/par') {
    $calls = call_back_par('/work', $rid);
} else {
    $status = "error: unknown endpoint $path";
    $code = 404;
}
foreach ($calls as $c) {
    if ($c['status'] !== 'ok') { $status = $c['status']; $code = 502; break; }
}
if ($code === 200) {
    $calls[] = redis_incr();
    if (end($calls)['status'] !== 'ok') { $status = end($calls)['status']; $code = 502; }
}
http_response_code($code);
header('Content-Type: text/plain');
echo "front $path ", ($code === 200 ? 'ok' : $status), "\n";
// fastcgi_finish_request() writes the response (FCGI_STDOUT and FCGI_END_REQUEST in one write),
// shuts the connection down for writing, then reads what is left of the request (nginx's empty
// FCGI_STDIN record, never read by a GET) until nginx closes: it returns only then, so the
// span ends just before it (the write follows within microseconds).
$end = now_ns();
fastcgi_finish_request();
$rec = ['rid' => $rid, 'service' => 'front', 'design' => 'fpm', 'pid' => $pid, 'tid' => $pid,
        'start_unix_ns' => $start, 'end_unix_ns' => $end, 'peer' => $peer, 'local' => $local,
        'endpoint' => $path, 'status' => $status, 'calls' => $calls];
file_put_contents("$truth/front.jsonl", json_encode($rec, JSON_UNESCAPED_SLASHES) . "\n", FILE_APPEND);
