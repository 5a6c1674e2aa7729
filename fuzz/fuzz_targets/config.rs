#![no_main]
//! See fuzz/common.rs, `check_config`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: { fuzz_common::IN_FUZZER.store(true, std::sync::atomic::Ordering::Relaxed); },
    |data: &[u8]| fuzz_common::check_config(data)
);
