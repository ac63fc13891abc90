//! The server under test: started as a child process (pinned to its own core when `taskset` is
//! there) with a benchmark configuration, or an already running one named by `--url`; and its
//! memory, read from `/proc/PID/status`.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A server process this benchmark started; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Spawned {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    /// Holds the database file and the log; removed when the server is stopped.
    dir: PathBuf,
}

/// How to start the server.
pub struct Launch<'a> {
    pub binary: &'a Path,
    /// `taskset -c` CPU list for the server, when pinning.
    pub cpus: Option<&'a str>,
    pub relay_public_key: Option<String>,
    pub validate_signatures: bool,
    pub database_url: Option<&'a str>,
    pub redis_url: Option<&'a str>,
    /// Extra `KEY=VALUE` settings, applied last.
    pub extra_env: &'a [String],
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn taskset_available() -> bool {
    Command::new("taskset").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Pins every thread of this process to `cpus` (done before any worker thread starts).
pub fn pin_self(cpus: &str) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("taskset -c {cpus} failed for the benchmark process")) }
}

impl Spawned {
    pub fn start(launch: &Launch<'_>) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("push-bench-{}-{:08x}", std::process::id(), fastrand::u32(..)));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let log = dir.join("server.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut command = match launch.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).arg(launch.binary);
                c
            }
            None => Command::new(launch.binary),
        };
        // A clean environment, so nothing from the shell (or a .env) changes what is measured.
        // The working directory is the temp dir, which has no .env file.
        command
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            // Per-delivery info lines (the log sink's and the use case's) would measure the
            // terminal, not the server; warnings and errors still show.
            .env("RUST_LOG", "warn")
            // The register scenario sends thousands of registrations per second from one address.
            .env("RATE_LIMIT_PER_MINUTE", "0")
            .env("VALIDATE_SIGNATURES", if launch.validate_signatures { "true" } else { "false" })
            .env(
                "DATABASE_URL",
                launch
                    .database_url
                    .map_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()), str::to_owned),
            );
        if let Some(key) = &launch.relay_public_key {
            command.env("RELAY_PUBLIC_KEY", key);
        }
        if let Some(url) = launch.redis_url {
            command.env("REDIS_URL", url);
        }
        for pair in launch.extra_env {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| format!("--server-env wants KEY=VALUE, got '{pair}'"))?;
            command.env(key, value);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", launch.binary.display()))?;
        let mut spawned = Self { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log, dir };
        spawned.wait_ready()?;
        Ok(spawned)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the server exited during start-up ({status}):\n{}", self.log_tail()));
            }
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the server did not listen within 30 s:\n{}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(reason)` when the server has exited (it should not, during a run).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("the server exited during the run ({status}):\n{}", self.log_tail())),
            _ => None,
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Lines at WARN or above that the server logged, apart from the expected start-up notice
    /// about signature checks being off.
    pub fn unexpected_log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| (l.contains("WARN") || l.contains("ERROR")) && !l.contains("SIGNATURE CHECKS ARE OFF"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut stopped = false;
        while !stopped && Instant::now() < deadline {
            stopped = matches!(self.child.try_wait(), Ok(Some(_)));
            std::thread::sleep(Duration::from_millis(20));
        }
        if !stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::env::var_os("PUSH_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some(Memory { rss_kib: field("VmRSS:")?, peak_kib: field("VmHWM:")? })
}

/// User plus system CPU time a process has used so far, in seconds (from `/proc/PID/stat`).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start with the state, field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture this runs on.
    Some((user + system) as f64 / 100.0)
}
