//! Which propagator an adapter uses: one given in code, or the global one.

use super::{ByteInjector, HeaderExtractor, HeaderSource, StrictTraceContextPropagator};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, global};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// The propagator of an adapter, resolved once when the adapter is built.
///
/// - [`Propagation::Global`] (the default) reads `opentelemetry::global::get_text_map_propagator`
///   on every request: it may be installed after the adapter was built, and the API offers no
///   other access.
/// - Given in code, [`StrictTraceContextPropagator`] reads the header source directly, without the
///   `Vec` the `Extractor` interface needs to report repeated headers; any other propagator is
///   used through its trait.
#[derive(Clone, Default)]
pub enum Propagation {
    /// The global propagator, read per request.
    #[default]
    Global,
    /// otel-core's strict W3C propagator.
    Strict(StrictTraceContextPropagator),
    /// Any other propagator.
    Custom(Arc<dyn TextMapPropagator + Send + Sync>),
}

impl fmt::Debug for Propagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Global => "Global",
            Self::Strict(_) => "Strict",
            Self::Custom(_) => "Custom",
        })
    }
}

impl Propagation {
    /// Uses `propagator`, recognizing the strict propagator for its faster path.
    pub fn new<P: TextMapPropagator + Send + Sync + 'static>(propagator: P) -> Self {
        match (&propagator as &dyn Any).downcast_ref::<StrictTraceContextPropagator>() {
            Some(strict) => Self::Strict(*strict),
            None => Self::Custom(Arc::new(propagator)),
        }
    }

    /// The context `headers` carry, on top of the current one.
    pub fn extract(&self, headers: &(impl HeaderSource + ?Sized)) -> Context {
        Context::map_current(|cx| self.extract_with_context(cx, headers))
    }

    /// The context `headers` carry on top of the current one, or `None` when they carry nothing
    /// (no valid trace context, no baggage) and the current context stands as it is: an
    /// excluded request then passes through without any context work.
    pub fn extract_carried(&self, headers: &(impl HeaderSource + ?Sized)) -> Option<Context> {
        match self {
            Self::Strict(p) => p.extract_carried(headers),
            Self::Global | Self::Custom(_) => {
                let cx = self.extract(headers);
                (cx.has_active_span() || !cx.baggage().is_empty()).then_some(cx)
            }
        }
    }

    /// The context `headers` carry, on top of `cx`.
    pub fn extract_with_context(&self, cx: &Context, headers: &(impl HeaderSource + ?Sized)) -> Context {
        match self {
            Self::Global => global::get_text_map_propagator(|p| p.extract_with_context(cx, &HeaderExtractor(headers))),
            Self::Strict(p) => p.extract_from_headers(cx, headers),
            Self::Custom(p) => p.extract_with_context(cx, &HeaderExtractor(headers)),
        }
    }

    /// Writes `cx` into an outgoing request's headers without overriding the caller.
    ///
    /// The rule every client adapter follows: a request that already carries a `traceparent`
    /// gets nothing injected at all (its `tracestate` and `baggage` belong to that hand-set
    /// context, not to ours), and otherwise no header the caller set is replaced (a hand-set
    /// `baggage` stays as it is).
    pub fn inject_into<C: Injector + HeaderSource>(&self, cx: &Context, carrier: &mut C) {
        if carrier.first(super::TRACEPARENT_HEADER).is_some() {
            return;
        }
        self.inject(cx, &mut KeepExisting(carrier));
    }

    /// [`Propagation::inject_into`] for a request whose span is `span_context` under `parent`,
    /// without building a context around the span: the strict propagator writes `traceparent`
    /// (and `tracestate`) straight from the span context, as a shared header value that the
    /// client's copies of the header map do not copy again. Other propagators get the context.
    ///
    /// The same rule as `inject_into`: a request that carries a `traceparent` gets nothing, and
    /// no header the caller set is replaced.
    pub fn inject_span_into_headers(
        &self,
        parent: &Context,
        span_context: &opentelemetry::trace::SpanContext,
        headers: &mut http::HeaderMap,
    ) {
        match self {
            Self::Strict(_) => {
                if !span_context.is_valid() {
                    return;
                }
                let http::header::Entry::Vacant(entry) = headers.entry(&super::carrier::TRACEPARENT) else { return };
                let bytes = traceparent_of(parent, span_context);
                // Shared from the start: the client's clones of the header map copy no bytes and allocate nothing.
                if let Ok(value) = http::HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(bytes)) {
                    entry.insert(value);
                }
                if let Some(state) = super::tracestate::header_for(parent, span_context)
                    && let (http::header::Entry::Vacant(entry), Ok(value)) =
                        (headers.entry(&super::carrier::TRACESTATE), http::HeaderValue::try_from(state))
                {
                    entry.insert(value);
                }
            }
            _ => {
                let cx = parent.with_remote_span_context(span_context.clone());
                self.inject_into(&cx, &mut super::HeaderInjector(headers));
            }
        }
    }

    /// [`Propagation::inject_span_into_headers`] for any carrier that copies the values it is
    /// given: the strict propagator writes `traceparent` (and `tracestate`) from bytes on the
    /// stack, with no context and no `String`; other propagators get a context around the span.
    /// The same rule as `inject_into`: a carrier that holds a `traceparent` gets nothing, and no
    /// header already there is replaced.
    pub fn inject_span_into(
        &self,
        parent: &Context,
        span_context: &opentelemetry::trace::SpanContext,
        carrier: &mut impl ByteInjector,
    ) {
        if carrier.first(super::TRACEPARENT_HEADER).is_some() {
            return;
        }
        match self {
            Self::Strict(_) => {
                if !span_context.is_valid() {
                    return;
                }
                carrier.set_bytes(super::TRACEPARENT_HEADER, &traceparent_of(parent, span_context));
                // Usually there is no `tracestate` to send: then the carrier is not read again.
                if let Some(state) = super::tracestate::header_for(parent, span_context)
                    && carrier.first(super::TRACESTATE_HEADER).is_none()
                {
                    carrier.set_bytes(super::TRACESTATE_HEADER, state.as_bytes());
                }
            }
            _ => {
                let cx = parent.with_remote_span_context(span_context.clone());
                self.inject(&cx, &mut KeepExisting(carrier));
            }
        }
    }

    /// Writes `cx` into `injector`, replacing what is there.
    pub fn inject(&self, cx: &Context, injector: &mut dyn Injector) {
        match self {
            Self::Global => global::get_text_map_propagator(|p| p.inject_context(cx, injector)),
            Self::Strict(p) => p.inject_context(cx, injector),
            Self::Custom(p) => p.inject_context(cx, injector),
        }
    }
}

/// The `traceparent` the strict propagator sends for `span_context`, a span started under `parent`.
fn traceparent_of(parent: &Context, span_context: &opentelemetry::trace::SpanContext) -> [u8; 55] {
    let flags = StrictTraceContextPropagator::flags_for(parent, span_context);
    super::Traceparent::to_bytes(span_context.trace_id(), span_context.span_id(), flags)
}

/// An injector that leaves alone the headers its carrier already has.
struct KeepExisting<'a, C>(&'a mut C);

impl<C: Injector + HeaderSource> Injector for KeepExisting<'_, C> {
    fn set(&mut self, key: &str, value: String) {
        if self.0.first(key).is_none() {
            self.0.set(key, value);
        }
    }

    fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    #[test]
    fn the_strict_propagator_is_recognized_and_extracts() {
        assert!(matches!(Propagation::new(StrictTraceContextPropagator::new()), Propagation::Strict(_)));
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
        let cx = Propagation::new(StrictTraceContextPropagator::new()).extract_with_context(&Context::new(), &headers);
        assert!(cx.span().span_context().is_remote());
    }

    fn with_baggage() -> Propagation {
        use opentelemetry::propagation::TextMapCompositePropagator;
        use opentelemetry_sdk::propagation::BaggagePropagator;
        Propagation::new(TextMapCompositePropagator::new(vec![
            Box::new(StrictTraceContextPropagator::new()),
            Box::new(BaggagePropagator::new()),
        ]))
    }

    fn context() -> Context {
        use opentelemetry::KeyValue;
        use opentelemetry::baggage::BaggageExt;
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        let span = SpanContext::new(
            TraceId::from(0xabc_u128),
            SpanId::from(0xdef_u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        Context::new().with_remote_span_context(span).with_baggage([KeyValue::new("tenant", "blue")])
    }

    fn injected(headers: &mut http::HeaderMap) {
        with_baggage().inject_into(&context(), &mut crate::propagation::HeaderInjector(headers));
    }

    #[test]
    fn injects_every_field() {
        let mut headers = http::HeaderMap::new();
        injected(&mut headers);
        assert_eq!(headers["traceparent"], "00-00000000000000000000000000000abc-0000000000000def-01");
        assert_eq!(headers["baggage"], "tenant=blue");
    }

    #[test]
    fn a_hand_set_traceparent_means_nothing_is_injected() {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", "00-11111111111111111111111111111111-2222222222222222-00".parse().unwrap());
        injected(&mut headers);
        assert_eq!(headers["traceparent"], "00-11111111111111111111111111111111-2222222222222222-00");
        assert!(headers.get("baggage").is_none());
    }

    #[test]
    fn hand_set_baggage_is_kept() {
        let mut headers = http::HeaderMap::new();
        headers.insert("baggage", "mine=1".parse().unwrap());
        injected(&mut headers);
        assert_eq!(headers["baggage"], "mine=1");
        assert!(headers.contains_key("traceparent"));
    }

    /// An incoming parent with the random-trace-id flag and a `tracestate` member the API
    /// rejects: both live in context entries, not in the span context.
    fn incoming() -> Context {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02".parse().unwrap());
        headers.insert("tracestate", "foo@@bar=1,vendor=x".parse().unwrap());
        Propagation::new(StrictTraceContextPropagator::new()).extract_with_context(&Context::new(), &headers)
    }

    fn child_of(parent: &Context) -> opentelemetry::trace::SpanContext {
        let parent = parent.span().span_context().clone();
        opentelemetry::trace::SpanContext::new(
            parent.trace_id(),
            opentelemetry::trace::SpanId::from(0x1234_u64),
            parent.trace_flags(),
            false,
            parent.trace_state().clone(),
        )
    }

    #[test]
    fn injecting_from_the_span_context_writes_what_the_context_would() {
        let parent = incoming();
        let child = child_of(&parent);
        for propagation in [Propagation::new(StrictTraceContextPropagator::new()), with_baggage()] {
            let mut direct = http::HeaderMap::new();
            propagation.inject_span_into_headers(&parent, &child, &mut direct);
            let mut through_context = http::HeaderMap::new();
            let cx = parent.with_remote_span_context(child.clone());
            propagation.inject_into(&cx, &mut crate::propagation::HeaderInjector(&mut through_context));
            assert_eq!(direct, through_context, "{propagation:?}");
            let mut from_bytes = http::HeaderMap::new();
            propagation.inject_span_into(&parent, &child, &mut crate::propagation::HeaderInjector(&mut from_bytes));
            assert_eq!(from_bytes, through_context, "byte carrier, {propagation:?}");
            assert!(direct["traceparent"].to_str().unwrap().ends_with("-0000000000001234-02"), "random flag kept");
            assert!(direct["tracestate"].to_str().unwrap().contains("foo@@bar=1"), "full tracestate kept");
        }
    }

    #[test]
    fn injecting_from_the_span_context_keeps_what_the_caller_set() {
        let parent = incoming();
        let inject_strict = |headers: &mut http::HeaderMap| {
            Propagation::new(StrictTraceContextPropagator::new()).inject_span_into_headers(
                &parent,
                &child_of(&parent),
                headers,
            );
        };
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", "00-11111111111111111111111111111111-2222222222222222-00".parse().unwrap());
        inject_strict(&mut headers);
        assert_eq!(headers["traceparent"], "00-11111111111111111111111111111111-2222222222222222-00");
        assert!(headers.get("tracestate").is_none());
        let mut headers = http::HeaderMap::new();
        headers.insert("tracestate", "mine=1".parse().unwrap());
        inject_strict(&mut headers);
        assert_eq!(headers["tracestate"], "mine=1");
        assert!(headers.contains_key("traceparent"));

        for propagation in [Propagation::new(StrictTraceContextPropagator::new()), with_baggage()] {
            let inject = |headers: &mut http::HeaderMap| {
                propagation.inject_span_into(
                    &parent,
                    &child_of(&parent),
                    &mut crate::propagation::HeaderInjector(headers),
                );
            };
            let mut headers = http::HeaderMap::new();
            headers.insert("traceparent", "00-11111111111111111111111111111111-2222222222222222-00".parse().unwrap());
            let before = headers.clone();
            inject(&mut headers);
            assert_eq!(headers, before, "a hand-set traceparent: nothing injected ({propagation:?})");
            let mut headers = http::HeaderMap::new();
            headers.insert("tracestate", "mine=1".parse().unwrap());
            inject(&mut headers);
            assert_eq!(headers["tracestate"], "mine=1", "{propagation:?}");
            assert!(headers.contains_key("traceparent"));
        }
    }

    #[test]
    fn extract_carried_says_when_a_request_carries_nothing() {
        let strict = Propagation::new(StrictTraceContextPropagator::new());
        let empty = http::HeaderMap::new();
        assert!(strict.extract_carried(&empty).is_none());
        assert!(with_baggage().extract_carried(&empty).is_none());
        let mut invalid = http::HeaderMap::new();
        invalid.insert("traceparent", "00-xyz".parse().unwrap());
        assert!(strict.extract_carried(&invalid).is_none());
        let mut traced = http::HeaderMap::new();
        traced.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
        assert!(strict.extract_carried(&traced).unwrap().span().span_context().is_remote());
        let mut baggage = http::HeaderMap::new();
        baggage.insert("baggage", "tenant=blue".parse().unwrap());
        assert!(with_baggage().extract_carried(&baggage).is_some(), "baggage alone is carried");
    }
}
