//! Bringing the whole application up and down: namespaces, bridge, cgroups, stores,
//! services and the gateway, and leaving nothing behind.

use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::cgroup;
use crate::error::{io_err, Error, Result};
use crate::launch;
use crate::netns;
use crate::stores;
use crate::topology::{host_named, Design, Host, Role, HOSTS};

/// How to bring the app up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Prefix of the network namespaces: `<prefix>-<host>` and `<prefix>-net`.
    pub prefix: String,
    /// The cgroup under which each service gets its own group.
    pub cgroup_root: PathBuf,
    /// Ground-truth directory (created; old `<host>.jsonl` and `loadgen.jsonl` files in
    /// it are removed at start; it is kept at `down`).
    pub truth_dir: PathBuf,
    /// The `kspan-demo-svc` binary; `None`: next to the current executable (or one
    /// directory up, for test executables in `deps/`).
    pub svc_bin: Option<PathBuf>,
    /// nginx worker processes.
    pub nginx_workers: u32,
    /// Run every one of our services in this design instead of the topology's mix (for
    /// single-design accuracy runs).
    pub design: Option<Design>,
    /// How long to wait for every process to serve.
    pub ready_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            prefix: "ksd".to_string(),
            cgroup_root: PathBuf::from("/sys/fs/cgroup/unified/kspan-demo"),
            truth_dir: PathBuf::from("/run/kspan-demo/truth"),
            svc_bin: None,
            nginx_workers: 1,
            design: None,
            ready_timeout: Duration::from_secs(15),
        }
    }
}

impl Config {
    /// The default configuration with another namespace prefix, so that a second
    /// instance (e.g. a test) does not collide: its cgroup root is
    /// `kspan-demo-<prefix>` and its truth directory `/run/kspan-demo/<prefix>/truth`.
    pub fn with_prefix(prefix: &str) -> Config {
        let default = Config::default();
        if prefix == default.prefix {
            return default;
        }
        Config {
            prefix: prefix.to_string(),
            cgroup_root: default
                .cgroup_root
                .with_file_name(format!("kspan-demo-{prefix}")),
            truth_dir: PathBuf::from(format!("/run/kspan-demo/{prefix}/truth")),
            ..default
        }
    }
}

/// One host of a running app.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    /// Service name.
    pub name: &'static str,
    /// What runs there.
    pub role: Role,
    /// Its network namespace.
    pub netns: String,
    /// Its cgroup directory (`None` for the client).
    pub cgroup: Option<PathBuf>,
    /// Its serving address.
    pub addr: SocketAddrV4,
}

/// The running application. Dropping it (also on panic) tears everything down.
#[derive(Debug)]
pub struct App {
    config: Config,
    workdir: PathBuf,
    hosts: Vec<HostInfo>,
    children: Vec<(&'static str, Child, PathBuf)>,
    up: bool,
}

/// Finds `kspan-demo-svc` next to the current executable or one directory up.
fn find_svc_bin(config: &Config) -> Result<PathBuf> {
    if let Some(bin) = &config.svc_bin {
        return if bin.exists() {
            Ok(bin.clone())
        } else {
            Err(Error::NoServiceBinary(bin.clone()))
        };
    }
    let exe = std::env::current_exe().map_err(io_err("find the current executable"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates = [dir.join("kspan-demo-svc"), dir.join("../kspan-demo-svc")];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| Error::NoServiceBinary(candidates[0].clone()))
}

impl App {
    /// Brings the whole app up and waits until every host serves. On failure, what was
    /// started is torn down before the error is returned.
    pub fn up(config: &Config) -> Result<App> {
        stores::check_installed()?;
        let svc_bin = find_svc_bin(config)?;
        let bridge = format!("{}-net", config.prefix);
        if netns::exists(&bridge) {
            return Err(Error::AlreadyUp(bridge));
        }
        let mut app = App {
            config: config.clone(),
            workdir: workdir(config),
            hosts: Vec::new(),
            children: Vec::new(),
            up: true,
        };
        std::fs::create_dir_all(&app.workdir)
            .map_err(io_err(format!("create {}", app.workdir.display())))?;
        app.reset_truth_dir()?;
        // initdb takes seconds: it runs while the network is built.
        let (data, initdb_log) = (app.pg_data(), app.workdir.join("initdb.log"));
        std::thread::scope(|s| {
            let initdb = s.spawn(|| match HOSTS.iter().find(|h| h.role == Role::Postgres) {
                Some(pg) => stores::init_postgres(pg, &data, &initdb_log),
                None => Ok(()),
            });
            let network = app.build_network(&bridge);
            let initdb = initdb
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            network.and(initdb)
        })?;
        app.start_all(&svc_bin)?;
        app.wait_ready()?;
        Ok(app)
    }

    fn pg_data(&self) -> PathBuf {
        self.workdir.join("pgdata")
    }

    fn build_network(&mut self, bridge: &str) -> Result<()> {
        netns::create_bridge(bridge)?;
        for (i, host) in HOSTS.iter().enumerate() {
            self.add_host(bridge, i, host)?;
        }
        Ok(())
    }

    fn reset_truth_dir(&self) -> Result<()> {
        let dir = &self.config.truth_dir;
        std::fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        let names = HOSTS.iter().map(|h| h.name).chain(["loadgen"]);
        for name in names {
            let file = dir.join(format!("{name}.jsonl"));
            if file.exists() {
                std::fs::remove_file(&file)
                    .map_err(io_err(format!("remove {}", file.display())))?;
            }
        }
        Ok(())
    }

    fn add_host(&mut self, bridge: &str, index: usize, host: &'static Host) -> Result<()> {
        let ns = format!("{}-{}", self.config.prefix, host.name);
        self.hosts.push(HostInfo {
            name: host.name,
            role: self.role_of(host),
            netns: ns.clone(),
            cgroup: (host.role != Role::Client).then(|| self.config.cgroup_root.join(host.name)),
            addr: host.addr(),
        });
        netns::attach_host(
            bridge,
            &ns,
            &format!("h{index}"),
            &format!("{}/24", host.ip()),
        )?;
        match &self.hosts[self.hosts.len() - 1].cgroup {
            Some(dir) => cgroup::create(dir),
            None => Ok(()),
        }
    }

    fn start_all(&mut self, svc_bin: &Path) -> Result<()> {
        let work = self.workdir.clone();
        for host in HOSTS {
            let cmd = match self.role_of(host) {
                Role::Client => continue,
                Role::Gateway => {
                    let conf = work.join("nginx.conf");
                    let text = stores::nginx_conf(
                        host,
                        &work,
                        &self.config.truth_dir,
                        self.config.nginx_workers,
                    );
                    std::fs::write(&conf, text)
                        .map_err(io_err(format!("write {}", conf.display())))?;
                    stores::nginx_command(&work, &conf)
                }
                Role::Redis => stores::redis_command(host, &work),
                Role::Memcached => stores::memcached_command(host),
                Role::Postgres => stores::postgres_command(&self.pg_data()),
                Role::Service(design) => self.service_command(svc_bin, host, design),
            };
            self.spawn(host, cmd)?;
        }
        Ok(())
    }

    /// The host's role, with the configured design override applied to our services.
    fn role_of(&self, host: &Host) -> Role {
        match (host.role, self.config.design) {
            (Role::Service(_), Some(design)) => Role::Service(design),
            (role, _) => role,
        }
    }

    fn service_command(&self, svc_bin: &Path, host: &Host, design: Design) -> Command {
        let mut cmd = Command::new(svc_bin);
        cmd.args([
            "--design",
            design.name(),
            "--name",
            host.name,
            "--listen",
            &host.addr().to_string(),
        ])
        .arg("--truth")
        .arg(&self.config.truth_dir);
        for target in host.downstreams.iter().filter_map(|d| host_named(d)) {
            cmd.arg("--downstream")
                .arg(format!("{}={}", target.name, target.addr()));
        }
        cmd
    }

    fn info(&self, name: &str) -> Result<&HostInfo> {
        self.host(name).ok_or_else(|| Error::Io {
            action: format!("find host {name}"),
            source: std::io::ErrorKind::NotFound.into(),
        })
    }

    fn spawn(&mut self, host: &'static Host, cmd: Command) -> Result<()> {
        let info = self.info(host.name)?;
        let cgroup = info.cgroup.clone().unwrap_or_default();
        let log = self.workdir.join(format!("{}.log", host.name));
        let child = launch::spawn(cmd, &info.netns, &cgroup, &log)?;
        self.children.push((host.name, child, log));
        Ok(())
    }

    /// Waits until every started host accepts connections (PostgreSQL: answers queries,
    /// then gets its schema), checked from the client namespace; fails as soon as one of
    /// the processes exits.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.config.ready_timeout;
        let client = self.client_netns();
        let targets: Vec<(&'static str, Role, SocketAddr)> = self
            .hosts
            .iter()
            .filter(|h| h.role != Role::Client)
            .map(|h| (h.name, h.role, h.addr.into()))
            .collect();
        for (name, role, addr) in targets {
            while !netns::run_in(&client, || match role {
                Role::Postgres => stores::pg_exec(addr, stores::SCHEMA).is_ok(),
                _ => TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok(),
            })? {
                let log = self.workdir.join(format!("{name}.log"));
                let exited = self.children.iter_mut().find_map(|(n, c, _)| {
                    if *n == name {
                        c.try_wait().ok().flatten()
                    } else {
                        None
                    }
                });
                if let Some(status) = exited {
                    let tail = launch::log_tail(&log);
                    return Err(Error::Exited {
                        service: name.to_string(),
                        status: status.to_string(),
                        log,
                        tail,
                    });
                }
                if Instant::now() > deadline {
                    return Err(Error::NotReady {
                        service: name.to_string(),
                        addr: addr.to_string(),
                        secs: self.config.ready_timeout.as_secs(),
                        tail: launch::log_tail(&log),
                        log,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Every host (including the client and the bridge-less hosts), in topology order.
    pub fn hosts(&self) -> &[HostInfo] {
        &self.hosts
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&HostInfo> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The current pids of every process of `name` (forked children included).
    pub fn pids(&self, name: &str) -> Vec<i32> {
        self.host(name)
            .and_then(|h| h.cgroup.as_deref())
            .map(cgroup::pids)
            .unwrap_or_default()
    }

    /// The gateway's address (10.77.0.10:80), reachable from the client namespace.
    pub fn gateway_addr(&self) -> SocketAddrV4 {
        host_named("gateway").map_or(SocketAddrV4::new([10, 77, 0, 10].into(), 80), |h| h.addr())
    }

    /// The temporary directory with the generated configurations, the processes' logs and
    /// the PostgreSQL cluster (removed at `down`).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The ground-truth directory.
    pub fn truth_dir(&self) -> &Path {
        &self.config.truth_dir
    }

    /// The load generator's network namespace (`<prefix>-client`, 10.77.0.2).
    pub fn client_netns(&self) -> String {
        format!("{}-client", self.config.prefix)
    }

    /// The namespace holding the bridge (`<prefix>-net`).
    pub fn bridge_netns(&self) -> String {
        format!("{}-net", self.config.prefix)
    }

    /// The cgroup root holding one group per service.
    pub fn cgroup_root(&self) -> &Path {
        &self.config.cgroup_root
    }

    /// Runs `f` on a thread inside the client namespace (e.g. to send requests).
    pub fn in_client<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        netns::run_in(&self.client_netns(), f)
    }

    /// Kills every process of host `name` (to test failure handling); the rest keeps running.
    pub fn stop(&mut self, name: &str) -> Result<()> {
        if let Some(dir) = self.info(name)?.cgroup.clone() {
            cgroup::kill_all(&dir)?;
        }
        for (_, child, _) in self.children.iter_mut().filter(|(n, _, _)| *n == name) {
            let _ = child.wait();
        }
        Ok(())
    }

    /// Freezes (`true`) or thaws every process of host `name` (cgroup freezer): a frozen
    /// host still completes TCP handshakes but never answers, so its callers time out.
    pub fn set_frozen(&self, name: &str, frozen: bool) -> Result<()> {
        match &self.info(name)?.cgroup {
            Some(dir) => cgroup::set_frozen(dir, frozen),
            None => Ok(()),
        }
    }

    /// Tears everything down: processes, cgroups, namespaces, the work directory (the
    /// truth directory is kept).
    pub fn down(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.up) {
            return Ok(());
        }
        let result = teardown(&self.config);
        for (_, child, _) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
        let work = std::fs::remove_dir_all(&self.workdir)
            .map_err(io_err(format!("remove {}", self.workdir.display())));
        result.and(work)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("kspan-demo: teardown: {e}");
        }
    }
}

/// The work directory (configuration files, PostgreSQL's data) of the app this process
/// brings up with `config`; [`App::down`] removes it, [`teardown`] does not.
pub fn workdir(config: &Config) -> PathBuf {
    std::env::temp_dir().join(format!(
        "kspan-demo-{}-{}",
        config.prefix,
        std::process::id()
    ))
}

/// Removes every trace of an app with `config`'s prefix and cgroup root, whether or not
/// this process started it: kills its cgroups' processes, removes the cgroups and the
/// `<prefix>-*` namespaces of the topology.
pub fn teardown(config: &Config) -> Result<()> {
    let cgroups = cgroup::remove_tree(&config.cgroup_root);
    let mut result = Ok(());
    for name in HOSTS.iter().map(|h| h.name).chain(["net"]) {
        let ns = format!("{}-{name}", config.prefix);
        if let Err(e) = netns::delete(&ns) {
            result = Err(e);
        }
    }
    cgroups.and(result)
}

/// What exists of an app with `config`'s prefix: (network namespace, pids in its cgroup)
/// for every host whose namespace exists.
pub fn status(config: &Config) -> Vec<(String, Vec<i32>)> {
    HOSTS
        .iter()
        .map(|h| {
            (
                format!("{}-{}", config.prefix, h.name),
                cgroup::pids(&config.cgroup_root.join(h.name)),
            )
        })
        .filter(|(ns, _)| netns::exists(ns))
        .collect()
}
