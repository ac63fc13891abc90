//! Starts the `push-server` binary as a child process, the one way every harness does it: a clean
//! environment, a free loopback port, output where the caller wants it, a wait until it listens
//! (or answers `/health`), and SIGTERM/SIGKILL to stop it. Its memory is read from `/proc`.
//!
//! Shared by push-bench and the tests (through [`crate::binary`]), so it returns errors instead of
//! panicking: the benchmark reports a server that will not start as a failed run, a test turns
//! the error into a panic.

use std::{
    ffi::OsString,
    fs::File,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A command with nothing from the machine's environment but `PATH`, run in `dir`: no `.env`
/// (the working directory is the caller's temporary one), no stray `DATABASE_URL` or `RUST_LOG`
/// from the shell, so what runs is exactly what the caller set.
pub fn clean_command(program: &Path, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    c
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Where one of the child's output streams goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Null,
    /// The caller's own stream (shown by the test runner).
    Inherit,
    /// A file, created (or truncated) at start. Naming the same file for stdout and stderr writes
    /// both into it in the order they happen.
    File(PathBuf),
    /// Kept line by line in memory, readable with [`Process::lines`].
    Lines,
}

/// When a started server counts as up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// It accepts TCP connections.
    Listening,
    /// `GET /health` answers 200: the stores it was configured with are reachable.
    Healthy,
}

/// How to start the server: build with [`Launch::new`], then [`Launch::start`].
pub struct Launch {
    program: PathBuf,
    /// A command the server runs under, such as `taskset -c 1` (it must exec the server, so the
    /// process id stays the server's).
    prefix: Vec<OsString>,
    dir: PathBuf,
    envs: Vec<(OsString, OsString)>,
    stdout: Sink,
    stderr: Sink,
    ready: Ready,
    timeout: Duration,
}

impl Launch {
    /// `program` in `dir` with a clean environment, listening on `127.0.0.1` and a free port;
    /// stdout kept as lines, stderr shown; up once it listens, within 30 s.
    pub fn new(program: impl Into<PathBuf>, dir: &Path) -> Self {
        Self {
            program: program.into(),
            prefix: Vec::new(),
            dir: dir.to_owned(),
            envs: Vec::new(),
            stdout: Sink::Lines,
            stderr: Sink::Inherit,
            ready: Ready::Listening,
            timeout: Duration::from_secs(30),
        }
    }

    pub fn prefix<S: Into<OsString>>(mut self, command: impl IntoIterator<Item = S>) -> Self {
        self.prefix = command.into_iter().map(Into::into).collect();
        self
    }

    /// Sets one variable; later settings of the same name win.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn envs<K: Into<OsString>, V: Into<OsString>>(mut self, envs: impl IntoIterator<Item = (K, V)>) -> Self {
        self.envs.extend(envs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    pub fn stdout(mut self, sink: Sink) -> Self {
        self.stdout = sink;
        self
    }

    pub fn stderr(mut self, sink: Sink) -> Self {
        self.stderr = sink;
        self
    }

    /// stdout and stderr both into one file, interleaved as written.
    pub fn output(self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.stdout(Sink::File(path.clone())).stderr(Sink::File(path))
    }

    pub fn ready(mut self, ready: Ready) -> Self {
        self.ready = ready;
        self
    }

    /// Spawns the server and waits until it is up. An error says why, with the end of its log
    /// when there is one.
    pub fn start(self) -> Result<Process, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let mut command = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = clean_command(Path::new(first), &self.dir);
                c.args(rest).arg(&self.program);
                c
            }
            None => clean_command(&self.program, &self.dir),
        };
        command
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        let (stdout, stderr) = self.stdio()?;
        let mut child = command
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.program.display()))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>);
        let err = child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>);
        for pipe in [out, err].into_iter().flatten() {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let log = [&self.stdout, &self.stderr].into_iter().find_map(|s| match s {
            Sink::File(path) => Some(path.clone()),
            _ => None,
        });
        let mut process = Process { child, port, lines, log };
        process.wait_ready(self.ready, self.timeout)?;
        Ok(process)
    }

    fn stdio(&self) -> Result<(Stdio, Stdio), String> {
        let open = |path: &Path| File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()));
        match (&self.stdout, &self.stderr) {
            // One file handle for both, so neither stream overwrites the other.
            (Sink::File(out), Sink::File(err)) if out == err => {
                let file = open(out)?;
                let copy = file.try_clone().map_err(|e| e.to_string())?;
                Ok((file.into(), copy.into()))
            }
            (out, err) => Ok((Self::one(out, open)?, Self::one(err, open)?)),
        }
    }

    fn one(sink: &Sink, open: impl Fn(&Path) -> Result<File, String>) -> Result<Stdio, String> {
        Ok(match sink {
            Sink::Null => Stdio::null(),
            Sink::Inherit => Stdio::inherit(),
            Sink::File(path) => open(path)?.into(),
            Sink::Lines => Stdio::piped(),
        })
    }
}

/// A running server; killed (SIGKILL) when dropped if it is still running, so a failing test
/// leaves no process behind.
pub struct Process {
    child: Child,
    pub port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    log: Option<PathBuf>,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The lines of the streams kept with [`Sink::Lines`] so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The file the output goes to, when it goes to one.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// The last lines of the log file (or of the kept lines).
    pub fn log_tail(&self, count: usize) -> String {
        let text = match &self.log {
            Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
            None => self.lines().join("\n"),
        };
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(count)..].join("\n")
    }

    /// How the server exited, if it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn wait_ready(&mut self, ready: Ready, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!("the server exited during start-up ({status}):\n{}", self.log_tail(20)));
            }
            let up = match ready {
                Ready::Listening => TcpStream::connect(self.addr()).is_ok(),
                Ready::Healthy => health_status(self.addr()) == Some(200),
            };
            if up {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the server was not up within {timeout:?}:\n{}", self.log_tail(20)));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sends SIGTERM (as `docker stop` does) and waits up to `within` for the exit: how long it
    /// took and how it exited. The server is left running if it ignores the signal.
    pub fn terminate(&mut self, within: Duration) -> Result<(Duration, ExitStatus), String> {
        let started = Instant::now();
        signal(self.pid(), "TERM")?;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok((started.elapsed(), status));
            }
            if started.elapsed() > within {
                return Err(format!("the server did not stop within {within:?} of SIGTERM"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL if the server has not exited after `grace`: a stop that always ends,
    /// with every log line written when the server shuts down in time.
    pub fn stop(&mut self, grace: Duration) {
        if self.exit_status().is_none() && self.terminate(grace).is_err() {
            self.kill();
        }
    }

    /// SIGKILL (no shutdown, no flush) and wait until the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exit_status().is_none() {
            self.kill();
        }
    }
}

fn signal(pid: u32, name: &str) -> Result<(), String> {
    // `kill(1)` rather than a libc dependency: one signal per test is not worth one.
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("kill: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("kill -{name} {pid} failed")) }
}

/// The status code of `GET /health`, or `None` when nothing answers.
fn health_status(addr: SocketAddr) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = String::new();
    BufReader::new(s).read_line(&mut head).ok()?;
    head.split(' ').nth(1)?.parse().ok()
}

/// `VmRSS` (resident now) and `VmHWM` (peak) of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

/// Reads a process's memory from `/proc/PID/status`; `None` once it is gone (or off Linux).
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
