#![no_main]
//! See fuzz/common.rs, `check_hf_normalizers`: a small tokenizer.json built from the input, counted by our
//! engine and, where it serves the file, compared with the `tokenizers` crate.

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: fuzz_common::fuzz_init(),
    |data: &[u8]| fuzz_common::check_hf_normalizers(data)
);
