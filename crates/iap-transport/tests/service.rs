//! `examples/service.rs` run as its users run it: built, started as a
//! process, sent orders and CloudEvents over HTTP, stopped with SIGINT as
//! soon as the last answer is in, started again, and stopped again. Nothing is
//! lost: every order has its event, every event is delivered once, and the
//! service exits 0 both times.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use iap_store::sqlite::rusqlite::Connection;
use iap_test_support::temp_db::TempDb;
use iap_transport::http::reqwest::Client;
use serde_json::{Value, json};

const ORDERS: i64 = 200;

/// The example's binary, built as `cargo test --workspace --all-features`
/// (the README's test command) builds it: a no-op after that command, and a
/// build of the workspace with every feature when this test runs alone.
fn service_binary() -> PathBuf {
    let test = std::env::current_exe().unwrap();
    // target/<profile>/deps/service-<hash>
    let profile_dir = test.parent().and_then(Path::parent).unwrap();
    let mut build = Command::new(env!("CARGO"));
    build.args([
        "build",
        "--workspace",
        "--all-features",
        "--example",
        "service",
    ]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build.status().unwrap();
    assert!(status.success(), "cargo build --example service: {status}");
    profile_dir.join("examples").join("service")
}

/// The service running on a free port with its database at `db`.
struct Service {
    child: Child,
    stdout: BufReader<ChildStdout>,
    url: String,
}

impl Service {
    fn start(binary: &Path, db: &Path) -> Service {
        let mut child = Command::new(binary)
            .env("IAP_SERVICE_ADDR", "127.0.0.1:0")
            .env("IAP_SERVICE_DB", db)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the service said {first:?}"))
            .to_owned();
        Service { child, stdout, url }
    }

    /// Sends SIGINT (as ctrl-c does) and waits for the exit; what it printed.
    /// (A test that fails before this kills the service on drop.)
    fn interrupt(mut self) -> String {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(kill.success());
        let status = self.child.wait().unwrap();
        let mut printed = String::new();
        self.stdout.read_to_string(&mut printed).unwrap();
        assert!(status.success(), "exit {status}: {printed}");
        printed
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // Already gone after `interrupt`; otherwise a failed assertion must
        // not leave a server running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post_order(client: &Client, url: &str, n: i64) -> u16 {
    client
        .post(format!("{url}/orders"))
        .header("content-type", "application/json")
        .body(json!({ "customer": format!("customer-{n}"), "total_cents": 100 + n }).to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn post_contact(client: &Client, url: &str, id: &str, event_type: &str, data: Value) -> u16 {
    client
        .post(format!("{url}/events"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/crm")
        .header("ce-type", event_type)
        .header("content-type", "application/json")
        .body(data.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn number(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |row| row.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_loses_nothing_when_interrupted_and_started_again() {
    let binary = service_binary();
    let db = TempDb::new("service");
    let service = Service::start(&binary, db.path());
    let client = Client::new();

    let placing: Vec<_> = (0..ORDERS)
        .map(|n| {
            let (client, url) = (client.clone(), service.url.clone());
            tokio::spawn(async move { post_order(&client, &url, n).await })
        })
        .collect();
    for placed in placing {
        assert_eq!(placed.await.unwrap(), 201);
    }
    let created = json!({ "contact_id": 7, "name": "Ada" });
    let updated = json!({ "contact_id": 7, "name": "Ada Lovelace" });
    let url = &service.url;
    assert_eq!(
        post_contact(&client, url, "c-1", "crm.contact.created", created.clone()).await,
        201
    );
    assert_eq!(
        post_contact(&client, url, "c-1", "crm.contact.created", created).await,
        200
    );
    assert_eq!(
        post_contact(&client, url, "c-2", "crm.contact.updated", updated).await,
        201
    );
    assert_eq!(
        post_contact(&client, url, "c-3", "crm.contact.merged", json!({})).await,
        500
    );

    // Interrupted with events still to deliver.
    let printed = service.interrupt();
    assert!(printed.contains("stopping\nstopped: "), "{printed}");
    {
        let db = Connection::open(db.path()).unwrap();
        assert_eq!(number(&db, "SELECT COUNT(*) FROM orders"), ORDERS);
        // Every order has its event, none left claimed.
        assert_eq!(
            number(
                &db,
                "SELECT COUNT(*) FROM orders JOIN iap_outbox
                 ON iap_outbox.event_id = 'order-' || orders.id || '-placed'"
            ),
            ORDERS
        );
        assert_eq!(
            number(
                &db,
                "SELECT COUNT(*) FROM iap_outbox WHERE status = 'dispatched'"
            ),
            0
        );
        assert_eq!(
            number(
                &db,
                "SELECT COUNT(*) FROM contacts
                 WHERE data ->> '$.name' = 'Ada Lovelace' AND last_event = 'c-2'"
            ),
            1
        );
    }

    // Started again, it delivers the rest.
    let service = Service::start(&binary, db.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    let watch = Connection::open(db.path()).unwrap();
    while number(&watch, "SELECT COUNT(*) FROM shipments") < ORDERS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service.interrupt();
    assert_eq!(
        number(
            &watch,
            "SELECT COUNT(*) FROM iap_outbox WHERE status = 'processed'"
        ),
        ORDERS
    );
    assert_eq!(number(&watch, "SELECT COUNT(*) FROM shipments"), ORDERS);
    assert_eq!(
        number(&watch, "SELECT COUNT(DISTINCT order_id) FROM shipments"),
        ORDERS
    );
}

/// The README walks through the example in excerpts: each is in the file.
#[test]
fn the_readme_s_excerpts_of_the_service_are_in_the_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example =
        std::fs::read_to_string(root.join("crates/iap-transport/examples/service.rs")).unwrap();
    let section = readme
        .split("## Getting started: a whole service")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let excerpts: Vec<&str> = section
        .split("```rust,ignore\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .collect();
    assert_eq!(excerpts.len(), 4);
    for excerpt in excerpts {
        assert!(example.contains(excerpt), "not in the example:\n{excerpt}");
    }
}
