//! `kspan report` on a real recording (curl fetching from python's http.server in a network
//! namespace of the test), opened in headless Chromium: the page's renderer ran without a
//! script error or console message, the waterfall of the trace with the most spans has
//! exactly that trace's spans in the OTLP output of the same recording, the span its address
//! names is selected with its details, and the service map and the endpoints are drawn. An
//! unwritable output and a missing recording are one sentence each. Needs root, tracefs,
//! curl, python3 and Chromium (Debian's `chromium`, which scripts/setup.sh installs; the
//! test says it skips when it is absent).

mod common;

use common::{analyze_to, kspan, otlp_json_spans, record_requests, succeeded};
use kspan_testsupport::Scratch;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The page as headless Chromium leaves it after its scripts ran, and what Chromium logged
/// (console messages included). `None` when Chromium is not installed.
fn rendered(page: &Path, fragment: &str, profile: &Path) -> Option<(String, String)> {
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .args(["--enable-logging=stderr", "--v=0", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}#{fragment}", page.display()))
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("chromium does not start: {e}"),
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some((
                String::from_utf8(out.stdout).unwrap(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ))
        }
    }
}

/// The values of attribute `name` (`name="…"`) in `html`, in order.
fn attribute_values<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let key = format!("{name}=\"");
    html.match_indices(&key)
        .map(|(at, _)| {
            let value = &html[at + key.len()..];
            &value[..value.find('"').unwrap()]
        })
        .collect()
}

#[test]
fn the_report_renders_each_waterfall_with_its_traces_spans() {
    let (scratch, recording) = record_requests("cli-report", 3);
    let otlp = scratch.join("http.otlp.json");
    analyze_to(&recording, "otlp-json", &otlp);
    let mut by_trace: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for span in otlp_json_spans(&otlp) {
        let fields: Vec<&str> = span.split(' ').collect();
        by_trace
            .entry(fields[0].to_string())
            .or_default()
            .insert(fields[1].to_string());
    }
    let (known, known_spans) = by_trace
        .iter()
        .max_by_key(|(_, spans)| spans.len())
        .expect("the recording has traces");
    assert!(known_spans.len() >= 2, "a trace with a call: {by_trace:?}");

    let args = ["report", recording.to_str().unwrap(), "-o"];
    let unwritable = scratch.join("no-such-dir/report.html");
    let out = kspan(&[&args[..], &[unwritable.to_str().unwrap()]].concat());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "kspan: error: cannot create {}: No such file or directory (os error 2)",
            unwritable.display()
        ),
        "an unwritable output is one sentence, before the analysis"
    );
    let page = scratch.join("report.html");
    succeeded(kspan(&[&args[..], &[page.to_str().unwrap()]].concat()));
    let selected = known_spans.iter().next_back().unwrap();
    let Some((dom, log)) = rendered(
        &page,
        &format!("span={selected}"),
        &scratch.join("chromium"),
    ) else {
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install chromium; scripts/setup.sh does)"
        );
        return;
    };

    let root = &dom[dom.find("<html").unwrap()..];
    let root = &root[..root.find('>').unwrap()];
    assert_eq!(
        attribute_values(root, "data-kspan-error"),
        [] as [&str; 0],
        "no script error"
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert_eq!(
        attribute_values(root, "data-kspan-rendered"),
        [by_trace.len().to_string()],
        "the renderer ran to its end and drew every trace (fewer than the 50 slowest)"
    );
    assert_eq!(
        attribute_values(&dom, "data-trace-id").len(),
        by_trace.len()
    );

    let start = dom
        .find(&format!("data-trace-id=\"{known}\""))
        .expect("the known trace has a waterfall");
    let waterfall = &dom[start..start + dom[start..].find("</details>").unwrap()];
    let rows: Vec<&str> = attribute_values(waterfall, "data-span-id");
    assert_eq!(
        rows.len(),
        known_spans.len(),
        "exactly the trace's spans in the engine's output"
    );
    assert_eq!(
        rows.iter().map(|r| r.to_string()).collect::<BTreeSet<_>>(),
        *known_spans
    );

    let detail = &dom[dom.find("id=\"span-detail\"").unwrap()..];
    assert!(
        detail.contains(&format!("class=\"fact-span-id\">{selected}<")),
        "the span the address names is selected"
    );
    assert!(detail.contains("Kernel breakdown") && detail.contains("run queue"));
    assert!(dom.contains("<svg") && dom.contains("class=\"map\""));
    assert!(dom.contains("<td>GET /kspan</td>"), "the endpoints by name");
}

#[test]
fn a_missing_recording_is_one_sentence() {
    let scratch = Scratch::new("cli-report-missing");
    let missing = scratch.join("missing.dat");
    let page = scratch.join("report.html");
    let out = kspan(&[
        "report",
        missing.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "kspan: error: cannot read {}: no such file; give the path of a trace.dat written by `kspan record`",
            missing.display()
        )
    );
    assert!(!page.exists(), "nothing written");
}

/// The data a report page embeds for its script: per waterfall, the trace's duration and
/// the services of its spans, slowest first.
fn waterfalls(page: &Path) -> Vec<(u64, BTreeSet<String>)> {
    let html = std::fs::read_to_string(page).unwrap();
    let marker = "id=\"kspan-data\">";
    let start = html.find(marker).expect("the page embeds its data") + marker.len();
    let end = start + html[start..].find("</script>").unwrap();
    let data: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    data["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let services = t["spans"].as_array().unwrap().iter();
            let services = services.map(|s| s["service"].as_str().unwrap().to_string());
            (t["duration"].as_u64().unwrap(), services.collect())
        })
        .collect()
}

#[test]
fn service_and_min_duration_keep_exactly_the_traces_they_select() {
    let (scratch, recording) = record_requests("cli-report-filter", 8);
    let report = |name: &str, filters: &[&str]| {
        let page = scratch.join(name);
        let args = ["report", recording.to_str().unwrap(), "-o"];
        succeeded(kspan(
            &[&args[..], &[page.to_str().unwrap()], filters].concat(),
        ));
        waterfalls(&page)
    };
    let all = report("all.html", &[]);
    assert!(
        all.len() >= 8 && all.len() < 50,
        "every trace drawn: {all:?}"
    );
    let mut durations: Vec<u64> = all.iter().map(|t| t.0).collect();
    durations.sort_unstable();
    let median = durations[durations.len() / 2];
    let long: Vec<_> = all.iter().filter(|t| t.0 >= median).cloned().collect();
    assert_eq!(
        report("long.html", &["--min-duration", &median.to_string()]),
        long
    );
    // The service of the fewest traces (maybe all of them).
    let services: BTreeSet<&String> = all.iter().flat_map(|t| &t.1).collect();
    let service = services
        .into_iter()
        .min_by_key(|s| all.iter().filter(|t| t.1.contains(*s)).count())
        .unwrap();
    let with: Vec<_> = all
        .iter()
        .filter(|t| t.1.contains(service))
        .cloned()
        .collect();
    assert_eq!(report("service.html", &["--service", service]), with);
    assert_eq!(report("none.html", &["--service", "no-such-service"]), []);
}
