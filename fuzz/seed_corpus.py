#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from the repository's own data:

- count_tiktoken, count_huggingface: the texts of tests/fixtures/golden.jsonl (each cut to
  MAX_TEXT bytes at a character boundary, so the committed corpus stays small);
- config: the TOML examples of tests/config.rs and the guide, and environment-style inputs;
- tokenizer_json: the fixture tokenizers shrunk to a few hundred entries (same structure, each
  still valid), truncated variants and small mutations (hostile regexes, wrong types, ...);
- ffi: TOML, adapter and model names and a text joined by NUL bytes (see fuzz/common.rs);
- hf_normalizers, hf_pre_tokenizers, hf_added_tokens, hf_unigram, hf_sentencepiece_bpe: a byte
  N, N generator bytes (fuzz/common.rs, `check_pipeline`: they choose the pipeline's parts) and a
  text (ASCII as is, bytes 0x80-0xff pick special characters and the file's own tokens); the
  generator bytes come from a fixed pseudo-random sequence, the texts from golden.jsonl.

File names are the SHA-1 of the content, as libFuzzer names its own. Run from anywhere:
    python3 fuzz/seed_corpus.py
Existing files are kept (libFuzzer's findings stay); only new seeds are added.
"""

import ast
import copy
import hashlib
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
FIXTURES = ROOT / "tests" / "fixtures"
MAX_TEXT = 1024


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def cut(text, limit):
    data = text.encode()
    if len(data) <= limit:
        return data
    data = data[:limit]
    return data.decode("utf-8", "ignore").encode()


def golden_texts():
    with open(FIXTURES / "golden.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def toml_examples():
    examples = []
    # String literals of tests/config.rs that look like TOML.
    source = (ROOT / "tests" / "config.rs").read_text(encoding="utf-8")
    for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', source):
        if literal.startswith(("[tokenizer", "# ", "[tokenizers")):
            try:
                examples.append(ast.literal_eval('"' + literal + '"'))
            except (ValueError, SyntaxError):
                pass
    # The guide's ```toml blocks.
    guide = (FIXTURES / "guide" / "tokenizer-adapters-performance-guide.md").read_text(encoding="utf-8")
    examples += re.findall(r"```toml\n(.*?)```", guide, flags=re.S)
    examples += [
        "[tokenizer]\nmax_input_bytes = 0\n",
        "[tokenizer]\nmax_input_bytes = 9223372036854775807\n",
        "[tokenizer]\nmodel = \"gpt-4o\"\n[tokenizer.tiktoken]\nencoding = \"o200k_base\"\n",
        "[tokenizer.heuristic]\nchars_per_token = 1e-300\n",
        "[tokenizer.heuristic]\nchars_per_token = 1e300\n",
        "[tokenizer.huggingface]\nadd_special_tokens = false\ncache_dir = \"relative/cache\"\n"
        "[tokenizer.huggingface.models]\nmy-model = \"some/dir\"\n",
        "tokenizer = 3\n",
        "[[tokenizer]]\n",
        "a = { b = { c = { d = [[[[1]]]] } } }\n",
    ]
    return examples


ENV_NAMES = [
    "KANO_TOKENIZER_ADAPTER",
    "KANO_TOKENIZER_MODEL",
    "KANO_TOKENIZER_FALLBACK_CHAIN",
    "KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN",
    "KANO_TOKENIZER_TIKTOKEN_ENCODING",
    "KANO_TOKENIZER_MAX_INPUT_BYTES",
    "HF_HUB_CACHE",
    "HF_HOME",
    "XDG_CACHE_HOME",
    "HOME",
]


def env_input(pairs):
    """Lines of (index into ENV_NAMES as one byte) + value, as fuzz/common.rs reads them."""
    return b"\n".join(bytes([ENV_NAMES.index(k)]) + v.encode() for k, v in pairs)


def env_examples():
    return [
        env_input([("KANO_TOKENIZER_ADAPTER", "tiktoken"), ("KANO_TOKENIZER_MODEL", "gpt-4o")]),
        env_input([("KANO_TOKENIZER_FALLBACK_CHAIN", "tiktoken, huggingface,heuristic")]),
        env_input([("KANO_TOKENIZER_FALLBACK_CHAIN", ",,")]),
        env_input([("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", "3.5")]),
        env_input([("KANO_TOKENIZER_HEURISTIC_CHARS_PER_TOKEN", "-inf")]),
        env_input([("KANO_TOKENIZER_TIKTOKEN_ENCODING", "cl100k_base"), ("KANO_TOKENIZER_ADAPTER", "auto")]),
        env_input([("KANO_TOKENIZER_MAX_INPUT_BYTES", "64MiB")]),
        env_input([("KANO_TOKENIZER_MAX_INPUT_BYTES", "18446744073709551615")]),
        env_input([("KANO_TOKENIZER_MAX_INPUT_BYTES", "0")]),
        env_input([("HF_HOME", "/nonexistent"), ("KANO_TOKENIZER_ADAPTER", "huggingface")]),
    ]


def shrink_bpe(tok, keep_ids):
    vocab = tok["model"]["vocab"]
    kept = {t: i for t, i in vocab.items() if i < keep_ids}
    merges = []
    for m in tok["model"]["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in kept and b in kept and a + b in kept:
            merges.append(m)
    tok["model"]["vocab"] = kept
    tok["model"]["merges"] = merges
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["id"] < keep_ids or t["content"] in kept]
    return tok


def shrunk_tokenizers():
    def load(name):
        return json.loads((FIXTURES / "tokenizers" / name / "tokenizer.json").read_text(encoding="utf-8"))

    out = {}
    t = load("all-MiniLM-L6-v2")
    t["model"]["vocab"] = {k: v for k, v in t["model"]["vocab"].items() if v < 400 or v % 500 == 0}
    out["wordpiece"] = t
    t = load("gpt2")
    # 50256 is <|endoftext|>; the first merges' results follow the 256 byte tokens.
    eot = {k: v for k, v in t["model"]["vocab"].items() if v == 50256}
    t = shrink_bpe(t, 400)
    t["model"]["vocab"].update(eot)
    out["bytelevel_bpe"] = t
    t = shrink_bpe(load("llama-style-bpe"), 400)
    # <unk>, <s>, </s>; the 256 <0xNN> byte tokens stay in the vocabulary only.
    t["added_tokens"] = t["added_tokens"][:3]
    out["bytefallback_bpe"] = t
    t = load("t5-style-unigram")
    t["model"]["vocab"] = t["model"]["vocab"][:250]
    out["unigram"] = t
    return out


def mutations(tok):
    """Small, structured changes a file could have: each a new dict."""
    variants = []

    def variant(f):
        t = copy.deepcopy(tok)
        f(t)
        variants.append(t)

    variant(lambda t: t.__setitem__("normalizer", {"type": "Replace", "pattern": {"Regex": "(a+)+$"}, "content": "b"}))
    variant(lambda t: t.__setitem__(
        "pre_tokenizer", {"type": "Split", "pattern": {"Regex": "(x+x+)+y"}, "behavior": "Isolated", "invert": False}))
    variant(lambda t: t.__setitem__("truncation", {"direction": "Right", "max_length": 1, "strategy": "LongestFirst",
                                                   "stride": 0}))
    variant(lambda t: t.__setitem__("padding", {"strategy": {"Fixed": 4096}, "direction": "Right",
                                                "pad_to_multiple_of": None, "pad_id": 0, "pad_type_id": 0,
                                                "pad_token": "[PAD]"}))
    variant(lambda t: t.__setitem__("normalizer", {"type": "Prepend", "prepend": "\u2581" * 50}))
    variant(lambda t: t["model"].__setitem__("type", "WordLevel"))
    variant(lambda t: t["model"].__setitem__("byte_fallback", not t["model"].get("byte_fallback", False)))
    variant(lambda t: t["model"].__setitem__("dropout", 0.5))
    variant(lambda t: t["model"].pop("unk_token", None))
    variant(lambda t: t.__setitem__("added_tokens", t["added_tokens"] + [
        {"id": 999999, "content": "fox", "single_word": False, "lstrip": True, "rstrip": True,
         "normalized": True, "special": False}]))
    return variants


def tokenizer_seeds():
    seeds = []
    shrunk = list(shrunk_tokenizers().values())
    for tok in shrunk:
        data = json.dumps(tok, ensure_ascii=False, separators=(",", ":")).encode()
        seeds.append(data)
        seeds += [data[: len(data) // 2], data[:10], data[:-1]]
    # Each mutation on one of the tokenizers in turn (the corpus stays small).
    variants = [mutations(tok) for tok in shrunk]
    for i in range(len(variants[0])):
        v = variants[i % len(shrunk)][i]
        seeds.append(json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode())
    seeds += [
        b'{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,'
        b'"pre_tokenizer":null,"post_processor":null,"decoder":null,'
        b'"model":{"type":"WordLevel","vocab":{"a":0,"[UNK]":1},"unk_token":"[UNK]"}}',
        b'{"model":{"type":"BPE","vocab":{},"merges":[]}}',
        b"[" * 5000,
        b"{}",
        b"",
    ]
    return seeds


PIPELINE_TARGETS = ["hf_normalizers", "hf_pre_tokenizers", "hf_added_tokens", "hf_unigram", "hf_sentencepiece_bpe"]


def pipeline_seeds(texts, count=48):
    """Inputs for the pipeline targets: a length byte, generator bytes, then a text."""
    state = 0x9E3779B97F4A7C15
    seeds = []
    for i in range(count):
        n = [0, 8, 24, 64, 128, 200, 255][i % 7]
        spec = bytearray()
        for _ in range(n):
            state ^= (state << 13) & 0xFFFFFFFFFFFFFFFF
            state ^= state >> 7
            state ^= (state << 17) & 0xFFFFFFFFFFFFFFFF
            spec.append(state >> 56)
        text = cut(texts[(i * 7) % len(texts)], 160 + (i % 5) * 80)
        if i % 4 == 1:
            # Bytes 0x80-0xff: the special characters, and the file's tokens (0xb0 and up).
            text = bytes([0x80 + (j * 37 + i) % 128 if j % 3 else 0x61 + j % 26 for j in range(120)])
        seeds.append(bytes([n]) + bytes(spec) + text)
    return seeds


def main():
    texts = golden_texts()
    for text in texts:
        write("count_tiktoken", cut(text, MAX_TEXT))
        write("count_huggingface", cut(text, MAX_TEXT))
    tomls = toml_examples()
    for t in tomls:
        write("config", t)
    for e in env_examples():
        write("config", e)
    for s in tokenizer_seeds():
        write("tokenizer_json", s)
    for target in PIPELINE_TARGETS:
        for seed in pipeline_seeds(texts):
            write(target, seed)
    adapters = [b"", b"\x00", b"\x01", b"\x02", b"\x03", b"tiktoken", b"auto"]
    models = [b"", b"\x00", b"\x02", b"\x08", b"gpt-4o", b"cl100k_base", b"llama-3"]
    short = [cut(t, 200) for t in texts[::6]] + [b"\xff\xfe invalid", b"ok \xc3(", b"a\x00b"]
    for i, text in enumerate(short):
        toml = tomls[i % len(tomls)].encode() if i % 3 == 0 else b""
        write("ffi", b"\x00".join([toml, adapters[i % len(adapters)], models[i % len(models)], text]))


if __name__ == "__main__":
    main()
