#![no_main]
//! See fuzz/common.rs, `check_huggingface`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: fuzz_common::fuzz_init(),
    |data: &[u8]| fuzz_common::check_huggingface(data)
);
