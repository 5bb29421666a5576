//! Turning one trace into text: a pure function, so the layout is tested with fixed timestamps.
//!
//! One line per span, indented under its parent, with the service, the name, the duration and a
//! bar on the trace's time axis; then, inside a parent, a gap line for each stretch of time no
//! child covers when it is a large share of the parent (time nobody instrumented).

use opentelemetry::trace::{SpanId, TraceId};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// One finished span, reduced to what the waterfall shows.
#[derive(Clone, Debug, PartialEq)]
pub struct WaterfallSpan {
    /// The trace the span belongs to.
    pub trace_id: TraceId,
    /// The span's id.
    pub span_id: SpanId,
    /// The parent's id, [`SpanId::INVALID`] for a root.
    pub parent_span_id: SpanId,
    /// Whether the parent came from another process (extracted from a request or message).
    pub parent_is_remote: bool,
    /// `service.name` of the provider that produced the span.
    pub service: Arc<str>,
    /// The span's name.
    pub name: String,
    /// Start time.
    pub start: SystemTime,
    /// End time.
    pub end: SystemTime,
    /// `Some` when the span's status is Error: the description, `error.type`, or empty.
    pub error: Option<String>,
}

/// How [`render`] lays a trace out.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderOptions {
    /// Total line width in characters (the bar gets what the other columns leave, at least 10).
    pub width: usize,
    /// ANSI colors (services, errors, gaps).
    pub color: bool,
    /// A gap line is shown when uncovered time inside a parent is at least this share of the
    /// parent's duration (0.0 to 1.0)...
    pub gap_share: f64,
    /// ...and at least this long.
    pub min_gap: Duration,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { width: 100, color: false, gap_share: 0.2, min_gap: Duration::from_millis(1) }
    }
}

/// Why a trace is printed, shown in its header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Completeness {
    /// Its root (local or continued from a remote parent) ended and no span is still running.
    #[default]
    Complete,
    /// It was printed before every span ended (the wait for its root ran out, or shutdown).
    Incomplete,
}

const MAX_NAME_COLUMN: usize = 48;
const MAX_SERVICE_COLUMN: usize = 20;
const MIN_BAR: usize = 10;
const GAP_NAME: &str = "(untraced gap)";

const RESET: &str = "\x1b[0m";
const RED: &str = "\x1b[31m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const YELLOW: &str = "\x1b[33m";
const PALETTE: [&str; 6] = ["\x1b[36m", "\x1b[35m", "\x1b[34m", "\x1b[32m", "\x1b[96m", "\x1b[95m"];

struct Line<'a> {
    depth: usize,
    service: &'a str,
    name: &'a str,
    start: u128,
    end: u128,
    error: Option<&'a str>,
    gap: bool,
}

/// Renders one trace: a header line with the trace id, then one line per span (and gap), then a
/// blank line. `spans` may come in any order; spans whose parent is missing are shown as roots.
///
/// ```
/// use otel_core::setup::waterfall::{RenderOptions, WaterfallSpan, render, Completeness};
/// use opentelemetry::trace::{SpanId, TraceId};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
/// let span = WaterfallSpan {
///     trace_id: TraceId::from(1),
///     span_id: SpanId::from(1),
///     parent_span_id: SpanId::INVALID,
///     parent_is_remote: false,
///     service: "shop".into(),
///     name: "GET /cart".into(),
///     start: at(0),
///     end: at(20),
///     error: None,
/// };
/// let text = render(&[span], Completeness::Complete, &RenderOptions { width: 60, ..RenderOptions::default() });
/// assert!(text.starts_with("trace 00000000000000000000000000000001  1 span  20.0 ms\n"));
/// assert!(text.contains("  shop  GET /cart    20.0 ms  │██"));
/// ```
pub fn render(spans: &[WaterfallSpan], completeness: Completeness, options: &RenderOptions) -> String {
    let mut out = String::new();
    let Some(first) = spans.first() else { return out };
    let t0 = spans.iter().map(|s| s.start).min().unwrap_or(first.start);
    let t1 = spans.iter().map(|s| s.end.max(s.start)).max().unwrap_or(first.end);
    let offset = |t: SystemTime| t.duration_since(t0).unwrap_or_default().as_nanos();
    let total = offset(t1).max(1);

    let lines = layout(spans, t0, options);
    header(&mut out, first.trace_id, spans, total, completeness, options.color);

    let service_width = lines.iter().map(|l| char_len(l.service)).max().unwrap_or(0).min(MAX_SERVICE_COLUMN);
    let name_width = lines.iter().map(|l| 2 * l.depth + char_len(l.name)).max().unwrap_or(0).min(MAX_NAME_COLUMN);
    // marker, service, name, duration (9), two-space separators, the bar's two borders
    let fixed = 2 + service_width + 2 + name_width + 2 + 9 + 2 + 2;
    let bar_width = options.width.saturating_sub(fixed).max(MIN_BAR);

    for line in &lines {
        let marker = if line.error.is_some() { '✗' } else { ' ' };
        let label = truncate(&format!("{:indent$}{}", "", line.name, indent = 2 * line.depth), name_width);
        let service = truncate(line.service, service_width);
        let duration = format_duration(line.end.saturating_sub(line.start));
        let bar = bar(line.start, line.end, total, bar_width, if line.gap { '░' } else { '█' });
        let (on, off) = match (options.color, line.gap, line.error.is_some()) {
            (false, _, _) => ("", ""),
            (true, true, _) => (YELLOW, RESET),
            (true, false, true) => (RED, RESET),
            (true, false, false) => (service_color(line.service), RESET),
        };
        let service_on = if options.color && !line.gap { service_color(line.service) } else { "" };
        let service_off = if service_on.is_empty() { "" } else { RESET };
        let _ = write!(
            out,
            "{on}{marker}{off} {service_on}{service:<service_width$}{service_off}  {label:<name_width$}  \
             {duration:>9}  {on}│{bar}│{off}",
        );
        if let Some(error) = line.error.filter(|e| !e.is_empty()) {
            let _ = write!(out, " {on}{}{off}", truncate(error, 60));
        }
        trim_end_in_place(&mut out);
        out.push('\n');
    }
    out.push('\n');
    out
}

fn header(out: &mut String, trace_id: TraceId, spans: &[WaterfallSpan], total: u128, c: Completeness, color: bool) {
    let (on, off) = if color { (BOLD, RESET) } else { ("", "") };
    let count = spans.len();
    let plural = if count == 1 { "" } else { "s" };
    let _ = write!(out, "{on}trace {trace_id}{off}  {count} span{plural}  {}", format_duration(total));
    let ids: std::collections::HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let remote_parent = spans
        .iter()
        .filter(|s| s.parent_span_id != SpanId::INVALID && !ids.contains(&s.parent_span_id) && s.parent_is_remote)
        .min_by_key(|s| s.start)
        .map(|s| s.parent_span_id);
    if let Some(parent) = remote_parent {
        let _ = write!(out, "  (continues remote parent {parent})");
    }
    if c == Completeness::Incomplete {
        let _ = write!(out, "  {}(incomplete){}", if color { DIM } else { "" }, off);
    }
    out.push('\n');
}

/// The lines in display order: depth-first from the roots, children by start time, with gap
/// lines among the children.
fn layout<'a>(spans: &'a [WaterfallSpan], t0: SystemTime, options: &RenderOptions) -> Vec<Line<'a>> {
    let offset = |t: SystemTime| t.duration_since(t0).unwrap_or_default().as_nanos();
    let ids: std::collections::HashMap<SpanId, usize> = spans.iter().enumerate().map(|(i, s)| (s.span_id, i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        match ids.get(&span.parent_span_id) {
            Some(&parent) if parent != i && span.parent_span_id != SpanId::INVALID => children[parent].push(i),
            _ => roots.push(i),
        }
    }
    let by_start = |a: &usize, b: &usize| {
        (spans[*a].start, spans[*a].span_id.to_bytes()).cmp(&(spans[*b].start, spans[*b].span_id.to_bytes()))
    };
    roots.sort_by(by_start);
    for list in &mut children {
        list.sort_by(by_start);
    }

    let mut lines = Vec::with_capacity(spans.len());
    let mut visited = vec![false; spans.len()];
    let mut stack: Vec<Item> = roots.into_iter().rev().map(|i| Item::Span(i, 0)).collect();
    let mut next_unvisited = 0;
    loop {
        while let Some(item) = stack.pop() {
            let (i, depth) = match item {
                Item::Gap { start, end, depth, parent } => {
                    let service = &*spans[parent].service;
                    let gap = Line { depth, service, name: GAP_NAME, start, end, error: None, gap: true };
                    lines.push(gap);
                    continue;
                }
                Item::Span(i, depth) => (i, depth),
            };
            if std::mem::replace(&mut visited[i], true) {
                continue;
            }
            let span = &spans[i];
            let (start, end) = (offset(span.start), offset(span.end.max(span.start)));
            let (service, name, error) = (&*span.service, span.name.as_str(), span.error.as_deref());
            lines.push(Line { depth, service, name, start, end, error, gap: false });
            let kids = &children[i];
            if kids.is_empty() {
                continue;
            }
            // Children and large gaps in start order (a gap before a child starting at the same
            // time), pushed reversed so they pop in order.
            let covered = kids.iter().map(|&k| (offset(spans[k].start), offset(spans[k].end.max(spans[k].start))));
            let threshold = ((end - start) as f64 * options.gap_share).max(options.min_gap.as_nanos() as f64);
            let mut items: Vec<(u128, bool, Item)> = uncovered(start, end, covered)
                .into_iter()
                .filter(|(s, e)| (e - s) as f64 >= threshold)
                .map(|(s, e)| (s, false, Item::Gap { start: s, end: e, depth: depth + 1, parent: i }))
                .collect();
            items.extend(kids.iter().map(|&k| (offset(spans[k].start), true, Item::Span(k, depth + 1))));
            items.sort_by_key(|(s, is_span, _)| (*s, *is_span));
            stack.extend(items.into_iter().rev().map(|(_, _, item)| item));
        }
        // Spans caught in a parent cycle are never reached from a root: show them as roots too.
        while next_unvisited < spans.len() && visited[next_unvisited] {
            next_unvisited += 1;
        }
        if next_unvisited == spans.len() {
            break;
        }
        stack.push(Item::Span(next_unvisited, 0));
    }
    lines
}

enum Item {
    Span(usize, usize),
    Gap { start: u128, end: u128, depth: usize, parent: usize },
}

/// The stretches of `[start, end]` that no interval covers, in order.
fn uncovered(start: u128, end: u128, intervals: impl Iterator<Item = (u128, u128)>) -> Vec<(u128, u128)> {
    let mut intervals: Vec<(u128, u128)> =
        intervals.map(|(s, e)| (s.clamp(start, end), e.clamp(start, end))).filter(|(s, e)| e > s).collect();
    intervals.sort_unstable();
    let mut gaps = Vec::new();
    let mut cursor = start;
    for (s, e) in intervals {
        if s > cursor {
            gaps.push((cursor, s));
        }
        cursor = cursor.max(e);
    }
    if end > cursor {
        gaps.push((cursor, end));
    }
    gaps
}

/// `width` cells on the trace's time axis, `fill` where `[start, end]` lies (at least one cell).
fn bar(start: u128, end: u128, total: u128, width: usize, fill: char) -> String {
    let width_n = width as u128;
    let mut from = (start.min(total) * width_n / total) as usize;
    let to = ((end.min(total) * width_n).div_ceil(total) as usize).min(width);
    from = from.min(width.saturating_sub(1));
    let to = to.max(from + 1);
    (0..width).map(|cell| if (from..to).contains(&cell) { fill } else { ' ' }).collect()
}

/// `812 ns`, `41.5 µs`, `12.3 ms`, `1.24 s`.
pub(crate) fn format_duration(nanos: u128) -> String {
    match nanos {
        0..1_000 => format!("{nanos} ns"),
        1_000..1_000_000 => format!("{:.1} µs", nanos as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", nanos as f64 / 1e6),
        _ => format!("{:.2} s", nanos as f64 / 1e9),
    }
}

fn service_color(service: &str) -> &'static str {
    // A fixed hash: the same service gets the same color in every trace and every run.
    let hash = crate::internal::intern::word_hash(service.as_bytes());
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// At most `max` characters, the last one `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if char_len(s) <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn trim_end_in_place(s: &mut String) {
    let trimmed = s.trim_end_matches(' ').len();
    s.truncate(trimmed);
}
