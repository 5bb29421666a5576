//! The propagator from `OTEL_PROPAGATORS`.
//!
//! A comma-separated list (default `tracecontext,baggage`):
//! - `tracecontext`: this project's [`StrictTraceContextPropagator`] (W3C Trace Context, to the
//!   letter);
//! - `baggage`: W3C Baggage;
//! - `none`: no propagation at all (only when it is the only value).
//!
//! Other values (`b3`, `b3multi`, `jaeger`, `xray`, `ottrace`, typos) are reported and skipped;
//! when nothing valid remains, the default applies.

use crate::config::{Env, report};
use crate::propagation::StrictTraceContextPropagator;
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::propagation::BaggagePropagator;

/// `OTEL_PROPAGATORS`: comma-separated propagators (`tracecontext`, `baggage`, `none`).
pub const PROPAGATORS: &str = "OTEL_PROPAGATORS";

type Boxed = Box<dyn TextMapPropagator + Send + Sync>;

/// The composite propagator the environment asks for.
pub(crate) fn from_env(env: &Env) -> TextMapCompositePropagator {
    let default =
        || -> Vec<Boxed> { vec![Box::new(StrictTraceContextPropagator::new()), Box::new(BaggagePropagator::new())] };
    let Some(names) = env.list(PROPAGATORS) else { return TextMapCompositePropagator::new(default()) };
    if names.is_empty() {
        return TextMapCompositePropagator::new(default());
    }
    let mut propagators: Vec<Boxed> = Vec::new();
    let mut seen = Vec::new();
    for name in &names {
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            continue;
        }
        match lower.as_str() {
            "tracecontext" => propagators.push(Box::new(StrictTraceContextPropagator::new())),
            "baggage" => propagators.push(Box::new(BaggagePropagator::new())),
            "none" if names.len() == 1 => return TextMapCompositePropagator::new(Vec::new()),
            "none" => report(PROPAGATORS, name, "`none` combined with other propagators; ignored"),
            "b3" | "b3multi" | "jaeger" | "xray" | "ottrace" => {
                report(PROPAGATORS, name, "not supported by this setup; skipped")
            }
            _ => report(PROPAGATORS, name, "unknown propagator; skipped"),
        }
        seen.push(lower);
    }
    if propagators.is_empty() {
        return TextMapCompositePropagator::new(default());
    }
    TextMapCompositePropagator::new(propagators)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::reported_problems;
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::trace::TraceContextExt;
    use std::collections::HashMap;

    fn propagator(value: Option<&str>) -> TextMapCompositePropagator {
        let value = value.map(str::to_owned);
        from_env(&Env::from_fn(move |name| if name == PROPAGATORS { value.clone() } else { None }))
    }

    /// What a request with a traceparent and baggage becomes after extract then inject.
    fn round_trip(propagator: &TextMapCompositePropagator, traceparent: &str) -> HashMap<String, String> {
        let incoming: HashMap<String, String> =
            [("traceparent".to_owned(), traceparent.to_owned()), ("baggage".to_owned(), "user=alice".to_owned())]
                .into();
        let cx = propagator.extract(&incoming);
        let mut outgoing = HashMap::new();
        propagator.inject_context(&cx, &mut outgoing);
        outgoing
    }

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn default_is_strict_tracecontext_and_baggage() {
        for value in [None, Some(""), Some(" tracecontext , baggage ")] {
            let out = round_trip(&propagator(value), VALID);
            assert_eq!(out.get("traceparent").map(String::as_str), Some(VALID), "{value:?}");
            assert_eq!(out.get("baggage").map(String::as_str), Some("user=alice"), "{value:?}");
        }
        // Strict: version `0` (one digit) is invalid, so no context is continued.
        let out = round_trip(&propagator(None), "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert!(!out.contains_key("traceparent"));
    }

    #[test]
    fn single_values_and_none() {
        let out = round_trip(&propagator(Some("baggage")), VALID);
        assert!(!out.contains_key("traceparent") && out.contains_key("baggage"));
        let out = round_trip(&propagator(Some("tracecontext")), VALID);
        assert!(out.contains_key("traceparent") && !out.contains_key("baggage"));
        let none = propagator(Some("none"));
        let cx = none.extract(&HashMap::from([("traceparent".to_owned(), VALID.to_owned())]));
        assert!(!cx.span().span_context().is_valid() && cx.baggage().is_empty());
        assert!(round_trip(&none, VALID).is_empty());
    }

    #[test]
    fn unknown_values_are_reported_and_skipped() {
        let out = round_trip(&propagator(Some("b3,tracecontext,bogus")), VALID);
        assert!(out.contains_key("traceparent") && !out.contains_key("baggage"));
        let out = round_trip(&propagator(Some("jaeger")), VALID);
        assert!(out.contains_key("traceparent") && out.contains_key("baggage"), "nothing valid: the default");
        let out = round_trip(&propagator(Some("none,baggage")), VALID);
        assert!(out.contains_key("baggage"));
        let problems = reported_problems();
        for value in ["b3", "bogus", "jaeger", "none"] {
            assert!(problems.iter().any(|p| p.source == PROPAGATORS && p.value == value), "{value}");
        }
    }
}
