//! Inspection requests: what an alert's owner asks a province to inspect,
//! by when, and the follow-up that answered it; and, on a follow-up, the
//! request and the inspection it answers with.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InspectionRequest {
    Table,
    Id,
    /// The asking province, which owns the alert.
    Province,
    Version,
    /// Our alert it belongs to.
    AlertId,
    FacilityProvince,
    FacilityId,
    Stage,
    /// The province that is to inspect.
    Assignee,
    /// The last day to answer, a Vietnamese calendar date.
    DueOn,
    /// `open`, `answered` or `cancelled`.
    State,
    /// The assignee's follow-up and inspection that answered it.
    AnswerFollowUp,
    AnswerInspection,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FollowUp {
    Table,
    /// The request (of the alert's owner) this follow-up answers.
    AnswersRequest,
    /// Our inspection that answers it.
    InspectionId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use InspectionRequest as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(big_pk_auto(R::Id))
                    .col(integer(R::Province))
                    .col(integer(R::Version))
                    .col(big_integer(R::AlertId))
                    .col(integer(R::FacilityProvince))
                    .col(big_integer(R::FacilityId))
                    .col(string(R::Stage))
                    .col(integer(R::Assignee))
                    .col(date(R::DueOn))
                    .col(string(R::State))
                    .col(big_integer_null(R::AnswerFollowUp))
                    .col(big_integer_null(R::AnswerInspection))
                    .col(timestamp_with_time_zone(R::CreatedAt))
                    .col(timestamp_with_time_zone(R::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("inspection_request_alert", vec![R::AlertId]),
            ("inspection_request_assignee", vec![R::Assignee, R::State]),
        ] {
            let mut index = Index::create();
            index.name(name).table(R::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // SQLite adds one column per statement.
        for column in [FollowUp::AnswersRequest, FollowUp::InspectionId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(FollowUp::Table)
                        .add_column(big_integer_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
