//! Dispatch benchmark (`--dispatch`): W warehouses (default 50) configured for WEBHOOK to a local
//! receiver, then
//! 1. releases at a steady rate, round robin over the warehouses: the time from each release's
//!    `200` to its first delivery attempt reaching the receiver (p50/p99; an attempt that arrives
//!    before the `200` counts as 0);
//! 2. a burst of releases posted in batches: sustained deliveries/s, first to last receipt;
//! 3. poll-mode page latency: `GET /wes/v1/dispatch/pending?limit=100` against a full log, and the
//!    ack of each page.
//!
//! It prints a human summary and one JSON line, with the machine's load average before and after.

use crate::Args;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "bench-webhook-secret-0000";
const POLL_KEY: &str = "bench-poll-executor-key-0000";
const POLLED: &str = "BENCH-POLL";

fn warehouse(i: usize) -> String {
    format!("BENCH-WH-{i:03}")
}

fn release(run: &str, warehouse: &str, n: usize) -> Value {
    json!({"kind": "SHIPPER_RELEASED", "correlation_id": format!("{run}-{n}"), "warehouse_id": warehouse,
           "document_ref": {"type": "SHIPPER", "id": format!("SH-{run}-{n}")},
           "routing": {"ops": [{"op_id": "op-1", "kind": "PICK", "qty": 1}, {"op_id": "op-2", "kind": "SHIP", "dock": "DOCK-1"}]},
           "meta": {"priority": "NORMAL"}})
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

/// When each correlation id's first attempt reached the receiver.
type Received = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiver() -> anyhow::Result<(String, Received)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let received: Received = Arc::default();
    let state = received.clone();
    let app = axum::Router::new().route(
        "/{warehouse}",
        axum::routing::post(move |_: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let at = Instant::now();
                if let Ok(event) = serde_json::from_slice::<Value>(&body)
                    && let Some(cid) = event["correlation_id"].as_str()
                {
                    state.lock().unwrap().entry(cid.to_owned()).or_insert(at);
                }
                StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, received))
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let mut request = client.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "HTTP {status}: {body}");
    Ok(body)
}

/// Posts `count` releases in arrays of 200.
async fn post_in_batches(
    client: &reqwest::Client,
    args: &Args,
    count: usize,
    release: impl Fn(usize) -> Value,
) -> anyhow::Result<()> {
    for chunk in (0..count).collect::<Vec<_>>().chunks(200) {
        let body = Value::Array(chunk.iter().map(|i| release(*i)).collect());
        let url = format!("{}/planner/v1/releases", args.hub);
        call(
            client,
            reqwest::Method::POST,
            url,
            &args.admin_key,
            Some(&body),
        )
        .await?;
    }
    Ok(())
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let load_before = load_average();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let hub = &args.hub;
    let admin = args.admin_key.as_str();
    let n = args.dispatch_warehouses;
    let (base, received) = receiver().await?;

    // Master data: the warehouses, a DOCK-1 each, an executor each; one more warehouse polled.
    let mut names: Vec<String> = (0..n).map(warehouse).collect();
    names.push(POLLED.into());
    let bundle = json!({
        "warehouses": names.iter().map(|w| json!({"warehouse_id": w})).collect::<Vec<_>>(),
        "locations": names.iter().map(|w| json!({"warehouse_id": w, "location": "DOCK-1"})).collect::<Vec<_>>(),
        "partners": names.iter().map(|w| {
            let mut p = json!({"partner_id": format!("{w}/exec"), "role": "EXECUTOR", "allowed_warehouses": [w]});
            if w == POLLED { p["api_keys"] = json!([POLL_KEY]); }
            p
        }).collect::<Vec<_>>(),
    });
    call(
        &client,
        reqwest::Method::POST,
        format!("{hub}/planner/v1/masterdata"),
        admin,
        Some(&bundle),
    )
    .await?;
    for w in &names {
        let transport = if w == POLLED {
            json!({"transport": "POLLING", "partner_id": format!("{w}/exec")})
        } else {
            json!({"transport": "WEBHOOK", "partner_id": format!("{w}/exec"), "url": format!("{base}/{w}"), "secret": SECRET})
        };
        call(
            &client,
            reqwest::Method::PUT,
            format!("{hub}/planner/v1/warehouses/{w}/dispatch-transport"),
            admin,
            Some(&transport),
        )
        .await?;
    }

    // 1. Steady rate: one release per request, round robin.
    let interval = Duration::from_secs_f64(1.0 / args.dispatch_rate);
    let count = (args.dispatch_seconds as f64 * args.dispatch_rate) as usize;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let steady_started = Instant::now();
    let mut posts = vec![];
    for i in 0..count {
        ticker.tick().await;
        let (client, url, admin, body) = (
            client.clone(),
            format!("{hub}/planner/v1/releases"),
            admin.to_owned(),
            release(&run, &warehouse(i % n), i),
        );
        posts.push(tokio::spawn(async move {
            let sent = Instant::now();
            call(&client, reqwest::Method::POST, url, &admin, Some(&body)).await?;
            anyhow::Ok((
                body["correlation_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                sent,
                Instant::now(),
            ))
        }));
    }
    let mut acked = vec![];
    let mut http = Histogram::<u64>::new(3).unwrap();
    for p in posts {
        let (cid, sent, at) = p.await??;
        http.record((at - sent).as_micros() as u64).unwrap();
        acked.push((cid, at));
    }
    let steady_rate = count as f64 / steady_started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for (cid, at) in &acked {
        let first = loop {
            if let Some(t) = received.lock().unwrap().get(cid).copied() {
                break t;
            }
            anyhow::ensure!(Instant::now() < deadline, "{cid} not delivered within 60 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        latency
            .record(first.saturating_duration_since(*at).as_micros() as u64)
            .unwrap();
    }
    println!(
        "steady: {steady_rate:.1} releases/s over {n} warehouses ({count} releases): release HTTP p50 {:.1} ms, p99 {:.1} ms; 200 -> first delivery attempt p50 {:.1} ms, p99 {:.1} ms",
        ms(&http, 0.5),
        ms(&http, 0.99),
        ms(&latency, 0.5),
        ms(&latency, 0.99)
    );

    // 2. A burst, in batches of 200 releases over every warehouse: deliveries/s.
    let burst_run = format!("{run}b");
    let burst = args.dispatch_burst;
    let posted = Instant::now();
    post_in_batches(&client, args, burst, |i| {
        release(&burst_run, &warehouse(i % n), i)
    })
    .await?;
    let posting = posted.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    let (first, last) = loop {
        let times: Vec<Instant> = {
            let got = received.lock().unwrap();
            (0..burst)
                .filter_map(|i| got.get(&format!("{burst_run}-{i}")).copied())
                .collect()
        };
        if times.len() == burst {
            break (*times.iter().min().unwrap(), *times.iter().max().unwrap());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} of {burst} delivered after 600 s",
            times.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let delivery_rate = burst as f64 / (last - first).as_secs_f64().max(0.001);
    println!(
        "burst: {burst} releases posted in {:.1} s; delivered at {delivery_rate:.0} deliveries/s (first to last receipt {:.1} s)",
        posting.as_secs_f64(),
        (last - first).as_secs_f64()
    );

    // 3. Polling: 1,000 releases to the polled warehouse, then pages of 100.
    let poll_run = format!("{run}p");
    post_in_batches(&client, args, 1000, |i| release(&poll_run, POLLED, i)).await?;
    let mut page = Histogram::<u64>::new(3).unwrap();
    let mut ack = Histogram::<u64>::new(3).unwrap();
    let mut polled = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while polled < 1000 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{polled} of 1000 polled after 60 s"
        );
        let started = Instant::now();
        let body = call(
            &client,
            reqwest::Method::GET,
            format!("{hub}/wes/v1/dispatch/pending?limit=100"),
            POLL_KEY,
            None,
        )
        .await?;
        page.record(started.elapsed().as_micros() as u64).unwrap();
        let events = body["events"].as_array().map_or(0, Vec::len);
        if events == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let started = Instant::now();
        call(
            &client,
            reqwest::Method::POST,
            format!("{hub}/wes/v1/dispatch/ack"),
            POLL_KEY,
            Some(&json!({"cursor": body["next_cursor"]})),
        )
        .await?;
        ack.record(started.elapsed().as_micros() as u64).unwrap();
        polled += events;
    }
    println!(
        "polling: pages of 100 p50 {:.1} ms, p99 {:.1} ms; ack p50 {:.1} ms, p99 {:.1} ms",
        ms(&page, 0.5),
        ms(&page, 0.99),
        ms(&ack, 0.5),
        ms(&ack, 0.99)
    );
    let load_after = load_average();
    println!("load average before: {load_before}; after: {load_after}");
    let summary = json!({
        "warehouses": n, "steady_per_s": steady_rate, "release_http_p99_ms": ms(&http, 0.99),
        "first_attempt_p50_ms": ms(&latency, 0.5), "first_attempt_p99_ms": ms(&latency, 0.99),
        "burst": burst, "deliveries_per_s": delivery_rate.round(),
        "poll_page_p50_ms": ms(&page, 0.5), "poll_page_p99_ms": ms(&page, 0.99), "ack_p99_ms": ms(&ack, 0.99),
        "load_before": load_before, "load_after": load_after,
    });
    println!("{summary}");
    Ok(())
}
