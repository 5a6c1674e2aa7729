#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS, at most JOBS at once (default: the number
# of cores), after replaying its committed corpus (fuzz/corpus/<target>, read only: new inputs go
# to fuzz/target/corpus/<target>). Fails if any target crashes, panics, times out or runs out of
# memory; the input is saved in fuzz/artifacts/<target>/. Used by `make fuzz-smoke` and
# `make fuzz`; see fuzz/README.md.
# The summary line per target gives libFuzzer's stat::number_of_executed_units.
#
#   fuzz/run.sh SECONDS [TARGET...]
#   FUZZ_JOBS=2 FUZZ_SANITIZER=none FUZZ_FRESH=1 fuzz/run.sh 60 config ffi
set -euo pipefail

cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(count_tiktoken count_huggingface config tokenizer_json ffi
        hf_normalizers hf_pre_tokenizers hf_added_tokens hf_unigram hf_sentencepiece_bpe)
fi
jobs=${FUZZ_JOBS:-$(nproc)}
sanitizer=${FUZZ_SANITIZER:-address}
# cargo-fuzz needs nightly for -Zsanitizer and -Zbuild-std style flags; RUSTC_BOOTSTRAP lets the
# stable compiler accept them (no nightly toolchain needs to be downloaded).
export RUSTC_BOOTSTRAP=1
# Logs and the growing corpus; FUZZ_WORK (and CARGO_TARGET_DIR for the build) let a second run
# proceed next to a running one.
work_dir=${FUZZ_WORK:-target}
logs=$work_dir/logs
mkdir -p "$logs"

# -a: debug assertions (integer overflow in the bound arithmetic panics instead of wrapping).
build=(cargo fuzz build -a --sanitizer "$sanitizer")
start=$(date +%s)
"${build[@]}"
echo "fuzz: built ${#targets[@]} targets in $(($(date +%s) - start)) s"

options() {
    # Per-input limits: a slow input (> 30 s) or > 4 GiB RSS is a failure too.
    # FUZZ_SEED (make fuzz-smoke sets 1) makes a run repeatable: CI explores the same inputs as a
    # local run with that seed, as far as its time allows, instead of a new random walk each time.
    local common=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1)
    if [ -n "${FUZZ_SEED:-}" ]; then common+=(-seed="$FUZZ_SEED"); fi
    case $1 in
        # The differential targets compare with tiktoken-rs up to 4 KiB (fuzz/common.rs).
        count_tiktoken | count_huggingface) echo "${common[@]}" -max_len=4096 ;;
        tokenizer_json) echo "${common[@]}" -max_len=65536 ;;
        *) echo "${common[@]}" -max_len=4096 ;;
    esac
}

run_one() {
    local t=$1 work=$work_dir/corpus/$1
    if [ -n "${FUZZ_FRESH:-}" ]; then rm -rf "$work"; fi
    mkdir -p "$work" "artifacts/$t"
    # shellcheck disable=SC2046
    if cargo fuzz run -a --sanitizer "$sanitizer" "$t" "$work" "corpus/$t" -- $(options "$t") \
        >"$logs/$t.log" 2>&1; then
        local units
        units=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)
        echo "fuzz: $t ok, ${units:-?} runs in $seconds s"
    else
        echo "fuzz: $t FAILED (log: fuzz/$logs/$t.log, input in fuzz/artifacts/$t/)"
        grep -E "panicked at|ERROR: |SUMMARY|Test unit written" "$logs/$t.log" | head -20 || true
        return 1
    fi
}

for t in "${targets[@]}"; do
    rm -f "$logs/$t.status"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n || true
    done
    (run_one "$t" && echo ok >"$logs/$t.status" || echo failed >"$logs/$t.status") &
done
wait
echo "fuzz: finished in $(($(date +%s) - start)) s"
failed=0
for t in "${targets[@]}"; do
    [ "$(cat "$logs/$t.status" 2>/dev/null)" = ok ] || failed=1
done
exit $failed
