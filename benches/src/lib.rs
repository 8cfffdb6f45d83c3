//! Shared helpers for wirt benchmarks.
