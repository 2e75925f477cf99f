//! The Debian programs of the app (nginx, redis, memcached, PostgreSQL 15): checking they
//! are installed, their generated configuration and their command lines.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{io_err, Error, Result};
use crate::proto::{self, Proto};
use crate::topology::{host_named, reply_timeout, Host, ROUTES};
use crate::wire::{Conn, CONNECT_TIMEOUT};

const NGINX: &str = "/usr/sbin/nginx";
const REDIS: &str = "/usr/bin/redis-server";
const MEMCACHED: &str = "/usr/bin/memcached";
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const SETPRIV: &str = "/usr/bin/setpriv";

/// Fails with the `apt-get install` command for the first missing program.
pub fn check_installed() -> Result<()> {
    let pg_bin = Path::new(PG_BIN);
    let programs = [
        (PathBuf::from(NGINX), "nginx"),
        (PathBuf::from(REDIS), "redis-server"),
        (PathBuf::from(MEMCACHED), "memcached"),
        (pg_bin.join("postgres"), "postgresql-15"),
        (pg_bin.join("initdb"), "postgresql-15"),
        (PathBuf::from(SETPRIV), "util-linux"),
    ];
    for (program, package) in programs {
        if !program.exists() {
            return Err(Error::MissingPackage { program, package });
        }
    }
    Ok(())
}

/// The gateway's nginx.conf: JSON access log as in docs/ground-truth.md, one keep-alive
/// upstream per routed service, X-Request-Id forwarded.
pub fn nginx_conf(gateway: &Host, work: &Path, truth_dir: &Path, workers: u32) -> String {
    let w = work.display();
    let mut upstreams = String::new();
    let mut locations = String::new();
    for (endpoint, service) in ROUTES {
        if let Some(h) = host_named(service) {
            let _ = writeln!(
                upstreams,
                "    upstream {service} {{ server {}; keepalive 16; }}",
                h.addr()
            );
            let _ = writeln!(
                locations,
                "        location = {endpoint} {{ proxy_pass http://{service}; proxy_read_timeout {}s; }}",
                reply_timeout(service).as_secs()
            );
        }
    }
    format!(
        r#"worker_processes {workers};
daemon off;
user root;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format truth escape=json '{{"rid":"$http_x_request_id","service":"gateway","pid":$pid,"peer":"$remote_addr:$remote_port","local":"$server_addr:$server_port","msec":$msec,"request_time":$request_time,"upstream":"$upstream_addr","upstream_time":"$upstream_response_time","status":$status,"method":"$request_method","endpoint":"$uri"}}';
    access_log {truth}/gateway.jsonl truth;
    client_body_temp_path {w}/nginx-body;
    proxy_temp_path {w}/nginx-proxy;
    fastcgi_temp_path {w}/nginx-fastcgi;
    uwsgi_temp_path {w}/nginx-uwsgi;
    scgi_temp_path {w}/nginx-scgi;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header X-Request-Id $http_x_request_id;
    proxy_connect_timeout 1s;
    proxy_send_timeout 1s;
    keepalive_requests 1000000;
{upstreams}    server {{
        listen {addr};
{locations}        location / {{ return 404; }}
    }}
}}
"#,
        truth = truth_dir.display(),
        addr = gateway.addr(),
    )
}

/// nginx in the foreground with the generated config.
pub fn nginx_command(work: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new(NGINX);
    cmd.arg("-p")
        .arg(work)
        .arg("-e")
        .arg(work.join("nginx-error.log"))
        .arg("-c")
        .arg(conf);
    cmd
}

/// redis-server in the foreground, no persistence.
pub fn redis_command(host: &Host, work: &Path) -> Command {
    let mut cmd = Command::new(REDIS);
    cmd.args([
        "--bind",
        &host.ip().to_string(),
        "--port",
        &host.port.to_string(),
    ])
    .args([
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
    ])
    .arg("--dir")
    .arg(work);
    cmd
}

/// memcached in the foreground, TCP only.
pub fn memcached_command(host: &Host) -> Command {
    let mut cmd = Command::new(MEMCACHED);
    cmd.args([
        "-u",
        "root",
        "-l",
        &host.ip().to_string(),
        "-p",
        &host.port.to_string(),
    ])
    .args(["-U", "0", "-t", "2", "-c", "1024"]);
    cmd
}

/// `program args…` run as the `postgres` user.
fn as_postgres(program: &str) -> Command {
    let mut cmd = Command::new(SETPRIV);
    cmd.args([
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--",
    ])
    .arg(Path::new(PG_BIN).join(program));
    cmd
}

/// The uid and gid of the `postgres` user, from /etc/passwd.
fn postgres_ids() -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(io_err("read /etc/passwd"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"postgres") && f.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or(Error::MissingPackage {
            program: PathBuf::from("user postgres"),
            package: "postgresql-15",
        })
}

/// Creates a throwaway cluster in `data` (trust auth from 10.77.0.0/24, no fsync).
pub fn init_postgres(host: &Host, data: &Path, log: &Path) -> Result<()> {
    let (uid, gid) = postgres_ids()?;
    std::fs::create_dir_all(data).map_err(io_err(format!("create {}", data.display())))?;
    std::os::unix::fs::chown(data, Some(uid), Some(gid))
        .map_err(io_err(format!("chown {}", data.display())))?;
    let out = as_postgres("initdb")
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .current_dir(data)
        .output()
        .map_err(io_err("run initdb"))?;
    let _ = std::fs::write(log, [&out.stdout[..], &out.stderr[..]].concat());
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("initdb -D {}", data.display()),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let conf = format!(
        "listen_addresses = '{}'\nport = {}\nunix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 16MB\nmax_connections = 200\n",
        host.ip(),
        host.port
    );
    append(&data.join("postgresql.conf"), &conf)?;
    append(
        &data.join("pg_hba.conf"),
        "host all all 10.77.0.0/24 trust\n",
    )
}

fn append(path: &Path, text: &str) -> Result<()> {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(io_err(format!("append to {}", path.display())))
}

/// The postmaster in the foreground on cluster `data`.
pub fn postgres_command(data: &Path) -> Command {
    let mut cmd = as_postgres("postgres");
    cmd.arg("-D").arg(data).current_dir(data);
    cmd
}

/// The schema and seed data (run once the server accepts queries).
pub const SCHEMA: &str = "CREATE TABLE posts (id serial PRIMARY KEY, author int NOT NULL, body text NOT NULL, created timestamptz NOT NULL DEFAULT now()); \
CREATE INDEX posts_author ON posts (author, id); \
INSERT INTO posts (author, body) SELECT g % 50, 'seed post ' || g FROM generate_series(1, 500) g; ANALYZE posts";

/// Runs one simple query on a new connection (blocking); `Err` carries the reason.
pub fn pg_exec(addr: SocketAddr, sql: &str) -> std::result::Result<(), String> {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(CONNECT_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut conn = Conn::new(stream);
    let hello = Proto::Postgres.handshake().unwrap_or_default();
    for request in [hello, proto::pg_query(sql)] {
        conn.stream.write_all(&request).map_err(|e| e.to_string())?;
        let reply = conn
            .read_message(|b| Proto::Postgres.reply_len(b))
            .map_err(|e| e.to_string())?
            .ok_or("connection closed")?;
        Proto::Postgres.check_reply(&reply)?;
    }
    Ok(())
}
