//! flowmeter's end-to-end tests: one test binary (one link step) whose
//! modules drive the real `flowmeter` binary, with shared helpers in
//! [`util`]. No test reaches the network: sources are local mock servers,
//! and the server under test listens on an ephemeral loopback port.

mod cli;
mod lake;
mod report;
mod serve;
mod sync;
mod util;
