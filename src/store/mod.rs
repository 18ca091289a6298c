//! The only module that talks to the database.
//!
//! A [`Store`] holds its connections and the province it serves. Reads return
//! typed records built from rows (a row that no longer parses is an internal
//! error, never a panic). Every write runs in one transaction begun by
//! [`Store::write`]; an update first claims the row by bumping its version where
//! the caller's version still matches, so a stale write is a `CONFLICT` and never
//! a lost update. SQLite write transactions begin `IMMEDIATE` so that two writers
//! queue on the lock instead of failing on upgrade.

mod alert;
mod audit;
mod certificate;
mod changes;
mod events;
mod facility;
mod fair;
mod held;
mod inspection;
mod market;
mod notice;
mod outbox;
mod product;
mod replica;
mod supervision;
mod trace;

pub use alert::{AlertFilter, FollowUpFilter};
pub use audit::AuditFilter;
pub use certificate::CertificateFilter;
pub use changes::{Change, ChangeOperation, ChangeRecord, FeedPage, FeedPosition, SharedWith};
pub use facility::FacilityFilter;
pub use fair::{BoothRegistrationFilter, NewRegistration, TradeFairFilter};
pub use inspection::InspectionFilter;
pub use market::{HarvestOfferFilter, InterestFilter, NewInterest};
pub use notice::NoticeFilter;
pub use outbox::Owed;
pub use product::ProductFilter;
pub use replica::{ReplicaRow, SyncPage, SyncState};
pub use supervision::{InspectionRequestFilter, Reply};
pub use trace::{LotFilter, NewEvent, Recorded, TraceEventFilter};

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, ExecResult, QueryFilter, QueryOrder, QueryResult, QuerySelect, Select,
    Statement, TransactionOptions, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, IntoColumnRef, Query},
};

use crate::domain::{Caller, GlobalId, ProvinceCode, RecordKind, text};
use crate::domain::{FacilityRecord, Record};
use crate::error::AppError;

/// Who reads. Our own staff see every record we own; a partner sees only what the
/// cooperation agreement shares with it: facilities supplying its province with
/// their certificates, products and inspections, and every OCOP-rated product.
/// A record hidden from a reader is, to that reader, a record that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Audience {
    #[default]
    Internal,
    Partner(ProvinceCode),
}

impl From<Caller> for Audience {
    /// What the store may show this caller: a partner, what is shared with it.
    fn from(caller: Caller) -> Self {
        match caller {
            Caller::Partner(province) => Audience::Partner(province),
            Caller::Internal(_) => Audience::Internal,
        }
    }
}

/// A database error as callers see it: a lock held too long is
/// `STORAGE_BUSY`, anything else an internal error.
impl From<sea_orm::DbErr> for AppError {
    fn from(error: sea_orm::DbErr) -> Self {
        if busy(&error) {
            tracing::warn!(%error, "the database is busy");
            return AppError::StorageBusy;
        }
        AppError::Internal(anyhow::Error::new(error).context("database"))
    }
}

/// Largest page any list returns.
pub const MAX_PAGE: u64 = 100;

/// Largest page of the change feed: sync jobs read it in bulk.
pub const MAX_FEED_PAGE: u64 = 1000;

/// The position to read a list from: items after `after` (a local row id), at most
/// `first` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<i64>,
    pub first: u64,
}

/// One page of a list, in ascending id order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// A page with nothing on it.
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            has_next: false,
        }
    }
}

/// The store's way to the database. A statement outside a transaction runs on
/// one of the SQLite connections the store keeps itself (`held`), or on the
/// PostgreSQL pool; transactions and migrations use sea-orm's pool.
#[derive(Clone)]
struct Db {
    pool: DatabaseConnection,
    held: Option<std::sync::Arc<held::Held>>,
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        match &self.held {
            Some(held) => held.execute_raw(statement).await,
            None => self.pool.execute_raw(statement).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.held {
            Some(held) => held.execute_unprepared(sql).await,
            None => self.pool.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.held {
            Some(held) => held.query_one_raw(statement).await,
            None => self.pool.query_one_raw(statement).await,
        }
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.held {
            Some(held) => held.query_all_raw(statement).await,
            None => self.pool.query_all_raw(statement).await,
        }
    }
}

/// Longest a statement waits for a lock another writer holds (SQLite's write
/// lock, a PostgreSQL row lock) or for a connection, before it gives up with
/// `STORAGE_BUSY`. Waiting out the whole request timeout told the caller only
/// `TIMEOUT`, ten seconds later, and held a turn all along.
pub const BUSY_WAIT: Duration = Duration::from_secs(2);

/// Whether `error` is the database being too busy to serve us within
/// [`BUSY_WAIT`]: SQLite's `SQLITE_BUSY` or `SQLITE_LOCKED` (and their
/// extended codes), PostgreSQL's `lock_not_available`, or no connection free.
pub fn busy(error: &DbErr) -> bool {
    use sea_orm::{ConnAcquireErr, RuntimeErr};
    match error {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => true,
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => match error.as_database_error() {
            Some(database) => {
                let code = database.code().unwrap_or_default();
                if database
                    .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                    .is_some()
                {
                    // SQLite's extended codes keep the primary one in their
                    // low byte: BUSY is 5, LOCKED 6.
                    code.parse::<u32>()
                        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
                } else {
                    code == "55P03"
                }
            }
            None => matches!(**error, sea_orm::sqlx::Error::PoolTimedOut),
        },
        _ => false,
    }
}

/// How every SQLite connection of ours is opened: write-ahead log, a wait of up
/// to [`BUSY_WAIT`] for the write lock, foreign keys enforced, statements not
/// logged.
fn sqlite_options(
    options: sea_orm::sqlx::sqlite::SqliteConnectOptions,
) -> sea_orm::sqlx::sqlite::SqliteConnectOptions {
    use sea_orm::sqlx::ConnectOptions as _;
    options
        .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(BUSY_WAIT)
        .foreign_keys(true)
        .disable_statement_logging()
}

/// SQLite connections for statements outside transactions: as many as the
/// pool had for every statement before, and as many as the requests at work
/// at once on two cores (`limits.concurrent_requests`); more requests wait for
/// one.
const HELD_SQLITE: usize = 8;

/// A province's database.
#[derive(Clone)]
pub struct Store {
    db: Db,
    province: ProvinceCode,
    /// Audit entries waiting for the next group commit.
    audit_queue: std::sync::Arc<audit::Queue>,
    by_number: std::sync::Arc<certificate::ByNumber>,
    /// Woken when a write owes partners a notice.
    outbox_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Counts the commits of alert events.
    events: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

impl Store {
    /// Connects to `url` (`sqlite://…?mode=rwc` or `postgres://…`) for `province`.
    /// The schema is not touched: call [`Store::migrate`].
    #[tracing::instrument(skip(url), fields(backend))]
    pub async fn connect(url: &str, province: ProvinceCode) -> anyhow::Result<Self> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(BUSY_WAIT);
        // sqlx pings a connection on every check-out unless told otherwise: for
        // SQLite, a round trip to the connection's worker thread before every
        // query, although an in-process database cannot hang up. A PostgreSQL
        // connection is pinged only after a quiet spell, when the server, a proxy
        // or a firewall may have dropped it. SQLite's pool serves only
        // transactions, which queue on the database's one write lock anyway;
        // other statements go to held connections.
        let sqlite = url.starts_with("sqlite:");
        if sqlite {
            options
                .test_before_acquire(false)
                .max_connections(4)
                .map_sqlx_sqlite_opts(sqlite_options)
                .map_sqlx_sqlite_pool_opts(|pool| {
                    pool.after_connect(|connection, _| Box::pin(plan_once(connection)))
                });
        } else {
            let lock_timeout = format!("{}ms", BUSY_WAIT.as_millis());
            options
                .test_before_acquire_if_idle_for(Duration::from_secs(30))
                .max_connections(16)
                .map_sqlx_postgres_opts(move |options| {
                    options.options([("lock_timeout", lock_timeout.as_str())])
                });
        }
        let pool = Database::connect(options)
            .await
            .with_context(|| format!("cannot open the database at {}", redact(url)))?;
        tracing::Span::current().record("backend", format!("{:?}", pool.get_database_backend()));
        let held = if sqlite {
            let options = url
                .parse()
                .with_context(|| format!("cannot read the database URL {}", redact(url)))?;
            Some(std::sync::Arc::new(held::Held::new(
                sqlite_options(options),
                HELD_SQLITE,
            )))
        } else {
            None
        };
        Ok(Self {
            db: Db { pool, held },
            province,
            audit_queue: Default::default(),
            by_number: Default::default(),
            outbox_wake: Default::default(),
            events: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    /// Our records by global ID, as `audience` may see them, in no particular
    /// order: one query for each kind asked for. IDs of other provinces, and
    /// records the audience may not see, are not found.
    pub async fn records_by_id(
        &self,
        ids: &[GlobalId],
        audience: Audience,
    ) -> Result<Vec<Record>, AppError> {
        let mut records = Vec::with_capacity(ids.len());
        for kind in RecordKind::ALL {
            let local: Vec<i64> = ids
                .iter()
                .filter(|id| id.kind == kind && id.province == self.province)
                .map(|id| id.local)
                .collect();
            if local.is_empty() {
                continue;
            }
            match kind {
                RecordKind::Facility => records.extend(
                    self.facilities_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::Facility),
                ),
                RecordKind::Certificate => records.extend(
                    self.certificates_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::Certificate),
                ),
                RecordKind::Product => records.extend(
                    self.products_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::Product),
                ),
                RecordKind::Inspection => records.extend(
                    self.inspections_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::Inspection),
                ),
                RecordKind::Alert => records.extend(
                    self.alerts_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::Alert),
                ),
                RecordKind::FollowUp => records.extend(
                    self.follow_ups_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::FollowUp),
                ),
                RecordKind::InspectionRequest => records.extend(
                    self.inspection_requests_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::InspectionRequest),
                ),
                RecordKind::Lot => records.extend(
                    self.lots_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::Lot),
                ),
                RecordKind::TraceEvent => records.extend(
                    self.trace_events_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::TraceEvent),
                ),
                RecordKind::HarvestOffer => records.extend(
                    self.harvest_offers_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::HarvestOffer),
                ),
                RecordKind::Interest => records.extend(
                    self.interests_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::Interest),
                ),
                RecordKind::TradeFair => records.extend(
                    self.trade_fairs_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::TradeFair),
                ),
                RecordKind::BoothRegistration => records.extend(
                    self.booth_registrations_by_id(&local, audience)
                        .await?
                        .into_iter()
                        .map(Record::BoothRegistration),
                ),
            }
        }
        Ok(records)
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.db.pool, None)
            .await
            .context("cannot migrate the database")
    }

    /// Whether the database answers and every migration is applied.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.db.pool.ping().await.context("database unreachable")?;
        let pending = Migrator::get_pending_migrations(&self.db.pool)
            .await
            .context("cannot read applied migrations")?;
        anyhow::ensure!(
            pending.is_empty(),
            "{} migrations not applied",
            pending.len()
        );
        Ok(())
    }

    /// The province this store's records belong to.
    pub fn province(&self) -> ProvinceCode {
        self.province
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Begins a write transaction.
    async fn write(&self) -> Result<DatabaseTransaction, AppError> {
        let mut options = TransactionOptions::default();
        if self.backend() == DbBackend::Sqlite {
            options.sqlite_transaction_mode = Some(sea_orm::SqliteTransactionMode::Immediate);
        }
        Ok(self.db.pool.begin_with_options(options).await?)
    }

    /// The global ID of one of our rows.
    fn id(&self, kind: RecordKind, local: i64) -> GlobalId {
        GlobalId::new(kind, self.province, local)
    }

    /// The local row id of a global ID that must be ours, or `NOT_OWNER`.
    pub fn owned(&self, id: GlobalId, field: &str) -> Result<i64, AppError> {
        if id.province != self.province {
            return Err(AppError::NotOwner {
                province: id.province,
                message: format!(
                    "{field}: {id} belongs to province {}; only its owner writes it",
                    id.province
                ),
            });
        }
        Ok(id.local)
    }
}

/// Makes a new SQLite connection plan each statement once. SQLite (3.51 here)
/// reads the value bound to `LIMIT ?` while planning and then marks the
/// statement to be planned again whenever that parameter is bound, so every
/// query with a limit (each `.one()`, each page) was parsed and planned anew on
/// every run despite sqlx's statement cache: 15 % of a gateway's CPU under
/// lookups (perf, `sqlite3Reprepare`). The query planner stability guarantee
/// turns that off; it also stops plans depending on `LIKE ?` values, which
/// gains us nothing, as our patterns start with `%`.
async fn plan_once(
    connection: &mut sea_orm::sqlx::SqliteConnection,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    // SAFETY: the handle is an open connection that we hold locked for the
    // call; this option takes an int and an (unused, null) int pointer.
    let code = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            handle.as_raw_handle().as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        )
    };
    if code != libsqlite3_sys::SQLITE_OK {
        return Err(sea_orm::sqlx::Error::Configuration(
            format!("SQLite refused the query planner stability guarantee (code {code})").into(),
        ));
    }
    Ok(())
}

/// Hides the password of a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Reads one page of `select` in id order.
async fn page<E, C>(
    db: &C,
    select: Select<E>,
    id: E::Column,
    request: PageRequest,
) -> Result<Page<E::Model>, AppError>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let mut select = select.order_by_asc(id);
    if let Some(after) = request.after {
        select = select.filter(Expr::col(id).gt(after));
    }
    let first = std::cmp::min(request.first, MAX_PAGE);
    let mut items = select.limit(first + 1).all(db).await?;
    let has_next = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(Page { items, has_next })
}

/// A condition that every search term appears in `column` (folded text).
fn matches_terms(column: impl IntoColumnRef + Copy, terms: &[String]) -> Expr {
    terms
        .iter()
        .map(|term| Expr::col(column).like(format!("%{term}%")))
        .reduce(ExprTrait::and)
        .unwrap_or_else(|| Expr::value(true))
}

/// Rows whose facility (its province and local id, in `province` and
/// `local`) is one of `facilities`.
fn of_facilities(
    province: impl sea_orm::ColumnTrait,
    local: impl sea_orm::ColumnTrait,
    facilities: &[GlobalId],
) -> sea_orm::Condition {
    use sea_orm::Condition;
    facilities.iter().fold(Condition::any(), |any, f| {
        any.add(
            Condition::all()
                .add(province.eq(f.province.number()))
                .add(local.eq(f.local)),
        )
    })
}

/// Takes the next serial of `counter` (a certificate kind, `lot`) in `year`.
/// The update locks the counter row until the transaction ends, so
/// concurrent writers queue.
pub(super) async fn next_serial(
    txn: &DatabaseTransaction,
    counter: &str,
    year: i32,
) -> Result<u32, AppError> {
    use entity::number_counter;
    use number_counter::Column as N;
    txn.execute(
        Query::insert()
            .into_table(number_counter::Entity)
            .columns([N::Kind, N::Year, N::Next])
            .values_panic([counter.into(), year.into(), 1i64.into()])
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([N::Kind, N::Year])
                    .do_nothing()
                    .to_owned(),
            ),
    )
    .await?;
    txn.execute(
        Query::update()
            .table(number_counter::Entity)
            .value(N::Next, Expr::col(N::Next).add(1))
            .and_where(Expr::col(N::Kind).eq(counter))
            .and_where(Expr::col(N::Year).eq(year)),
    )
    .await?;
    let next = number_counter::Entity::find_by_id((counter.to_owned(), year))
        .one(txn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("number counter vanished inside its transaction"))?
        .next;
    u32::try_from(next - 1)
        .ok()
        .filter(|serial| *serial <= 999_999)
        .ok_or_else(|| AppError::Conflict(format!("no {counter} numbers are left for {year}")))
}

/// Claims a row for an update: bumps its version if it still has `expected`.
/// Zero rows means the row is gone (`NOT_FOUND`) or changed (`CONFLICT`).
async fn claim(
    txn: &DatabaseTransaction,
    table: &'static str,
    id: GlobalId,
    expected: i32,
) -> Result<(), AppError> {
    let version = Alias::new("version");
    let row_id = Alias::new("id");
    let bumped = txn
        .execute(
            Query::update()
                .table(Alias::new(table))
                .value(version.clone(), Expr::col(version.clone()).add(1))
                .value(Alias::new("updated_at"), chrono::Utc::now())
                .and_where(Expr::col(row_id.clone()).eq(id.local))
                .and_where(Expr::col(version).eq(expected)),
        )
        .await?;
    if bumped.rows_affected() == 1 {
        return Ok(());
    }
    let exists = txn
        .query_one(
            Query::select()
                .column(row_id.clone())
                .from(Alias::new(table))
                .and_where(Expr::col(row_id).eq(id.local)),
        )
        .await?
        .is_some();
    if exists {
        Err(AppError::Conflict(format!(
            "{id} has changed since version {expected}; read it again and retry"
        )))
    } else {
        Err(AppError::NotFound(format!(
            "no {} has the ID {id}",
            id.kind.name()
        )))
    }
}

/// A list's filter, judged in Rust over a partner's record read from our
/// replica — with our copy of its facility, when it has one and we hold it. Each
/// implementation sits beside the filter's SQL and answers as it does.
pub trait Admits<R>: Send + Sync {
    /// The kind of record the filter selects.
    fn kind(&self) -> RecordKind;
    /// The facility `record` belongs to, for filters that look at it.
    fn facility_of(&self, record: &R) -> Option<GlobalId>;
    fn admits(&self, record: &R, facility: Option<&FacilityRecord>) -> bool;
}

/// Whether folded `text` holds every one of `terms`, as [`matches_terms`] asks
/// the database.
fn holds_terms(text: &str, terms: &[String]) -> bool {
    terms.iter().all(|term| text.contains(term.as_str()))
}

/// The folded search text of several parts.
fn search_text<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    parts
        .into_iter()
        .map(text::fold)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads a stored kind of record back.
fn stored_kind(code: &str, what: &str) -> Result<RecordKind, AppError> {
    stored(
        RecordKind::from_code(code)
            .ok_or_else(|| crate::domain::Invalid::new(format!("unknown kind `{code}`"))),
        what,
    )
}

/// Reads a stored value back into its domain type; a failure means the row was
/// written by something other than this code.
fn stored<T>(parsed: Result<T, crate::domain::Invalid>, what: &str) -> Result<T, AppError> {
    parsed.map_err(|invalid| AppError::Internal(anyhow::anyhow!("corrupt {what}: {invalid}")))
}

#[cfg(test)]
mod tests {
    use super::{Store, redact};

    /// A cached statement with a bound `LIMIT` runs again without being parsed
    /// and planned again (see `plan_once`).
    #[tokio::test]
    async fn a_cached_statement_with_a_bound_limit_is_planned_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("t.sqlite").display()
        );
        let province = crate::domain::ProvinceCode::from_number(19).unwrap();
        let store = Store::connect(&url, province).await.unwrap();
        let mut connection = store
            .db
            .pool
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .unwrap();
        for limit in 1..=3 {
            let rows =
                sea_orm::sqlx::query("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 LIMIT ?")
                    .bind(limit)
                    .fetch_all(&mut *connection)
                    .await
                    .unwrap();
            assert_eq!(rows.len(), usize::try_from(limit).unwrap());
        }
        let (statements, replanned) = cached_statements(&mut connection).await;
        assert!(statements > 0, "the statement was not cached");
        assert_eq!(replanned, 0, "the statement was planned again");
    }

    /// How many statements `connection` keeps prepared, and how many times
    /// they were planned again in all.
    pub(super) async fn cached_statements(
        connection: &mut sea_orm::sqlx::SqliteConnection,
    ) -> (usize, i32) {
        let mut handle = connection.lock_handle().await.unwrap();
        let db = handle.as_raw_handle().as_ptr();
        let (mut statements, mut replanned) = (0, 0);
        // SAFETY: the connection is open and locked; the statements walked are
        // its own, and none is finalised while we read them.
        unsafe {
            let mut statement = libsqlite3_sys::sqlite3_next_stmt(db, std::ptr::null_mut());
            while !statement.is_null() {
                statements += 1;
                replanned += libsqlite3_sys::sqlite3_stmt_status(
                    statement,
                    libsqlite3_sys::SQLITE_STMTSTATUS_REPREPARE,
                    0,
                );
                statement = libsqlite3_sys::sqlite3_next_stmt(db, statement);
            }
        }
        (statements, replanned)
    }

    #[test]
    fn passwords_never_reach_error_messages() {
        assert_eq!(
            redact("postgres://caunoi:secret@127.0.0.1/caunoi"),
            "postgres://…@127.0.0.1/caunoi"
        );
        assert_eq!(
            redact("sqlite://state/19.sqlite"),
            "sqlite://state/19.sqlite"
        );
    }
}
