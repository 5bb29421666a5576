//! Measuring an adapter's cost in a benchmark: a counting allocator and an exporter that drops
//! spans (so that what is measured is the instrumentation and the SDK, not an export).
//!
//! ```
//! use otel_core::testing::CountingAllocator;
//!
//! // In a benchmark binary:
//! // #[global_allocator]
//! // static GLOBAL: CountingAllocator = CountingAllocator;
//! let before = CountingAllocator::allocations();
//! let _v: Vec<u8> = Vec::with_capacity(16);
//! let _ = CountingAllocator::allocations() - before; // 1 when CountingAllocator is the global allocator
//! ```
#![allow(unsafe_code)] // a GlobalAlloc implementation is unsafe by definition

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting every allocation and reallocation (all threads). Install it
/// with `#[global_allocator]` in a benchmark binary; read the count with
/// [`CountingAllocator::allocations`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

impl CountingAllocator {
    /// Allocations and reallocations so far, in every thread of the process.
    pub fn allocations() -> u64 {
        ALLOCATIONS.load(Ordering::Relaxed)
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// A span exporter that counts spans and drops them. Clones share the count.
#[derive(Debug, Clone, Default)]
pub struct DroppingExporter {
    exported: Arc<AtomicU64>,
}

impl DroppingExporter {
    /// Spans exported (and dropped) so far: proves one span per request in a benchmark.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }
}

impl SpanExporter for DroppingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.exported.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}
