//! `WalletConnectSource` on their Postgres database: keyset pages over `public.clients`,
//! `public.tenants` and `public.notifications`, each connection inside one
//! `REPEATABLE READ READ ONLY` transaction.
//!
//! READ ONLY makes Postgres itself refuse any write on their side, whatever a bug here might try;
//! REPEATABLE READ gives every page the same snapshot, so a row their server inserts or deletes
//! while the import runs neither shifts a page boundary nor is half seen. Keyset pages
//! (`WHERE id > $after ORDER BY id LIMIT n`, on their primary keys) keep memory bounded by one
//! page and cost the same at the millionth row as at the first.

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Connection, Row,
    postgres::{PgConnectOptions, PgConnection, PgRow},
};

use crate::ports::{SourceError, TheirClient, TheirNotification, TheirTenant, WalletConnectSource};

/// Their database, or their two (clients and tenants apart, as their multi-tenant set-up allows).
pub struct PostgresWalletConnectSource {
    clients: PgConnection,
    /// `None`: the tenants are read from `clients`'s connection.
    tenants: Option<PgConnection>,
}

impl PostgresWalletConnectSource {
    /// Connects to `url` (and `tenants_url` when the tenants live elsewhere) and opens the
    /// read-only snapshots.
    pub async fn open(url: &str, tenants_url: Option<&str>, timeout: Duration) -> Result<Self, SourceError> {
        let clients = snapshot(url, timeout).await?;
        let tenants = match tenants_url {
            Some(other) if other != url => Some(snapshot(other, timeout).await?),
            _ => None,
        };
        Ok(Self { clients, tenants })
    }

    fn tenants_connection(&mut self) -> &mut PgConnection {
        self.tenants.as_mut().unwrap_or(&mut self.clients)
    }
}

async fn snapshot(url: &str, timeout: Duration) -> Result<PgConnection, SourceError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| unavailable(format!("invalid URL: {e}")))?
        .application_name("push-server import-walletconnect");
    let open = async {
        let mut conn = PgConnection::connect_with(&options).await?;
        sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut conn).await?;
        Ok::<_, sqlx::Error>(conn)
    };
    match tokio::time::timeout(timeout, open).await {
        Ok(result) => result.map_err(failed),
        Err(_) => Err(unavailable(format!("no answer within {timeout:?}"))),
    }
}

fn unavailable(reason: String) -> SourceError {
    SourceError::Unavailable(reason)
}

fn failed(e: sqlx::Error) -> SourceError {
    unavailable(e.to_string())
}

#[async_trait]
impl WalletConnectSource for PostgresWalletConnectSource {
    async fn count_clients(&mut self) -> Result<u64, SourceError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM public.clients")
            .fetch_one(&mut self.clients)
            .await
            .map_err(failed)?;
        Ok(n.max(0) as u64)
    }

    async fn clients(&mut self, after: Option<String>, limit: u32) -> Result<Vec<TheirClient>, SourceError> {
        // `always_raw` is nullable in their schema (added with a default, without NOT NULL).
        let rows = sqlx::query(
            "SELECT id, tenant_id, push_type::text AS push_type, device_token, coalesce(always_raw, false) AS always_raw
             FROM public.clients WHERE $1::varchar IS NULL OR id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&mut self.clients)
        .await
        .map_err(failed)?;
        rows.iter().map(client).collect::<Result<_, _>>().map_err(failed)
    }

    async fn tenants(&mut self, after: Option<String>, limit: u32) -> Result<Option<Vec<TheirTenant>>, SourceError> {
        let conn = self.tenants_connection();
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass('public.tenants')::text")
            .fetch_one(&mut *conn)
            .await
            .map_err(failed)?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT id, apns_type::text AS apns_type, apns_topic, apns_certificate, apns_certificate_password,
                    apns_pkcs8_pem, apns_key_id, apns_team_id, fcm_api_key, fcm_v1_credentials, suspended,
                    suspended_reason
             FROM public.tenants WHERE $1::varchar IS NULL OR id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(failed)?;
        rows.iter().map(tenant).collect::<Result<Vec<_>, _>>().map(Some).map_err(failed)
    }

    async fn notifications(
        &mut self,
        after: Option<(String, String)>,
        window: Duration,
        limit: u32,
    ) -> Result<Vec<TheirNotification>, SourceError> {
        let (after_id, after_client) = after.unzip();
        // The age is computed by their server's clock, the one that wrote `last_received_at`.
        let rows = sqlx::query(
            "SELECT id, tenant_id, client_id,
                    (extract(epoch FROM (now() - last_received_at)) * 1000)::bigint AS age_ms
             FROM public.notifications
             WHERE last_received_at > now() - make_interval(secs => $3::double precision)
               AND ($1::varchar IS NULL OR (id, client_id) > ($1, $2))
             ORDER BY id, client_id LIMIT $4",
        )
        .bind(after_id)
        .bind(after_client)
        .bind(window.as_secs_f64())
        .bind(i64::from(limit))
        .fetch_all(&mut self.clients)
        .await
        .map_err(failed)?;
        rows.iter().map(notification).collect::<Result<_, _>>().map_err(failed)
    }

    async fn close(self: Box<Self>) {
        let Self { clients, tenants } = *self;
        for mut conn in std::iter::once(clients).chain(tenants) {
            let _ = sqlx::query("ROLLBACK").execute(&mut conn).await;
            let _ = conn.close().await;
        }
    }
}

fn client(row: &PgRow) -> Result<TheirClient, sqlx::Error> {
    Ok(TheirClient {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        push_type: row.try_get("push_type")?,
        device_token: row.try_get("device_token")?,
        always_raw: row.try_get("always_raw")?,
    })
}

fn tenant(row: &PgRow) -> Result<TheirTenant, sqlx::Error> {
    Ok(TheirTenant {
        id: row.try_get("id")?,
        apns_type: row.try_get("apns_type")?,
        apns_topic: row.try_get("apns_topic")?,
        apns_certificate: row.try_get("apns_certificate")?,
        apns_certificate_password: row.try_get("apns_certificate_password")?,
        apns_pkcs8_pem: row.try_get("apns_pkcs8_pem")?,
        apns_key_id: row.try_get("apns_key_id")?,
        apns_team_id: row.try_get("apns_team_id")?,
        fcm_api_key: row.try_get("fcm_api_key")?,
        fcm_v1_credentials: row.try_get("fcm_v1_credentials")?,
        suspended: row.try_get("suspended")?,
        suspended_reason: row.try_get("suspended_reason")?,
    })
}

fn notification(row: &PgRow) -> Result<TheirNotification, sqlx::Error> {
    let age_ms: i64 = row.try_get("age_ms")?;
    Ok(TheirNotification {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        client_id: row.try_get("client_id")?,
        age: Duration::from_millis(age_ms.max(0) as u64),
    })
}
