//! See docs/architecture.md for what this module owns.
