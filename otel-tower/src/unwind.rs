//! Ending a span when the poll that owns it panics.

/// Runs `on_unwind` when dropped while the thread panics: a poll that panics still ends its span.
pub(crate) struct OnUnwind<'a, S> {
    pub(crate) state: &'a mut S,
    pub(crate) on_unwind: fn(&mut S),
}

impl<S> Drop for OnUnwind<'_, S> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            (self.on_unwind)(self.state);
        }
    }
}
