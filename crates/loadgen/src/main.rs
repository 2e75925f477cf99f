//! `kspan-loadgen`: the load generator's command line.

use anyhow::Context;
use clap::Parser;
use kspan_loadgen::config::parse_duration;
use kspan_loadgen::{LoadConfig, Mix, Pace};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// HTTP/1.1 load with a unique X-Request-Id per request, logged to loadgen.jsonl.
///
/// Open loop with --rate (requests/s over a pool of --connections), else closed loop over
/// --connections keep-alive connections. Give --duration, --requests, or both.
///
/// Example (in the demo's client namespace):
///   ip netns exec ksd-client kspan-loadgen --target 10.77.0.10:80 \
///     --mix /compose=1,/home-timeline=3 --rate 200 --duration 10s --out loadgen.jsonl
#[derive(Parser)]
#[command(
    name = "kspan-loadgen",
    version,
    about,
    long_about,
    verbatim_doc_comment
)]
struct Args {
    /// The server, ip:port.
    #[arg(long)]
    target: SocketAddr,
    /// The Host header [default: the target].
    #[arg(long)]
    host: Option<String>,
    /// Paths and weights, e.g. /compose=1,/home-timeline=3.
    #[arg(long, default_value = "/")]
    mix: String,
    /// Open loop at this many requests per second.
    #[arg(long)]
    rate: Option<f64>,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Stop sending after this long (e.g. 10s, 500ms, 2m).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(long)]
    requests: Option<u64>,
    /// A request unanswered after this long fails as a timeout.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    timeout: Duration,
    /// Request ids are this prefix and six digits.
    #[arg(long, default_value = "r-")]
    rid_prefix: String,
    /// Where to write one line per request.
    #[arg(long, default_value = "loadgen.jsonl")]
    out: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn main() {
    if let Err(err) = run(Args::parse()) {
        eprintln!("kspan-loadgen: error: {err:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let config = LoadConfig {
        host: args.host.unwrap_or_else(|| args.target.to_string()),
        mix: Mix::parse(&args.mix)?,
        pace: args.rate.map_or(Pace::Closed, Pace::Rate),
        connections: args.connections,
        duration: args.duration,
        requests: args.requests,
        timeout: args.timeout,
        rid_prefix: args.rid_prefix,
        ..LoadConfig::new(args.target)
    };
    let load = kspan_loadgen::run(&config)?;
    kspan_loadgen::write_jsonl(&args.out, &load.records)?;
    let text = if args.json {
        serde_json::to_string_pretty(&load.summary).context("cannot print the summary")? + "\n"
    } else {
        load.summary.to_string()
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write the summary to stdout"),
    }
}
