//! A sampler that keeps at most N new traces per second, without a lock.
//!
//! A ratio sampler keeps a share of the traffic, so a traffic spike still multiplies the spans
//! sent; a rate limit caps them. [`RateLimitingSampler`] is a token bucket kept in one atomic
//! (the "generic cell rate algorithm": the bucket is a single timestamp), so deciding costs a
//! clock read and a compare-and-swap, never a lock. Put it under a parent-based sampler so a
//! sampled parent is always continued and only new traces spend tokens:
//!
//! ```
//! use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
//! use otel_core::setup::sampling::RateLimitingSampler;
//!
//! let sampler = Sampler::ParentBased(Box::new(RateLimitingSampler::new(50.0)));
//! let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
//! # drop(provider);
//! ```
//!
//! From the environment: `OTEL_TRACES_SAMPLER=parentbased_rate_limiting` with
//! `OTEL_TRACES_SAMPLER_ARG` = traces per second (see [`crate::setup`]).

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const NANOS_PER_SECOND: f64 = 1e9;

/// Samples at most `traces_per_second` spans per second on average, with bursts of up to one
/// second's worth (at least one span), and drops the rest.
///
/// Cloning shares the bucket. Every span that reaches it spends a token, so use it as the root
/// sampler of [`Sampler::ParentBased`](opentelemetry_sdk::trace::Sampler::ParentBased): then
/// only new traces (local roots) spend tokens and a trace is never cut in the middle.
///
/// ```
/// use opentelemetry::trace::{SpanKind, TraceId};
/// use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};
/// use otel_core::setup::sampling::RateLimitingSampler;
///
/// let sampler = RateLimitingSampler::new(2.0);
/// let decide = || sampler.should_sample(None, TraceId::from(1), "GET", &SpanKind::Server, &[], &[]).decision;
/// assert_eq!(decide(), SamplingDecision::RecordAndSample);
/// assert_eq!(decide(), SamplingDecision::RecordAndSample);
/// assert_eq!(decide(), SamplingDecision::Drop, "a burst of one second's worth, then the limit");
/// ```
#[derive(Clone)]
pub struct RateLimitingSampler {
    bucket: Arc<Bucket>,
}

struct Bucket {
    rate: f64,
    /// Nanoseconds of clock time one sample costs; 0 means unlimited.
    interval: u64,
    /// How far ahead of the clock the bucket may run: the burst (in nanoseconds).
    burst: u64,
    /// The "theoretical arrival time": when the bucket would be full again, in clock nanoseconds.
    full_at: AtomicU64,
    clock: Clock,
}

enum Clock {
    Monotonic(Instant),
    #[cfg(test)]
    Manual(Arc<AtomicU64>),
}

impl Clock {
    fn now(&self) -> u64 {
        match self {
            // Saturates after 584 years of uptime.
            Clock::Monotonic(start) => u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
            #[cfg(test)]
            Clock::Manual(now) => now.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for RateLimitingSampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitingSampler").field("traces_per_second", &self.bucket.rate).finish()
    }
}

impl RateLimitingSampler {
    /// At most `traces_per_second` per second. Zero, a negative number or NaN samples nothing;
    /// infinity samples everything. Fractions work: `0.5` is one trace every two seconds.
    pub fn new(traces_per_second: f64) -> Self {
        Self::with_clock(traces_per_second, Clock::Monotonic(Instant::now()))
    }

    fn with_clock(traces_per_second: f64, clock: Clock) -> Self {
        let rate = if traces_per_second.is_nan() { 0.0 } else { traces_per_second.max(0.0) };
        // `as` saturates: a rate so small that one sample costs more than u64::MAX nanoseconds
        // (584 years) samples nothing, a huge one gives 0 (always).
        let interval = if rate == 0.0 { u64::MAX } else { (NANOS_PER_SECOND / rate) as u64 };
        // One second's worth of samples, and never less than one sample.
        let burst = if interval == u64::MAX { 0 } else { interval.max(NANOS_PER_SECOND as u64) };
        let now = clock.now();
        let bucket = Bucket { rate, interval, burst, full_at: AtomicU64::new(now), clock };
        Self { bucket: Arc::new(bucket) }
    }

    /// The configured limit, in traces per second.
    pub fn traces_per_second(&self) -> f64 {
        self.bucket.rate
    }

    /// Takes one token if there is one. Lock-free: one compare-and-swap loop on one atomic.
    pub fn try_acquire(&self) -> bool {
        let bucket = &*self.bucket;
        if bucket.interval == 0 {
            return true;
        }
        if bucket.burst == 0 {
            return false;
        }
        let now = bucket.clock.now();
        let mut full_at = bucket.full_at.load(Ordering::Relaxed);
        loop {
            // Taking a token pushes the "full again" time one interval later; allowed while that
            // stays within one burst of now.
            let next = full_at.max(now).saturating_add(bucket.interval);
            if next - now > bucket.burst {
                return false;
            }
            match bucket.full_at.compare_exchange_weak(full_at, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => full_at = actual,
            }
        }
    }
}

impl ShouldSample for RateLimitingSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        _trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = if self.try_acquire() { SamplingDecision::RecordAndSample } else { SamplingDecision::Drop };
        let trace_state = match parent_context {
            Some(cx) if cx.has_active_span() => cx.span().span_context().trace_state().clone(),
            _ => TraceState::default(),
        };
        SamplingResult { decision, attributes: Vec::new(), trace_state }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, SpanContext, SpanId, TraceFlags, Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use std::thread;

    const MS: u64 = 1_000_000;

    fn manual(rate: f64) -> (RateLimitingSampler, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_000 * MS));
        (RateLimitingSampler::with_clock(rate, Clock::Manual(now.clone())), now)
    }

    fn take_all(sampler: &RateLimitingSampler) -> usize {
        (0..10_000).take_while(|_| sampler.try_acquire()).count()
    }

    #[test]
    fn the_limit_holds_over_time_with_a_one_second_burst() {
        let (sampler, now) = manual(10.0);
        assert_eq!(take_all(&sampler), 10, "a full bucket holds one second's worth");
        now.fetch_add(100 * MS, Ordering::Relaxed);
        assert_eq!(take_all(&sampler), 1, "one token per 100 ms");
        now.fetch_add(50 * MS, Ordering::Relaxed);
        assert_eq!(take_all(&sampler), 0, "half a token is no token");
        now.fetch_add(50 * MS, Ordering::Relaxed);
        assert_eq!(take_all(&sampler), 1);

        // Ten simulated seconds of constant demand (a request every millisecond): ten per second.
        let mut sampled = 0;
        for _ in 0..10_000 {
            now.fetch_add(MS, Ordering::Relaxed);
            sampled += usize::from(sampler.try_acquire());
        }
        assert_eq!(sampled, 100);

        // An idle minute refills the bucket to one second's worth, no more.
        now.fetch_add(60_000 * MS, Ordering::Relaxed);
        assert_eq!(take_all(&sampler), 10);
    }

    #[test]
    fn fractional_zero_and_unlimited_rates() {
        let (half, now) = manual(0.5);
        assert_eq!(take_all(&half), 1, "at least one sample of burst");
        now.fetch_add(1_000 * MS, Ordering::Relaxed);
        assert_eq!(take_all(&half), 0);
        now.fetch_add(1_000 * MS, Ordering::Relaxed);
        assert_eq!(take_all(&half), 1, "one every two seconds");

        for never in [0.0, -3.0, f64::NAN, 1e-300] {
            let (sampler, now) = manual(never);
            now.fetch_add(3_600_000 * MS, Ordering::Relaxed);
            assert_eq!(take_all(&sampler), 0, "rate {never}");
        }
        let (always, _) = manual(f64::INFINITY);
        assert_eq!(take_all(&always), 10_000);
    }

    #[test]
    fn threads_share_the_bucket_without_exceeding_it() {
        let (sampler, now) = manual(1_000.0);
        let granted = thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let sampler = sampler.clone();
                    let now = &now;
                    scope.spawn(move || {
                        let mut granted = 0u64;
                        for i in 0..20_000u64 {
                            if i % 100 == 0 {
                                now.fetch_add(MS, Ordering::Relaxed);
                            }
                            granted += u64::from(sampler.try_acquire());
                        }
                        granted
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("worker")).sum::<u64>()
        });
        // 8 threads x 200 ticks of 1 ms = 1600 ms of clock: at most the 1000-token burst plus
        // 1600 tokens refilled, and the demand far exceeds that, so nearly all are granted.
        let elapsed_ms = now.load(Ordering::Relaxed) / MS - 1_000;
        assert_eq!(elapsed_ms, 1_600);
        assert!(granted <= 1_000 + elapsed_ms, "granted {granted}");
        assert!(granted >= 1_500, "granted {granted}");
    }

    #[test]
    fn real_clock_and_real_threads_stay_within_the_limit() {
        let sampler = RateLimitingSampler::new(100.0);
        let started = Instant::now();
        let granted: usize = thread::scope(|scope| {
            let workers: Vec<_> =
                (0..4).map(|_| scope.spawn(|| (0..50_000).filter(|_| sampler.try_acquire()).count())).collect();
            workers.into_iter().map(|w| w.join().expect("worker")).sum()
        });
        let seconds = started.elapsed().as_secs_f64();
        // Burst of 100, then 100 per second: generous bound for a slow machine.
        assert!(granted >= 100, "granted {granted}");
        assert!(granted as f64 <= 100.0 + 100.0 * seconds + 1.0, "granted {granted} in {seconds}s");
    }

    #[test]
    fn under_parent_based_a_sampled_parent_is_always_continued() {
        let (limiter, _) = manual(1.0);
        let provider =
            SdkTracerProvider::builder().with_sampler(Sampler::ParentBased(Box::new(limiter.clone()))).build();
        let tracer = provider.tracer("test");
        assert!(tracer.start("root 1").span_context().is_sampled());
        assert!(!tracer.start("root 2").span_context().is_sampled(), "the bucket is empty");

        let remote = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("k", "v")]).expect("valid"),
        );
        let parent = Context::new().with_remote_span_context(remote);
        for _ in 0..100 {
            let child = tracer.start_with_context("child", &parent);
            assert!(child.span_context().is_sampled(), "a sampled parent is continued");
            assert_eq!(child.span_context().trace_state().get("k"), Some("v"));
        }
        assert!(!limiter.try_acquire(), "children spent no tokens, the bucket is still empty");
    }
}
