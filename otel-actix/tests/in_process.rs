//! Cancellation and metrics, driven in process through actix-web's test service (no socket is
//! needed to drop a request's future half-way).

use actix_web::dev::Service;
use actix_web::{App, HttpResponse, test, web};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::Sampler;
use otel_actix::OtelMiddleware;
use otel_core::config::HttpServerConfig;
use otel_core::propagation::StrictTraceContextPropagator;
use otel_core::testing::{MetricRecorder, SpanRecorder};

fn metrics_provider() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    (provider, exporter)
}

/// The summed value of `http.server.active_requests` in the last collection.
fn active(metrics: &[ResourceMetrics]) -> i64 {
    let mut total = 0;
    for scope in metrics.last().into_iter().flat_map(|rm| rm.scope_metrics()) {
        for metric in scope.metrics().filter(|m| m.name() == "http.server.active_requests") {
            if let AggregatedMetrics::I64(MetricData::Sum(sum)) = metric.data() {
                total = sum.data_points().map(|p| p.value()).sum();
            }
        }
    }
    total
}

/// `http.server.request.duration` points of the last collection, as sorted `key=value` lists.
fn durations(metrics: &[ResourceMetrics]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for scope in metrics.last().into_iter().flat_map(|rm| rm.scope_metrics()) {
        for metric in scope.metrics().filter(|m| m.name() == "http.server.request.duration") {
            if let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() {
                for point in h.data_points() {
                    let mut attrs: Vec<String> =
                        point.attributes().map(|kv| format!("{}={}", kv.key, kv.value)).collect();
                    attrs.sort();
                    out.push(attrs);
                }
            }
        }
    }
    out.sort();
    out
}

#[actix_web::test]
async fn a_cancelled_request_ends_its_span_and_metrics() {
    let recorder = SpanRecorder::new();
    let (meters, exporter) = metrics_provider();
    let mw = OtelMiddleware::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().environment(|_| None))
        .meter_provider(&meters)
        .build();
    let app = test::init_service(
        App::new()
            .wrap(mw)
            .route("/pending", web::get().to(std::future::pending::<HttpResponse>))
            .route("/users/{id}", web::get().to(|| async { "user" })),
    )
    .await;

    let mut pending = Box::pin(app.call(test::TestRequest::get().uri("/pending").to_request()));
    assert!(futures_util::poll!(pending.as_mut()).is_pending());
    meters.force_flush().unwrap();
    assert_eq!(active(&exporter.get_finished_metrics().unwrap()), 1);
    drop(pending); // the connection went away

    let response = test::call_service(&app, test::TestRequest::get().uri("/users/1").to_request()).await;
    assert_eq!(test::read_body(response).await, "user");

    let spans = recorder.spans();
    spans.assert_count(2);
    spans
        .one("GET")
        .assert_status_error()
        .assert_attr("error.type", "cancelled")
        .assert_no_attr("http.response.status_code");
    spans.one("GET /users/{id}").assert_status_unset();

    meters.force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    assert_eq!(active(&metrics), 0, "decremented on cancellation too");
    assert_eq!(
        durations(&metrics),
        [
            vec!["error.type=cancelled", "http.request.method=GET", "network.protocol.version=1.1", "url.scheme=http"],
            vec![
                "http.request.method=GET",
                "http.response.status_code=200",
                "http.route=/users/{id}",
                "network.protocol.version=1.1",
                "url.scheme=http"
            ],
        ]
    );
}

#[actix_web::test]
async fn a_complete_body_ends_the_span_with_the_response_and_a_streaming_one_with_its_end() {
    let recorder = SpanRecorder::new();
    let mw = OtelMiddleware::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().environment(|_| None))
        .build();
    let stream = || async {
        let chunks = futures_util::stream::iter([Ok::<_, actix_web::Error>(web::Bytes::from_static(b"chunk"))]);
        HttpResponse::Ok().streaming(chunks)
    };
    let app = test::init_service(
        App::new()
            .wrap(mw)
            .route("/users/{id}", web::get().to(|| async { "user" }))
            .route("/stream", web::get().to(stream)),
    )
    .await;

    // A body in memory runs no code when sent: the span ends with the response.
    let response = test::call_service(&app, test::TestRequest::get().uri("/users/1").to_request()).await;
    recorder.spans().assert_count(1).one("GET /users/{id}").assert_status_unset();
    assert_eq!(test::read_body(response).await, "user", "the body passes unchanged");

    // A streaming body keeps it open until it ends, or until it is dropped unsent.
    recorder.reset();
    let response = test::call_service(&app, test::TestRequest::get().uri("/stream").to_request()).await;
    assert!(recorder.spans().is_empty(), "open while the body is unsent");
    assert_eq!(test::read_body(response).await, "chunk");
    recorder.spans().assert_count(1).one("GET /stream").assert_status_unset();

    recorder.reset();
    let response = test::call_service(&app, test::TestRequest::get().uri("/stream").to_request()).await;
    assert!(recorder.spans().is_empty(), "open while the body is unsent");
    drop(response);
    recorder.spans().assert_count(1).one("GET /stream").assert_status_unset();
}

/// What an inner middleware's `call` saw as the current span context, per request.
type Seen = std::rc::Rc<std::cell::RefCell<Vec<opentelemetry::trace::SpanContext>>>;

#[actix_web::test]
async fn inner_middleware_sees_the_requests_context_in_its_call_and_a_panic_there_is_recorded() {
    use actix_web::dev::ServiceRequest;
    use opentelemetry::trace::TraceContextExt;
    let recorder = SpanRecorder::with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
    let mw = OtelMiddleware::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(HttpServerConfig::builder().environment(|_| None))
        .build();
    let seen = Seen::default();
    let noted = seen.clone();
    let app = test::init_service(
        App::new()
            // Registered first, so it runs inside the middleware; its closure is its `call`.
            .wrap_fn(move |request: ServiceRequest, service| {
                noted.borrow_mut().push(opentelemetry::Context::current().span().span_context().clone());
                assert!(request.path() != "/boom", "a bug in an inner middleware");
                service.call(request)
            })
            .wrap(mw)
            .route("/users/{id}", web::get().to(|| async { "user" })),
    )
    .await;

    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";
    for flags in ["01", "00"] {
        let request =
            test::TestRequest::get().uri("/users/1").insert_header(("traceparent", format!("{caller}-{flags}")));
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(test::read_body(response).await, "user");
    }
    let seen = seen.borrow().clone();
    let spans = recorder.spans();
    let server = spans.assert_count(1).one("GET /users/{id}");
    // Sampled: the server span itself; unsampled: the context the SDK's dropped span carries on.
    assert_eq!(seen[0], *server.span_context());
    assert_eq!(seen[1].trace_id(), server.span_context().trace_id());
    assert!(!seen[1].is_sampled());
    assert_ne!(seen[1].span_id().to_string(), "00f067aa0ba902b7", "the unsampled span's own id, not the caller's");

    // The inner service is called in the first poll, where a panic is noticed like a handler's.
    recorder.reset();
    let request = test::TestRequest::get().uri("/boom").insert_header(("traceparent", format!("{caller}-01")));
    let call = std::panic::AssertUnwindSafe(app.call(request.to_request()));
    assert!(futures_util::FutureExt::catch_unwind(call).await.is_err());
    recorder.spans().assert_count(1).one("GET").assert_status_error().assert_attr("error.type", "panic");
}

#[actix_web::test]
async fn unsampled_requests_record_their_metrics_with_the_route() {
    let recorder = SpanRecorder::with_sampler(Sampler::AlwaysOff);
    let metrics = MetricRecorder::new();
    let config = HttpServerConfig::builder().environment(|_| None).known_methods(["GET", "PURGE"]);
    let mw = OtelMiddleware::builder()
        .tracer_provider(recorder.provider())
        .propagator(StrictTraceContextPropagator::new())
        .config(config)
        .meter_provider(metrics.provider())
        .build();
    // A route past 32 bytes is kept another way than a short one; PURGE is a configured method.
    let long = "/organizations/{organization}/projects/{project}/members";
    let purge = actix_web::http::Method::from_bytes(b"PURGE").unwrap();
    let app = test::init_service(
        App::new()
            .wrap(mw)
            .route("/users/{id}", web::get().to(|| async { "user" }))
            .route(long, web::get().to(|| async { "members" }))
            .route("/cache", web::method(purge.clone()).to(|| async { "purged" })),
    )
    .await;

    let requests = [
        test::TestRequest::get().uri("/users/1"),
        test::TestRequest::get().uri("/users/2"),
        test::TestRequest::get().uri("/users/3"),
        test::TestRequest::get().uri("https://example.com/users/4"),
        test::TestRequest::get().uri("/organizations/o/projects/p/members"),
        test::TestRequest::get().uri("/organizations/o/projects/q/members"),
        test::TestRequest::default().method(purge).uri("/cache"),
    ];
    for request in requests {
        let response = test::call_service(&app, request.to_request()).await;
        assert!(response.status().is_success());
        test::read_body(response).await;
    }

    recorder.spans().assert_count(0);
    let point = |method: &str, route: &str, scheme: &str| {
        format!(
            "http.request.method={method} http.response.status_code=200 http.route={route} \
             network.protocol.version=1.1 url.scheme={scheme}"
        )
    };
    assert_eq!(
        metrics.histogram("http.server.request.duration"),
        [
            (point("GET", long, "http"), 2),
            (point("GET", "/users/{id}", "http"), 3),
            (point("GET", "/users/{id}", "https"), 1),
            (point("PURGE", "/cache", "http"), 1),
        ]
    );
    assert_eq!(
        metrics.sum_i64("http.server.active_requests"),
        [
            ("http.request.method=GET url.scheme=http".to_owned(), 0),
            ("http.request.method=GET url.scheme=https".to_owned(), 0),
            ("http.request.method=PURGE url.scheme=http".to_owned(), 0),
        ]
    );
}
