//! What every Kafka test needs: the broker's address, unique topics, clients, and a tansu broker
//! of its own for the tests that kill one.

#![allow(dead_code)] // each test binary uses a part

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Generous bounds: the CI machine is a loaded 2-core box.
pub(crate) const WAIT: Duration = Duration::from_secs(120);

pub(crate) fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

#[track_caller]
pub(crate) fn unreachable(brokers: &str, error: impl std::fmt::Display) -> ! {
    panic!(
        "Kafka is not reachable at {brokers} ({error}). Start it with `scripts/services.sh start` \
         (it builds and starts tansu on 127.0.0.1:9092), or set KAFKA_BROKERS."
    )
}

/// A name no other test or run uses.
pub(crate) fn unique(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000_000;
    format!("otel-kafka-{what}-{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn producer_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "otel-kafka-test-producer")
        .set("message.timeout.ms", "60000")
        .set("compression.type", "none")
        .set("linger.ms", "0");
    config
}

pub(crate) fn consumer_config(brokers: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("client.id", "otel-kafka-test-consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "10000")
        .set("enable.partition.eof", "false");
    config
}

/// Creates `topic` (one partition); tansu does not create topics on first use.
pub(crate) async fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> =
        producer_config(brokers).create().unwrap_or_else(|e| unreachable(brokers, e));
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = admin.create_topics(&[NewTopic::new(topic, 1, TopicReplication::Fixed(1))], &options).await;
        match attempt {
            Ok(results) => {
                for result in results {
                    result.unwrap_or_else(|(name, code)| panic!("creating topic {name}: {code:?}"));
                }
                return;
            }
            Err(e) if Instant::now() > deadline => unreachable(brokers, e),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// A consumer in a fresh group, subscribed to `topic`, reading from the start.
pub(crate) fn plain_consumer(brokers: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer =
        consumer_config(brokers, &unique("plain")).create().unwrap_or_else(|e| unreachable(brokers, e));
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

pub(crate) async fn recv<'a>(consumer: &'a StreamConsumer) -> BorrowedMessage<'a> {
    tokio::time::timeout(WAIT, consumer.recv()).await.expect("a message within the time limit").expect("a message")
}

/// Every header of `message` as (key, value) pairs, in order.
pub(crate) fn headers_of(message: &impl Message) -> Vec<(String, Option<Vec<u8>>)> {
    message
        .headers()
        .map(|headers| headers.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect())
        .unwrap_or_default()
}

/// The tansu binary `scripts/services.sh` installs.
pub(crate) fn tansu_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"))
        .find(|candidate| candidate.is_file());
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    let binary = on_path.unwrap_or_else(|| home.join(".cargo/bin/tansu"));
    assert!(
        binary.is_file(),
        "tansu is not installed ({}): run `scripts/services.sh start`, which installs it",
        binary.display()
    );
    binary
}

/// A tansu broker of a test's own, on a free loopback port, storing into a temporary directory.
pub(crate) struct Tansu {
    child: Option<Child>,
    pub(crate) port: u16,
    dir: PathBuf,
}

impl Tansu {
    pub(crate) fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(unique("tansu"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut tansu = Self { child: None, port, dir };
        tansu.restart();
        tansu
    }

    pub(crate) fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and data, and waits until it accepts connections.
    pub(crate) fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.join("broker.log")).unwrap();
        // Every flag explicit, with a clean environment: tansu reads `.env` and variables.
        let child = Command::new(tansu_binary())
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .args(["broker", "--cluster-id", "otel_kafka_test", "--listener-url", &url])
            .args(["--advertised-listener-url", &url, "--storage-engine", "sqlite://tansu.db"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start; see {}", self.dir.join("broker.log").display());
            std::thread::sleep(Duration::from_millis(100));
        }
        self.index();
    }

    /// Without an index on `header(topition, offset_id)`, fetches slow to a crawl.
    fn index(&self) {
        let status = Command::new("sqlite3")
            .current_dir(&self.dir)
            .args(["-cmd", ".timeout 10000", "tansu.db"])
            .arg("create index if not exists header_topition_offset on header (topition, offset_id);")
            .status()
            .expect("sqlite3 (apt package sqlite3; scripts/services.sh start installs it)");
        assert!(status.success(), "creating the header index");
    }

    /// Kills the broker (SIGKILL) and waits for it to exit.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A meter provider whose points a test reads back: every point of every metric, as of now.
#[derive(Clone)]
pub(crate) struct Meters {
    exporter: opentelemetry_sdk::metrics::InMemoryMetricExporter,
    pub(crate) provider: opentelemetry_sdk::metrics::SdkMeterProvider,
}

/// One data point: its metric, the metric's unit and scope, its attributes (sorted by key), the
/// counter's sum or the histogram's count, and the histogram's bucket bounds.
#[derive(Clone, Debug)]
pub(crate) struct Point {
    pub(crate) metric: String,
    pub(crate) unit: String,
    pub(crate) scope: String,
    pub(crate) attributes: Vec<opentelemetry::KeyValue>,
    pub(crate) value: u64,
    pub(crate) bounds: Vec<f64>,
}

impl Point {
    /// The value of attribute `key`, as text.
    pub(crate) fn attr(&self, key: &str) -> Option<String> {
        self.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
    }
}

/// `attributes` sorted by key, as points hold them.
pub(crate) fn sorted(mut attributes: Vec<opentelemetry::KeyValue>) -> Vec<opentelemetry::KeyValue> {
    attributes.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    attributes
}

impl Meters {
    pub(crate) fn new() -> Self {
        use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
        let exporter = InMemoryMetricExporter::default();
        let provider =
            SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
        Self { exporter, provider }
    }

    /// Every point collected now (cumulative: everything recorded so far).
    pub(crate) fn points(&self) -> Vec<Point> {
        use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
        self.provider.force_flush().expect("metrics collected");
        let collected = self.exporter.get_finished_metrics().expect("finished metrics");
        let mut points = Vec::new();
        let Some(resource) = collected.last() else { return points };
        for scope in resource.scope_metrics() {
            for metric in scope.metrics() {
                let point = |attributes: Vec<opentelemetry::KeyValue>, value, bounds| Point {
                    metric: metric.name().to_owned(),
                    unit: metric.unit().to_owned(),
                    scope: scope.scope().name().to_owned(),
                    attributes: sorted(attributes),
                    value,
                    bounds,
                };
                match metric.data() {
                    AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                        for p in sum.data_points() {
                            points.push(point(p.attributes().cloned().collect(), p.value(), Vec::new()));
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
                        for p in histogram.data_points() {
                            points.push(point(p.attributes().cloned().collect(), p.count(), p.bounds().collect()));
                        }
                    }
                    other => panic!("unexpected data for {}: {other:?}", metric.name()),
                }
            }
        }
        points
    }

    /// The points of `metric` whose `messaging.destination.name` is `topic`: what one test
    /// recorded when several share the provider.
    pub(crate) fn of(&self, metric: &str, topic: &str) -> Vec<Point> {
        self.points()
            .into_iter()
            .filter(|p| p.metric == metric && p.attr("messaging.destination.name").as_deref() == Some(topic))
            .collect()
    }
}
