//! The real `push-server` executable run the way an operator runs it, in a clean environment
//! (through the one launcher), and a tiny blocking HTTP/1.1 client to talk to it (no async runtime
//! needed in these tests).

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::{Command, ExitStatus, Output, Stdio},
    time::{Duration, Instant},
};

use crate::launcher::{self, Launch, Process};

/// An executable the tests run. Only the test crate knows where cargo put the server it built
/// (`env!("CARGO_BIN_EXE_push-server")` is set for integration tests alone), so each test binary
/// names it once: `const SERVER: Binary = Binary::new(env!("CARGO_BIN_EXE_push-server"));`.
#[derive(Debug, Clone, Copy)]
pub struct Binary(&'static str);

impl Binary {
    pub const fn new(path: &'static str) -> Self {
        Self(path)
    }

    pub fn path(&self) -> &'static str {
        self.0
    }

    /// A command with nothing from the machine's environment but `PATH`, run in `dir`.
    pub fn command(&self, dir: &Path) -> Command {
        launcher::clean_command(Path::new(self.0), dir)
    }

    /// Runs a one-shot command to completion.
    pub fn run(&self, dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = self.command(dir);
        c.args(args).envs(envs.iter().copied()).stdin(Stdio::null());
        c.output().expect("the binary runs")
    }

    /// The server in `dir`; adjust it, then [`start_with`].
    pub fn launch(&self, dir: &Path) -> Launch {
        Launch::new(self.0, dir)
    }

    /// Starts the server on a free loopback port with `envs` (beside HOST and PORT) and waits
    /// until it accepts connections.
    pub fn start(&self, dir: &Path, envs: &[(&str, &str)]) -> Server {
        start_with(self.launch(dir).envs(envs.iter().copied()))
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn free_port() -> u16 {
    launcher::free_port().expect("a free port")
}

/// Starts a launch or fails the test, saying why (with the end of the server's log).
pub fn start_with(launch: Launch) -> Server {
    Server(launch.start().unwrap_or_else(|e| panic!("{e}")))
}

/// A running server; killed when dropped. Its stdout lines are collected as they come, unless
/// the launch sent them elsewhere. It is a [`Process`] (port, pid, lines, `kill`) whose failures
/// panic, as a test wants.
pub struct Server(pub Process);

impl std::ops::Deref for Server {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.0
    }
}

impl Server {
    /// Waits until some stdout line satisfies `pred`, then returns all lines so far.
    pub fn wait_for_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.lines();
            if lines.iter().any(|l| pred(l)) {
                return lines;
            }
            assert!(Instant::now() < deadline, "no log line {what}; got:\n{}", lines.join("\n"));
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Asks the server to stop (SIGTERM, as `docker stop` does) and returns how long it took to
    /// exit, and how it exited.
    pub fn terminate(&mut self) -> (Duration, ExitStatus) {
        self.0.terminate(Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"))
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    assert!(
        !headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")),
        "this tiny client does not decode chunked bodies"
    );
    Reply { status, headers, body: body.to_owned() }
}

pub fn post_json(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    request(port, "POST", path, &all, body)
}

pub fn get(port: u16, path: &str) -> Reply {
    request(port, "GET", path, &[], "")
}
