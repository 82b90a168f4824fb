//! `heyan copy-database`: moves an installation's SQLite database into an empty PostgreSQL
//! database, every table, in one PostgreSQL transaction, so a failed copy leaves the
//! target as empty as it was. The source is only read, after being brought to the latest
//! migration as `serve` would.
//!
//! Both schemas come from the same numbered migrations (migrations/sqlite and
//! migrations/postgres), so both databases are first migrated to the latest version and
//! then have the same tables and columns. Each column's PostgreSQL type, read from the
//! catalogue, says how SQLite's value converts: INTEGER milliseconds become `timestamptz`,
//! 0/1 become `boolean`, integers and text stay as they are. Rows are copied verbatim,
//! ids, hashes and sealed values included, so the audit log's hash chain and every
//! photo's blob id still hold; the photos themselves are not in the database (move them
//! with `heyan copy-blobs-to-s3` if they go to a bucket too).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use sqlx::{Pool, Postgres, QueryBuilder, Row, Sqlite};

use super::dialect::{PostgresStore, SqliteStore};
use super::Store;

/// Rows per INSERT statement (PostgreSQL allows 65535 bound values per statement).
const BATCH_ROWS: usize = 500;

/// What was copied: each table with its row count, in copy order.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// One column of a target table, as the PostgreSQL catalogue describes it.
struct Column {
    name: String,
    pg_type: String,
    /// Filled by a sequence (`bigserial`): the sequence is moved past the copied ids.
    serial: bool,
}

/// A value read from SQLite, converted for its PostgreSQL column.
enum Value {
    Text(Option<String>),
    BigInt(Option<i64>),
    Int(Option<i32>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
    Float(Option<f64>),
    Bytes(Option<Vec<u8>>),
}

/// Copies every table of `source` into `target`, which must hold no rows.
pub async fn copy_sqlite_to_postgres(
    source: &SqliteStore,
    target: &PostgresStore,
) -> anyhow::Result<CopyReport> {
    source
        .migrate()
        .await
        .context("migrating the SQLite database")?;
    target
        .migrate()
        .await
        .context("migrating the PostgreSQL database")?;
    let tables = copy_order(&target.pool).await?;
    check_same_tables(&source.pool, &tables).await?;
    let mut tx = target.pool.begin().await?;
    for table in &tables {
        let rows: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&mut *tx)
            .await?;
        if rows > 0 {
            bail!("the PostgreSQL database is not empty: table {table} has {rows} rows; copy into a new database");
        }
    }
    let mut report = CopyReport::default();
    for table in &tables {
        let columns = columns_of(&target.pool, table).await?;
        let copied = copy_table(&source.pool, &mut tx, table, &columns).await?;
        for column in columns.iter().filter(|c| c.serial) {
            sqlx::query(&format!(
                "select setval(pg_get_serial_sequence('{table}', '{0}'), coalesce(max({0}), 0) + 1, false) from {table}",
                column.name
            ))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("moving the sequence of {table}.{}", column.name))?;
        }
        report.tables.push((table.clone(), copied));
    }
    tx.commit().await?;
    Ok(report)
}

/// The target's tables (without sqlx's migration table), each after the tables its
/// foreign keys point at.
async fn copy_order(pg: &Pool<Postgres>) -> anyhow::Result<Vec<String>> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables \
         where table_schema = current_schema() and table_type = 'BASE TABLE' \
         and table_name not like '\\_sqlx%' order by table_name",
    )
    .fetch_all(pg)
    .await?;
    let edges: Vec<(String, String)> = sqlx::query_as(
        "select conrelid::regclass::text, confrelid::regclass::text from pg_constraint \
         where contype = 'f' and conrelid <> confrelid",
    )
    .fetch_all(pg)
    .await?;
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in &edges {
        needs.entry(from).or_default().insert(to);
    }
    let mut ordered: Vec<String> = Vec::new();
    while ordered.len() < tables.len() {
        let next = tables.iter().find(|t| {
            !ordered.contains(t)
                && needs
                    .get(t.as_str())
                    .is_none_or(|deps| deps.iter().all(|d| ordered.iter().any(|o| o == d)))
        });
        match next {
            Some(t) => ordered.push(t.clone()),
            None => bail!("the foreign keys between the tables form a cycle"),
        }
    }
    Ok(ordered)
}

/// Both databases, migrated, must hold the same tables; anything else means they are at
/// different versions of heyan.
async fn check_same_tables(sqlite: &Pool<Sqlite>, tables: &[String]) -> anyhow::Result<()> {
    let in_sqlite: BTreeSet<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'table' \
         and name not like 'sqlite\\_%' escape '\\' and name not like '\\_sqlx%' escape '\\'",
    )
    .fetch_all(sqlite)
    .await?
    .into_iter()
    .collect();
    let in_pg: BTreeSet<String> = tables.iter().cloned().collect();
    if in_sqlite != in_pg {
        bail!(
            "the databases hold different tables (SQLite only: {:?}; PostgreSQL only: {:?})",
            in_sqlite.difference(&in_pg).collect::<Vec<_>>(),
            in_pg.difference(&in_sqlite).collect::<Vec<_>>()
        );
    }
    Ok(())
}

async fn columns_of(pg: &Pool<Postgres>, table: &str) -> anyhow::Result<Vec<Column>> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "select column_name::text, data_type::text, column_default::text \
         from information_schema.columns \
         where table_schema = current_schema() and table_name = $1 order by ordinal_position",
    )
    .bind(table)
    .fetch_all(pg)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, pg_type, default)| Column {
            name,
            pg_type,
            serial: default.is_some_and(|d| d.starts_with("nextval(")),
        })
        .collect())
}

/// Copies one table in batches, in SQLite's row order; gives the number of rows.
async fn copy_table(
    sqlite: &Pool<Sqlite>,
    tx: &mut sqlx::Transaction<'_, Postgres>,
    table: &str,
    columns: &[Column],
) -> anyhow::Result<u64> {
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let list = names.join(", ");
    let rows = sqlx::query(&format!("select {list} from {table} order by rowid"))
        .fetch_all(sqlite)
        .await
        .with_context(|| format!("reading {table} from SQLite"))?;
    for batch in rows.chunks(BATCH_ROWS) {
        let mut values = Vec::with_capacity(batch.len());
        for row in batch {
            let converted = columns
                .iter()
                .enumerate()
                .map(|(i, column)| {
                    convert(row, i, &column.pg_type)
                        .with_context(|| format!("{table}.{}", column.name))
                })
                .collect::<anyhow::Result<Vec<Value>>>()?;
            values.push(converted);
        }
        let mut insert = QueryBuilder::<Postgres>::new(format!("insert into {table} ({list}) "));
        insert.push_values(values, |mut row, converted| {
            for value in converted {
                match value {
                    Value::Text(v) => row.push_bind(v),
                    Value::BigInt(v) => row.push_bind(v),
                    Value::Int(v) => row.push_bind(v),
                    Value::Bool(v) => row.push_bind(v),
                    Value::Time(v) => row.push_bind(v),
                    Value::Float(v) => row.push_bind(v),
                    Value::Bytes(v) => row.push_bind(v),
                };
            }
        });
        insert
            .build()
            .execute(&mut **tx)
            .await
            .with_context(|| format!("writing {table} to PostgreSQL"))?;
    }
    Ok(rows.len() as u64)
}

/// Reads column `i` of a SQLite row as the value its PostgreSQL type wants.
fn convert(row: &sqlx::sqlite::SqliteRow, i: usize, pg_type: &str) -> anyhow::Result<Value> {
    Ok(match pg_type {
        "text" | "character varying" => Value::Text(row.try_get(i)?),
        "bigint" => Value::BigInt(row.try_get(i)?),
        "integer" | "smallint" => {
            let v: Option<i64> = row.try_get(i)?;
            Value::Int(v.map(i32::try_from).transpose()?)
        }
        "boolean" => {
            let v: Option<i64> = row.try_get(i)?;
            Value::Bool(v.map(|v| v != 0))
        }
        "timestamp with time zone" => {
            let v: Option<i64> = row.try_get(i)?;
            let at = v
                .map(|ms| {
                    DateTime::from_timestamp_millis(ms)
                        .ok_or_else(|| anyhow!("{ms} ms is not a time"))
                })
                .transpose()?;
            Value::Time(at)
        }
        "double precision" | "real" => Value::Float(row.try_get(i)?),
        "bytea" => Value::Bytes(row.try_get(i)?),
        other => bail!("no conversion for the PostgreSQL type {other}"),
    })
}
