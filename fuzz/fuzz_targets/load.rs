//! Fuzz target `load`: arbitrary bytes given to the Compose loader as the content of a
//! compose.yaml. The loader must return Ok or Err for every input and never panic, overflow its
//! stack or hang; libFuzzer reports any of those as a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The result is irrelevant here: only a panic, abort or timeout is a finding.
    let _ = berth::model::fuzz_load(data);
});
