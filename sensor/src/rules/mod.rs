//! The Falco rule language: loading YAML rule files, parsing and compiling
//! conditions, indexing rules by event type, evaluating them over events and
//! rendering outputs. Field definitions and extraction live in [`fields`].

pub mod alert;
pub mod defaults;
pub mod fields;

pub use defaults::default_rules_yaml;
