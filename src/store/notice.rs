//! Partners' notices of their records: each stored once, however many times
//! it was delivered, and acknowledged by our operators.

use chrono::Utc;
use entity::notice;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};

use super::{Page, PageRequest, Store, page, stored, stored_kind};
use crate::domain::{
    AlertEvent, AlertEventKind, AlertStatus, Answer, Event, GlobalId, MarketEventKind, Notice,
    ProvinceCode, RecordKind, Told,
};
use crate::error::AppError;

/// Which notices a list holds.
#[derive(Debug, Clone, Default)]
pub struct NoticeFilter {
    /// Notices of records of this kind.
    pub kind: Option<RecordKind>,
    pub acknowledged: Option<bool>,
}

impl Store {
    /// Keeps the notice that the partner owning `about` sent of it at
    /// `version`; a notice delivered again is the same notice (its version
    /// kept at the latest). A follow-up that `answers` a request of ours
    /// answers it. Says whether the notice was known already.
    #[tracing::instrument(skip(self))]
    pub async fn receive_notice(&self, told: Told) -> Result<(Notice, bool), AppError> {
        let about = told.about;
        let txn = self.write().await?;
        let known = self.note_notice(&txn, told).await?;
        let notice = notice_of(&txn, about)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the notice of {about} vanished")))?;
        txn.commit().await?;
        self.events_committed();
        Ok((notice, known))
    }

    /// Keeps, in `txn`, the notice of `about` at `version` — pushed by its
    /// owner, or found in the owner's change feed by a sync — once: says
    /// whether it was known already (its version and an alert's status then
    /// kept at the latest). An alert that the notice says is now closed or
    /// withdrawn is said so once. A follow-up that `answers` an open
    /// request of ours, assigned to its writer, answers it; any other it
    /// names stays as it is.
    pub(super) async fn note_notice(
        &self,
        txn: &DatabaseTransaction,
        told: Told,
    ) -> Result<bool, AppError> {
        let Told {
            about,
            alert,
            answers,
            ..
        } = told;
        let Kept { first, became } = self.keep_notice(txn, &told).await?;
        // What the notice tells of, the first time it comes.
        let event = match (about.kind, alert) {
            (RecordKind::Alert, _) => Some(AlertEvent::now(AlertEventKind::Received, about, None)),
            (RecordKind::FollowUp, Some(alert)) => Some(AlertEvent::now(
                AlertEventKind::FollowedUp,
                alert,
                Some(about),
            )),
            (RecordKind::InspectionRequest, Some(alert)) => Some(AlertEvent::now(
                AlertEventKind::RequestAssigned,
                alert,
                Some(about),
            )),
            _ => None,
        };
        let mut events: Vec<AlertEvent> = event.filter(|_| first).into_iter().collect();
        // An alert's end, whenever it is first told.
        let ended = match became {
            Some(AlertStatus::Closed) => Some(AlertEventKind::Closed),
            Some(AlertStatus::Withdrawn) => Some(AlertEventKind::Withdrawn),
            _ => None,
        };
        events.extend(ended.map(|kind| AlertEvent::now(kind, about, None)));
        self.record_events(txn, &events).await?;
        if first && about.kind == RecordKind::HarvestOffer {
            let event = Event::now(MarketEventKind::OfferReceived, about, None);
            self.record_events(txn, &[event]).await?;
        }
        if let Some(answering) = answers
            && about.kind == RecordKind::FollowUp
        {
            let answer = Answer {
                follow_up: about,
                inspection: answering.inspection,
            };
            if !self.answer_request(txn, answering.request, answer).await? {
                tracing::info!(%about, request = %answering.request, "a follow-up answers no open request of ours");
            }
        }
        Ok(!first)
    }

    /// Stores the notice `told` once; a repeat keeps the latest version
    /// and the status told with it.
    async fn keep_notice(&self, txn: &DatabaseTransaction, told: &Told) -> Result<Kept, AppError> {
        use notice::Column as N;
        let Told {
            about,
            version,
            status,
            ..
        } = *told;
        let inserted = notice::Entity::insert(notice::ActiveModel {
            sender: Set(about.province.number()),
            kind: Set(about.kind.code().to_owned()),
            record_local: Set(about.local),
            version: Set(version),
            status: Set(status.map(|s| s.code().to_owned())),
            received_at: Set(Utc::now()),
            acknowledged_at: Set(None),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([N::Sender, N::Kind, N::RecordLocal])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        if inserted == 1 {
            return Ok(Kept {
                first: true,
                became: status,
            });
        }
        let before = notice_of(txn, about).await?;
        let mut update = notice::Entity::update_many().col_expr(N::Version, Expr::value(version));
        if let Some(status) = status {
            update = update.col_expr(N::Status, Expr::value(status.code()));
        }
        let advanced = update
            .filter(of(about))
            .filter(N::Version.lt(version))
            .exec(txn)
            .await?
            .rows_affected
            == 1;
        Ok(Kept {
            first: false,
            became: status.filter(|&s| advanced && before.and_then(|b| b.status) != Some(s)),
        })
    }

    /// Records that one of our operators acknowledged the notice of `about`
    /// (the first acknowledgement stands).
    #[tracing::instrument(skip(self))]
    pub async fn acknowledge_notice(&self, about: GlobalId) -> Result<Notice, AppError> {
        use notice::Column as N;
        let txn = self.write().await?;
        let first = notice::Entity::update_many()
            .col_expr(N::AcknowledgedAt, Expr::value(Utc::now()))
            .filter(of(about))
            .filter(N::AcknowledgedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        let notice = notice_of(&txn, about).await?.ok_or_else(|| {
            AppError::NotFound(format!(
                "province {} has sent us no notice of {about}",
                about.province
            ))
        })?;
        if first {
            let event = AlertEvent::now(AlertEventKind::Acknowledged, about, None);
            self.record_events(&txn, &[event]).await?;
        }
        txn.commit().await?;
        self.events_committed();
        Ok(notice)
    }

    /// The notice the partner owning `about` sent of it, if it sent one.
    pub async fn notice(&self, about: GlobalId) -> Result<Option<Notice>, AppError> {
        notice_of(&self.db, about).await
    }

    /// Notices received, oldest first.
    pub async fn notices(
        &self,
        filter: &NoticeFilter,
        request: PageRequest,
    ) -> Result<Page<(i64, Notice)>, AppError> {
        use notice::Column as N;
        let mut select = notice::Entity::find();
        if let Some(kind) = filter.kind {
            select = select.filter(N::Kind.eq(kind.code()));
        }
        if let Some(acknowledged) = filter.acknowledged {
            select = select.filter(if acknowledged {
                N::AcknowledgedAt.is_not_null()
            } else {
                N::AcknowledgedAt.is_null()
            });
        }
        let rows = page(&self.db, select, N::Id, request).await?;
        Ok(Page {
            items: rows
                .items
                .into_iter()
                .map(|row| Ok((row.id, read(row)?)))
                .collect::<Result<_, AppError>>()?,
            has_next: rows.has_next,
        })
    }
}

/// The notice of `about`, as it stands in `db`.
async fn notice_of(
    db: &impl sea_orm::ConnectionTrait,
    about: GlobalId,
) -> Result<Option<Notice>, AppError> {
    notice::Entity::find()
        .filter(of(about))
        .one(db)
        .await?
        .map(read)
        .transpose()
}

/// The rows of the notice of `about`.
fn of(about: GlobalId) -> sea_orm::Condition {
    use notice::Column as N;
    sea_orm::Condition::all()
        .add(N::Sender.eq(about.province.number()))
        .add(N::Kind.eq(about.kind.code()))
        .add(N::RecordLocal.eq(about.local))
}

/// What keeping a notice changed.
struct Kept {
    /// The notice is new.
    first: bool,
    /// The status the notice newly tells of its alert.
    became: Option<AlertStatus>,
}

fn read(row: notice::Model) -> Result<Notice, AppError> {
    let what = "notice";
    let sender = stored(ProvinceCode::from_number(row.sender.into()), what)?;
    let kind = stored_kind(&row.kind, what)?;
    let status = row
        .status
        .map(|code| stored(AlertStatus::from_code(&code), what))
        .transpose()?;
    Ok(Notice {
        about: GlobalId::new(kind, sender, row.record_local),
        version: row.version,
        status,
        received_at: row.received_at,
        acknowledged_at: row.acknowledged_at,
    })
}
