//! Events: the typed model (`types`), the kernel record layout (`raw`), the
//! decoder from kernel records (`decode`) and the record file (`record`).

pub mod abi;
pub mod clock;
pub mod decode;
pub mod raw;
pub mod record;
mod types;

pub use types::*;
