//! Faults on the broker path: 20,000 orders go from an outbox, through the
//! async relay and NATS JetStream, to a consumer process that admits each
//! into an inbox (one shipment per order). During the run the nats-server is
//! killed with SIGKILL and restarted twice, and the consumer process is
//! killed with SIGKILL and restarted. At the end every order is shipped
//! exactly once and every event is delivered: nothing is lost or doubled.
//!
//! This file is its own test harness: run without arguments it supervises
//! (it starts its own nats-server, which it can kill); `broker_faults
//! consumer <nats url> <inbox file>` is the consumer process it kills.
//! Without a `nats-server` on the PATH it skips, except under `CI=true`.

use iap_test_support::temp_db;
use iap_test_support::warehouse;

use std::error::Error;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, stream};
use chrono::Utc;
use iap_relay::{Relay, RelayConfig, RelayWaker};
use iap_store::sqlite::AsyncSqliteStore;
use iap_store::sqlx;
use iap_store::{AsyncDeliveryStore, StoreOptions};
use iap_transport::nats::{NatsConsumer, NatsSender, async_nats};
use integration_automation_patterns::{DeliveryStatus, Envelope, RetryPolicy};
use serde_json::{Value, json};
use temp_db::TempDb;
use tokio::sync::oneshot;
use warehouse::{ScratchDir, create_shipments, ship, shipments};

const ORDERS: u32 = 20_000;
/// Orders placed in one transaction of the shop.
const ORDERS_PER_COMMIT: u32 = 50;
const STREAM: &str = "orders";
const DEADLINE: Duration = Duration::from_secs(600);

type Failure = Box<dyn Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, url, inbox] = &args[..]
        && role == "consumer"
    {
        return match runtime().block_on(consume(url, Path::new(inbox))) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("consumer: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if Command::new("nats-server")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            eprintln!("nats-server is not on the PATH: run the tests through scripts/test-all.sh");
            println!("broker_faults: 0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
        println!(
            "broker_faults: skipped (no nats-server on the PATH; scripts/nats.sh installs it)"
        );
        return ExitCode::SUCCESS;
    }
    match runtime().block_on(supervise()) {
        Ok(summary) => {
            println!("{summary}");
            println!("broker_faults: 1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Err(broken) => {
            eprintln!("broker_faults: {broken}");
            println!("broker_faults: 0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the pipeline, kills the server and the consumer at fixed points of
/// its progress, and checks the end state.
async fn supervise() -> Result<String, Failure> {
    let started = Instant::now();
    let store_dir = ScratchDir::new("broker-faults-nats");
    let mut server = NatsServer::start(store_dir.path())?;
    let jetstream = connect(&server.url()).await?;
    let stream = jetstream
        .create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec![format!("{STREAM}.>")],
            ..Default::default()
        })
        .await?;
    stream
        .create_consumer(pull::Config {
            durable_name: Some("warehouse".into()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: Duration::from_secs(2),
            ..Default::default()
        })
        .await?;

    let inbox_db = TempDb::new("broker-faults-inbox");
    let inbox = AsyncSqliteStore::open(inbox_db.path(), StoreOptions::default()).await?;
    create_shipments(&inbox).await;
    let mut consumer = ConsumerProcess::start(&server.url(), inbox_db.path())?;

    let shop_db = TempDb::new("broker-faults-shop");
    let shop = AsyncSqliteStore::open(shop_db.path(), StoreOptions::default()).await?;
    let relay = Relay::new(
        shop.clone(),
        NatsSender::new(jetstream, &format!("{STREAM}.placed"))?,
    )
    .with_config(RelayConfig::default().send_timeout(Duration::from_secs(5)));
    let waker = relay.waker();
    let (stop_relay, relay_stopped) = oneshot::channel::<()>();
    let relaying = tokio::spawn(relay.run::<Value>(async {
        let _ = relay_stopped.await;
    }));
    let placing = tokio::spawn(place_orders(shop.clone(), waker));

    // The faults, each when the relay has delivered (for the server) or the
    // warehouse has shipped (for the consumer) this share of the orders, so
    // that each strikes its side mid-run.
    let mut faults = vec![
        (0.15, Fault::KillServer),
        (0.40, Fault::KillConsumer),
        (0.65, Fault::KillServer),
    ]
    .into_iter()
    .peekable();
    let mut log = Vec::new();
    loop {
        let delivered = delivered(&shop).await?;
        let (shipments, _) = shipments(&inbox).await;
        if let Some((share, fault)) = faults.peek() {
            let progress = match fault {
                Fault::KillServer => delivered as f64,
                Fault::KillConsumer => shipments as f64,
            };
            if progress >= share * f64::from(ORDERS) {
                match fault {
                    Fault::KillServer => server.kill_and_restart().await?,
                    Fault::KillConsumer => consumer.kill_and_restart()?,
                }
                log.push(format!(
                    "{fault:?} at {delivered} delivered, {shipments} shipped"
                ));
                faults.next();
            }
        }
        if faults.peek().is_none() && delivered == u64::from(ORDERS) {
            break;
        }
        if started.elapsed() > DEADLINE {
            return Err(format!(
                "not done in {DEADLINE:?}: {delivered} delivered, {shipments} shipped, faults: {log:?}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    placing.await??;
    // The last acknowledgements may still be on their way: wait until the
    // warehouse has shipped every order, then a little more for a late
    // duplicate to show.
    let settle_deadline = Instant::now() + Duration::from_secs(60);
    while shipments(&inbox).await.1 < i64::from(ORDERS) && Instant::now() < settle_deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop_relay.send(());
    relaying.await??;
    consumer.kill()?;
    server.kill()?;

    let counts = shop.counts().await?;
    let (shipments, orders_shipped) = shipments(&inbox).await;
    let dead_letters = counts
        .outbox
        .get(&DeliveryStatus::Failed)
        .copied()
        .unwrap_or(0);
    if dead_letters != 0 {
        return Err(format!("{dead_letters} events became dead letters").into());
    }
    if orders_shipped != i64::from(ORDERS) {
        return Err(
            format!("{orders_shipped} of {ORDERS} orders were shipped: events were lost").into(),
        );
    }
    if shipments != orders_shipped {
        return Err(format!(
            "{shipments} shipments for {orders_shipped} orders: an effect ran twice"
        )
        .into());
    }
    let resent: i64 = sqlx::query_scalar("SELECT count(*) FROM iap_outbox WHERE attempts > 1")
        .fetch_one(shop.pool())
        .await?;
    Ok(format!(
        "{ORDERS} orders, each delivered and shipped exactly once in {:.1} s ({resent} events \
         published more than once); faults: {}",
        started.elapsed().as_secs_f64(),
        log.join("; ")
    ))
}

#[derive(Debug)]
enum Fault {
    KillServer,
    KillConsumer,
}

/// Places the orders, each with its event, `ORDERS_PER_COMMIT` to a
/// transaction, waking the relay after each commit.
async fn place_orders(shop: AsyncSqliteStore, waker: RelayWaker) -> Result<(), String> {
    // A broker down for a while must not turn events into dead letters.
    let retry = RetryPolicy::builder()
        .max_attempts(1_000)
        .backoff(Duration::from_millis(50))
        .max_backoff(Duration::from_secs(1))
        .build()
        .map_err(|error| error.to_string())?;
    for first in (0..ORDERS).step_by(ORDERS_PER_COMMIT as usize) {
        let mut tx = shop.begin().await.map_err(|error| error.to_string())?;
        for order_id in first..first + ORDERS_PER_COMMIT {
            let event = Envelope::builder()
                .event_id(format!("order-{order_id}-placed"))
                .event_type("shop.order.placed")
                .source_system("shop")
                .payload(json!({ "order_id": order_id }))
                .retry_policy(retry.clone())
                .build()
                .map_err(|error| error.to_string())?;
            AsyncSqliteStore::enqueue_in(&mut tx, &event, Utc::now())
                .await
                .map_err(|error| error.to_string())?;
        }
        AsyncSqliteStore::commit(tx)
            .await
            .map_err(|error| error.to_string())?;
        waker.wake();
    }
    Ok(())
}

/// Events the stream has acknowledged.
async fn delivered(shop: &AsyncSqliteStore) -> Result<u64, Failure> {
    let counts = shop.counts().await?;
    Ok(counts
        .outbox
        .get(&DeliveryStatus::Acknowledged)
        .copied()
        .unwrap_or(0))
}

/// The consumer process: admits what the durable consumer delivers until it
/// is killed, starting over whenever its connection gives up.
async fn consume(url: &str, inbox: &Path) -> Result<(), Failure> {
    let store = AsyncSqliteStore::open(inbox, StoreOptions::default()).await?;
    loop {
        let jetstream = connect(url).await?;
        let pull = jetstream
            .get_consumer_from_stream("warehouse", STREAM)
            .await;
        let pull = match pull {
            Ok(pull) => pull,
            Err(error) => {
                eprintln!("consumer: the durable consumer is not there yet ({error})");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let consumer = NatsConsumer::new(pull, store.clone());
        let ran = consumer
            .run(
                ship,
                |rejected| eprintln!("consumer: rejected {rejected:?}"),
                std::future::pending(),
            )
            .await;
        if let Err(error) = ran {
            eprintln!("consumer: {error}; starting over");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A JetStream context that keeps reconnecting quickly while the server is
/// down, and gives up on an acknowledgement after two seconds.
async fn connect(url: &str) -> Result<jetstream::Context, Failure> {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(url)
        .await?;
    Ok(jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(client))
}

/// A nats-server of the test's own, on one port and one storage directory
/// across restarts.
struct NatsServer {
    port: u16,
    store_dir: PathBuf,
    child: Child,
}

impl NatsServer {
    fn start(store_dir: &Path) -> Result<NatsServer, Failure> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Self::spawn(port, store_dir)?;
        let server = NatsServer {
            port,
            store_dir: store_dir.to_owned(),
            child,
        };
        server.wait_until_listening()?;
        Ok(server)
    }

    fn spawn(port: u16, store_dir: &Path) -> std::io::Result<Child> {
        Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn wait_until_listening(&self) -> Result<(), Failure> {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("nats-server is not listening on port {}", self.port).into())
    }

    /// SIGKILL (no shutdown, no flush), a pause, and a start on the same
    /// port and storage.
    async fn kill_and_restart(&mut self) -> Result<(), Failure> {
        self.kill()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.child = Self::spawn(self.port, &self.store_dir)?;
        self.wait_until_listening()
    }

    fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }
}

/// The consumer, as a process of this test's own binary.
struct ConsumerProcess {
    url: String,
    inbox: PathBuf,
    child: Child,
}

impl ConsumerProcess {
    fn start(url: &str, inbox: &Path) -> std::io::Result<ConsumerProcess> {
        let child = Self::spawn(url, inbox)?;
        Ok(ConsumerProcess {
            url: url.to_owned(),
            inbox: inbox.to_owned(),
            child,
        })
    }

    fn spawn(url: &str, inbox: &Path) -> std::io::Result<Child> {
        Command::new(std::env::current_exe()?)
            .arg("consumer")
            .arg(url)
            .arg(inbox)
            .spawn()
    }

    fn kill_and_restart(&mut self) -> std::io::Result<()> {
        self.kill()?;
        self.child = Self::spawn(&self.url, &self.inbox)?;
        Ok(())
    }

    fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }
}
