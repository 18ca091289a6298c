//! SQLite connections the store keeps itself, for every statement outside a
//! transaction.
//!
//! sqlx's pool pings each connection as it takes it back, and cannot be told
//! not to. On SQLite a ping is a round trip to the connection's own worker
//! thread: two more sleeps and wake-ups after every statement, each a context
//! switch that a virtual machine makes dear. Measured one request at a time, a
//! partner's federated lookup cost it 15.5 voluntary context switches and
//! 864–992 µs of CPU with those pings, 11.6–12.5 and 731–738 µs without.
//!
//! A [`Held`] list gives each statement a connection and takes it back as soon
//! as the statement is done, without a ping. A statement given up half-way (its
//! request went away) or failed does not give its connection back: that
//! connection is closed, and a new one is opened when one is next needed, so no
//! statement ever starts on a connection in an unknown state. Transactions
//! still come from sea-orm's pool ([`super::Store::write`]), which holds its
//! connection for the transaction's length.

use std::sync::Mutex;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{self, ConnectOptions as _, Executor as _};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Up to `max` SQLite connections, opened as needed and kept.
pub(super) struct Held {
    options: SqliteConnectOptions,
    idle: Mutex<Vec<SqliteConnection>>,
    /// One permit for each connection that may be in use at once.
    open: Semaphore,
}

impl Held {
    /// Opens no connection yet: the first statements do.
    pub(super) fn new(options: SqliteConnectOptions, max: usize) -> Self {
        Self {
            options,
            idle: Mutex::new(Vec::with_capacity(max)),
            open: Semaphore::new(max),
        }
    }

    /// A connection for one statement: a kept one, or a new one.
    async fn lease(&self) -> Result<Lease<'_>, DbErr> {
        let permit = self
            .open
            .acquire()
            .await
            .map_err(|_| DbErr::Conn(RuntimeErr::Internal("the store is closed".to_owned())))?;
        let kept = self
            .idle
            .lock()
            .expect("the idle list is never poisoned")
            .pop();
        let connection = match kept {
            Some(connection) => connection,
            None => {
                let mut connection = self.options.connect().await.map_err(connect_error)?;
                super::plan_once(&mut connection)
                    .await
                    .map_err(connect_error)?;
                connection
            }
        };
        Ok(Lease {
            connection: Some(connection),
            held: self,
            _permit: permit,
        })
    }

    /// How many connections are kept open and idle.
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.idle
            .lock()
            .expect("the idle list is never poisoned")
            .len()
    }
}

/// A connection lent to one statement. Dropped without [`Lease::done`], it
/// closes its connection rather than give it back.
struct Lease<'h> {
    connection: Option<SqliteConnection>,
    held: &'h Held,
    _permit: SemaphorePermit<'h>,
}

impl Lease<'_> {
    fn connection(&mut self) -> &mut SqliteConnection {
        self.connection
            .as_mut()
            .expect("a lease holds its connection until it ends")
    }

    /// The statement is done: its connection is kept for the next.
    fn done(mut self) {
        if let Some(connection) = self.connection.take() {
            self.held
                .idle
                .lock()
                .expect("the idle list is never poisoned")
                .push(connection);
        }
    }
}

fn connect_error(error: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(error.into()))
}

fn exec_error(error: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(error.into()))
}

fn query_error(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(error.into()))
}

/// `statement` with its values bound, as sea-orm binds them.
fn bound(
    statement: &Statement,
) -> sqlx::query::Query<'_, sqlx::Sqlite, sea_query_sqlx::SqlxValues> {
    let values = statement
        .values
        .clone()
        .unwrap_or(sea_orm::Values(Vec::new()));
    sqlx::query_with(
        sqlx::AssertSqlSafe(statement.sql.as_str()),
        sea_query_sqlx::SqlxValues(values),
    )
}

#[async_trait::async_trait]
impl ConnectionTrait for Held {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        let mut lease = self.lease().await?;
        let result = bound(&statement)
            .execute(lease.connection())
            .await
            .map_err(exec_error)?;
        lease.done();
        Ok(result.into())
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let mut lease = self.lease().await?;
        let result = lease
            .connection()
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .map_err(exec_error)?;
        lease.done();
        Ok(result.into())
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        let mut lease = self.lease().await?;
        let row = bound(&statement)
            .fetch_optional(lease.connection())
            .await
            .map_err(query_error)?;
        lease.done();
        Ok(row.map(Into::into))
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut lease = self.lease().await?;
        let rows = bound(&statement)
            .fetch_all(lease.connection())
            .await
            .map_err(query_error)?;
        lease.done();
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    use super::Held;

    fn held(dir: &tempfile::TempDir) -> Held {
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("t.sqlite").display()
        );
        Held::new(super::super::sqlite_options(url.parse().unwrap()), 2)
    }

    fn first(limit: i64) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 LIMIT ?",
            [limit.into()],
        )
    }

    /// Statements one after another share one kept connection, which plans a
    /// cached statement once (see `plan_once`), whatever its `LIMIT`.
    #[tokio::test]
    async fn statements_in_turn_share_one_connection_planned_once() {
        let dir = tempfile::tempdir().unwrap();
        let held = held(&dir);
        for limit in 1..=3 {
            let rows = held.query_all_raw(first(limit)).await.unwrap();
            assert_eq!(rows.len(), usize::try_from(limit).unwrap());
        }
        assert_eq!(
            held.idle(),
            1,
            "each statement opened a connection of its own"
        );
        let mut lease = held.lease().await.unwrap();
        let (statements, replanned) =
            super::super::tests::cached_statements(lease.connection()).await;
        assert!(statements > 0, "the statement was not cached");
        assert_eq!(replanned, 0, "the statement was planned again");
    }

    /// A connection whose statement failed, or that was given up before its
    /// statement was done, is closed rather than kept; the next statement
    /// opens a new one.
    #[tokio::test]
    async fn a_connection_not_done_with_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let held = held(&dir);
        assert!(held.query_one_raw(first(1)).await.unwrap().is_some());
        assert_eq!(held.idle(), 1);
        let failed = Statement::from_string(DbBackend::Sqlite, "SELECT * FROM nowhere");
        assert!(held.query_all_raw(failed).await.is_err());
        assert_eq!(held.idle(), 0, "a failed statement's connection was kept");
        drop(held.lease().await.unwrap());
        assert_eq!(held.idle(), 0, "a connection given up was kept");
        held.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        assert_eq!(held.idle(), 1);
    }
}
