//! Keyset listing and export: every entry exactly once in (created_at, id) order, even while
//! entries are being inserted; filters narrow; a team scope never leaks another team's rows.

use std::collections::{HashMap, HashSet};

use accounting::ledger::{
    self, EntryCursor, EntryFilter, LedgerEntry, LedgerWriter, Scope, ensure_partitions,
    export_entries,
};
use accounting::{AccountingError, EntryStatus, TeamId};
use chrono::{TimeDelta, Utc};
use futures::TryStreamExt;
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{create_team, credits, new_entry_at};
use crate::test_database::TestDatabase;

/// Every page of `limit` entries until the end, in order.
async fn all_pages(pool: &PgPool, scope: Scope, filter: &EntryFilter) -> Vec<LedgerEntry> {
    let mut entries: Vec<LedgerEntry> = Vec::new();
    loop {
        let after = entries.last().map(EntryCursor::from);
        let page = ledger::list_entries(pool, scope, filter, after, 7)
            .await
            .unwrap();
        let done = page.len() < 7;
        entries.extend(page);
        if done {
            return entries;
        }
    }
}

fn assert_in_order(entries: &[LedgerEntry]) {
    for pair in entries.windows(2) {
        assert!(
            (pair[0].created_at, pair[0].id) < (pair[1].created_at, pair[1].id),
            "out of order or duplicated: {} then {}",
            pair[0].id,
            pair[1].id
        );
    }
}

/// `count` entries per team spread over the last 40 days (three partitions).
async fn seed(pool: &PgPool, teams: &[TeamId], count: i64) -> Vec<Uuid> {
    let writer = LedgerWriter::spawn(pool.clone(), Default::default());
    let now = Utc::now();
    let mut ids = Vec::new();
    for n in 0..count {
        for team in teams {
            let at = now - TimeDelta::minutes(n * 40 * 24 * 60 / count + 1);
            let mut entry = new_entry_at(*team, at, 5);
            if n % 5 == 0 {
                entry.endpoint = "/v1/search".to_owned();
            }
            ids.push(entry.id);
            writer.record_pending(entry).await.unwrap();
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_list_every_entry_once_while_others_are_inserted() {
    let db = TestDatabase::new().await;
    ensure_partitions(&db.pool, Utc::now() - TimeDelta::days(45), 3)
        .await
        .unwrap();
    let teams = vec![
        create_team(&db.pool, "team-a").await,
        create_team(&db.pool, "team-b").await,
    ];
    let existing: HashSet<Uuid> = seed(&db.pool, &teams, 150).await.into_iter().collect();

    // Meanwhile, entries keep arriving: some now, some in the past (late clocks).
    let inserter = {
        let (pool, team) = (db.pool.clone(), teams[1]);
        tokio::spawn(async move {
            let writer = LedgerWriter::spawn(pool, Default::default());
            for n in 0..200_i64 {
                let at = Utc::now() - TimeDelta::minutes((n * 997) % (40 * 24 * 60));
                writer
                    .record_pending(new_entry_at(team, at, 1))
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let listed = all_pages(&db.pool, Scope::All, &EntryFilter::default()).await;
    inserter.await.unwrap();

    assert_in_order(&listed);
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    for entry in &listed {
        *seen.entry(entry.id).or_default() += 1;
    }
    assert!(
        seen.values().all(|count| *count == 1),
        "an entry was listed twice"
    );
    assert!(
        existing.iter().all(|id| seen.contains_key(id)),
        "an entry that existed before paging began was skipped"
    );

    // The export streams the same entries as the pages, now that the ledger is quiet.
    let paged = all_pages(&db.pool, Scope::All, &EntryFilter::default()).await;
    let exported: Vec<LedgerEntry> =
        export_entries(db.pool.clone(), Scope::All, EntryFilter::default(), 7)
            .try_collect()
            .await
            .unwrap();
    assert_eq!(exported.len(), 300 + 200);
    assert_eq!(exported, paged);
    db.drop().await;
}

#[tokio::test]
async fn a_team_scope_never_returns_another_teams_entry() {
    let db = TestDatabase::new().await;
    ensure_partitions(&db.pool, Utc::now() - TimeDelta::days(45), 3)
        .await
        .unwrap();
    let (a, b) = (
        create_team(&db.pool, "team-a").await,
        create_team(&db.pool, "team-b").await,
    );
    seed(&db.pool, &[a, b], 40).await;

    let own = all_pages(&db.pool, Scope::Team(a), &EntryFilter::default()).await;
    assert_eq!(own.len(), 40);
    assert!(own.iter().all(|entry| entry.team_id == a));
    assert_in_order(&own);

    let naming_b = EntryFilter {
        team: Some(b),
        ..EntryFilter::default()
    };
    assert!(
        all_pages(&db.pool, Scope::Team(a), &naming_b)
            .await
            .is_empty()
    );
    let exported: Vec<LedgerEntry> =
        export_entries(db.pool.clone(), Scope::Team(a), naming_b.clone(), 7)
            .try_collect()
            .await
            .unwrap();
    assert!(exported.is_empty());
    let everyone_as_b = all_pages(&db.pool, Scope::All, &naming_b).await;
    assert_eq!(everyone_as_b.len(), 40);
    assert!(everyone_as_b.iter().all(|entry| entry.team_id == b));
    db.drop().await;
}

#[tokio::test]
async fn filters_narrow_the_listing() {
    let db = TestDatabase::new().await;
    ensure_partitions(&db.pool, Utc::now() - TimeDelta::days(45), 3)
        .await
        .unwrap();
    let team = create_team(&db.pool, "team-a").await;
    let ids = seed(&db.pool, &[team], 50).await;
    for id in ids.iter().take(10) {
        ledger::post(&db.pool, *id, credits(4), 200).await.unwrap();
    }
    let mut flagged = new_entry_at(team, Utc::now() - TimeDelta::days(2), 3);
    flagged.flag_reason = Some("soft budget exceeded".to_owned());
    let flagged_id = flagged.id;
    LedgerWriter::spawn(db.pool.clone(), Default::default())
        .record_pending(flagged)
        .await
        .unwrap();

    let all = all_pages(&db.pool, Scope::All, &EntryFilter::default()).await;
    let check = |filter: EntryFilter, keep: &dyn Fn(&LedgerEntry) -> bool| {
        let expected: Vec<LedgerEntry> = all.iter().filter(|e| keep(e)).cloned().collect();
        let pool = db.pool.clone();
        async move {
            let found = all_pages(&pool, Scope::All, &filter).await;
            assert_eq!(found, expected, "{filter:?}");
        }
    };
    check(
        EntryFilter {
            status: Some(EntryStatus::Posted),
            ..Default::default()
        },
        &|e| e.status == EntryStatus::Posted,
    )
    .await;
    check(
        EntryFilter {
            endpoint: Some("/v1/search".to_owned()),
            ..Default::default()
        },
        &|e| e.endpoint == "/v1/search",
    )
    .await;
    let (from, to) = (
        Utc::now() - TimeDelta::days(20),
        Utc::now() - TimeDelta::days(5),
    );
    check(
        EntryFilter {
            from: Some(from),
            to: Some(to),
            ..Default::default()
        },
        &|e| e.created_at >= from && e.created_at < to,
    )
    .await;
    let only_flagged = all_pages(
        &db.pool,
        Scope::All,
        &EntryFilter {
            flagged: Some(true),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        only_flagged.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![flagged_id]
    );

    for limit in [0, -1, 10_001] {
        assert!(matches!(
            ledger::list_entries(&db.pool, Scope::All, &EntryFilter::default(), None, limit).await,
            Err(AccountingError::Invalid(_))
        ));
    }
    let cursor = EntryCursor::from(&all[3]);
    let json = serde_json::to_string(&cursor).unwrap();
    assert_eq!(serde_json::from_str::<EntryCursor>(&json).unwrap(), cursor);
    db.drop().await;
}
