//! Tests of the driver over real directories: natively with `cargo test`
//! (temporary directories stand in for the preopens), and inside WASI for
//! the sandbox (`sandbox`, see README.md for how it is run).

#[cfg(not(target_arch = "wasm32"))]
mod common;
#[cfg(not(target_arch = "wasm32"))]
mod images;
#[cfg(not(target_arch = "wasm32"))]
mod pools;
#[cfg(target_arch = "wasm32")]
mod sandbox;
#[cfg(not(target_arch = "wasm32"))]
mod volumes;
