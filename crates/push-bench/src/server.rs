//! The server under test: started as a child process (pinned to its own core when `taskset` is
//! there) with a benchmark configuration, or an already running one named by `--url`; and its
//! memory, read from `/proc/PID/status`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use push_testkit::launcher::{self, Process, Sink};
pub use push_testkit::launcher::{Memory, memory};

/// A server process this benchmark started; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Spawned {
    process: Process,
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

pub fn taskset_available() -> bool {
    Command::new("taskset").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Pins every thread of this process to `cpus` (done before any worker thread starts).
pub fn pin_self(cpus: &str) -> Result<(), String> {
    // `taskset -a` lists the threads, then pins each: a thread that ends in between (the signing
    // threads, or one the standard library used for the server's start) fails the whole call,
    // so it is tried again; the threads that stay are the ones that matter.
    for _ in 0..5 {
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("taskset: {e}"))?;
        if status.success() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("taskset -c {cpus} failed for the benchmark process"))
}

impl Spawned {
    pub fn start(launch: &Launch<'_>) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("push-bench-{}-{:08x}", std::process::id(), fastrand::u32(..)));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let log = dir.join("server.log");
        // The launcher's clean environment, so nothing from the shell (or a .env) changes what is
        // measured; the working directory is the temp dir, which has no .env file.
        let mut server = launcher::Launch::new(launch.binary, &dir)
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
            )
            .stdout(Sink::Null)
            .stderr(Sink::File(log.clone()));
        if let Some(cpus) = launch.cpus {
            // `-a`: every thread. The server's threads inherit the affinity from the start, and
            // `check_pinned` checks each after start-up: a server pinned by its main thread only
            // keeps tokio's workers on every core, and measures more than one core.
            server = server.prefix(["taskset", "-a", "-c", cpus]);
        }
        if let Some(key) = &launch.relay_public_key {
            server = server.env("RELAY_PUBLIC_KEY", key);
        }
        if let Some(url) = launch.redis_url {
            server = server.env("REDIS_URL", url);
        }
        for pair in launch.extra_env {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| format!("--server-env wants KEY=VALUE, got '{pair}'"))?;
            server = server.env(key, value);
        }
        let process = server.start()?;
        if let Some(cpus) = launch.cpus {
            check_pinned(process.pid(), cpus)?;
        }
        Ok(Self { addr: process.addr(), process, log, dir })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `Some(reason)` when the server has exited (it should not, during a run).
    pub fn exited(&mut self) -> Option<String> {
        let status = self.process.exit_status()?;
        Some(format!("the server exited during the run ({status}):\n{}", self.process.log_tail(20)))
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
        self.process.stop(Duration::from_secs(5));
        if std::env::var_os("PUSH_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
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

/// Fails unless every thread of `pid` may run on exactly the cores `cpus` names (as
/// `/proc/PID/task/*/status` lists them: "0", "2-3", "0,2").
pub fn check_pinned(pid: u32, cpus: &str) -> Result<(), String> {
    let tasks =
        std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| format!("cannot list the server's threads: {e}"))?;
    let wanted = cpu_set(cpus)?;
    let mut unpinned = Vec::new();
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
        let allowed = status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:")).map(str::trim);
        if allowed.map(cpu_set) != Some(Ok(wanted.clone())) {
            unpinned.push(format!("thread {} on {}", task.file_name().to_string_lossy(), allowed.unwrap_or("?")));
        }
    }
    if unpinned.is_empty() {
        Ok(())
    } else {
        Err(format!("the server is not pinned to cores {cpus}: {}", unpinned.join(", ")))
    }
}

/// The cores of a `taskset -c` list, in order.
fn cpu_set(list: &str) -> Result<Vec<u32>, String> {
    let mut cores = Vec::new();
    for part in list.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let number = |text: &str| text.parse::<u32>().map_err(|_| format!("'{list}' is not a CPU list"));
        match part.split_once('-') {
            Some((first, last)) => cores.extend(number(first)?..=number(last)?),
            None => cores.push(number(part)?),
        }
    }
    cores.sort_unstable();
    cores.dedup();
    Ok(cores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_read_as_taskset_and_proc_write_them() {
        assert_eq!(cpu_set("0"), Ok(vec![0]));
        assert_eq!(cpu_set("0-2,5"), Ok(vec![0, 1, 2, 5]));
        assert_eq!(cpu_set("3,1"), Ok(vec![1, 3]));
        assert!(cpu_set("a").is_err());
    }

    #[test]
    fn this_process_is_pinned_exactly_to_the_cores_it_may_use() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let allowed =
            status.lines().find_map(|line| line.strip_prefix("Cpus_allowed_list:")).unwrap().trim().to_owned();
        let pid = std::process::id();
        assert_eq!(check_pinned(pid, &allowed), Ok(()));
        let fewer = cpu_set(&allowed).unwrap();
        if fewer.len() > 1 {
            assert!(check_pinned(pid, &fewer[0].to_string()).is_err());
        }
    }
}
