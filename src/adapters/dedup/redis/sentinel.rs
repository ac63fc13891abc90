//! A connection to the master of a Sentinel-managed Redis that follows failovers by itself.
//!
//! The Sentinels are asked for the master once, and again only after the connection to it failed
//! in a way that says it may no longer be the master: the connection broke or was refused, it
//! stopped answering, or it answered `READONLY` (a demoted master that came back as a replica).
//! Until the Sentinels have promoted a replica, asking them still names the dead master (whose
//! role check then fails), so calls fail fast with 503; the first call after the promotion finds
//! the new master, with no restart and no operator.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, RedisResult,
    TlsCertificates, TlsMode, Value,
    aio::{ConnectionLike, MultiplexedConnection},
    sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType},
};

#[derive(Clone)]
pub struct SentinelConnection {
    shared: Arc<Shared>,
}

struct Shared {
    /// One lookup at a time: concurrent callers wait for it and share its result.
    sentinels: tokio::sync::Mutex<SentinelClient>,
    /// The master's connection and its generation, so that a caller holding a failed connection
    /// forgets that one and not a newer one that another caller found meanwhile.
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
    config: AsyncConnectionConfig,
    db: i64,
}

impl SentinelConnection {
    /// Builds the Sentinel client; connects lazily, on the first command.
    pub fn new(
        sentinels: &[String],
        master: &str,
        certificates: Option<TlsCertificates>,
        config: AsyncConnectionConfig,
    ) -> Result<Self, String> {
        let invalid = |e: RedisError| format!("invalid REDIS_SENTINELS: {e}");
        let infos: Vec<_> =
            sentinels.iter().map(|s| s.as_str().into_connection_info()).collect::<Result<_, _>>().map_err(invalid)?;
        let first = infos.first().ok_or("REDIS_SENTINELS names no Sentinel")?;
        let tls = matches!(first.addr(), ConnectionAddr::TcpTls { .. });
        let settings = first.redis_settings().clone();
        let mut builder =
            SentinelClientBuilder::new(infos.iter().map(|i| i.addr().clone()), master, SentinelServerType::Master)
                .map_err(invalid)?;
        if let Some(user) = settings.username() {
            builder = builder.set_client_to_sentinel_username(user).set_client_to_redis_username(user);
        }
        if let Some(password) = settings.password() {
            builder = builder.set_client_to_sentinel_password(password).set_client_to_redis_password(password);
        }
        builder = builder.set_client_to_redis_db(settings.db());
        if tls {
            builder =
                builder.set_client_to_sentinel_tls_mode(TlsMode::Secure).set_client_to_redis_tls_mode(TlsMode::Secure);
            if let Some(certs) = certificates {
                builder =
                    builder.set_client_to_sentinel_certificates(certs.clone()).set_client_to_redis_certificates(certs);
            }
        }
        let client = builder.build().map_err(invalid)?;
        Ok(Self {
            shared: Arc::new(Shared {
                sentinels: tokio::sync::Mutex::new(client),
                current: Mutex::new(None),
                generation: AtomicU64::new(0),
                config,
                db: settings.db(),
            }),
        })
    }

    fn cached(&self) -> Option<(u64, MultiplexedConnection)> {
        self.shared.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The master's connection: the cached one, or a new one to the master the Sentinels name now.
    async fn master(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        let mut sentinels = self.shared.sentinels.lock().await;
        // Another caller may have found it while this one waited.
        if let Some(found) = self.cached() {
            return Ok(found);
        }
        let client = sentinels.async_get_client().await?;
        let conn = client.get_multiplexed_async_connection_with_config(&self.shared.config).await?;
        let generation = self.shared.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *self.shared.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// Drops the connection of `generation` after it failed, so the next call asks the Sentinels.
    fn forget(&self, generation: u64) {
        let mut current = self.shared.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
        }
    }

    /// Runs `run` on the master's connection, and forgets that connection when `moved` says from
    /// the outcome that it may no longer lead to the master.
    async fn with_master<T>(
        &self,
        run: impl AsyncFnOnce(&mut MultiplexedConnection) -> RedisResult<T>,
        moved: impl FnOnce(&RedisResult<T>) -> bool,
    ) -> RedisResult<T> {
        let (generation, mut conn) = self.master().await?;
        let result = run(&mut conn).await;
        if moved(&result) {
            self.forget(generation);
        }
        result
    }
}

/// A failed call that says the connection may point at a node that is no longer the master.
fn failed_as_moved<T>(result: &RedisResult<T>) -> bool {
    matches!(result, Err(e) if master_may_have_moved(e))
}

/// Also a pipeline whose answers hold `READONLY`: its commands' errors come back as values (a
/// replica acknowledgement sends the claim's write and `WAIT` as one pipeline).
fn pipeline_moved(result: &RedisResult<Vec<Value>>) -> bool {
    match result {
        Ok(values) => values.iter().any(|v| matches!(v, Value::ServerError(e) if e.code() == "READONLY")),
        failed => failed_as_moved(failed),
    }
}

/// Errors after which the connection may point at a node that is no longer the master.
pub(super) fn master_may_have_moved(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || e.code() == Some("READONLY")
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        // A command's error comes back as a value; turned into the error it is here (as
        // `query_async` would), so that `READONLY` is seen.
        let run = async |conn: &mut MultiplexedConnection| conn.req_packed_command(cmd).await?.extract_error();
        Box::pin(async move { self.with_master(run, failed_as_moved).await })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let run = async move |conn: &mut MultiplexedConnection| conn.req_packed_commands(pipeline, offset, count).await;
        Box::pin(async move { self.with_master(run, pipeline_moved).await })
    }

    fn get_db(&self) -> i64 {
        self.shared.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_among_pipeline_answers_means_the_master_moved() {
        let answer = |text: &str| redis::parse_redis_value(text.as_bytes()).unwrap();
        let readonly = answer("-READONLY You can't write against a read only replica.\r\n");
        let other = answer("-ERR WAIT cannot be used with replica instances.\r\n");
        assert!(pipeline_moved(&Ok(vec![readonly.clone(), other.clone()])));
        assert!(!pipeline_moved(&Ok(vec![answer("+OK\r\n"), other.clone()])));
        assert!(failed_as_moved::<Value>(&readonly.extract_error()));
        assert!(!failed_as_moved::<Value>(&other.extract_error()));
    }
}
