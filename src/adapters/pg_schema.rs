//! Which Postgres schema holds push-server's tables and migration history (`DATABASE_SCHEMA`),
//! and how a connection is pointed at it.
//!
//! Our tables live in a schema of their own (`push_server` by default) so that push-server can
//! start on a database that another program already migrated with sqlx: WalletConnect's push
//! server keeps its `clients`, `notifications` and its own `_sqlx_migrations` in `public`, and
//! one shared `_sqlx_migrations` would make either program refuse the other's history.
//!
//! The schema is chosen, in order: `DATABASE_SCHEMA` when set; else the first schema of a
//! `search_path` that `DATABASE_URL` itself sets in its `options` (the operator said where);
//! else `public` when it already holds push-server's own migration history (a database from
//! before `DATABASE_SCHEMA`: it is detected and kept where it is, nothing moves); else
//! `push_server`.

use sqlx::{AssertSqlSafe, postgres::PgConnection};

/// The schema a fresh database gets.
pub const DEFAULT_SCHEMA: &str = "push_server";

/// Where a schema came from, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaSource {
    /// `DATABASE_SCHEMA`.
    Configured,
    /// The `search_path` in `DATABASE_URL`'s options.
    Url,
    /// `public`, where push-server's tables were before `DATABASE_SCHEMA` existed.
    Legacy,
    /// `push_server`.
    Default,
}

/// A schema name that is safe to splice into SQL: a plain lower-case identifier (what Postgres
/// folds an unquoted name to), so it never needs quoting and cannot carry SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaName(String);

impl SchemaName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let plain = raw.len() <= 63
            && raw.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if plain {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "invalid DATABASE_SCHEMA '{raw}': a Postgres schema name of 1 to 63 characters a-z, 0-9 and _, \
                 not starting with a digit"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The first schema of a `search_path` set in connection `options` (`-c search_path=a,b`), if
/// it is a plain name.
pub fn search_path_in_options(options: Option<&str>) -> Option<SchemaName> {
    let options = options?;
    let value = options.split_whitespace().find_map(|word| word.strip_prefix("search_path="))?;
    let first = value.split(',').next()?.trim().trim_matches('"');
    SchemaName::parse(first).ok()
}

// The reads below may run through PgBouncer outside a transaction, so none is a named statement.

/// Whether `public` holds push-server's own migration history: its first migration, with this
/// build's checksum (another program's history, WalletConnect's included, has other versions).
pub async fn public_holds_our_history(conn: &mut PgConnection, first: (i64, &[u8])) -> Result<bool, sqlx::Error> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations')::text")
        .persistent(false)
        .fetch_one(&mut *conn)
        .await?;
    if table.is_none() {
        return Ok(false);
    }
    let checksum: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT checksum FROM public._sqlx_migrations WHERE version = $1 AND success")
            .persistent(false)
            .bind(first.0)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(checksum.is_some_and(|c| c == first.1))
}

/// Whether `schema` already holds a migration history (then it is ours to use, whatever is in
/// `public`).
pub async fn has_history(conn: &mut PgConnection, schema: &SchemaName) -> Result<bool, sqlx::Error> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .persistent(false)
        .bind(format!("{}._sqlx_migrations", schema.as_str()))
        .fetch_one(&mut *conn)
        .await?;
    Ok(table.is_some())
}

/// Creates the schema if needed and points this (direct, session) connection at it, before the
/// migrations run on it.
pub async fn enter(conn: &mut PgConnection, schema: &SchemaName) -> Result<(), sqlx::Error> {
    let name = schema.as_str();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {name}; SET search_path TO {name}")))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(SchemaName::parse("push_server").is_ok());
        assert!(SchemaName::parse("_x9").is_ok());
        for bad in ["", "9a", "Push", "a-b", "a;drop", "a b", "\"a\"", &"a".repeat(64)] {
            assert!(SchemaName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_the_first_schema_of_a_search_path_option() {
        let found = |o: &str| search_path_in_options(Some(o)).map(|s| s.0);
        assert_eq!(found("-c search_path=push_test_1"), Some("push_test_1".into()));
        assert_eq!(found("-c statement_timeout=5 -c search_path=a,public"), Some("a".into()));
        assert_eq!(found("-c statement_timeout=5"), None);
        assert_eq!(search_path_in_options(None), None);
    }
}
