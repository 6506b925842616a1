//! Supervision of the embedded broker (`wes-broker`, a child process): start it, wait until it
//! answers, restart it if it dies. The child exits by itself when this process goes away (its stdin
//! pipe closes), so a killed hub never leaves an orphan broker holding the port.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

pub fn broker_binary(configured: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = configured {
        return Ok(path.to_path_buf());
    }
    let exe = std::env::current_exe().context("locating the wes executable")?;
    let sibling = exe.with_file_name(format!("wes-broker{}", std::env::consts::EXE_SUFFIX));
    if sibling.exists() {
        Ok(sibling)
    } else {
        bail!(
            "the embedded broker binary {} is missing: build it with `cargo build --release --locked` (it builds both binaries), \
             set WES_BROKER_BIN, or point KAFKA_BOOTSTRAP_SERVERS at a Kafka cluster",
            sibling.display()
        )
    }
}

fn spawn(binary: &Path, listen: &str, data_dir: &Path) -> anyhow::Result<Child> {
    Command::new(binary)
        .arg("--listen")
        .arg(listen)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--exit-with-parent")
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

async fn reachable(bootstrap: &str) -> bool {
    // A plain TCP connect first: a Kafka client against a closed port logs an error per attempt.
    if tokio::net::TcpStream::connect(bootstrap).await.is_err() {
        return false;
    }
    let bootstrap = bootstrap.to_owned();
    tokio::task::spawn_blocking(move || {
        wes_kafka::consumer::metadata_client(&bootstrap)
            .map(|c| wes_kafka::consumer::broker_reachable(&c, Duration::from_secs(1)))
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Starts the broker and returns once it answers; keeps it running in the background.
pub async fn start(binary: PathBuf, listen: String, data_dir: PathBuf) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut child = spawn(&binary, &listen, &data_dir)?;
    loop {
        if reachable(&listen).await {
            break;
        }
        if let Some(status) = child.try_wait()? {
            // A previous broker (of a hub that was just killed) may still hold the port or database.
            if Instant::now() > deadline {
                bail!(
                    "the embedded broker keeps exiting ({status}); is {listen} in use by another process?"
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            child = spawn(&binary, &listen, &data_dir)?;
            continue;
        }
        if Instant::now() > deadline {
            bail!("the embedded broker did not answer on {listen} within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::info!(%listen, "embedded broker ready");
    tokio::spawn(async move {
        loop {
            // `wait` closes the child's stdin, which the broker takes as "parent gone": keep our end.
            let _keep_open = child.stdin.take();
            let status = child.wait().await;
            tracing::error!(?status, "embedded broker exited; restarting it");
            tokio::time::sleep(Duration::from_secs(1)).await;
            match spawn(&binary, &listen, &data_dir) {
                Ok(c) => child = c,
                Err(e) => {
                    tracing::error!(error = %e, "cannot restart the embedded broker");
                    return;
                }
            }
        }
    });
    Ok(())
}
