//! Reference executors, the examples an executor vendor copies (docs/executors.md):
//! - `receive_webhooks`: verifies the signature over the raw body before parsing anything, answers
//!   401 on a bad one, dedups on `(planner_id, correlation_id)` for 24 h, prints events in order;
//! - `poll`: reads pages, appends each durably (fsync) to a store file before acknowledging it,
//!   and resumes from that file after a crash.

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wes_domain::webhook::verify;

/// How long a delivered `(planner_id, correlation_id)` is remembered.
const DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Whether a signature header of the request is the HMAC of the raw body under one of `secrets`.
fn verified(headers: &HeaderMap, body: &[u8], secrets: &[String]) -> bool {
    let given: Vec<&str> = ["x-fgai-signature", "x-fgai-signature-previous"]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .collect();
    secrets
        .iter()
        .any(|secret| given.iter().any(|g| verify(secret, body, g)))
}

struct Receiver {
    secrets: Vec<String>,
    seen: Mutex<HashMap<(String, String), Instant>>,
    printed: Mutex<usize>,
    max: Option<usize>,
    done: tokio::sync::watch::Sender<bool>,
}

impl Receiver {
    fn receive(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, String) {
        if !verified(headers, body, &self.secrets) {
            return (
                StatusCode::UNAUTHORIZED,
                "bad or missing X-FGAI-Signature".into(),
            );
        }
        let Ok(event) = serde_json::from_slice::<Value>(body) else {
            return (StatusCode::BAD_REQUEST, "the body is not JSON".into());
        };
        // Events without their identity are printed, never taken for duplicates of each other.
        if let (Some(planner), Some(correlation)) = (
            event["planner_id"].as_str(),
            event["correlation_id"].as_str(),
        ) {
            let mut seen = self.seen.lock().expect("lock");
            seen.retain(|_, at| at.elapsed() < DEDUP_WINDOW);
            let key = (planner.to_owned(), correlation.to_owned());
            if seen.insert(key, Instant::now()).is_some() {
                return (StatusCode::OK, "duplicate, already processed".into());
            }
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let line = json!({"delivery_id": header("x-fgai-delivery-id"),
                          "attempt": header("x-fgai-attempt"), "event": event});
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        let mut printed = self.printed.lock().expect("lock");
        *printed += 1;
        if self.max.is_some_and(|m| *printed >= m) {
            let _ = self.done.send(true);
        }
        (StatusCode::OK, "processed".into())
    }
}

/// `wes executor webhook`: serves `POST /` (any path) on `listen` until `max` events or Ctrl-C.
pub async fn receive_webhooks(
    listen: &str,
    secrets: Vec<String>,
    max: Option<usize>,
) -> anyhow::Result<()> {
    if secrets.is_empty() {
        bail!("give the signing secret with --secret (twice during a rotation)");
    }
    let (done, mut finished) = tokio::sync::watch::channel(false);
    let receiver = Arc::new(Receiver {
        secrets,
        seen: Mutex::default(),
        printed: Mutex::new(0),
        max,
        done,
    });
    let handler = move |headers: HeaderMap, body: Bytes| {
        let receiver = receiver.clone();
        async move { receiver.receive(&headers, &body) }
    };
    let app = axum::Router::new()
        .route("/", axum::routing::post(handler.clone()))
        .route("/{*path}", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    eprintln!(
        "wes: receiving webhooks on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = finished.wait_for(|done| *done) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await?;
    Ok(())
}

/// How `executor poll` reaches the hub and when it stops.
pub struct PollOptions<'a> {
    pub hub: &'a str,
    pub key: &'a str,
    pub warehouse: Option<&'a str>,
    pub interval: Duration,
    pub max: Option<usize>,
}

/// The store file's last acknowledged cursor; a page written only in part (a crash while
/// writing) is cut off, to be fetched again.
fn resume(store: &Path) -> anyhow::Result<Option<String>> {
    let Ok(file) = std::fs::File::open(store) else {
        return Ok(None);
    };
    let (mut kept, mut cursor, mut at) = (0u64, None, 0u64);
    let mut reader = std::io::BufReader::new(file);
    let mut line = vec![];
    // Only whole lines count: a last line without its newline was cut short by a crash.
    while reader.read_until(b'\n', &mut line)? > 0 && line.ends_with(b"\n") {
        at += line.len() as u64;
        if let Ok(value) = serde_json::from_slice::<Value>(&line)
            && let Some(c) = value.get("cursor").and_then(Value::as_str)
        {
            cursor = Some(c.to_owned());
            kept = at;
        }
        line.clear();
    }
    let file = std::fs::OpenOptions::new().write(true).open(store)?;
    if file.metadata()?.len() > kept {
        eprintln!("wes: dropping a page written in part before a crash; it is fetched again");
        file.set_len(kept)?;
        file.sync_all()?;
    }
    Ok(cursor)
}

/// `wes executor poll`: pages → store file (fsync) → ack, until `max` events or Ctrl-C.
pub async fn poll(store: &Path, options: PollOptions<'_>) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut since = resume(store)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store)
        .with_context(|| format!("opening {}", store.display()))?;
    let ack = |cursor: String| {
        let (client, hub, key) = (
            client.clone(),
            options.hub.to_owned(),
            options.key.to_owned(),
        );
        let warehouse = options.warehouse.map(str::to_owned);
        async move {
            let mut body = json!({"cursor": cursor});
            if let Some(w) = warehouse {
                body["warehouse_id"] = w.into();
            }
            let response = loop {
                match client
                    .post(format!("{hub}/wes/v1/dispatch/ack"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(response) if response.status().as_u16() != 503 => break response,
                    // Stored already: the ack is retried until the hub takes it.
                    Ok(_) => eprintln!("wes: the hub is busy; retrying the ack"),
                    Err(e) => eprintln!("wes: the hub is unreachable ({e}); retrying the ack"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            };
            match response.status().as_u16() {
                // 409: the position is further already (another poller): nothing to do.
                200 | 409 => Ok(()),
                status => bail!("ack answered {status}: {}", response.text().await?),
            }
        }
    };
    // A crash may have come between the store's fsync and the ack: ack again (idempotent).
    if let Some(cursor) = &since {
        ack(cursor.clone()).await?;
    }
    let mut seen = 0;
    while options.max.is_none_or(|m| seen < m) {
        let mut url = format!("{}/wes/v1/dispatch/pending?limit=100", options.hub);
        if let Some(cursor) = &since {
            url.push_str(&format!("&since={cursor}"));
        }
        if let Some(w) = options.warehouse {
            url.push_str(&format!("&warehouse_id={w}"));
        }
        let response = match client.get(&url).bearer_auth(options.key).send().await {
            Ok(response) => response,
            Err(e) => {
                eprintln!("wes: the hub is unreachable ({e}); retrying");
                tokio::time::sleep(options.interval.max(Duration::from_secs(1))).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        if status == 429 || status == 503 {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .map_or(options.interval, Duration::from_secs);
            tokio::time::sleep(wait).await;
            continue;
        }
        if status != 200 {
            bail!("pending answered {status}: {}", response.text().await?);
        }
        let page: Value = response.json().await?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        let cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
        if events.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(options.interval) => continue,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        // The page and its cursor, durably, before the ack: the store is what was processed.
        let mut text = String::new();
        for event in &events {
            text.push_str(&json!({"event": event}).to_string());
            text.push('\n');
        }
        text.push_str(&json!({"cursor": cursor}).to_string());
        text.push('\n');
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        ack(cursor.clone()).await?;
        let mut out = std::io::stdout().lock();
        for event in &events {
            writeln!(out, "{event}")?;
        }
        out.flush()?;
        seen += events.len();
        since = Some(cursor);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_signature_over_the_raw_body_with_a_known_secret_verifies() {
        use wes_domain::webhook::signature;
        let body = br#"{"planner_id":"P","correlation_id":"c"}"#;
        let secrets = vec!["new-secret-0123456789".to_owned()];
        let mut headers = HeaderMap::new();
        assert!(!verified(&headers, body, &secrets), "no signature");
        headers.insert(
            "x-fgai-signature",
            signature("old-secret-0123456789", body).parse().unwrap(),
        );
        assert!(!verified(&headers, body, &secrets));
        headers.insert(
            "x-fgai-signature-previous",
            signature("new-secret-0123456789", body).parse().unwrap(),
        );
        assert!(verified(&headers, body, &secrets), "during a rotation");
        assert!(!verified(&headers, b"{}", &secrets), "another body");
    }
}
