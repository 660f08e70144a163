//! Capture files: the record format `falco-sensor record` writes and
//! `replay` reads (events plus the state snapshots that make a replay
//! independent of the machine). It serialises state, so it sits above
//! `state/` and `event/`. See docs/record-format.md.

pub mod record;
