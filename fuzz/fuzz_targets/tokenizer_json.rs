#![no_main]
//! See fuzz/common.rs, `check_tokenizer_json`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: fuzz_common::fuzz_init(),
    |data: &[u8]| fuzz_common::check_tokenizer_json(data)
);
