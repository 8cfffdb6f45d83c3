//! wirt's integration tests, in one binary (one link instead of many).

mod api;
mod cli;
mod corpus;
mod kvm;
mod plugins;
mod remote;
mod storage;
mod support;
