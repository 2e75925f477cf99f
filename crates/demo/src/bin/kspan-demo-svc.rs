//! `kspan-demo-svc`: runs one demo service in one design, logging ground truth.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use kspan_demo::svc::{self, ServiceConfig};
use kspan_demo::topology::Design;

/// One service of the kspan demo application.
#[derive(Parser)]
#[command(name = "kspan-demo-svc", version)]
struct Args {
    /// Concurrency design: thread, pool, epoll, prefork or tokio.
    #[arg(long)]
    design: Design,
    /// Service name (decides its endpoints and calls), e.g. compose-post.
    #[arg(long)]
    name: String,
    /// Address to listen on, e.g. 10.77.0.11:8080.
    #[arg(long)]
    listen: SocketAddr,
    /// Ground-truth directory; spans go to DIR/NAME.jsonl.
    #[arg(long, value_name = "DIR")]
    truth: PathBuf,
    /// A target's address, NAME=IP:PORT (repeat for each target).
    #[arg(long, value_name = "NAME=IP:PORT", value_parser = parse_downstream)]
    downstream: Vec<(String, SocketAddr)>,
}

fn parse_downstream(s: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=IP:PORT"))?;
    let addr = addr
        .parse()
        .map_err(|e| format!("bad address in {s:?}: {e}"))?;
    Ok((name.to_string(), addr))
}

fn main() {
    let args = Args::parse();
    let name = args.name.clone();
    let config = ServiceConfig {
        name: args.name,
        design: args.design,
        listen: args.listen,
        truth_dir: args.truth,
        downstreams: args.downstream.into_iter().collect::<HashMap<_, _>>(),
    };
    if let Err(e) = svc::run(config) {
        eprintln!("kspan-demo-svc {name}: {e}");
        std::process::exit(1);
    }
}
