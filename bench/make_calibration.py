#!/usr/bin/env python3
"""Writes assets/estimate-calibration.txt: the samples every tokenizer.json model is counted on
when it loads, to fit its estimator (src/estimate/fit.rs). Slices of the first 70% of each
bench/corpus file (the last 30% is held out for tests/estimate.rs), at three sizes, with a fixed
seed, and synthetic edge cases (runs, digits, base64, emoji...). Each sample is a line
`\\x1eCATEGORY` then its text. Run from the repository root."""
import random

FILES = ["prose_en.txt", "prose_de.txt", "prose_ja.txt", "prose_zh.txt", "prose_ko.txt", "prose_ru.txt",
         "code_rust.rs", "code_python.py", "data_json.json"]
SIZES = [(200, 12), (1000, 6), (3000, 2)]


def synthetic(rng):
    """Edge cases of the shapes the golden data has, with other parameters (as bench/calibrate.rs
    draws them), each category on its own."""
    def pick(alphabet, n):
        return "".join(rng.choice(alphabet) for _ in range(n))
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for _ in range(3):
        yield "newlines", "\n" * rng.randint(2, 60)
        yield "crlf", "line one\r\nline two\r\n\r\n" * rng.randint(1, 12)
        yield "tabs", "\tkey:\t\tvalue\n" * rng.randint(1, 12)
        yield "special-literal", f"hello <|endoftext|> world <|fim_prefix|>{rng.randrange(1000)}"
        yield "emoji-zwj", "\U0001F468\u200d\U0001F469\u200d\U0001F467 family, \U0001F44D\U0001F3FD ok " * rng.randint(1, 8)
        yield "combining", "e\u0301 a\u0308 n\u0303 " * rng.randint(1, 30)
        yield "rtl", "مرحبا بالعالم שלום עולם " * rng.randint(1, 8)
        yield "hangul-thai-devanagari", "안녕하세요 สวัสดีครับ नमस्ते दुनिया " * rng.randint(1, 8)
        yield "digits", pick("0123456789", rng.randint(5, 3000))
        for c in "ax.-=_0":
            yield "one-char-run", c * rng.randint(50, 2000)
        yield "spaces-run", " " * rng.randint(50, 2000) + "x"
        yield "base64ish", pick(b64, rng.randint(50, 3000))
        yield "url", f"https://example.com/path/{rng.randrange(10**9)}?q=token%20count&lang=en#frag"
        yield "control", "a\x00b\x01c\x1bd\x7fe" * rng.randint(1, 6)
        yield "mixed-cjk-latin", "Rust の tokenizer は速い。中文和English混合。" * rng.randint(1, 6)
        yield "math", "∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ ≤ ∞ " * rng.randint(1, 10)


def main():
    rng = random.Random(20261203)
    with open("assets/estimate-calibration.txt", "w", encoding="utf-8", newline="") as out:
        out.write("Samples each tokenizer.json model is counted on when it loads, to fit its estimator"
                  " (src/estimate/fit.rs).\nMade by bench/make_calibration.py from the first 70% of each"
                  " bench/corpus file; the rest is held out.\n")
        for name in FILES:
            text = open(f"bench/corpus/{name}", encoding="utf-8", newline="").read()
            head = text[: len(text) * 7 // 10]
            for size, repeats in SIZES:
                for _ in range(repeats):
                    start = rng.randrange(0, len(head) - size)
                    sample = head[start:start + size]
                    assert "\x1e" not in sample
                    out.write(f"\x1e{name}\n{sample}")
        for category, sample in synthetic(rng):
            assert "\x1e" not in sample
            out.write(f"\x1e{category}\n{sample}")


if __name__ == "__main__":
    main()
