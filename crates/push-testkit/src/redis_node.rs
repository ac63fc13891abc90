//! Redis processes a test starts and stops itself, for set-ups the test services do not provide or
//! that a test must be free to break (kill a master, pause a replica): a data node or a Sentinel
//! each, on a loopback port of the test's own, its files in the test's temporary directory.
//!
//! Every process is stopped (SIGKILL) when its handle is dropped, also when the test fails, so no
//! run leaves one behind. The ports come from the test services' range: `PUSH_TEST_PORT_BASE`
//! (27000 unless set, as in `scripts/test-services.sh`) plus 500 to 599, a block the script's
//! services never use, so runs given different bases stay apart here as they do there.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use redis::aio::MultiplexedConnection;

use crate::services::unavailable;

/// The port `offset` (below 100) of the block that tests' own Redis processes use.
pub fn own_port(offset: u16) -> u16 {
    assert!(offset < 100, "the tests' own Redis ports are 100");
    let base = std::env::var("PUSH_TEST_PORT_BASE").ok().and_then(|b| b.parse::<u16>().ok()).unwrap_or(27000);
    base + 500 + offset
}

/// Whether `redis-server` can be run here; `None` after a notice (or a failure, with
/// `PUSH_TEST_REQUIRE_SERVICES=1`) when it cannot.
pub fn redis_server_installed() -> Option<()> {
    match Command::new("redis-server").arg("--version").stdout(Stdio::null()).status() {
        Ok(status) if status.success() => Some(()),
        _ => unavailable("redis-server is not installed (scripts/test-services.sh installs it)")
            .map(|never| match never {}),
    }
}

/// One `redis-server` process (a data node or a Sentinel) that this test started.
pub struct RedisNode {
    port: u16,
    dir: PathBuf,
    sentinel: bool,
    /// The configuration lines beyond the common ones, kept for a restart.
    config: Vec<String>,
    child: Option<Child>,
    paused: bool,
}

impl RedisNode {
    /// Starts a data node on `port` with `config` (redis.conf lines such as `replicaof 127.0.0.1
    /// 27501`) and waits until it answers.
    pub async fn start(dir: &Path, port: u16, config: &[String]) -> RedisNode {
        Self::spawn(dir, port, config, false).await
    }

    /// Starts a Sentinel on `port` with `config` (its `sentinel monitor ...` lines) and waits until
    /// it answers. Its configuration is a file of its own, which it rewrites as it learns.
    pub async fn sentinel(dir: &Path, port: u16, config: &[String]) -> RedisNode {
        Self::spawn(dir, port, config, true).await
    }

    async fn spawn(dir: &Path, port: u16, config: &[String], sentinel: bool) -> RedisNode {
        let dir = dir.join(format!("redis-{port}"));
        std::fs::create_dir_all(&dir).expect("a directory for the node");
        let mut node = RedisNode { port, dir, sentinel, config: config.to_vec(), child: None, paused: false };
        node.run().await;
        node
    }

    async fn run(&mut self) {
        let conf = self.dir.join("redis.conf");
        let mut lines = vec![
            format!("port {}", self.port),
            "bind 127.0.0.1".to_owned(),
            "daemonize no".to_owned(),
            format!("dir {}", self.dir.display()),
            format!("logfile {}", self.log().display()),
        ];
        if !self.sentinel {
            lines.extend(["save \"\"".to_owned(), "appendonly no".to_owned()]);
        }
        lines.extend(self.config.iter().cloned());
        std::fs::write(&conf, lines.join("\n") + "\n").expect("the node's configuration");
        let mut command = Command::new("redis-server");
        command.arg(&conf);
        if self.sentinel {
            command.arg("--sentinel");
        }
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        self.child = Some(child.expect("redis-server starts"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("redis-server on :{} exited at start ({status}):\n{}", self.port, self.log_tail());
            }
            if let Ok(mut conn) = self.try_connect().await
                && redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server on :{} does not answer:\n{}", self.port, self.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn try_connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        let client = redis::Client::open(self.url())?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        client.get_multiplexed_async_connection_with_config(&config).await
    }

    /// A connection of the test's own, for commands past the server under test.
    pub async fn connect(&self) -> MultiplexedConnection {
        self.try_connect().await.unwrap_or_else(|e| panic!("connect to :{}: {e}", self.port))
    }

    /// Runs `cmd` on this node and returns its answer, or the error.
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        cmd.query_async(&mut self.try_connect().await?).await
    }

    /// `field` of `INFO section` (`role`, `connected_slaves`, `master_link_status`, ...), or `None`
    /// when the node does not answer or reports no such field.
    pub async fn info(&self, section: &str, field: &str) -> Option<String> {
        let info: String = self.query(redis::cmd("INFO").arg(section)).await.ok()?;
        info.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).map(|v| v.trim().to_owned())
    }

    /// SIGKILL: the process dies on the spot, without a goodbye to replicas or clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.resume();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the killed node again on its port and directory with `config` instead of its first
    /// configuration lines (say, as a replica of the node promoted meanwhile).
    pub async fn restart(&mut self, config: &[String]) {
        self.kill();
        self.config = config.to_vec();
        self.run().await;
    }

    /// SIGSTOP: the process keeps its connections but answers nothing until [`Self::resume`].
    pub fn pause(&mut self) {
        self.signal("STOP");
        self.paused = true;
    }

    pub fn resume(&mut self) {
        if self.paused {
            self.signal("CONT");
            self.paused = false;
        }
    }

    fn signal(&self, name: &str) {
        let Some(child) = &self.child else { return };
        let sent = Command::new("kill").args([format!("-{name}"), child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -{name} redis-server on :{}", self.port);
    }

    fn log(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            let kind = if self.sentinel { "Sentinel" } else { "Redis" };
            eprintln!("--- end of the log of {kind} :{} ---\n{}", self.port, self.log_tail());
        }
        self.kill();
    }
}
