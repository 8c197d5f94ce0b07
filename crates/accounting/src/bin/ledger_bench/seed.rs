//! Seeding the bench database server-side: one `INSERT … SELECT … generate_series` per month,
//! two months at a time, with UUIDv7 ids whose timestamp is the entry's `created_at`.

use std::time::Instant;

use accounting::TeamId;
use accounting::ledger::ensure_partitions;
use chrono::{DateTime, Months, TimeZone, Utc};
use futures::{StreamExt, TryStreamExt};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgPool};

use super::super::BenchError;

pub const TEAMS: usize = 50;
pub const ENDPOINTS: [&str; 6] = [
    "/v1/monitor/chatgpt",
    "/v1/monitor/gemini",
    "/v1/monitor/perplexity",
    "/v1/monitor/copilot",
    "/v1/search",
    "/v1/async/task",
];

/// The first seeded month; twelve are seeded.
pub fn first_month() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn month(offset: u32) -> DateTime<Utc> {
    first_month()
        .checked_add_months(Months::new(offset))
        .unwrap_or_default()
}

/// How many entries the bench database holds, or `None` if it does not exist or is not migrated.
pub async fn existing_entries(options: &PgConnectOptions) -> Result<Option<i64>, BenchError> {
    let Ok(mut conn) = options.connect().await else {
        return Ok(None);
    };
    let migrated: bool = sqlx::query_scalar("SELECT to_regclass('ledger_entries') IS NOT NULL")
        .fetch_one(&mut conn)
        .await?;
    if !migrated {
        return Ok(None);
    }
    let count = sqlx::query_scalar("SELECT count(*) FROM ledger_entries")
        .fetch_one(&mut conn)
        .await?;
    Ok(Some(count))
}

/// Drops (the ledger is append-only: it cannot be emptied) and re-creates the bench database.
pub async fn recreate_database(options: &PgConnectOptions) -> Result<(), BenchError> {
    let name = options
        .get_database()
        .unwrap_or("cloro_gateway_bench")
        .to_owned();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!("bench database name {name:?} must be [a-z0-9_]").into());
    }
    let mut admin = options.clone().database("postgres").connect().await?;
    admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .await?;
    admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await?;
    admin.close().await?;
    Ok(())
}

/// 50 teams, partitions for the year, `entries` settled entries spread over its 12 months
/// (the rollups are filled by the ledger's own triggers as the rows go in), and an hourly
/// balance observation.
pub async fn seed(pool: &PgPool, entries: i64) -> Result<(), BenchError> {
    let mut teams = Vec::with_capacity(TEAMS);
    for n in 1..=TEAMS {
        let id = TeamId::generate();
        sqlx::query("INSERT INTO teams (id, slug, name) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(format!("bench-team-{n:02}"))
            .bind(format!("Bench team {n}"))
            .execute(pool)
            .await?;
        teams.push(id.as_uuid());
    }
    ensure_partitions(pool, first_month(), 11).await?;

    let per_month = entries / 12;
    let months: Vec<(u32, i64)> = (0..12)
        .map(|m| {
            (
                m,
                if m == 11 {
                    entries - per_month * 11
                } else {
                    per_month
                },
            )
        })
        .collect();
    futures::stream::iter(months)
        .map(|(m, count)| {
            let teams = teams.clone();
            async move { seed_month(pool, m, count, &teams).await }
        })
        .buffer_unordered(2)
        .try_collect::<Vec<()>>()
        .await?;

    sqlx::query(
        "INSERT INTO account_balance_observations (observed_at, credits_remaining) \
         SELECT $1::timestamptz + g * interval '1 hour', 2000000000 - g * 150000 \
                + (random() * 5000)::bigint \
         FROM generate_series(0, 24 * 365 - 1) AS g",
    )
    .bind(first_month())
    .execute(pool)
    .await?;
    Ok(())
}

async fn seed_month(
    pool: &PgPool,
    m: u32,
    count: i64,
    teams: &[uuid::Uuid],
) -> Result<(), BenchError> {
    let started = Instant::now();
    let (from, to) = (month(m), month(m + 1));
    // Each row's random draws are made once in the inner query (OFFSET 0 keeps it from being
    // merged into the outer one), so status, charge and flag agree with each other.
    sqlx::query(
        "INSERT INTO ledger_entries (id, created_at, team_id, endpoint, client_request_id, \
             estimate, status, charged, flagged, flag_reason, upstream_status, void_reason, \
             settled_at) \
         SELECT encode(set_byte(overlay(r.bytes PLACING substring(int8send(r.ms) FROM 3 FOR 6) \
                    FROM 1 FOR 6), 6, (get_byte(r.bytes, 6) & 15) | 112), 'hex')::uuid, \
                r.at, r.team_id, r.endpoint, NULL, r.estimate, \
                CASE WHEN r.outcome < 0.85 THEN 'POSTED' WHEN r.outcome < 0.97 THEN 'VOIDED' \
                     ELSE 'EXPIRED' END, \
                CASE WHEN r.outcome < 0.85 THEN GREATEST(r.estimate - r.discount, 0) \
                     WHEN r.outcome < 0.97 THEN 0 ELSE r.estimate END, \
                r.outcome >= 0.97 OR r.flag < 0.02, \
                CASE WHEN r.outcome >= 0.97 THEN 'expired' \
                     WHEN r.flag < 0.02 THEN 'soft budget exceeded' END, \
                CASE WHEN r.outcome < 0.85 THEN 200 WHEN r.outcome < 0.97 THEN 503 END, \
                CASE WHEN r.outcome >= 0.85 AND r.outcome < 0.97 THEN 'upstream 503' END, \
                r.at + r.latency \
         FROM ( \
             SELECT ms, timestamptz 'epoch' + ms * interval '1 millisecond' AS at, \
                    uuid_send(gen_random_uuid()) AS bytes, \
                    ($4::uuid[])[1 + floor(array_length($4::uuid[], 1) * random() ^ 2)::int] AS team_id, \
                    ($5::text[])[1 + floor(array_length($5::text[], 1) * random())::int] AS endpoint, \
                    1 + floor(random() * 40)::bigint AS estimate, \
                    floor(random() * 3)::bigint AS discount, \
                    random() AS outcome, random() AS flag, \
                    random() * interval '90 seconds' AS latency \
             FROM ( \
                 SELECT (extract(epoch FROM $1::timestamptz) * 1000 \
                         + floor(random() * extract(epoch FROM $2::timestamptz - $1::timestamptz) * 1000))::bigint AS ms \
                 FROM generate_series(1, $3::bigint) \
             ) AS t \
             ORDER BY ms \
             OFFSET 0 \
         ) AS r",
    )
    .bind(from)
    .bind(to)
    .bind(count)
    .bind(teams)
    .bind(ENDPOINTS.map(str::to_owned).to_vec())
    .execute(pool)
    .await?;
    println!(
        "  seeded {} ({count} entries) in {:.1} s",
        from.format("%Y-%m"),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Row counts and on-disk sizes of what the bench measures against.
pub async fn print_sizes(pool: &PgPool) -> Result<(), BenchError> {
    // A partitioned table's figures are the sum over its partitions.
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT t.name, \
             COALESCE(sum(GREATEST(c.reltuples, 0)), 0)::bigint, \
             COALESCE(sum(pg_table_size(c.oid)), 0)::bigint, \
             COALESCE(sum(pg_indexes_size(c.oid)), 0)::bigint \
         FROM unnest(ARRAY['ledger_entries', 'ledger_daily_rollups', 'account_balance_observations', \
                           'ledger_late_charges']) AS t(name) \
         JOIN pg_class c ON c.oid IN ( \
             SELECT relid FROM pg_partition_tree(t.name::regclass) WHERE isleaf \
             UNION SELECT t.name::regclass) \
         WHERE c.relkind = 'r' \
         GROUP BY t.name ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    println!("\n| table | rows (estimate) | table size | index size |\n|---|---|---|---|");
    for (name, tuples, table, indexes) in rows {
        println!(
            "| `{name}` | {tuples} | {:.1} MiB | {:.1} MiB |",
            table as f64 / 1_048_576.0,
            indexes as f64 / 1_048_576.0
        );
    }
    Ok(())
}
