//! The database itself keeps the audit chain linked: an entry is inserted only
//! right after the head (its id one more, its `prev_hash` the head's hash), and
//! inserting it moves the head. So one `INSERT` statement appends a batch, and no
//! writer, ours or anyone's, can add an entry that does not follow the head.
//!
//! sea-query cannot build triggers, so this migration is written once per
//! backend; the audit tests run it on both.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE: &str = "
CREATE TRIGGER audit_log_follows_head BEFORE INSERT ON audit_log
FOR EACH ROW BEGIN
    SELECT RAISE(ABORT, 'audit entry does not follow the head')
    WHERE NOT EXISTS (
        SELECT 1 FROM audit_head
        WHERE id = 1 AND last_id = NEW.id - 1 AND last_hash = NEW.prev_hash
    );
    UPDATE audit_head SET last_id = NEW.id, last_hash = NEW.hash WHERE id = 1;
END;
";

/// On PostgreSQL the guarded update takes the head row's lock; a concurrent
/// appender waits for it and then finds the head moved.
const POSTGRES: &str = "
CREATE FUNCTION audit_log_follows_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_head SET last_id = NEW.id, last_hash = NEW.hash
    WHERE id = 1 AND last_id = NEW.id - 1 AND last_hash = NEW.prev_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit entry % does not follow the head', NEW.id;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_log_follows_head BEFORE INSERT ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_follows_head();
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = match manager.get_database_backend() {
            sea_orm::DbBackend::Sqlite => SQLITE,
            sea_orm::DbBackend::Postgres => POSTGRES,
            other => {
                return Err(DbErr::Migration(format!(
                    "the audit chain's trigger is not written for {other:?}"
                )));
            }
        };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }
}
