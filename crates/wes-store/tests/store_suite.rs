//! One generic suite for the SQL side, run on SQLite and on PostgreSQL: projections apply exactly
//! once in effect, offsets move with the data, rebuild equals live, idempotency claims follow the
//! contract. PostgreSQL comes from `WES_TEST_DATABASE_URL` (default: the local server).

use wes_domain::idempotency::IdempotencyScope;
use wes_domain::idempotency::{Claim, Fingerprint};
use wes_domain::movement::MovementKind;
use wes_domain::*;
use wes_events::catalog::topics;
use wes_events::{Event, MovementRecorded};
use wes_store::idempotency::KeyRequest;
use wes_store::projection::Record;
use wes_store::{ApplyOutcome, ProjectionKind, Store, Tables};

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    (Store::connect(&url).await.unwrap(), dir)
}

fn postgres_base() -> String {
    std::env::var("WES_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn drop_database(store: Store, name: String) {
    store.pool.close().await;
    let admin = sqlx::AnyPool::connect(&postgres_base()).await.unwrap();
    // Best effort: the closed pool's server session may still be ending, hence FORCE.
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await;
}

async fn postgres() -> (Store, String) {
    let base = postgres_base();
    let name = format!("wes_store_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base)
        .await
        .expect("PostgreSQL must be reachable at WES_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => unreachable!(),
    };
    (Store::connect(&url).await.unwrap(), name)
}

fn movement(
    cid: &str,
    kind: MovementKind,
    qty: i64,
    from: Option<&str>,
    to: Option<&str>,
) -> Event {
    let m = wes_domain::movement::Movement {
        correlation_id: CorrelationId::parse(cid).unwrap(),
        kind,
        warehouse_id: WarehouseId::parse("WH-1").unwrap(),
        sku: SkuCode::parse("SKU-1").unwrap(),
        qty,
        uom: "EA".into(),
        from_location: from.map(|l| LocationCode::parse(l).unwrap()),
        to_location: to.map(|l| LocationCode::parse(l).unwrap()),
        lot: None,
        serial: None,
        document_ref: None,
        occurred_at: UtcMillis(1_000),
        actor: None,
    };
    Event::Movement(MovementRecorded::from_domain(
        &m,
        &PartnerId::parse("WH-1/Acme").unwrap(),
        "h".into(),
        UtcMillis(2_000),
    ))
}

async fn balance(store: &Store, location: &str) -> i64 {
    store
        .balances(Some("WH-1"), Some("SKU-1"), Some(location), 10)
        .await
        .unwrap()
        .first()
        .map_or(0, |b| b.qty)
}

fn records(events: &[Event], first_offset: i64) -> Vec<Record<'_>> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| Record {
            topic: topics::MOVEMENTS,
            partition: 0,
            offset: first_offset + i as i64,
            event: e,
        })
        .collect()
}

async fn projections_apply_exactly_once_and_rebuild_equals_live(store: Store) {
    let events = vec![
        movement("c1", MovementKind::Receive, 100, None, Some("A")),
        movement("c2", MovementKind::Pick, 12, Some("A"), Some("B")),
        movement("c3", MovementKind::Ship, 12, Some("B"), None),
    ];
    let generation = store
        .position(ProjectionKind::LEDGER, &Tables::LIVE)
        .await
        .unwrap()
        .generation;
    let outcome = store
        .apply_batch(
            ProjectionKind::LEDGER,
            &Tables::LIVE,
            generation,
            &records(&events, 0),
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ApplyOutcome::Applied {
            applied: 3,
            skipped: 0
        }
    );
    assert_eq!(
        (balance(&store, "A").await, balance(&store, "B").await),
        (88, 0)
    );

    // Re-delivery of the same offsets (a crash before the consumer moved on) changes nothing.
    let again = store
        .apply_batch(
            ProjectionKind::LEDGER,
            &Tables::LIVE,
            generation,
            &records(&events, 0),
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        ApplyOutcome::Applied {
            applied: 0,
            skipped: 3
        }
    );
    // The same event re-produced at a later offset (a request retried after a crash) changes nothing.
    let dup = vec![events[0].clone()];
    let dup_outcome = store
        .apply_batch(
            ProjectionKind::LEDGER,
            &Tables::LIVE,
            generation,
            &records(&dup, 3),
        )
        .await
        .unwrap();
    assert_eq!(
        dup_outcome,
        ApplyOutcome::Applied {
            applied: 0,
            skipped: 1
        }
    );
    assert_eq!(balance(&store, "A").await, 88);
    let position = store
        .position(ProjectionKind::LEDGER, &Tables::LIVE)
        .await
        .unwrap();
    assert_eq!(
        position.offsets,
        vec![(topics::MOVEMENTS.to_string(), 0, 4)]
    );

    // Rebuild: replay everything (including the duplicate) into shadow tables, swap, compare.
    let live_balances = store.balances(None, None, None, 100).await.unwrap();
    let live_movements = store.movements(&Default::default(), 100).await.unwrap();
    store.prepare_shadow(ProjectionKind::LEDGER).await.unwrap();
    let mut all = events.clone();
    all.push(events[0].clone());
    store
        .apply_batch(
            ProjectionKind::LEDGER,
            &Tables::SHADOW,
            0,
            &records(&all, 0),
        )
        .await
        .unwrap();
    store.swap_shadow(ProjectionKind::LEDGER).await.unwrap();
    assert_eq!(
        store.balances(None, None, None, 100).await.unwrap(),
        live_balances
    );
    assert_eq!(
        store.movements(&Default::default(), 100).await.unwrap(),
        live_movements
    );
    let after = store
        .position(ProjectionKind::LEDGER, &Tables::LIVE)
        .await
        .unwrap();
    assert_eq!(after.offsets, position.offsets);
    assert_eq!(after.generation, generation + 1);
    // A runner still on the old generation is told to re-read its position.
    let stale = store
        .apply_batch(
            ProjectionKind::LEDGER,
            &Tables::LIVE,
            generation,
            &records(&events, 4),
        )
        .await
        .unwrap();
    assert_eq!(stale, ApplyOutcome::StaleGeneration);
    // A second rebuild works too (index and table names are reusable).
    store.prepare_shadow(ProjectionKind::LEDGER).await.unwrap();
    store
        .apply_batch(
            ProjectionKind::LEDGER,
            &Tables::SHADOW,
            0,
            &records(&all, 0),
        )
        .await
        .unwrap();
    store.swap_shadow(ProjectionKind::LEDGER).await.unwrap();
    assert_eq!(
        store.balances(None, None, None, 100).await.unwrap(),
        live_balances
    );
}

async fn idempotency_claims_follow_the_contract(store: Store) {
    let now = UtcMillis(1_000_000);
    let fingerprints: std::collections::HashMap<&str, Fingerprint> =
        ["h1", "h2", "h3", "h4", "other"]
            .map(|h| (h, Fingerprint::exact(h)))
            .into();
    let key = |cid, fp: &str| KeyRequest {
        correlation_id: cid,
        payload: &fingerprints[fp],
    };
    let claims = store
        .claim_keys(
            IdempotencyScope::Movement,
            "p1",
            "hub-a",
            &[key("a", "h1"), key("b", "h2")],
            now,
        )
        .await
        .unwrap();
    assert_eq!(claims, vec![Claim::Fresh, Claim::Fresh]);
    // A key repeated inside one request: the first claims it, the repeat is in flight.
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p3",
                "hub-a",
                &[key("d", "h4"), key("d", "h4")],
                now
            )
            .await
            .unwrap(),
        vec![Claim::Fresh, Claim::InFlight]
    );
    // Still in flight: a second request with the same key gets 409; another partner's key is its own.
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p1",
                "hub-a",
                &[key("a", "h1")],
                now
            )
            .await
            .unwrap(),
        vec![Claim::InFlight]
    );
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p2",
                "hub-a",
                &[key("a", "h1")],
                now
            )
            .await
            .unwrap(),
        vec![Claim::Fresh]
    );
    store
        .settle_keys(IdempotencyScope::Movement, "p1", &["a"], &["b"])
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p1",
                "hub-a",
                &[key("a", "h1")],
                now
            )
            .await
            .unwrap(),
        vec![Claim::Replay]
    );
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p1",
                "hub-a",
                &[key("a", "other")],
                now
            )
            .await
            .unwrap(),
        vec![Claim::PayloadMismatch]
    );
    // A failed produce freed its key: the retry is fresh.
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p1",
                "hub-a",
                &[key("b", "h2")],
                now
            )
            .await
            .unwrap(),
        vec![Claim::Fresh]
    );
    // The instance that held a claim restarts: its old claims end at once.
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p1",
                "hub-b",
                &[key("c", "h3")],
                now
            )
            .await
            .unwrap(),
        vec![Claim::Fresh]
    );
    assert_eq!(store.expire_claims_of("hub-b").await.unwrap(), 1);
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p1",
                "hub-a",
                &[key("c", "h3")],
                now
            )
            .await
            .unwrap(),
        vec![Claim::TakeOver]
    );
    // A holder that crashed: after the lease the key can be taken over.
    let later = UtcMillis(now.0 + wes_domain::idempotency::IN_FLIGHT_LEASE_MILLIS + 1);
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p1",
                "hub-a",
                &[key("b", "h2")],
                later
            )
            .await
            .unwrap(),
        vec![Claim::TakeOver]
    );
    // Keys older than 30 days are purged.
    let month_later = UtcMillis(now.0 + wes_domain::idempotency::KEY_RETENTION_MILLIS + 1);
    assert!(store.purge_expired_keys(month_later).await.unwrap() >= 3);
    assert_eq!(
        store
            .claim_keys(
                IdempotencyScope::Movement,
                "p1",
                "hub-a",
                &[key("a", "h1")],
                month_later
            )
            .await
            .unwrap(),
        vec![Claim::Fresh]
    );
}

/// A window projected when its id was its key text is found by that text until a rebuild, which
/// gives it its URL-safe id (`wes serve` rebuilds when `has_key_text_window_ids`).
async fn windows_projected_under_key_text_ids_are_rebuilt_with_url_safe_ids(store: Store) {
    use wes_domain::reconcile::{ShiftSummary, Totals, WindowKey};
    let key = WindowKey {
        partner_id: PartnerId::parse("WH-Tokyo-01/AcmeWES").unwrap(),
        warehouse_id: WarehouseId::parse("WH-Tokyo-01").unwrap(),
        start: UtcMillis(1_000),
        end: UtcMillis(2_000),
    };
    let confirmation = Event::Confirmation(wes_events::ConfirmationRecorded::from_shift_summary(
        &ShiftSummary {
            correlation_id: CorrelationId::parse("ss-1").unwrap(),
            window: key.clone(),
            totals: Totals::new(),
        },
        "fp".into(),
        UtcMillis(3_000),
    ));
    let record = || Record {
        topic: topics::CONFIRMATIONS,
        partition: 0,
        offset: 0,
        event: &confirmation,
    };
    let generation = store
        .position(ProjectionKind::WINDOWS, &Tables::LIVE)
        .await
        .unwrap()
        .generation;
    store
        .apply_batch(
            ProjectionKind::WINDOWS,
            &Tables::LIVE,
            generation,
            &[record()],
        )
        .await
        .unwrap();
    assert!(!store.has_key_text_window_ids().await.unwrap());
    assert!(store.window(&key.id()).await.unwrap().is_some());
    // As an older hub left it.
    sqlx::query("UPDATE windows SET window_id = $1")
        .bind(key.key_text())
        .execute(&store.pool)
        .await
        .unwrap();
    assert!(store.has_key_text_window_ids().await.unwrap());
    store.prepare_shadow(ProjectionKind::WINDOWS).await.unwrap();
    store
        .apply_batch(ProjectionKind::WINDOWS, &Tables::SHADOW, 0, &[record()])
        .await
        .unwrap();
    store.swap_shadow(ProjectionKind::WINDOWS).await.unwrap();
    assert!(!store.has_key_text_window_ids().await.unwrap());
    let window = store.window(&key.id()).await.unwrap().expect("rebuilt");
    assert_eq!(window.window_id, key.id());
}

macro_rules! on_sqlite_and_postgres {
    ($($test:ident),*) => {
        mod on_sqlite {
            $(#[tokio::test] async fn $test() { let (store, _dir) = super::sqlite().await; super::$test(store).await; })*
        }
        mod on_postgres {
            $(#[tokio::test] async fn $test() {
                let (store, db) = super::postgres().await;
                super::$test(store.clone()).await;
                super::drop_database(store, db).await;
            })*
        }
    };
}

on_sqlite_and_postgres!(
    projections_apply_exactly_once_and_rebuild_equals_live,
    idempotency_claims_follow_the_contract,
    windows_projected_under_key_text_ids_are_rebuilt_with_url_safe_ids
);
