//! MySQL spans on the real kernel: a MariaDB server and its command-line client running
//! every statement on one connection, recorded in a network namespace of the test; the
//! client's and the server's spans of each statement are named by its operation, carry
//! `db.system` `mysql` and the statement with its literals as `?`, and the statement the
//! server refuses ends in error with its code. Needs root, tracefs and mariadb-server.

mod common;

use common::{analyze_to, record_in_netns};
use kspan_testsupport::{Netns, Scratch};
use std::process::Command;

/// The statements, run in order by one client on one connection, and what their spans should say: name,
/// query text, error.
const STATEMENTS: [(&str, &str, &str, Option<&str>); 7] = [
    (
        "CREATE DATABASE shop",
        "CREATE",
        "CREATE DATABASE shop",
        None,
    ),
    (
        "CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20))",
        "CREATE",
        "CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(?))",
        None,
    ),
    (
        "INSERT INTO shop.t VALUES (1, 'one'), (2, 'two')",
        "INSERT",
        "INSERT INTO shop.t VALUES (?, ?), (?, ?)",
        None,
    ),
    (
        "SELECT v FROM shop.t WHERE id = 2",
        "SELECT",
        "SELECT v FROM shop.t WHERE id = ?",
        None,
    ),
    (
        "UPDATE shop.t SET v = 'uno' WHERE id = 1",
        "UPDATE",
        "UPDATE shop.t SET v = ? WHERE id = ?",
        None,
    ),
    (
        "DELETE FROM shop.t WHERE id = 2",
        "DELETE",
        "DELETE FROM shop.t WHERE id = ?",
        None,
    ),
    (
        "SELECT v FROM shop.missing",
        "SELECT",
        "SELECT v FROM shop.missing",
        Some("MySQL error 1146"),
    ),
];

/// The script: start mariadbd on `dir`'s database, wait for its socket, run every
/// statement with one client over one TCP connection (the refused one last: the client stops there),
/// stop the server.
fn script(dir: &str) -> String {
    let statements: Vec<&str> = STATEMENTS.iter().map(|(sql, ..)| *sql).collect();
    format!(
        "mariadbd --no-defaults --datadir={dir}/data --user=root --socket={dir}/sock \
         --port=13306 --bind-address=127.0.0.1 --pid-file={dir}/pid --skip-grant-tables \
         --skip-name-resolve --innodb-buffer-pool-size=16M >{dir}/server.log 2>&1 & \
         for i in $(seq 300); do [ -S {dir}/sock ] && break; sleep 0.1; done; \
         mariadb --no-defaults -h 127.0.0.1 -P 13306 -u root -e \"{}\" >/dev/null 2>&1; \
         kill $!; wait",
        statements.join("; ")
    )
}

/// (kind, name, query text, status message) of every span with a `db.query.text`.
fn mysql_spans(path: &std::path::Path) -> Vec<(i64, String, String, Option<String>)> {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for resource in doc["resourceSpans"].as_array().unwrap() {
        for span in resource["scopeSpans"][0]["spans"].as_array().unwrap() {
            let attribute = |key: &str| {
                span["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["key"] == key)
                    .map(|a| a["value"]["stringValue"].as_str().unwrap().to_string())
            };
            let Some(query) = attribute("db.query.text") else {
                continue;
            };
            assert_eq!(attribute("db.system").as_deref(), Some("mysql"));
            out.push((
                span["kind"].as_i64().unwrap(),
                span["name"].as_str().unwrap().to_string(),
                query,
                span["status"]["message"].as_str().map(str::to_string),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn each_statement_names_its_client_and_server_spans() {
    let netns = Netns::new("cli-mysql");
    let scratch = Scratch::new("cli-mysql");
    let dir = scratch.path().to_str().unwrap().to_string();
    let install = Command::new("mariadb-install-db")
        .args(["--no-defaults", "--user=root", "--skip-test-db"])
        .arg(format!("--datadir={dir}/data"))
        .output()
        .expect("mariadb-install-db runs (apt-get install mariadb-server)");
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    let recording = scratch.join("mysql.dat");
    record_in_netns(&recording, &netns, &script(&dir));
    let otlp = scratch.join("mysql.otlp.json");
    analyze_to(&recording, "otlp-json", &otlp);
    let mut expected: Vec<(i64, String, String, Option<String>)> = STATEMENTS
        .iter()
        .flat_map(|&(_, name, query, error)| {
            // A SERVER (2) and a CLIENT (3) span each.
            [2, 3].map(|kind| {
                (
                    kind,
                    name.to_string(),
                    query.to_string(),
                    error.map(str::to_string),
                )
            })
        })
        .collect();
    expected.sort();
    assert_eq!(
        mysql_spans(&otlp),
        expected,
        "server log: {}",
        std::fs::read_to_string(scratch.join("server.log")).unwrap_or_default()
    );
}
