//! Reconcile benchmark (`--reconcile`): a window of N movements spread over L SKU×location lines
//! (default 100,000 over 1,000), then one shift summary confirming them. It measures the time from
//! posting the confirmation to its answer (which returns once the decision is visible in the
//! windows projection), and checks the window through the API.

use crate::Args;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SKUS: usize = 100;

fn sku(i: usize) -> String {
    format!("BENCH-SKU-{:03}", i % SKUS)
}

fn location(i: usize) -> String {
    format!("BENCH-LOC-{:03}", i / SKUS)
}

async fn send(
    client: &reqwest::Client,
    url: String,
    key: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let response = client.post(url).bearer_auth(key).json(body).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "HTTP {status}: {body}");
    Ok(body)
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let lines = args.reconcile_lines;
    anyhow::ensure!(
        lines.is_multiple_of(SKUS),
        "--reconcile-lines must be a multiple of {SKUS}"
    );
    let movements = args.reconcile_movements;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();

    // Master data: SKUS SKUs × lines/SKUS locations.
    let bundle = json!({
        "skus": (0..SKUS).map(|i| json!({"sku": sku(i), "base_uom": "EA", "tracking": "NONE"})).collect::<Vec<_>>(),
        "locations": (0..lines / SKUS).map(|l| json!({"warehouse_id": "WH-Tokyo-01", "location": location(l * SKUS)})).collect::<Vec<_>>(),
    });
    send(
        &client,
        format!("{}/planner/v1/masterdata", args.hub),
        &args.admin_key,
        &bundle,
    )
    .await?;

    // The window's movements: RECEIVE 1 of line i % lines, in batches, several clients at once.
    let started = Instant::now();
    let batches: Vec<Value> = (0..movements)
        .collect::<Vec<_>>()
        .chunks(args.batch_size)
        .map(|chunk| {
            Value::Array(
                chunk
                    .iter()
                    .map(|n| {
                        let line = n % lines;
                        json!({"correlation_id": format!("rc-{run}-{n}"), "kind": "RECEIVE", "warehouse_id": "WH-Tokyo-01",
                               "sku": sku(line), "to_location": location(line), "qty": 1, "uom": "EA",
                               "occurred_at": "2026-11-21T07:00:00.000Z"})
                    })
                    .collect(),
            )
        })
        .collect();
    let per_client = batches.len().div_ceil(args.clients);
    let tasks: Vec<_> = batches
        .chunks(per_client)
        .map(|share| {
            let (client, url, key, share) = (
                client.clone(),
                format!("{}/wes/v1/realtime/movements", args.hub),
                args.executor_key.clone(),
                share.to_vec(),
            );
            tokio::spawn(async move {
                for body in share {
                    let reply = send(&client, url.clone(), &key, &body).await?;
                    anyhow::ensure!(reply["summary"]["rejected"] == 0, "rejected items: {reply}");
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let loaded = started.elapsed();
    println!(
        "loaded {movements} movements over {lines} lines in {:.1} s",
        loaded.as_secs_f64()
    );

    // Let the ledger catch up first: the figure is the reconciler's, not the ingest backlog's.
    let caught_up = Instant::now();
    loop {
        let status: Value = client
            .get(format!("{}/planner/v1/projections", args.hub))
            .bearer_auth(&args.admin_key)
            .send()
            .await?
            .json()
            .await?;
        let all = status["projections"]
            .as_array()
            .is_some_and(|p| p.iter().all(|p| p["caught_up"] == true));
        if all {
            break;
        }
        anyhow::ensure!(
            caught_up.elapsed() < Duration::from_secs(600),
            "projections did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "ledger caught up {:.1} s after the last 200",
        caught_up.elapsed().as_secs_f64()
    );

    let per_line = movements / lines;
    let totals: Vec<Value> = (0..lines)
        .map(|i| {
            let extra = usize::from(i < movements % lines);
            json!({"sku": sku(i), "kind": "RECEIVE", "to_location": location(i), "qty": per_line + extra, "uom": "EA"})
        })
        .collect();
    let confirmation = json!({"correlation_id": format!("rc-{run}-summary"), "warehouse_id": "WH-Tokyo-01",
        "window_start": "2026-11-21T06:00:00Z", "window_end": "2026-11-21T14:00:00Z", "totals": totals});
    let posted = Instant::now();
    let answer = send(
        &client,
        format!("{}/wes/v1/confirmation/shift-summary", args.hub),
        &args.executor_key,
        &confirmation,
    )
    .await?;
    let decided = posted.elapsed();
    let window_id = answer["window_id"].as_str().unwrap_or_default();
    let window: Value = client
        .get(format!("{}/planner/v1/windows/{window_id}", args.hub))
        .bearer_auth(&args.supervisor_key)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(
        answer["window_status"] == "RECONCILED" && window["status"] == "RECONCILED",
        "expected RECONCILED: {answer} / {}",
        window["status"]
    );
    let compared = window["lines"].as_array().map_or(0, Vec::len);
    println!(
        "reconcile: {movements} movements, {compared} lines: confirmation posted -> window RECONCILED and visible in {:.0} ms",
        decided.as_secs_f64() * 1000.0
    );
    println!(
        "{}",
        json!({"movements": movements, "lines": compared, "confirmation_to_visible_ms": decided.as_millis(),
               "load_seconds": loaded.as_secs_f64()})
    );
    Ok(())
}
