//! Events: the typed model (`types`), the kernel record layout (`raw`), the
//! decoder from kernel records (`decode`), the Linux ABI numbers it reads
//! (`abi`). The record file format is `crate::capture`.

pub mod abi;
pub mod clock;
pub mod decode;
pub mod raw;
mod types;

pub use types::*;
