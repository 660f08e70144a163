//! The Falco rule language: loading YAML rule files, parsing and compiling
//! conditions, indexing rules by event type, evaluating them over events and
//! rendering outputs. Field definitions and extraction live in [`fields`].
//!
//! Flow: [`loader`] applies files in order into definitions, [`parse`]
//! turns condition text into an [`ast`], [`compile`] resolves macros, lists
//! and fields into [`pred`] trees, and [`engine`] indexes and evaluates them.

pub mod alert;
pub mod analysis;
pub mod ast;
pub mod cache;
pub mod compile;
pub mod defaults;
pub mod engine;
pub mod error;
mod exceptions;
pub mod fields;
pub mod glob;
pub mod link;
pub mod loader;
pub mod output;
pub mod parse;
pub mod pred;
pub mod typeset;
pub mod yaml;

pub use defaults::default_rules_yaml;
pub use engine::{
    CompiledRuleView, LoadOptions, LoadSummary, LoadedRules, RuleId, RuleInfoView, RuleMatch,
    RuleMatching, RuleSet,
};
pub use error::{ErrorKind, ItemKind, LoadError, LoadWarning, Location, WarningCode};
pub use link::{load_files, load_sources};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
