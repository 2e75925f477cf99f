// kspan stack bench "nodefork": the front, a Node.js `http` server.
// usage: node front.js LISTEN_IP:PORT BACK_IP:PORT TRUTH_DIR
//   /par: Promise.all of back /pg and back /redis
//   /one: back /redis
// Every call goes through ONE keep-alive http.Agent with maxSockets 4: above 2 concurrent
// /par requests, calls queue in the agent for a free socket (a socket freed by one request's
// answer carries the next request's call).
// Truth: TRUTH_DIR/front.jsonl; tid = process.pid (the event loop is the main thread); each
// call's local is the end of the socket the agent actually gave that call.
'use strict';
const http = require('http');
const fs = require('fs');

const [listen, back, truthDir] = process.argv.slice(2);
const [lhost, lport] = listen.split(':');
const [bhost, bport] = back.split(':');
const logFd = fs.openSync(`${truthDir}/front.jsonl`, 'a');
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

// Unix ns = CLOCK_MONOTONIC (hrtime) + an offset taken at the instant Date.now() ticks over to
// the next millisecond (performance.timeOrigin is only good to Date.now()'s 1 ms).
const OFFSET = (() => {
  const t0 = Date.now();
  let t;
  let h;
  do { h = process.hrtime.bigint(); t = Date.now(); } while (t === t0);
  return BigInt(t) * 1000000n - h;
})();
const nowNs = () => process.hrtime.bigint() + OFFSET;
const v4 = (a) => (a || '').replace(/^::ffff:/, '');
const end = (s) => `${v4(s.localAddress)}:${s.localPort}`;

function call(path, rid) {
  return new Promise((resolve) => {
    // A call starts before a socket is taken (it may wait in the agent's queue).
    const rec = { target: 'back', proto: 'http', local: '', peer: `${bhost}:${bport}`,
      start: nowNs(), end: 0n, status: 'ok' };
    let sock = null;
    const done = () => { rec.end = nowNs(); resolve(rec); };
    const req = http.request({ host: bhost, port: bport, path, agent, headers: { 'X-Request-Id': rid } }, (res) => {
      if (res.socket !== sock) rec.status = 'error: response on another socket than the request';
      rec.local = end(res.socket);
      res.on('data', () => {});
      res.on('end', () => {
        if (res.statusCode !== 200) rec.status = `error: back: HTTP status ${res.statusCode}`;
        done();
      });
    });
    // 'socket' fires when the agent assigns a socket (a reused one is connected, a new one not
    // yet: its local end is known at 'connect').
    req.on('socket', (s) => {
      sock = s;
      if (s.localPort) rec.local = end(s);
      else s.once('connect', () => { if (sock === s) rec.local = end(s); });
    });
    req.on('error', (e) => { rec.status = `error: back: ${e.message}`; done(); });
    req.setTimeout(3000, () => req.destroy(new Error('timed out')));
    req.end();
  });
}

function log(rid, req, start, stop, calls, endpoint, status) {
  const s = req.socket;
  const c = calls.map((r) => `{"target":"${r.target}","proto":"${r.proto}","local":"${r.local}","peer":"${r.peer}","start_unix_ns":${r.start},"end_unix_ns":${r.end},"status":${JSON.stringify(r.status)},"tid":${process.pid}}`).join(',');
  const line = `{"rid":${JSON.stringify(rid)},"service":"front","design":"node","pid":${process.pid},"tid":${process.pid},"start_unix_ns":${start},"end_unix_ns":${stop},"peer":"${v4(s.remoteAddress)}:${s.remotePort}","local":"${v4(s.localAddress)}:${s.localPort}","endpoint":${JSON.stringify(endpoint)},"status":${JSON.stringify(status)},"calls":[${c}]}\n`;
  fs.writeSync(logFd, line);
}

const server = http.createServer(async (req, res) => {
  const start = nowNs();
  const rid = req.headers['x-request-id'] || '';
  let calls = [];
  let code = 200;
  let status = 'ok';
  if (req.url === '/par') {
    calls = await Promise.all([call('/pg', rid), call('/redis', rid)]);
  } else if (req.url === '/one') {
    calls.push(await call('/redis', rid));
  } else {
    code = 404;
    status = `error: unknown endpoint ${req.url}`;
  }
  const bad = calls.find((c) => c.status !== 'ok');
  if (bad) { code = 502; status = bad.status; }
  const body = `front ${req.url} ${status}\n`;
  res.writeHead(code, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  log(rid, req, start, nowNs(), calls, req.url, status);
});
server.keepAliveTimeout = 120000;
server.listen(Number(lport), lhost, () => console.error(`front listening on ${listen}, back ${back}`));
