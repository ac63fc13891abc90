//! How the Redis dedup store reaches Redis: one node, a Cluster or a Sentinel-managed master,
//! each in the clear or over TLS, behind one connection type that the claims are written against.

use std::{path::PathBuf, time::Duration};

use redis::{
    AsyncConnectionConfig, Client, Cmd, IntoConnectionInfo, Pipeline, RedisFuture, TlsCertificates, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
};

use super::{replica_ack::ReplicaAcks, sentinel::SentinelConnection};

/// Where the Redis that holds the claims is.
#[derive(Debug, Clone)]
pub enum RedisTopology {
    /// One node (`redis://` or `rediss://`); with replicas, the master.
    Single(String),
    /// Seed nodes of a Redis Cluster; the rest of the topology is discovered from them.
    Cluster(Vec<String>),
    /// Sentinels watching the master named `master`. The first Sentinel URL's scheme (TLS or
    /// not), user, password and database apply to the master as well.
    Sentinel { sentinels: Vec<String>, master: String },
}

/// Everything the Redis dedup store needs to connect.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub topology: RedisTopology,
    /// Bound on connecting and on each command; past it the call fails (503), never hangs.
    pub timeout: Duration,
    /// A PEM file with the CA certificates that `rediss://` servers are checked against, instead
    /// of the system's trust store (for a private CA).
    pub ca_path: Option<PathBuf>,
    /// How many replicas must acknowledge each write of a claim (see `replica_ack`).
    pub replica_acks: ReplicaAcks,
}

impl RedisConfig {
    pub fn single(url: &str, timeout: Duration) -> Self {
        Self {
            topology: RedisTopology::Single(url.to_owned()),
            timeout,
            ca_path: None,
            replica_acks: ReplicaAcks::NONE,
        }
    }

    fn certificates(&self) -> Result<Option<TlsCertificates>, String> {
        let Some(path) = &self.ca_path else { return Ok(None) };
        let pem = std::fs::read(path).map_err(|e| format!("cannot read the Redis CA file {}: {e}", path.display()))?;
        Ok(Some(TlsCertificates { client_tls: None, root_cert: Some(pem) }))
    }

    /// A short description for the start-up log (no credentials).
    pub fn describe(&self) -> String {
        let tls = |url: &str| if url.starts_with("rediss://") { ", TLS" } else { "" };
        match &self.topology {
            RedisTopology::Single(url) => format!("one node{}", tls(url)),
            RedisTopology::Cluster(nodes) => {
                format!("Cluster, {} seed node(s){}", nodes.len(), nodes.first().map_or("", |n| tls(n)))
            }
            RedisTopology::Sentinel { sentinels, master } => format!(
                "Sentinel master '{master}' via {} Sentinel(s){}",
                sentinels.len(),
                sentinels.first().map_or("", |n| tls(n))
            ),
        }
    }
}

/// A connection to whichever Redis the topology names; cheap to clone, shared by all requests.
#[derive(Clone)]
pub enum RedisConnection {
    /// Reconnects by itself after the node went away.
    Single(ConnectionManager),
    /// Follows MOVED/ASK redirections and refreshes the slot map on topology changes.
    Cluster(ClusterConnection),
    /// Asks the Sentinels for the master again when it stopped being one.
    Sentinel(SentinelConnection),
}

impl RedisConnection {
    /// Connects and checks with a `PING` that Redis answers.
    pub async fn connect(config: &RedisConfig) -> Result<Self, String> {
        let timeout = config.timeout;
        let certificates = config.certificates()?;
        let invalid = |what: &str, e: redis::RedisError| format!("invalid {what}: {e}");
        let mut conn = match &config.topology {
            RedisTopology::Single(url) => {
                let client = match certificates {
                    Some(certs) => Client::build_with_tls(url.as_str(), certs),
                    None => Client::open(url.as_str()),
                }
                .map_err(|e| invalid("REDIS_URL", e))?;
                let manager = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    // Few, quick reconnect attempts: while Redis is down each request fails fast
                    // with 503, and the next request starts another reconnect, so recovery
                    // follows Redis's return.
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(timeout);
                let connecting = ConnectionManager::new_with_config(client, manager);
                Self::Single(bounded_start(timeout * 3, connecting).await?)
            }
            RedisTopology::Cluster(nodes) => {
                let nodes: Vec<_> = nodes
                    .iter()
                    .map(|n| n.as_str().into_connection_info())
                    .collect::<Result<_, _>>()
                    .map_err(|e| invalid("REDIS_CLUSTER_NODES", e))?;
                let mut builder = ClusterClientBuilder::new(nodes)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    // Redirections and slot refreshes are retried quickly; our own deadline
                    // bounds the whole call anyway.
                    .retries(4)
                    .min_retry_wait(10)
                    .max_retry_wait(timeout.as_millis().try_into().unwrap_or(u64::MAX));
                if let Some(certs) = certificates {
                    builder = builder.certs(certs);
                }
                let client = builder.build().map_err(|e| invalid("REDIS_CLUSTER_NODES", e))?;
                Self::Cluster(bounded_start(timeout * 3, client.get_async_connection()).await?)
            }
            RedisTopology::Sentinel { sentinels, master } => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout));
                Self::Sentinel(SentinelConnection::new(sentinels, master, certificates, config)?)
            }
        };
        let ping = async { redis::cmd("PING").query_async::<String>(&mut conn).await };
        bounded_start(timeout * 3, ping).await?;
        Ok(conn)
    }
}

async fn bounded_start<T>(limit: Duration, work: impl Future<Output = redis::RedisResult<T>>) -> Result<T, String> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("cannot connect to Redis: {e}")),
        Err(_) => Err(format!("cannot connect to Redis: no answer within {limit:?}")),
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
        }
    }
}
