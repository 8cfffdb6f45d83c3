//! The core's integration tests, in one binary (one link instead of many).

mod api;
mod corpus;
mod deps;
mod fuzz;
mod hostile_xml;
mod migrate;
mod secrets;
// Also compiled into host/cli's tests, which use what these do not.
#[allow(dead_code)]
mod support;
