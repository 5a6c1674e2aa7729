#![no_main]
//! See fuzz/common.rs, `check_tiktoken`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: fuzz_common::fuzz_init(),
    |data: &[u8]| fuzz_common::check_tiktoken(data)
);
