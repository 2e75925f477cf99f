//! The whole application on network namespaces: every endpoint answers 200 and the truth
//! logs hold exactly the expected spans and calls, linked by addresses; a store going
//! down gives quick errors without stopping the rest; `down` leaves nothing behind.
//!
//! Each test uses its own namespace prefix, cgroup root and truth directory.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{spans, Client};
use kspan_demo::plan::plan;
use kspan_demo::topology::{host_named, Design, Role, HOSTS, ROUTES};
use kspan_demo::truth::{Operation, SpanRecord};
use kspan_demo::{App, Config};
use kspan_testsupport::Scratch;

/// Removes a test instance's truth directory (`/run/kspan-demo/<prefix>`), also when the
/// test fails; the app itself keeps it at `down`.
fn truth_guard(config: &Config) -> Scratch {
    Scratch::adopt(config.truth_dir.parent().expect("truth dir has a parent"))
}

fn config(prefix: &str) -> Config {
    Config {
        svc_bin: Some(env!("CARGO_BIN_EXE_kspan-demo-svc").into()),
        ..Config::with_prefix(prefix)
    }
}

/// A span as the truth logs it: (service, method and endpoint, calls: target and what it
/// asked for).
type Shape = (String, String, Vec<(String, Operation)>);

/// The shape of every span request `rid` of `method` to `service endpoint` makes.
fn expected_spans(service: &str, (method, endpoint): (&str, &str), rid: &str) -> Vec<Shape> {
    let stages = plan(service, endpoint, rid).expect("planned endpoint");
    let calls: Vec<_> = stages.into_iter().flatten().collect();
    let mut out = vec![(
        service.to_string(),
        format!("{method} {endpoint}"),
        calls
            .iter()
            .map(|c| (c.target.to_string(), c.operation.clone()))
            .collect(),
    )];
    for call in &calls {
        if let (Some(method), Some(path)) = (&call.operation.method, &call.operation.path) {
            out.extend(expected_spans(call.target, (method, path), rid));
        }
    }
    out
}

/// Groups spans by request id.
fn by_rid(spans: Vec<SpanRecord>) -> HashMap<String, Vec<SpanRecord>> {
    let mut map: HashMap<String, Vec<SpanRecord>> = HashMap::new();
    for span in spans {
        map.entry(span.rid.clone()).or_default().push(span);
    }
    map
}

fn shape(spans: &[SpanRecord]) -> Vec<Shape> {
    let mut shape: Vec<_> = spans
        .iter()
        .map(|s| {
            (
                s.service.clone(),
                format!("{} {}", s.method, s.endpoint),
                s.calls
                    .iter()
                    .map(|c| (c.target.clone(), c.operation.clone()))
                    .collect(),
            )
        })
        .collect();
    shape.sort();
    shape
}

fn gateway_lines(dir: &Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(dir.join("gateway.jsonl")).unwrap_or_default();
        if text.lines().count() >= n || Instant::now() > deadline {
            return text
                .lines()
                .map(|l| serde_json::from_str(l).expect("gateway line is JSON"))
                .collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Brings the app down and checks that no namespace, cgroup, process or work dir is left.
fn down_and_check_clean(app: App, config: &Config) {
    let pids: Vec<i32> = HOSTS.iter().flat_map(|h| app.pids(h.name)).collect();
    assert!(
        pids.len() >= 13,
        "every host but the client runs a process: {pids:?}"
    );
    let workdir = app.workdir().to_path_buf();
    app.down().expect("down");
    assert_eq!(kspan_demo::status(config), Vec::<(String, Vec<i32>)>::new());
    assert!(!config.cgroup_root.exists());
    assert!(!workdir.exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids
        .iter()
        .any(|p| Path::new(&format!("/proc/{p}")).exists())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let alive: Vec<_> = pids
        .iter()
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect();
    assert!(alive.is_empty(), "processes left: {alive:?}");
}

#[test]
fn every_endpoint_serves_with_exact_linked_truth_and_down_leaves_nothing() {
    check_every_endpoint("ksdt-a", None);
}

#[test]
fn every_endpoint_works_with_all_services_prefork() {
    check_every_endpoint("ksdt-d", Some(Design::Prefork));
}

/// Brings the app up (optionally with every service in one design), sends 3 requests per
/// endpoint, checks the exact truth, brings it down and checks nothing is left.
fn check_every_endpoint(prefix: &str, design: Option<Design>) {
    let config = Config {
        design,
        ..config(prefix)
    };
    let _truth = truth_guard(&config);
    let app = App::up(&config).expect("app up");
    let gateway: SocketAddr = app.gateway_addr().into();
    const PER_ENDPOINT: usize = 3;
    let codes = app
        .in_client(|| {
            let mut client = Client::connect(gateway);
            let mut codes = Vec::new();
            for (endpoint, _) in ROUTES {
                for i in 0..PER_ENDPOINT {
                    codes.push(client.get(endpoint, &format!("r{endpoint}-{i}")));
                }
            }
            codes
        })
        .expect("client namespace");
    assert_eq!(codes, vec![200; ROUTES.len() * PER_ENDPOINT]);

    let mut expected: HashMap<String, Vec<Shape>> = HashMap::new();
    for (endpoint, service) in ROUTES {
        for i in 0..PER_ENDPOINT {
            let rid = format!("r{endpoint}-{i}");
            let mut spans = expected_spans(service, ("GET", endpoint), &rid);
            spans.sort();
            expected.insert(rid, spans);
        }
    }
    let mut per_service: HashMap<String, usize> = HashMap::new();
    for spans in expected.values() {
        for (service, _, _) in spans {
            *per_service.entry(service.clone()).or_default() += 1;
        }
    }
    assert_eq!(per_service["post-storage"], 3 * PER_ENDPOINT);

    let mut all = Vec::new();
    for (service, n) in &per_service {
        let got = spans(app.truth_dir(), service, *n);
        assert_eq!(got.len(), *n, "{service} spans");
        let host = host_named(service).unwrap();
        let pids = app.pids(service);
        for span in &got {
            let role = app.host(service).unwrap().role;
            assert_eq!(Role::Service(span.design.parse().unwrap()), role);
            assert_eq!(role, design.map_or(host.role, Role::Service));
            assert_eq!(span.local, host.addr().to_string());
            assert_eq!(span.status, "ok");
            assert!(
                pids.contains(&(span.pid as i32)),
                "{service} pid {} in its cgroup {pids:?}",
                span.pid
            );
        }
        all.extend(got);
    }
    // Every call's local address is the callee span's peer (HTTP) or on the caller's host (stores).
    for span in &all {
        let caller_ip = host_named(&span.service).unwrap().ip().to_string();
        for call in &span.calls {
            let target = host_named(&call.target).unwrap();
            assert_eq!(
                (call.peer.as_str(), call.status.as_str()),
                (target.addr().to_string().as_str(), "ok")
            );
            assert_eq!(call.local.rsplit_once(':').unwrap().0, caller_ip);
            assert!(
                span.start_unix_ns <= call.start_unix_ns && call.end_unix_ns <= span.end_unix_ns
            );
            if call.proto == "http" {
                let callees: Vec<_> = all
                    .iter()
                    .filter(|s| {
                        s.rid == span.rid && s.peer == call.local && s.service == call.target
                    })
                    .collect();
                assert_eq!(callees.len(), 1, "one callee span for {call:?}");
            }
        }
    }
    // A PostgreSQL call says it opened its connection (sent the startup message) exactly when
    // it is the first call on it; no other protocol has a startup message.
    let mut calls: Vec<_> = all.iter().flat_map(|s| &s.calls).collect();
    calls.sort_by_key(|c| c.start_unix_ns);
    let mut seen = std::collections::HashSet::new();
    for call in calls {
        let first = seen.insert(call.local.clone());
        assert_eq!(call.startup, first && call.proto == "postgres", "{call:?}");
    }
    let grouped = by_rid(all);
    assert_eq!(grouped.len(), expected.len());
    for (rid, spans) in &grouped {
        assert_eq!(&shape(spans), &expected[rid], "spans of {rid}");
    }

    let lines = gateway_lines(app.truth_dir(), expected.len());
    assert_eq!(lines.len(), expected.len());
    for line in &lines {
        let endpoint = line["endpoint"].as_str().unwrap();
        let service = ROUTES.iter().find(|(e, _)| *e == endpoint).unwrap().1;
        assert_eq!(line["status"], 200);
        assert_eq!(line["method"], "GET");
        assert_eq!(line["service"], "gateway");
        assert_eq!(
            line["upstream"],
            host_named(service).unwrap().addr().to_string()
        );
        assert!(line["peer"].as_str().unwrap().starts_with("10.77.0.2:"));
        assert!(line["rid"]
            .as_str()
            .unwrap()
            .starts_with(&format!("r{endpoint}-")));
    }
    down_and_check_clean(app, &config);
}

#[test]
fn a_store_down_gives_quick_errors_and_the_rest_keeps_serving() {
    let config = config("ksdt-b");
    let _truth = truth_guard(&config);
    let mut app = App::up(&config).expect("app up");
    let gateway: SocketAddr = app.gateway_addr().into();
    let send = |app: &App, path: &'static str, rid: &'static str| {
        app.in_client(move || Client::connect(gateway).get(path, rid))
            .expect("client namespace")
    };
    assert_eq!(send(&app, "/follow", "r-before"), 200);
    app.stop("redis").expect("stop redis");
    assert_eq!(app.pids("redis"), Vec::<i32>::new());
    assert_eq!(send(&app, "/follow", "r-closed"), 502);
    assert_eq!(send(&app, "/follow", "r-refused"), 502);
    assert_eq!(send(&app, "/home-timeline", "r-home"), 502);
    assert_eq!(send(&app, "/compose", "r-compose"), 200);
    assert_eq!(send(&app, "/user-timeline", "r-user"), 200);

    let mut graph = spans(app.truth_dir(), "social-graph", 3);
    graph.sort_by_key(|s| s.start_unix_ns);
    let statuses: Vec<_> = graph
        .iter()
        .map(|s| (s.rid.as_str(), s.calls.len()))
        .collect();
    assert_eq!(
        statuses,
        vec![("r-before", 2), ("r-closed", 1), ("r-refused", 1)]
    );
    assert_eq!(graph[0].status, "ok");
    for span in &graph[1..] {
        assert!(span.status.starts_with("error: redis: "), "{}", span.status);
        assert_eq!(span.calls[0].status, span.status);
    }
    // The pooled connection was reused (then found closed); the next call could not connect.
    assert_eq!(graph[1].calls[0].local, graph[0].calls[0].local);
    assert_eq!(graph[2].calls[0].local, "");
    assert_eq!(
        graph[2].status,
        "error: redis: Connection refused (os error 111)"
    );

    // A frozen store: the caller times out after 1 s and answers 504; its callers see it.
    app.set_frozen("memcached", true).expect("freeze memcached");
    assert_eq!(send(&app, "/compose", "r-frozen"), 502);
    app.set_frozen("memcached", false).expect("thaw memcached");
    let user = spans(app.truth_dir(), "user", 2);
    let frozen = user
        .iter()
        .find(|s| s.rid == "r-frozen")
        .expect("user span of r-frozen");
    assert_eq!(frozen.status, "error: memcached: timed out");
    let waited = frozen.end_unix_ns - frozen.calls[0].start_unix_ns;
    assert!(
        waited >= 1_000_000_000,
        "waited the 1 s timeout, not less: {waited} ns"
    );
    let compose = spans(app.truth_dir(), "compose-post", 2);
    let frozen = compose
        .iter()
        .find(|s| s.rid == "r-frozen")
        .expect("compose span of r-frozen");
    assert_eq!(frozen.status, "error: user: HTTP status 504");
    assert_eq!(
        frozen
            .calls
            .iter()
            .map(|c| c.target.as_str())
            .collect::<Vec<_>>(),
        vec!["unique-id", "text", "user"]
    );
    assert_eq!(send(&app, "/compose", "r-thawed"), 200);

    let home = spans(app.truth_dir(), "home-timeline", 1);
    assert_eq!(home.len(), 1);
    assert_eq!(
        home[0]
            .calls
            .iter()
            .map(|c| c.target.as_str())
            .collect::<Vec<_>>(),
        vec!["redis"]
    );
    assert!(home[0].status.starts_with("error: redis: "));
    let statuses: Vec<_> = gateway_lines(app.truth_dir(), 8)
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![200, 502, 502, 502, 200, 200, 502, 200]);
    down_and_check_clean(app, &config);
}

#[test]
fn a_failed_up_names_the_service_and_leaves_nothing() {
    let config = Config {
        svc_bin: Some("/bin/false".into()),
        ..Config::with_prefix("ksdt-c")
    };
    let _truth = truth_guard(&config);
    let err = App::up(&config).expect_err("services exit at once");
    let text = err.to_string();
    assert!(
        text.starts_with("compose-post exited (exit status: 1) instead of serving; see its log /"),
        "{text}"
    );
    assert_eq!(
        kspan_demo::status(&config),
        Vec::<(String, Vec<i32>)>::new()
    );
    assert!(!config.cgroup_root.exists());
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("kspan-demo-ksdt-c-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
