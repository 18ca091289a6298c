//! The replica of partners' shared records and the state of each partner's sync.
//!
//! A sync page is applied in one transaction together with the cursor it reaches,
//! and only if the stored cursor is still the one the page was read after: a crash
//! at any instant leaves either the old cursor and old rows or the new of both,
//! and two workers cannot both apply the same page. Rows are upserted only when
//! the incoming version is newer, so replaying a page changes nothing.

use chrono::{DateTime, Utc};
use entity::{replica_record, sync_state};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query},
};

use super::Store;
use crate::domain::{CertificateNumber, ProvinceCode, Told};
use crate::error::AppError;

/// Rows upserted per statement: 7 values each, well inside both databases'
/// limits on bound parameters.
const ROWS_PER_STATEMENT: usize = 250;

/// One record copied from a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRow {
    pub kind: String,
    pub record_id: i64,
    pub version: i32,
    pub body: String,
    /// A certificate's number.
    pub number: Option<String>,
}

/// Where one partner's sync stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncState {
    pub epoch: Option<String>,
    pub cursor: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub rows_applied: i64,
    /// The worker holding (or last holding) the lease.
    pub holder: Option<String>,
}

/// One page to apply.
#[derive(Debug, Clone)]
pub struct SyncPage {
    pub epoch: String,
    /// The cursor the page was read after; the stored one must still be it.
    pub after: Option<String>,
    /// The cursor after the page.
    pub until: String,
    pub rows: Vec<ReplicaRow>,
    /// Records the partner no longer shares (or no longer has): `(kind, id)`.
    pub removed: Vec<(String, i64)>,
    /// The notices the partner sends us of records in the page: kept, in
    /// case the partner's push of one was lost.
    pub notices: Vec<Told>,
}

impl Store {
    /// Where the sync of `province` stands.
    pub async fn sync_state(&self, province: ProvinceCode) -> Result<SyncState, AppError> {
        let row = sync_state::Entity::find_by_id(province.number())
            .one(&self.db)
            .await?;
        Ok(row.map_or_else(SyncState::default, |row| SyncState {
            epoch: row.epoch,
            cursor: row.cursor,
            last_success: row.last_success,
            last_error: row.last_error,
            rows_applied: row.rows_applied,
            holder: row.holder,
        }))
    }

    /// Takes (or renews) the lease on `province`'s sync for `holder` until
    /// `until`; false if another worker holds it — unless that worker is
    /// `gone`, known to have died, whose lease is taken over.
    pub async fn take_sync_lease(
        &self,
        province: ProvinceCode,
        holder: &str,
        until: DateTime<Utc>,
        gone: Option<&str>,
    ) -> Result<bool, AppError> {
        let txn = self.write().await?;
        txn.execute(
            Query::insert()
                .into_table(sync_state::Entity)
                .columns([
                    sync_state::Column::Province,
                    sync_state::Column::RowsApplied,
                ])
                .values_panic([province.number().into(), 0i64.into()])
                .on_conflict(
                    OnConflict::column(sync_state::Column::Province)
                        .do_nothing()
                        .to_owned(),
                ),
        )
        .await?;
        let now = Utc::now();
        let taken = sync_state::Entity::update_many()
            .col_expr(sync_state::Column::Holder, Expr::value(holder))
            .col_expr(sync_state::Column::LeaseUntil, Expr::value(until))
            .filter(sync_state::Column::Province.eq(province.number()))
            .filter(
                sea_orm::Condition::any()
                    .add(sync_state::Column::LeaseUntil.is_null())
                    .add(sync_state::Column::LeaseUntil.lt(now))
                    .add(sync_state::Column::Holder.eq(holder))
                    .add_option(gone.map(|gone| sync_state::Column::Holder.eq(gone))),
            )
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        txn.commit().await?;
        Ok(taken)
    }

    /// Gives the lease back.
    pub async fn release_sync_lease(
        &self,
        province: ProvinceCode,
        holder: &str,
    ) -> Result<(), AppError> {
        sync_state::Entity::update_many()
            .col_expr(
                sync_state::Column::Holder,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                sync_state::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(sync_state::Column::Province.eq(province.number()))
            .filter(sync_state::Column::Holder.eq(holder))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Applies one page and advances the cursor, in one transaction, for
    /// `holder`, which must still hold the lease, and renews the lease until
    /// `lease_until` in the same transaction.
    #[tracing::instrument(skip(self, page), fields(rows = page.rows.len(), removed = page.removed.len()))]
    pub async fn apply_sync_page(
        &self,
        province: ProvinceCode,
        page: &SyncPage,
        holder: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<u64, AppError> {
        let txn = self.write().await?;
        let state = sync_state::Entity::find_by_id(province.number())
            .one(&txn)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no sync state for province {province}"))?;
        if state.cursor != page.after {
            return Err(AppError::Conflict(format!(
                "the sync of province {province} moved on since this page was read"
            )));
        }
        if state.holder.as_deref() != Some(holder) {
            return Err(AppError::Conflict(format!(
                "another worker took over the sync of province {province}"
            )));
        }
        let now = Utc::now();
        let mut applied = 0u64;
        // Many rows per statement: a page of 1000 is a few statements, not 1000.
        for rows in page.rows.chunks(ROWS_PER_STATEMENT) {
            let mut insert = Query::insert();
            insert.into_table(replica_record::Entity).columns([
                replica_record::Column::Province,
                replica_record::Column::Kind,
                replica_record::Column::RecordId,
                replica_record::Column::Version,
                replica_record::Column::Body,
                replica_record::Column::Number,
                replica_record::Column::SyncedAt,
            ]);
            for row in rows {
                insert.values_panic([
                    province.number().into(),
                    row.kind.clone().into(),
                    row.record_id.into(),
                    row.version.into(),
                    row.body.clone().into(),
                    row.number.clone().into(),
                    now.into(),
                ]);
            }
            insert.on_conflict(
                OnConflict::columns([
                    replica_record::Column::Province,
                    replica_record::Column::Kind,
                    replica_record::Column::RecordId,
                ])
                .update_columns([
                    replica_record::Column::Version,
                    replica_record::Column::Body,
                    replica_record::Column::Number,
                    replica_record::Column::SyncedAt,
                ])
                .action_and_where(
                    Expr::col((replica_record::Entity, replica_record::Column::Version)).lt(
                        Expr::col((Alias::new("excluded"), replica_record::Column::Version)),
                    ),
                )
                .to_owned(),
            );
            applied += txn.execute(&insert).await?.rows_affected();
        }
        let mut removed: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
        for (kind, id) in &page.removed {
            removed.entry(kind.as_str()).or_default().push(*id);
        }
        for (kind, ids) in removed {
            applied += replica_record::Entity::delete_many()
                .filter(replica_record::Column::Province.eq(province.number()))
                .filter(replica_record::Column::Kind.eq(kind))
                .filter(replica_record::Column::RecordId.is_in(ids))
                .exec(&txn)
                .await?
                .rows_affected;
        }
        for told in &page.notices {
            self.note_notice(&txn, *told).await?;
        }
        sync_state::ActiveModel {
            province: sea_orm::ActiveValue::Unchanged(province.number()),
            epoch: Set(Some(page.epoch.clone())),
            cursor: Set(Some(page.until.clone())),
            last_success: Set(Some(now)),
            last_error: Set(None),
            rows_applied: Set(state.rows_applied + applied as i64),
            lease_until: Set(Some(lease_until)),
            ..Default::default()
        }
        .update(&txn)
        .await?;
        txn.commit().await?;
        if !page.notices.is_empty() {
            self.events_committed();
        }
        Ok(applied)
    }

    /// Notes why the last sync of `province` failed.
    pub async fn record_sync_error(
        &self,
        province: ProvinceCode,
        error: &str,
    ) -> Result<(), AppError> {
        sync_state::Entity::update_many()
            .col_expr(sync_state::Column::LastError, Expr::value(error))
            .filter(sync_state::Column::Province.eq(province.number()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Our copy of one partner record, and when it was synced.
    pub async fn replica_record(
        &self,
        province: ProvinceCode,
        kind: &str,
        id: i64,
    ) -> Result<Option<(String, DateTime<Utc>)>, AppError> {
        let row = replica_record::Entity::find_by_id((province.number(), kind.to_owned(), id))
            .one(&self.db)
            .await?;
        Ok(row.map(|row| (row.body, row.synced_at)))
    }

    /// Our copy of a partner's certificate by number, and when it was synced.
    pub async fn replica_certificate(
        &self,
        number: &CertificateNumber,
    ) -> Result<Option<(String, DateTime<Utc>)>, AppError> {
        let row = replica_record::Entity::find()
            .filter(replica_record::Column::Number.eq(number.to_string()))
            .one(&self.db)
            .await?;
        Ok(row.map(|row| (row.body, row.synced_at)))
    }

    /// Our copies of `province`'s records of `kind` after row `after`, in row
    /// order, at most `limit`: row id, body and when each was synced.
    pub async fn replica_page(
        &self,
        province: ProvinceCode,
        kind: &str,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<(i64, String, DateTime<Utc>)>, AppError> {
        let mut select = replica_record::Entity::find()
            .filter(replica_record::Column::Province.eq(province.number()))
            .filter(replica_record::Column::Kind.eq(kind));
        if let Some(after) = after {
            select = select.filter(replica_record::Column::RecordId.gt(after));
        }
        let rows = select
            .order_by_asc(replica_record::Column::RecordId)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.record_id, row.body, row.synced_at))
            .collect())
    }

    /// Our copies of `province`'s records of `kind` with these row ids.
    pub async fn replica_records(
        &self,
        province: ProvinceCode,
        kind: &str,
        ids: &[i64],
    ) -> Result<Vec<String>, AppError> {
        let rows = replica_record::Entity::find()
            .filter(replica_record::Column::Province.eq(province.number()))
            .filter(replica_record::Column::Kind.eq(kind))
            .filter(replica_record::Column::RecordId.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|row| row.body).collect())
    }

    /// Every replica row of `province`, for checks.
    pub async fn replica_rows(&self, province: ProvinceCode) -> Result<Vec<ReplicaRow>, AppError> {
        let rows = replica_record::Entity::find()
            .filter(replica_record::Column::Province.eq(province.number()))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| ReplicaRow {
                kind: row.kind,
                record_id: row.record_id,
                version: row.version,
                body: row.body,
                number: row.number,
            })
            .collect())
    }
}
