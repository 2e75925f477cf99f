//! `kspan-demo-app up|down|status`: the demo application by hand.
//!
//! `up` brings the app up, prints where everything is, and keeps it up until SIGINT or
//! SIGTERM; `down` removes whatever a crashed run left behind; `status` lists what exists.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use kspan_demo::topology::Design;
use kspan_demo::{App, Config};

/// The kspan demo application (nginx, redis, memcached, PostgreSQL and our services on
/// network namespaces, with ground-truth logs).
#[derive(Parser)]
#[command(name = "kspan-demo-app", version)]
struct Args {
    /// Network namespace prefix.
    #[arg(long, default_value = "ksd", global = true)]
    prefix: String,
    /// Ground-truth directory [default: /run/kspan-demo/truth, or
    /// /run/kspan-demo/PREFIX/truth for another prefix].
    #[arg(long, global = true)]
    truth: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Bring the app up and keep it up until Ctrl-C (or SIGTERM), then bring it down.
    Up {
        /// Run every one of our services in this design (thread, pool, epoll, prefork or
        /// tokio) instead of the mix.
        #[arg(long)]
        design: Option<Design>,
        /// nginx worker processes.
        #[arg(long, default_value_t = 1)]
        nginx_workers: u32,
    },
    /// Remove every namespace, process and cgroup of the app.
    Down,
    /// List the app's namespaces and the pids in each service's cgroup.
    Status,
}

/// Blocks until SIGINT or SIGTERM arrives.
fn wait_for_stop_signal() {
    // SAFETY: the sigset is initialised by sigemptyset before use; blocking the two
    // signals in this thread and waiting for them touches no memory of ours otherwise.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut signal = 0;
        libc::sigwait(&set, &mut signal);
    }
}

fn run(args: Args) -> kspan_demo::Result<()> {
    let mut config = Config::with_prefix(&args.prefix);
    if let Some(truth) = args.truth {
        config.truth_dir = truth;
    }
    match args.command {
        Cmd::Up {
            design,
            nginx_workers,
        } => {
            let app = App::up(&Config {
                design,
                nginx_workers,
                ..config
            })?;
            println!(
                "gateway http://{} (from netns {})",
                app.gateway_addr(),
                app.client_netns()
            );
            println!("truth logs in {}", app.truth_dir().display());
            for host in app.hosts() {
                println!(
                    "{:<14} {:<20} {:<18} pids {:?}",
                    host.name,
                    host.netns,
                    host.addr.to_string(),
                    app.pids(host.name)
                );
            }
            println!("up; Ctrl-C to bring it down");
            wait_for_stop_signal();
            app.down()
        }
        Cmd::Down => kspan_demo::teardown(&config),
        Cmd::Status => {
            let hosts = kspan_demo::status(&config);
            if hosts.is_empty() {
                println!("down");
            }
            for (netns, pids) in hosts {
                println!("{netns:<20} pids {pids:?}");
            }
            Ok(())
        }
    }
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("kspan-demo-app: {e}");
        std::process::exit(1);
    }
}
