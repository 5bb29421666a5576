//! A measurement's attributes, gathered on the stack.

use opentelemetry::{Key, KeyValue};

/// Up to `N` attributes in place, for a measurement whose attribute count varies (a status code
/// only when there was a response, `error.type` only on failure) without a `Vec` per measurement.
/// Attributes past `N` are dropped: callers size `N` for everything they push.
#[derive(Debug)]
pub struct AttributeList<const N: usize> {
    items: [KeyValue; N],
    len: usize,
}

impl<const N: usize> AttributeList<N> {
    /// An empty list.
    pub fn new() -> Self {
        Self { items: std::array::from_fn(|_| KeyValue::new(Key::from_static_str(""), false)), len: 0 }
    }

    /// Appends `attribute`.
    pub fn push(&mut self, attribute: KeyValue) {
        debug_assert!(self.len < N, "AttributeList<{N}> is full");
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = attribute;
            self.len += 1;
        }
    }

    /// The attributes pushed so far.
    pub fn as_slice(&self) -> &[KeyValue] {
        &self.items[..self.len]
    }
}

impl<const N: usize> Default for AttributeList<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Extend<KeyValue> for AttributeList<N> {
    fn extend<I: IntoIterator<Item = KeyValue>>(&mut self, attributes: I) {
        for attribute in attributes {
            self.push(attribute);
        }
    }
}
