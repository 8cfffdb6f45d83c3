//! Conformance suite for wirt drivers (see issue 3).
