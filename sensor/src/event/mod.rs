//! Events: the typed model (`types`), and the decoder from kernel records.

mod types;

pub use types::*;
