//! Ingest benchmark. Against a running hub it measures, in one run on one broker:
//! 1. the raw rdkafka produce rate of the same Avro records the hub writes (idempotent, acks=all);
//! 2. HTTP ingest at full speed: N clients posting batches of 200 movements back to back
//!    (accepted movements/s, HTTP p50/p99);
//! 3. HTTP ingest paced at half that rate, with the time from each `200` to the batch being visible
//!    in the ledger (p50/p99), polled through the planner API.
//!
//! It prints a human summary and one JSON line (`scripts/bench` runs it against a fresh hub).
//! `--reconcile` and `--dispatch` run the reconcile and dispatch benchmarks instead.

mod dispatch;
mod reconcile;

use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wes_domain::movement::{Movement, MovementKind};
use wes_domain::*;
use wes_events::{Catalog, MovementRecorded};

#[derive(Parser, Debug, Clone)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    hub: String,
    #[arg(long, env = "WES_DEMO_KEY_ACME")]
    executor_key: String,
    #[arg(long, env = "WES_ADMIN_KEY")]
    admin_key: String,
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    registry: String,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Batches each client posts in the full-speed phase.
    #[arg(long, default_value_t = 25)]
    batches: usize,
    /// Movements per batch.
    #[arg(long, default_value_t = 200)]
    batch_size: usize,
    /// Length of the half-rate phase.
    #[arg(long, default_value_t = 20)]
    paced_seconds: u64,
    /// Run the reconcile benchmark instead of the ingest one.
    #[arg(long)]
    reconcile: bool,
    /// Reconcile benchmark: movements in the window.
    #[arg(long, default_value_t = 100_000)]
    reconcile_movements: usize,
    /// Reconcile benchmark: SKU×location lines they spread over (a multiple of 100).
    #[arg(long, default_value_t = 1_000)]
    reconcile_lines: usize,
    #[arg(long, env = "WES_DEMO_KEY_SUPERVISOR", default_value = "")]
    supervisor_key: String,
    /// Run the dispatch benchmark instead of the ingest one.
    #[arg(long)]
    dispatch: bool,
    /// Dispatch benchmark: warehouses configured for webhooks.
    #[arg(long, default_value_t = 50)]
    dispatch_warehouses: usize,
    /// Dispatch benchmark: releases per second in the steady phase.
    #[arg(long, default_value_t = 20.0)]
    dispatch_rate: f64,
    /// Dispatch benchmark: length of the steady phase.
    #[arg(long, default_value_t = 20)]
    dispatch_seconds: u64,
    /// Dispatch benchmark: releases in the burst.
    #[arg(long, default_value_t = 5000)]
    dispatch_burst: usize,
}

fn movement_json(run: &str, n: usize) -> Value {
    json!({"correlation_id": format!("bench-{run}-{n}"), "kind": "RECEIVE", "warehouse_id": "WH-Tokyo-01",
           "sku": "SKU-WIDGET-RED-LG", "qty": 1, "uom": "EA", "to_location": "RECV-1",
           "occurred_at": "2026-11-21T06:00:00.000Z", "actor": {"kind": "ROBOT", "id": "amr-12"}})
}

fn batch(run: &str, first: usize, size: usize) -> Value {
    Value::Array(
        (first..first + size)
            .map(|n| movement_json(run, n))
            .collect(),
    )
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

async fn post(
    client: &reqwest::Client,
    args: &Args,
    body: &Value,
) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let response = client
        .post(format!("{}/wes/v1/realtime/movements", args.hub))
        .bearer_auth(&args.executor_key)
        .json(body)
        .send()
        .await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
    let body: Value = response.json().await?;
    Ok((
        elapsed,
        body["summary"]["accepted"].as_u64().unwrap_or(0) as usize,
    ))
}

/// The same records the hub writes, produced straight to a bench topic on the same broker.
async fn raw_produce_rate(args: &Args, records: usize, in_flight: usize) -> anyhow::Result<f64> {
    let catalog = Catalog::embedded();
    let codec = wes_kafka::Codec::new(&args.registry, &catalog)?;
    let producer = wes_kafka::EventProducer::new(&args.bootstrap, codec.clone())?;
    let partner = PartnerId::parse("WH-Tokyo-01/AcmeWES").unwrap();
    let mut payloads = Vec::with_capacity(records);
    let encoding = Instant::now();
    for n in 0..records {
        let m = Movement {
            correlation_id: CorrelationId::from_trusted(format!("raw-{n}")),
            kind: MovementKind::Receive,
            warehouse_id: WarehouseId::from_trusted("WH-Tokyo-01"),
            sku: SkuCode::from_trusted("SKU-WIDGET-RED-LG"),
            qty: 1,
            uom: "EA".into(),
            from_location: None,
            to_location: Some(LocationCode::from_trusted("RECV-1")),
            lot: None,
            serial: None,
            document_ref: None,
            occurred_at: UtcMillis(1_700_000_000_000),
            actor: Some(wes_domain::movement::Actor {
                kind: wes_domain::movement::ActorKind::Robot,
                id: "amr-12".into(),
            }),
        };
        let record = MovementRecorded::from_domain(
            &m,
            &partner,
            "0".repeat(64),
            UtcMillis(1_700_000_000_000),
        );
        payloads.push(codec.encode(&record).await?);
    }
    println!(
        "Avro encoding through the registry codec: {:.0} records/s (one task)",
        records as f64 / encoding.elapsed().as_secs_f64()
    );
    let topic = "wes.bench.raw-produce";
    wes_kafka::admin::create_topic(&args.bootstrap, topic, 3, &[]).await?;
    producer.send_raw(topic, "warm-up", &payloads[0]).await?;
    let key = "frn:wes:warehouse:WH-Tokyo-01";
    let started = Instant::now();
    for chunk in payloads.chunks(in_flight) {
        let sends = chunk.iter().map(|p| producer.send_raw(topic, key, p));
        for result in futures::future::join_all(sends).await {
            result?;
        }
    }
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

async fn visible(
    client: &reqwest::Client,
    args: &Args,
    correlation_id: &str,
) -> anyhow::Result<bool> {
    let body: Value = client
        .get(format!(
            "{}/planner/v1/ledger/movements?correlation_id={correlation_id}&limit=1",
            args.hub
        ))
        .bearer_auth(&args.admin_key)
        .send()
        .await?
        .json()
        .await?;
    Ok(body["movements"].as_array().is_some_and(|m| !m.is_empty()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.reconcile {
        return reconcile::run(&args).await;
    }
    if args.dispatch {
        return dispatch::run(&args).await;
    }
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let total = args.clients * args.batches * args.batch_size;

    // 1. Raw produce baseline: as many records as the full-speed phase, as many in flight as its clients.
    let raw_rate = raw_produce_rate(&args, total, args.clients * args.batch_size).await?;
    println!("raw rdkafka produce: {raw_rate:.0} records/s ({total} records)");

    // 2. Full speed.
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.clients)
        .map(|c| {
            let (client, args, run) = (client.clone(), args.clone(), run.clone());
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new(3).unwrap();
                let mut accepted = 0;
                for b in 0..args.batches {
                    let first = (c * args.batches + b) * args.batch_size;
                    let (elapsed, n) =
                        post(&client, &args, &batch(&run, first, args.batch_size)).await?;
                    latencies.record(elapsed.as_micros() as u64).unwrap();
                    accepted += n;
                }
                anyhow::Ok((latencies, accepted))
            })
        })
        .collect();
    let mut http = Histogram::<u64>::new(3).unwrap();
    let mut accepted = 0;
    for task in tasks {
        let (h, n) = task.await??;
        http.add(h).unwrap();
        accepted += n;
    }
    let ingest_rate = accepted as f64 / started.elapsed().as_secs_f64();
    println!(
        "HTTP ingest: {ingest_rate:.0} movements/s accepted ({accepted} of {total}), {} clients x batches of {}; HTTP p50 {:.1} ms, p99 {:.1} ms",
        args.clients,
        args.batch_size,
        ms(&http, 0.5),
        ms(&http, 0.99)
    );
    println!(
        "ingest / raw produce: {:.0} %",
        100.0 * ingest_rate / raw_rate
    );

    // 3. Half rate, paced; visibility measured per batch.
    let target_rate = ingest_rate / 2.0;
    let interval = Duration::from_secs_f64(args.batch_size as f64 / target_rate);
    let batches = (args.paced_seconds as f64 / interval.as_secs_f64()).ceil() as usize;
    let paced_run = format!("{run}p");
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One observer polls the oldest acknowledged batch until it is visible, then the next: the
    // ledger applies in log order, so this measures every batch with a single light poll loop (a
    // later batch visible earlier is measured when its turn comes: an overestimate, never less).
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, String)>();
    let observer = {
        let (client, args) = (client.clone(), args.clone());
        tokio::spawn(async move {
            let mut e2e = Histogram::<u64>::new(3).unwrap();
            while let Some((acked, last)) = acked_rx.recv().await {
                let deadline = acked + Duration::from_secs(30);
                while !visible(&client, &args, &last).await? {
                    anyhow::ensure!(Instant::now() < deadline, "{last} not visible after 30 s");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                e2e.record(acked.elapsed().as_micros() as u64).unwrap();
            }
            anyhow::Ok(e2e)
        })
    };
    let mut handles = vec![];
    let paced_started = Instant::now();
    for b in 0..batches {
        ticker.tick().await;
        let (client, args, run, acked_tx) = (
            client.clone(),
            args.clone(),
            paced_run.clone(),
            acked_tx.clone(),
        );
        handles.push(tokio::spawn(async move {
            let body = batch(&run, b * args.batch_size, args.batch_size);
            let (http_latency, _) = post(&client, &args, &body).await?;
            let last = format!("bench-{run}-{}", (b + 1) * args.batch_size - 1);
            let _ = acked_tx.send((Instant::now(), last));
            anyhow::Ok(http_latency)
        }));
    }
    drop(acked_tx);
    let mut paced_http = Histogram::<u64>::new(3).unwrap();
    for handle in handles {
        paced_http
            .record(handle.await??.as_micros() as u64)
            .unwrap();
    }
    let e2e = observer.await??;
    let paced_rate = (batches * args.batch_size) as f64 / paced_started.elapsed().as_secs_f64();
    println!(
        "half rate ({paced_rate:.0} movements/s, {batches} batches): HTTP p50 {:.1} ms, p99 {:.1} ms; 200 -> ledger visible p50 {:.1} ms, p99 {:.1} ms",
        ms(&paced_http, 0.5),
        ms(&paced_http, 0.99),
        ms(&e2e, 0.5),
        ms(&e2e, 0.99)
    );
    let summary = json!({
        "raw_produce_per_s": raw_rate.round(), "ingest_per_s": ingest_rate.round(), "ingest_vs_raw": ingest_rate / raw_rate,
        "http_p50_ms": ms(&http, 0.5), "http_p99_ms": ms(&http, 0.99),
        "paced_per_s": paced_rate.round(), "paced_http_p99_ms": ms(&paced_http, 0.99),
        "visible_p50_ms": ms(&e2e, 0.5), "visible_p99_ms": ms(&e2e, 0.99),
        "clients": args.clients, "batch_size": args.batch_size,
    });
    println!("{summary}");
    Ok(())
}
