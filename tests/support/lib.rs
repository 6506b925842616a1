//! Test harness: spawns the real `wes` binary (with its embedded broker and registry) on fresh ports
//! and a fresh data directory, optionally on a fresh PostgreSQL database, and talks to it over HTTP.
//! The binaries must be built first (`cargo build --bins`, which the test script does).

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_KEY: &str = "test-admin-key-000000000000";
pub const ACME_KEY: &str = "test-acme-key-0000000000000";
pub const BETA_KEY: &str = "test-beta-key-0000000000000";
/// The demo supervisor of WH-Tokyo-01.
pub const SUPERVISOR_KEY: &str = "test-supervisor-key-0000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The directory holding the workspace's binaries (`target/debug` or `target/release`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile directory")
        .to_path_buf();
    assert!(
        dir.join("wes").exists(),
        "{} has no `wes` binary: run `cargo build --bins` first (scripts/test does)",
        dir.display()
    );
    dir
}

/// A program of the test virtualenv (`python`, `schemathesis`): next to `WES_TEST_PYTHON`, else in
/// the one `scripts/test` creates from `tests/python/requirements.txt`.
pub fn python_tool(name: &str) -> PathBuf {
    let python = std::env::var_os("WES_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME is set"))
                .join(".cache/wes-py/bin/python")
        });
    let tool = python.with_file_name(name);
    assert!(
        tool.exists(),
        "{} is missing: run scripts/test (it creates the virtualenv from tests/python/requirements.txt) or set WES_TEST_PYTHON",
        tool.display()
    );
    tool
}

/// Runs `command` (an ecosystem tool: a Python client, schemathesis) off the async runtime and
/// fails the test with its output unless it succeeds.
pub async fn run_to_success(mut command: Command, what: &str) {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the tool's task")
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Waits for `child` to exit, blocking on the exit itself: its status, or `None` when `timeout`
/// passed first (the child is then killed).
pub fn exit_within(mut child: Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let pid = child.id();
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || exited.send(child.wait().expect("waiting for a child")));
    match exit.recv_timeout(timeout) {
        Ok(status) => Some(status),
        Err(_) => {
            Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .ok();
            exit.recv().ok();
            None
        }
    }
}

/// The checkout under test. Read at run time (cargo and nextest set `CARGO_MANIFEST_DIR` for each
/// test process): this support library may have been compiled for another checkout sharing the
/// target directory, with identical sources.
pub fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().expect("workspace root").to_path_buf()
}

/// A port for a hub to listen on. Taken below Linux's ephemeral range (32768+), which the OS hands
/// to outgoing connections (and to `bind(0)`): a port found free there could be taken by some
/// client's connection before the hub binds it. Each test process (nextest runs one test per
/// process) starts at its own offset, and a port that is bound already is skipped.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 10_000;
    const SPAN: u32 = 22_000;
    loop {
        let n = std::process::id() * 16 + NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + n % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn postgres_base() -> String {
    std::env::var("WES_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn create_database() -> (String, String) {
    sqlx::any::install_default_drivers();
    let base = postgres_base();
    let name = format!("wes_hub_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::AnyPool::connect(&base)
        .await
        .expect("PostgreSQL must be reachable at WES_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    (format!("{server}/{name}"), name)
}

/// Waits until `check` gives a value, asking again on a short interval, and fails the test with
/// `what` when `timeout` passes first. Every condition the tests wait for goes through here.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    loop {
        ticks.tick().await;
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
    }
}

/// Runs each named `async fn(Db)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_sqlite_and_postgres {
    ($($test:ident),*) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread")] async fn $test() { super::$test($crate::Db::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")] async fn $test() { super::$test($crate::Db::Postgres).await })*
        }
    };
}

pub struct Hub {
    child: Option<Child>,
    pub db: Db,
    pub http_url: String,
    pub bootstrap: String,
    pub registry_url: String,
    pub data_dir: tempfile::TempDir,
    database: Option<(String, String)>,
    ports: (u16, u16, u16),
    extra_env: Vec<(String, String)>,
    /// Where the hub's stderr (its log) goes; inherited when `None`.
    log_file: Option<PathBuf>,
    pub client: reqwest::Client,
}

impl Hub {
    pub async fn start(db: Db) -> Hub {
        Self::start_with(db, &[]).await
    }

    /// A hub with extra environment settings (e.g. tighter limits).
    pub async fn start_with(db: Db, env: &[(&str, &str)]) -> Hub {
        Self::start_logged(db, env, None).await
    }

    /// A hub whose log (stderr) is written to `log_file`.
    pub async fn start_logged(db: Db, env: &[(&str, &str)], log_file: Option<PathBuf>) -> Hub {
        let database = match db {
            Db::Sqlite => None,
            Db::Postgres => Some(create_database().await),
        };
        let ports = (free_port(), free_port(), free_port());
        let mut hub = Hub {
            child: None,
            db,
            http_url: format!("http://127.0.0.1:{}", ports.0),
            bootstrap: format!("127.0.0.1:{}", ports.1),
            registry_url: format!("http://127.0.0.1:{}", ports.2),
            data_dir: tempfile::tempdir().unwrap(),
            database,
            ports,
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            log_file,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        hub.spawn().await;
        hub
    }

    fn command(&self, bin: &str) -> Command {
        let mut command = Command::new(bin_dir().join(bin));
        command
            .env("WES_HTTP_ADDR", format!("127.0.0.1:{}", self.ports.0))
            .env("WES_KAFKA_LISTEN", &self.bootstrap)
            .env("KAFKA_BOOTSTRAP_SERVERS", "")
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .env_remove("SCHEMA_REGISTRY_URL")
            .env("WES_REGISTRY_ADDR", format!("127.0.0.1:{}", self.ports.2))
            .env("WES_DATA_DIR", self.data_dir.path())
            .env("WES_ADMIN_KEY", ADMIN_KEY)
            .env("WES_DEMO_KEY_ACME", ACME_KEY)
            .env("WES_DEMO_KEY_BETA", BETA_KEY)
            .env("WES_DEMO_KEY_SUPERVISOR", SUPERVISOR_KEY)
            .env("WES_HUB_URL", &self.http_url)
            .env(
                "WES_LOG",
                std::env::var("WES_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            );
        command.envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match &self.database {
            Some((url, _)) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        command
    }

    /// A `wes` CLI command pointed at this hub and its broker and registry.
    pub fn cli(&self) -> Command {
        let mut command = self.command("wes");
        command
            .env("KAFKA_BOOTSTRAP_SERVERS", &self.bootstrap)
            .env("SCHEMA_REGISTRY_URL", &self.registry_url);
        command
    }

    async fn spawn(&mut self) {
        let mut command = self.command("wes");
        let stderr = match &self.log_file {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("the hub's log file")),
            None => Stdio::inherit(),
        };
        command
            .args(["serve", "--demo"])
            .stdout(Stdio::null())
            .stderr(stderr);
        self.child = Some(command.spawn().expect("spawning wes serve"));
        self.wait_ready().await;
    }

    pub async fn wait_ready(&mut self) {
        let url = format!("{}/readyz", self.http_url);
        let (client, child) = (self.client.clone(), &mut self.child);
        eventually("the hub becomes ready", Duration::from_secs(120), || {
            if let Some(status) = child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("wes serve exited during start: {status}");
            }
            let request = client.get(&url).send();
            async move {
                request
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        })
        .await;
    }

    /// The embedded broker's process id (the `wes-broker` child of the hub).
    pub fn broker_pid(&self) -> String {
        let hub = self.child.as_ref().expect("the hub runs").id().to_string();
        let out = Command::new("pgrep")
            .args(["-P", &hub, "wes-broker"])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("a wes-broker child")
            .trim()
            .to_owned()
    }

    /// Freezes (`STOP`) or resumes (`CONT`) the broker: a hung dependency, not a refused one.
    pub fn signal_broker(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.broker_pid()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// PostgreSQL outage: the hub's database refuses new connections and its open ones are cut
    /// (`accepting = false`), or accepts them again.
    pub async fn set_database_accepting(&self, accepting: bool) {
        let (_, name) = self.database.as_ref().expect("a PostgreSQL hub");
        let admin = sqlx::AnyPool::connect(&postgres_base()).await.unwrap();
        sqlx::query(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS {accepting}"
        ))
        .execute(&admin)
        .await
        .unwrap();
        if !accepting {
            sqlx::query(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .execute(&admin)
            .await
            .unwrap();
        }
        admin.close().await;
    }

    /// SIGKILL: no shutdown code runs, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// SIGTERM, as an operator stops the hub; waits (at most 60 s) for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let child = self.child.take().expect("the hub runs");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        exit_within(child, Duration::from_secs(60))
            .expect("the hub did not stop within 60 s of SIGTERM")
    }

    /// Crash and start again on the same data directory and database.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// A request with an optional key and JSON body: the status and the JSON body of the answer.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.http_url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request reaches the hub");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(key), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(key), Some(body))
            .await
    }

    /// `GET` with a key (or none).
    pub async fn get(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, key, None).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> u16 {
        let response = self
            .client
            .delete(format!("{}{path}", self.http_url))
            .bearer_auth(key)
            .send()
            .await;
        response.expect("request reaches the hub").status().as_u16()
    }

    pub async fn movements(&self, body: &Value) -> (u16, Value) {
        self.post("/wes/v1/realtime/movements", ACME_KEY, body)
            .await
    }

    /// Every record of `topic` up to its current end, decoded by schema id, in partition order.
    pub async fn read_topic(&self, topic: &str) -> Vec<wes_events::Event> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::{Message, Offset};
        let client = wes_kafka::consumer::metadata_client(&self.bootstrap).unwrap();
        let partitions = wes_kafka::consumer::partitions(&client, topic).unwrap();
        let codec =
            wes_kafka::Codec::new(&self.registry_url, &wes_events::Catalog::embedded()).unwrap();
        let mut events = vec![];
        for partition in 0..partitions {
            let (low, high) = wes_kafka::consumer::watermarks(&client, topic, partition).unwrap();
            if high <= low {
                continue;
            }
            let consumer: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &self.bootstrap)
                .set("group.id", "wes-tests-reader")
                .set("enable.auto.commit", "false")
                .create()
                .unwrap();
            let mut list = rdkafka::TopicPartitionList::new();
            list.add_partition_offset(topic, partition, Offset::Offset(low))
                .unwrap();
            consumer.assign(&list).unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut next = low;
            while next < high {
                assert!(Instant::now() < deadline, "reading {topic}/{partition}");
                if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                    let message = message.unwrap().detach();
                    next = message.offset() + 1;
                    events.push(codec.decode(message.payload().unwrap()).await.unwrap());
                }
            }
        }
        events
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.http_url))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Waits until every projection has applied everything in the log (a condition, not a sleep).
    pub async fn wait_caught_up(&self) {
        eventually(
            "every projection catches up with the log",
            Duration::from_secs(60),
            || async {
                let status = self.admin_get("/planner/v1/projections").await;
                status["projections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| p["caught_up"] == Value::Bool(true))
                    .then_some(())
            },
        )
        .await;
    }

    /// Balance of one (SKU, location) in WH-Tokyo-01, 0 when absent.
    pub async fn balance(&self, sku: &str, location: &str) -> i64 {
        let rows = self
            .admin_get(&format!(
                "/planner/v1/ledger/balances?warehouse_id=WH-Tokyo-01&sku={sku}&location={location}"
            ))
            .await;
        rows["balances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["qty"].as_i64().unwrap())
            .sum()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
        if let Some((_, name)) = self.database.take() {
            // Best effort: a fresh runtime, since Drop cannot await.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    if let Ok(admin) = sqlx::AnyPool::connect(&postgres_base()).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&admin)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A movement in WH-Tokyo-01 as JSON.
pub fn movement(
    cid: &str,
    kind: &str,
    sku: &str,
    qty: i64,
    from: Option<&str>,
    to: Option<&str>,
) -> Value {
    let mut m = serde_json::json!({
        "correlation_id": cid, "kind": kind, "warehouse_id": "WH-Tokyo-01", "sku": sku, "qty": qty,
        "uom": if sku == "SKU-CABLE-USB" { "CS" } else { "EA" }, "occurred_at": "2026-11-21T06:10:00Z"
    });
    if let Some(f) = from {
        m["from_location"] = f.into();
    }
    if let Some(t) = to {
        m["to_location"] = t.into();
    }
    m
}
