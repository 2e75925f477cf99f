// kspan stack bench: Node.js front/back service (http module, keep-alive http.Agent).
// usage: node svc.js ROLE LISTEN_IP:PORT BACK_IP:PORT TRUTH_DIR
//   ROLE front: /one (1 call), /two (2 sequential calls), /par (2 parallel calls) to BACK /work
//   ROLE back:  /work answers after ~1 ms (timer)
'use strict';
const http = require('http');
const fs = require('fs');
const { performance } = require('perf_hooks');

const [role, listen, back, truthDir] = process.argv.slice(2);
const [lhost, lport] = listen.split(':');
const [bhost, bport] = (back || ':').split(':');
const logFd = fs.openSync(`${truthDir}/${role}.jsonl`, 'a');
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function nowNs() {
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.floor(ms);
  return BigInt(whole) * 1000000n + BigInt(Math.round((ms - whole) * 1e6));
}
const v4 = (a) => (a || '').replace(/^::ffff:/, '');

function call(path, rid) {
  return new Promise((resolve) => {
    const start = nowNs();
    const rec = { target: 'back', local: '', peer: `${bhost}:${bport}`, start, end: 0n, status: 'ok' };
    const req = http.request({ host: bhost, port: bport, path, agent, headers: { 'X-Request-Id': rid } }, (res) => {
      rec.local = `${v4(res.socket.localAddress)}:${res.socket.localPort}`;
      res.on('data', () => {});
      res.on('end', () => {
        rec.end = nowNs();
        if (res.statusCode !== 200) rec.status = `error: HTTP status ${res.statusCode}`;
        resolve(rec);
      });
    });
    req.on('error', (e) => { rec.end = nowNs(); rec.status = `error: ${e.message}`; resolve(rec); });
    req.end();
  });
}

function log(rid, req, start, end, calls, endpoint) {
  const s = req.socket;
  const c = calls.map((r) => `{"target":"${r.target}","local":"${r.local}","peer":"${r.peer}","start_unix_ns":${r.start},"end_unix_ns":${r.end},"status":"${r.status}"}`).join(',');
  const line = `{"rid":"${rid}","service":"${role}","design":"node","pid":${process.pid},"tid":${process.pid},"start_unix_ns":${start},"end_unix_ns":${end},"peer":"${v4(s.remoteAddress)}:${s.remotePort}","local":"${v4(s.localAddress)}:${s.localPort}","endpoint":"${endpoint}","status":"ok","calls":[${c}]}\n`;
  fs.writeSync(logFd, line);
}

const server = http.createServer(async (req, res) => {
  const start = nowNs();
  const rid = req.headers['x-request-id'] || '';
  let calls = [];
  if (role === 'back') {
    await new Promise((r) => setTimeout(r, 1));
  } else if (req.url === '/one') {
    calls.push(await call('/work', rid));
  } else if (req.url === '/two') {
    calls.push(await call('/work', rid));
    calls.push(await call('/work', rid));
  } else if (req.url === '/par') {
    calls = await Promise.all([call('/work', rid), call('/work', rid)]);
  }
  const body = `${role} ${req.url} ok\n`;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
  log(rid, req, start, nowNs(), calls, req.url);
});
server.keepAliveTimeout = 120000;
server.listen(Number(lport), lhost, () => console.error(`${role} listening on ${listen}`));
