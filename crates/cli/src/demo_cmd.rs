//! `kspan demo`: the newcomer's command. Brings the bundled microservice application up on
//! network-namespace hosts, records it under load with kspan, analyses the recording, prints
//! the slowest traces and the accuracy against the application's ground truth, writes the
//! OTLP file, and brings the application down (also on failure, and on SIGINT or SIGTERM:
//! [`crate::demo_interrupt`]).

use crate::analyze_cmd::{self, Recording};
use crate::demo_interrupt::Interrupt;
use anyhow::{bail, Context};
use kspan_demo::{App, Config};
use kspan_loadgen::{LoadConfig, Mix, Pace};
use kspan_output::filter::FilteredSink;
use kspan_output::otlp::OtlpJsonSink;
use kspan_output::summary::write_summary;
use kspan_output::tree::TreeSink;
use kspan_output::{Tee, TraceFilter};
use kspan_truth::CheckOptions;
use std::io::{BufRead, BufReader};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Arguments of `kspan demo`.
#[derive(clap::Args)]
#[command(after_help = "What it does, in order:
  1. starts nginx, redis, memcached, PostgreSQL and our services (five server designs) on
     network namespaces 10.77.0.0/24, one cgroup per service;
  2. `kspan record` of every service's cgroup, with page faults as a user-enabled event;
  3. load from the client namespace, each request with an X-Request-Id;
  4. `kspan analyze`: the slowest traces as trees, and OTLP JSON into --out;
  5. `kspan check`: exact-tree accuracy against the services' ground-truth logs;
  6. tears the application down.")]
pub struct DemoArgs {
    /// How long to send load.
    #[arg(long, default_value = "5s", value_parser = kspan_loadgen::config::parse_duration)]
    pub duration: Duration,
    /// Open-loop request rate per second.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Request mix: PATH=WEIGHT,...
    #[arg(
        long,
        default_value = "/compose=1,/home-timeline=2,/user-timeline=2,/follow=1"
    )]
    pub mix: String,
    /// How many of the slowest traces to print.
    #[arg(long, default_value_t = 3)]
    pub slowest: usize,
    /// Directory for the recording (demo.dat), the traces (demo.otlp.json) and the truth logs.
    #[arg(long, default_value = "kspan-demo-out")]
    pub out: PathBuf,
    /// Fail (exit 1) when the exact-tree accuracy is below this percentage or events were lost.
    #[arg(long)]
    pub min_accuracy: Option<f64>,
    /// Record with `kspan live` instead of `kspan record`: the traces come out while the
    /// load runs (OTLP JSON into demo.live.otlp.json in --out, the delays in its summary),
    /// and the saved demo.dat is analysed and checked afterwards as usual, for comparison.
    #[arg(long)]
    pub live: bool,
    /// Run every one of our services in this design (thread, pool, epoll, prefork, tokio)
    /// instead of the usual mix: the per-design accuracy runs.
    #[arg(long)]
    pub design: Option<kspan_demo::topology::Design>,
    /// Name prefix of the demo's namespaces and cgroups, so that several demos can run at once.
    #[arg(long, default_value = "ksd")]
    pub prefix: String,
    /// Load sent before recording starts, so that connection pools are warm, as in the common
    /// case of attaching to an application that has been up for a while (0s: none).
    #[arg(long, default_value = "1s", value_parser = kspan_loadgen::config::parse_duration)]
    pub warmup: Duration,
    /// What records the socket syscalls (`kspan record --backend`): ftrace, or bpf (one BPF
    /// record per syscall; not with --live).
    #[arg(long, value_enum, default_value = "ftrace", conflicts_with = "live")]
    pub backend: crate::record_cmd::BackendArg,
}

/// Starts `kspan record` on the app's service cgroups (or `kspan live`, saving `file` and
/// writing its traces to `live`) and waits until it reports that it is recording;
/// `interrupt` learns its pid. Its stderr is forwarded to ours.
fn start_recorder(
    app: &App,
    file: &std::path::Path,
    live: Option<&std::path::Path>,
    backend: crate::record_cmd::BackendArg,
    interrupt: &Interrupt,
) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the kspan executable")?;
    let mut cmd = Command::new(exe);
    match live {
        Some(traces) => cmd
            .args(["live", "--format", "otlp-json", "-o"])
            .arg(traces)
            .arg("--save"),
        None => cmd
            .arg("record")
            .arg("--backend")
            .arg(match backend {
                crate::record_cmd::BackendArg::Ftrace => "ftrace",
                crate::record_cmd::BackendArg::Bpf => "bpf",
            })
            .arg("-o"),
    };
    cmd.arg(file).args(["-e", "exceptions:page_fault_user"]);
    for host in app.hosts() {
        if let Some(cgroup) = &host.cgroup {
            cmd.arg("--cgroup").arg(cgroup);
        }
    }
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `kspan record`")?;
    interrupt.recorder(child.id());
    let stderr = child.stderr.take().expect("stderr is piped");
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("recording into") {
                let _ = ready_tx.send(());
            }
            // Not eprintln!, which panics when stderr is gone (a closed terminal): this
            // thread must keep reading, or the recorder's own messages would fail.
            let _ = writeln!(std::io::stderr(), "  {line}");
        }
    });
    if ready_rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        let status = child.wait()?;
        bail!("`kspan record` did not start ({status}); see its messages above");
    }
    Ok(child)
}

/// Empties the ground-truth logs. They are truncated, not removed: the services and nginx
/// keep them open in append mode, so their next line lands at the start of the empty file.
fn clear_truth(dir: &std::path::Path) -> std::io::Result<()> {
    // Services log a request just after answering it: let the last lines land first.
    std::thread::sleep(Duration::from_millis(300));
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(0)?;
        }
    }
    Ok(())
}

/// Stops the recorder like Ctrl-C does and waits for it to write its files.
fn stop_recorder(mut child: Child, interrupt: &Interrupt) -> anyhow::Result<()> {
    // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = child.wait().context("cannot wait for `kspan record`");
    interrupt.recorder(0);
    let status = status?;
    if !status.success() {
        bail!("`kspan record` failed ({status}); see its messages above");
    }
    Ok(())
}

/// Runs `kspan demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let out = args.out.canonicalize()?;
    let config = Config {
        truth_dir: out.join("truth"),
        design: args.design,
        ..Config::with_prefix(&args.prefix)
    };
    let interrupt = Interrupt::watch(config.clone());
    eprintln!(
        "kspan demo: bringing the application up (nginx, redis, memcached, postgres, 9 services)…"
    );
    let app = App::up(&config).context("cannot bring the demo application up")?;
    let result = record_and_load(&app, &args, &out, &interrupt);
    eprintln!("kspan demo: bringing the application down…");
    app.down()
        .context("cannot bring the demo application down")?;
    let recording = result?;
    report(&args, &out, &recording, &config)
}

/// Records the app while the load generator runs; returns the recording's path.
fn record_and_load(
    app: &App,
    args: &DemoArgs,
    out: &std::path::Path,
    interrupt: &Interrupt,
) -> anyhow::Result<PathBuf> {
    let recording = out.join("demo.dat");
    let mut load = LoadConfig::new(std::net::SocketAddr::V4(app.gateway_addr()));
    load.mix = Mix::parse(&args.mix)?;
    load.pace = Pace::Rate(args.rate);
    load.connections = 8;
    if !args.warmup.is_zero() {
        eprintln!(
            "kspan demo: warming up for {:?} (not recorded)…",
            args.warmup
        );
        let warmup = LoadConfig {
            duration: Some(args.warmup),
            rid_prefix: "warmup-".into(),
            ..load.clone()
        };
        app.in_client(|| kspan_loadgen::run(&warmup))
            .context("cannot run the load generator")??;
        // The truth of the warm-up is not part of the check.
        clear_truth(app.truth_dir())
            .context("cannot reset the ground-truth logs after the warm-up")?;
    }
    load.duration = Some(args.duration);
    let live = args.live.then(|| out.join("demo.live.otlp.json"));
    let recorder = start_recorder(app, &recording, live.as_deref(), args.backend, interrupt)?;
    eprintln!(
        "kspan demo: sending {} requests/s for {:?}…",
        args.rate, args.duration
    );
    let run = app.in_client(|| kspan_loadgen::run(&load));
    let stopped = stop_recorder(recorder, interrupt);
    let run = run.context("cannot run the load generator")??;
    stopped?;
    kspan_loadgen::write_jsonl(&app.truth_dir().join("loadgen.jsonl"), &run.records)?;
    eprintln!("kspan demo: load: {}", run.summary);
    Ok(recording)
}

/// Analyses the recording (slowest trees to stdout, OTLP to a file) and checks accuracy.
fn report(
    args: &DemoArgs,
    out: &std::path::Path,
    recording: &std::path::Path,
    config: &Config,
) -> anyhow::Result<()> {
    let otlp = out.join("demo.otlp.json");
    let recording_file = Recording::open(recording, &[])?;
    let context = recording_file.output_context(&["exceptions:page_fault_user".to_string()])?;
    let otlp_out = std::io::BufWriter::new(
        std::fs::File::create(&otlp)
            .with_context(|| format!("cannot create {}", otlp.display()))?,
    );
    let colour = std::io::stdout().is_terminal();
    let slowest = FilteredSink::new(
        TreeSink::new(std::io::stdout().lock(), context.clone(), colour),
        TraceFilter {
            slowest: Some(args.slowest),
            ..TraceFilter::default()
        },
    );
    let mut sink = Tee(OtlpJsonSink::new(otlp_out, context), slowest);
    println!("The {} slowest requests:\n", args.slowest);
    // The slowest traces are printed once the analysis is over: a bar may be drawn meanwhile.
    let progress = crate::progress::wanted(false);
    let outcome = recording_file.analyze(kspan_engine::Config::default(), &mut sink, progress)?;
    drop(sink);
    write_summary(&mut std::io::stdout().lock(), &outcome.summary)?;
    analyze_cmd::warn_lost(recording, &outcome, &mut std::io::stderr().lock())?;
    let report = kspan_truth::check(&otlp, &config.truth_dir, &CheckOptions::default())
        .context("cannot compare the traces with the ground truth")?;
    println!("{report}");
    println!(
        "recording: {}\ntraces (OTLP JSON): {}\nground truth: {}",
        recording.display(),
        otlp.display(),
        config.truth_dir.display()
    );
    if let Some(min) = args.min_accuracy {
        if outcome.lost() > 0 {
            bail!("{} events were lost while recording", outcome.lost());
        }
        if report.exact_tree_accuracy_pct < min {
            bail!(
                "exact-tree accuracy {:.1}% is below --min-accuracy {min}%",
                report.exact_tree_accuracy_pct
            );
        }
    }
    Ok(())
}
