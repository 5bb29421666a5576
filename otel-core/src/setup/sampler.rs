//! The sampler from `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
//!
//! | `OTEL_TRACES_SAMPLER` | `OTEL_TRACES_SAMPLER_ARG` |
//! |---|---|
//! | `parentbased_always_on` (default) | |
//! | `always_on`, `always_off`, `parentbased_always_off` | |
//! | `traceidratio`, `parentbased_traceidratio` | ratio in `[0, 1]`, default `1.0` |
//! | `rate_limiting`, `parentbased_rate_limiting` | new traces per second, default `100` |
//!
//! The two `rate_limiting` values are this project's
//! [`RateLimitingSampler`]; prefer the parent-based one, so
//! only new traces spend tokens. `jaeger_remote`, `parentbased_jaeger_remote` and `xray` are not
//! supported: like any unknown value they are reported and the default applies.

use crate::config::{Env, report};
use crate::setup::sampling::RateLimitingSampler;
use opentelemetry_sdk::trace::{Sampler, ShouldSample};

/// `OTEL_TRACES_SAMPLER`: which sampler (see the table in this module).
pub const TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// `OTEL_TRACES_SAMPLER_ARG`: the sampler's argument (ratio, or traces per second).
pub const TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";

/// Traces per second of `rate_limiting` when `OTEL_TRACES_SAMPLER_ARG` is not given.
pub const DEFAULT_TRACES_PER_SECOND: f64 = 100.0;

/// The sampler the environment asks for; the default is `parentbased_always_on`.
pub(crate) fn from_env(env: &Env) -> Box<dyn ShouldSample> {
    let default = || Box::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))) as Box<dyn ShouldSample>;
    let Some(raw) = env.get(TRACES_SAMPLER) else { return default() };
    let name = raw.trim().to_ascii_lowercase();
    let parent_based = |root: Box<dyn ShouldSample>| Box::new(Sampler::ParentBased(root)) as Box<dyn ShouldSample>;
    match name.as_str() {
        "" => default(),
        "always_on" => Box::new(Sampler::AlwaysOn),
        "always_off" => Box::new(Sampler::AlwaysOff),
        "parentbased_always_on" => default(),
        "parentbased_always_off" => parent_based(Box::new(Sampler::AlwaysOff)),
        "traceidratio" => Box::new(Sampler::TraceIdRatioBased(ratio(env))),
        "parentbased_traceidratio" => parent_based(Box::new(Sampler::TraceIdRatioBased(ratio(env)))),
        "rate_limiting" => Box::new(RateLimitingSampler::new(rate(env))),
        "parentbased_rate_limiting" => parent_based(Box::new(RateLimitingSampler::new(rate(env)))),
        "jaeger_remote" | "parentbased_jaeger_remote" | "xray" => {
            report(TRACES_SAMPLER, &raw, "not supported by this setup; using parentbased_always_on");
            default()
        }
        _ => {
            report(TRACES_SAMPLER, &raw, "unknown sampler; using parentbased_always_on");
            default()
        }
    }
}

fn argument(env: &Env) -> Option<(String, f64)> {
    let raw = env.get(TRACES_SAMPLER_ARG)?;
    if raw.trim().is_empty() {
        return None;
    }
    match raw.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Some((raw, value)),
        _ => {
            report(TRACES_SAMPLER_ARG, &raw, "expected a number");
            None
        }
    }
}

fn ratio(env: &Env) -> f64 {
    match argument(env) {
        Some((_, value)) if (0.0..=1.0).contains(&value) => value,
        Some((raw, _)) => {
            report(TRACES_SAMPLER_ARG, &raw, "a ratio must be between 0 and 1; using 1.0");
            1.0
        }
        None => 1.0,
    }
}

fn rate(env: &Env) -> f64 {
    match argument(env) {
        Some((_, value)) if value >= 0.0 => value,
        Some((raw, _)) => {
            report(TRACES_SAMPLER_ARG, &raw, "traces per second must not be negative; using 100");
            DEFAULT_TRACES_PER_SECOND
        }
        None => DEFAULT_TRACES_PER_SECOND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reported_problems;
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
    use opentelemetry::{Context, trace::TraceContextExt};
    use opentelemetry_sdk::trace::SamplingDecision;

    fn sampler(name: &str, arg: Option<&str>) -> Box<dyn ShouldSample> {
        let (name, arg) = (name.to_owned(), arg.map(str::to_owned));
        from_env(&Env::from_fn(move |var| match var {
            TRACES_SAMPLER => Some(name.clone()),
            TRACES_SAMPLER_ARG => arg.clone(),
            _ => None,
        }))
    }

    fn decide(sampler: &dyn ShouldSample, parent: Option<bool>, trace_id: u128) -> bool {
        let cx = parent.map(|sampled| {
            let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
            let sc = SpanContext::new(TraceId::from(trace_id), SpanId::from(1), flags, true, TraceState::default());
            Context::new().with_remote_span_context(sc)
        });
        let result = sampler.should_sample(cx.as_ref(), TraceId::from(trace_id), "s", &SpanKind::Server, &[], &[]);
        result.decision == SamplingDecision::RecordAndSample
    }

    /// How many of 1000 spread-out trace ids a root span samples.
    fn root_share(sampler: &dyn ShouldSample) -> usize {
        (0..1000u128).filter(|i| decide(sampler, None, (i + 1) * (u128::MAX / 1001))).count()
    }

    #[test]
    fn every_standard_value() {
        assert_eq!(root_share(&*sampler("always_on", None)), 1000);
        assert_eq!(root_share(&*sampler("always_off", None)), 0);
        assert_eq!(root_share(&*sampler("parentbased_always_on", None)), 1000);
        assert_eq!(root_share(&*sampler("parentbased_always_off", None)), 0);
        assert!(decide(&*sampler("parentbased_always_off", None), Some(true), 5), "sampled parent continued");
        assert!(!decide(&*sampler("parentbased_always_on", None), Some(false), 5), "unsampled parent respected");
        assert!(decide(&*sampler("ALWAYS_ON ", None), Some(false), 5), "not parent-based; case-insensitive");

        let ratio = root_share(&*sampler("traceidratio", Some("0.25")));
        assert!((150..350).contains(&ratio), "{ratio}");
        let ratio = root_share(&*sampler("parentbased_traceidratio", Some("0.5")));
        assert!((400..600).contains(&ratio), "{ratio}");
        assert!(decide(&*sampler("parentbased_traceidratio", Some("0")), Some(true), 5));
        assert_eq!(root_share(&*sampler("traceidratio", None)), 1000, "default ratio 1.0");
    }

    #[test]
    fn rate_limiting_values() {
        let limited = sampler("parentbased_rate_limiting", Some("5"));
        assert_eq!(root_share(&*limited), 5, "a burst of one second's worth");
        assert!(decide(&*limited, Some(true), 9), "a sampled parent is continued");
        let plain = sampler("rate_limiting", Some("2"));
        assert_eq!(root_share(&*plain), 2);
        let default = root_share(&*sampler("rate_limiting", None));
        assert!((100..120).contains(&default), "default 100 per second (plus refills on a slow machine): {default}");
    }

    #[test]
    fn invalid_values_are_reported_and_the_default_applies() {
        assert_eq!(root_share(&*sampler("sometimes", None)), 1000);
        assert_eq!(root_share(&*sampler("xray", None)), 1000);
        assert_eq!(root_share(&*sampler("traceidratio", Some("1.5"))), 1000);
        assert_eq!(root_share(&*sampler("traceidratio", Some("half"))), 1000);
        assert!((100..120).contains(&root_share(&*sampler("rate_limiting", Some("-1")))));
        let problems = reported_problems();
        for (var, value) in [
            (TRACES_SAMPLER, "sometimes"),
            (TRACES_SAMPLER, "xray"),
            (TRACES_SAMPLER_ARG, "1.5"),
            (TRACES_SAMPLER_ARG, "half"),
            (TRACES_SAMPLER_ARG, "-1"),
        ] {
            assert!(problems.iter().any(|p| p.source == var && p.value == value), "{var}={value}");
        }
    }
}
