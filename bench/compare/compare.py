#!/usr/bin/env python3
"""kano-tokenizer against every peer, side by side, in one run, on one core.

    python bench/compare/compare.py [--quick] [--files prose_en,code_rust] [--encodings cl100k_base,o200k_base]

Runs the Rust binary (bench/compare/src/main.rs: ours through the Rust API and through the C ABI,
tiktoken-rs, bpe-openai, the `tokenizers` crate) and the Python peers (quicktok, tiktoken, HF
tokenizers, and ours through bindings/python) on the same files, pinned to one CPU, and prints
Markdown tables: throughput per file and encoding, worst-case 1 MB inputs, per-call cost on a
100-byte text, memory and load time, tokenizer.json models, and our estimate of a 2 KB request
against every subject's exact count of it. Every subject's counts are
compared; a mismatch is reported loudly and the exit status is 1.

It installs nothing: run it with a Python that has quicktok-v1, tiktoken, tokenizers 0.23 and
gigatoken (`make compare` makes a venv in bench/compare/.venv, with pinned versions); the peers
that need tokenizers 1.x (tokenizers 1.0 itself, fastokens, kitoken) run in a second venv,
bench/compare/.venv-next (or --next-python), left out when it is missing. Python tiktoken reads its rank files from a local
cache filled from the files tiktoken-rs ships, so nothing is downloaded. See README.md.

The same script is also the Python worker (`compare.py worker MODE ...`), with the command line
and the JSON-lines output of the Rust binary.
"""

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = ROOT / "bench" / "corpus"
TARGET = HERE / "target"
INPUTS = TARGET / "inputs"
TIKTOKEN_CACHE = TARGET / "tiktoken-cache"
FIXTURES = ROOT / "tests" / "fixtures" / "tokenizers"
NEXT_PYTHON = HERE / ".venv-next" / "bin" / "python"
# The peers of the second venv (tokenizers 1.x cannot share a venv with tokenizers 0.23).
NEXT_SUBJECTS = ["hf1-py-nospecial", "fastokens", "kitoken"]
# The OpenAI encodings fastokens has presets for, and those kitoken loads from a rank file.
FASTOKENS_ENCODINGS = {"cl100k_base", "o200k_base"}

ENCODINGS = ["cl100k_base", "o200k_base", "p50k_base", "r50k_base"]
# What each peer can count.
QUICKTOK_ENCODINGS = {"cl100k_base", "o200k_base"}
BPE_OPENAI_ENCODINGS = {"cl100k_base", "o200k_base"}
HF_MODELS = {"BERT WordPiece (all-MiniLM-L6-v2)": "all-MiniLM-L6-v2", "GPT-2 byte-level BPE": "gpt2"}
MB = 1 << 20
WORST_CASES = ["prose", "one letter", "spaces", "digits", "base64", "CJK"]

# Display names; "ours" subjects first.
LABELS = {
    "ours": "ours (Rust API)",
    "ours-cabi": "ours (C ABI)",
    "ours-py": "ours (Python binding)",
    "quicktok": "quicktok (Python)",
    "tiktoken": "tiktoken (Python)",
    "tiktoken-rs": "tiktoken-rs",
    "bpe-openai": "bpe-openai",
    "hf-rs": "HF tokenizers (Rust)",
    "hf-py": "HF tokenizers (Python)",
    "ours-nospecial": "ours (Rust API)",
    "hf-py-nospecial": "HF tokenizers (Python)",
    "hf-rs-nospecial": "HF tokenizers (Rust)",
    "gigatoken": "gigatoken (Python)",
    "hf1-py-nospecial": "HF tokenizers 1.x (Python)",
    "fastokens": "fastokens (Python)",
    "kitoken": "kitoken (Python)",
}
OURS = {"ours", "ours-cabi", "ours-py", "ours-nospecial", "ours-cabi-nospecial",
        "ours-estimate", "ours-cabi-estimate", "ours-py-estimate"}
# Subjects that report our estimate, not a count: left out of the count checks.
ESTIMATES = {"ours-estimate", "ours-cabi-estimate", "ours-py-estimate"}
# The estimate section's 2 KB requests: a label and the corpus file each is cut from.
ESTIMATE_REQUESTS = {"en": "prose_en.txt", "ja": "prose_ja.txt", "zh": "prose_zh.txt", "ru": "prose_ru.txt",
                     "code": "code_rust.rs", "json": "data_json.json"}


# ---------------------------------------------------------------------------------------------
# Python worker: `compare.py worker time|percall|memory`, the Rust binary's protocol.

def _rss_kb(field="VmRSS:"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _load_python_subject(name, model):
    """A function counting tokens of a str, with the encoding or tokenizer loaded."""
    hf = model.endswith(".json") or os.path.isdir(model)
    if name == "quicktok":
        import quicktok

        enc = quicktok.get_encoding(model)
        fn = enc.count
    elif name == "tiktoken":
        import tiktoken

        enc = tiktoken.get_encoding(model)
        encode = enc.encode_ordinary
        fn = lambda text: len(encode(text))  # noqa: E731 - tiktoken has no count
    elif name in ("hf-py", "hf-py-nospecial", "hf1-py-nospecial"):
        import tokenizers

        tok = tokenizers.Tokenizer.from_file(model)
        # 1.x has no setters for these: a file's truncation and padding must then be off.
        if hasattr(tok, "no_truncation"):
            tok.no_truncation()
            tok.no_padding()
        elif tok.truncation is not None or tok.padding is not None:
            raise ValueError("tokenizers 1.x: the file sets truncation or padding")
        special = name == "hf-py"
        fn = lambda text: len(tok.encode(text, add_special_tokens=special).ids)  # noqa: E731
    elif name == "gigatoken":
        import gigatoken

        # gigatoken's encode adds no special tokens: it is timed against the counts without them.
        tok = gigatoken.Tokenizer(model)
        fn = lambda text: len(tok.encode(text))  # noqa: E731
    elif name == "fastokens":
        import fastokens

        if hf:
            tok = fastokens.Tokenizer.from_file(model)
            fn = lambda text: len(tok.encode(text, add_special_tokens=False).ids)  # noqa: E731
        else:
            tok = fastokens.Tokenizer.from_tiktoken(_rank_file(model), encoding=model)
            fn = lambda text: len(tok.encode_ordinary(text))  # noqa: E731
    elif name == "kitoken":
        import kitoken

        tok = kitoken.Kitoken.from_tokenizers_file(model) if hf else kitoken.Kitoken.from_tiktoken_file(_rank_file(model))
        fn = lambda text: len(tok.encode(text))  # noqa: E731
    elif name in ("ours-py", "ours-py-estimate"):
        import kano_tokenizer

        registry = kano_tokenizer.Registry()
        adapter = registry.resolve("huggingface" if hf else "tiktoken", model)
        if name == "ours-py":
            fn = lambda text: adapter.count_tokens(text).count  # noqa: E731
        else:
            fn = lambda text: adapter.estimate(text).estimate  # noqa: E731
    else:
        raise ValueError(f"unknown subject {name}")
    fn("warm up: Hello, world!")
    return fn


def _rank_file(encoding):
    """The local copy of an encoding's rank file (`tiktoken_offline`)."""
    url = f"https://openaipublic.blob.core.windows.net/encodings/{encoding}.tiktoken"
    return str(Path(os.environ["TIKTOKEN_CACHE_DIR"]) / hashlib.sha1(url.encode()).hexdigest())


def _imports(names):
    """Import the subjects' modules up front, so that memory and load times exclude imports."""
    for name in names:
        module = {"quicktok": "quicktok", "tiktoken": "tiktoken", "hf-py": "tokenizers", "gigatoken": "gigatoken",
                  "hf-py-nospecial": "tokenizers", "ours-py": "kano_tokenizer", "hf1-py-nospecial": "tokenizers",
                  "fastokens": "fastokens", "kitoken": "kitoken",
                  "ours-py-estimate": "kano_tokenizer"}.get(name)
        if module:
            __import__(module)


def _emit(obj):
    print(json.dumps(obj), flush=True)


def worker(argv):
    mode = argv[0]
    opts, files = {}, []
    it = iter(argv[1:])
    for arg in it:
        if arg.startswith("--"):
            opts[arg[2:]] = next(it)
        else:
            files.append(arg)
    if mode == "memory":
        name, models = opts["subject"], opts["models"].split(",")
        _imports([name])
        before = _rss_kb()
        start = time.perf_counter()
        keep, each = [], {}
        for model in models:
            t = time.perf_counter()
            try:
                keep.append(_load_python_subject(name, model))
            except Exception as e:  # noqa: BLE001 - reported, not raised
                _emit({"mode": "memory", "subject": name, "model": model, "error": repr(e)})
                return 0
            each[model] = time.perf_counter() - t
        _emit({"mode": "memory", "subject": name, "models": models,
               "load_seconds": time.perf_counter() - start, "load_seconds_each": each,
               "rss_before_kb": before, "rss_after_kb": _rss_kb(), "hwm_kb": _rss_kb("VmHWM:")})
        return 0

    model = opts["model"]
    names = [s for s in opts["subjects"].split(",") if s]
    _imports(names)
    subjects = []
    for name in names:
        t = time.perf_counter()
        try:
            subjects.append((name, _load_python_subject(name, model), time.perf_counter() - t))
        except Exception as e:  # noqa: BLE001
            _emit({"mode": mode, "subject": name, "model": model, "error": repr(e)})
    if mode == "percall":
        text = Path(files[0]).read_text(encoding="utf-8")
        min_seconds = float(opts.get("min-seconds", 1.0))
        batch = int(opts.get("batch", 2000))
        samples = {n: [] for n, _, _ in subjects}
        totals = {n: 0.0 for n, _, _ in subjects}
        counts = {}
        while any(totals[n] < min_seconds or len(samples[n]) < 5 for n in totals):
            for n, fn, _ in subjects:
                if totals[n] >= min_seconds and len(samples[n]) >= 5:
                    continue
                r = range(batch)
                t = time.perf_counter()
                for _ in r:
                    c = fn(text)
                dt = time.perf_counter() - t
                counts[n] = c
                totals[n] += dt
                samples[n].append(dt * 1e9 / batch)
        for n, _, _ in subjects:
            _emit({"mode": "percall", "subject": n, "model": model, "bytes": len(text.encode()),
                   "count": counts[n], "ns_per_call": samples[n]})
        return 0

    # mode == "time"; `--chunk N`: the text as requests of about N bytes, each counted on its
    # own (the stream regime: with one run, each request is counted once).
    min_reps = int(float(opts.get("min-reps", 5)))
    min_seconds = float(opts.get("min-seconds", 1.0))
    max_seconds = float(opts.get("max-seconds", 30.0))
    chunk = int(float(opts.get("chunk", 0)))
    for file in files:
        text = Path(file).read_text(encoding="utf-8")
        nbytes = len(text.encode())
        if chunk:
            raw = text.encode()
            pieces, start = [], 0
            while start < len(raw):
                end = min(start + chunk, len(raw))
                while end < len(raw) and (raw[end] & 0xC0) == 0x80:
                    end += 1
                pieces.append(raw[start:end].decode())
                start = end
            timed = [(n, (lambda f: lambda _t: sum(f(p) for p in pieces))(fn), load) for n, fn, load in subjects]
        else:
            timed = subjects
        counts, samples, done = [], [], []
        for n, fn, _ in timed:
            t = time.perf_counter()
            counts.append(fn(text))
            dt = time.perf_counter() - t
            enough = dt >= max_seconds or (min_reps <= 1 and dt >= min_seconds)
            samples.append([dt] if enough else [])
            done.append(enough)
        while not all(done):
            for i, (n, fn, _) in enumerate(timed):
                if done[i]:
                    continue
                t = time.perf_counter()
                c = fn(text)
                samples[i].append(time.perf_counter() - t)
                assert c == counts[i], f"{n}: count changed between runs"
                total = sum(samples[i])
                done[i] = (len(samples[i]) >= min_reps and total >= min_seconds) or total >= max_seconds
        for i, (n, _, load) in enumerate(timed):
            _emit({"mode": "time", "subject": n, "model": model, "file": file, "bytes": nbytes,
                   "count": counts[i], "samples": samples[i], "load_seconds": load})
    return 0


# ---------------------------------------------------------------------------------------------
# Driver.

class Run:
    """The result of one subprocess: its JSON lines, or why it has none."""

    def __init__(self, records, failure=None, seconds=0.0, why=None):
        self.records, self.failure, self.seconds, self.why = records, failure, seconds, why


def run(cmd, timeout):
    """Runs `cmd` in its own process group; kills the group after `timeout` seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Run(_parse(out), f"timeout (> {timeout:.0f} s)", time.perf_counter() - start)
    records = _parse(out)
    failure = None
    if proc.returncode != 0:
        if proc.returncode < 0:
            failure = f"crashed ({signal.Signals(-proc.returncode).name})"
        else:
            failure = f"failed (exit {proc.returncode})"
        why = _why(err)
        print(f"  ! {' '.join(cmd[:5])}...: {failure}: {why}", file=sys.stderr)
        return Run(records, failure, time.perf_counter() - start, why)
    return Run(records, failure, time.perf_counter() - start)


def _why(stderr):
    """The line of a failed process's stderr that says why: a panic's message, an exception."""
    lines = [l.strip() for l in (stderr or "").splitlines() if l.strip()]
    for i, line in enumerate(lines):
        if "panicked at" in line and i + 1 < len(lines):
            return f"panicked: {lines[i + 1]}"[:300]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line[:300]
    return lines[-1][:300] if lines else "no message"


def _parse(out):
    records = []
    for line in (out or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return records


class Driver:
    def __init__(self, args):
        self.args = args
        self.bin = args.bin
        self.results = []  # every record, for results.jsonl
        self.problems = []  # mismatches and our own errors: exit 1
        self.notes = []  # peers that failed, timed out or are missing

    def rust(self, mode, *rest, timeout=None):
        return run([str(self.bin), mode, *map(str, rest)], timeout or self.args.process_timeout)

    def python(self, mode, *rest, timeout=None):
        return run([sys.executable, str(Path(__file__).resolve()), "worker", mode, *map(str, rest)],
                   timeout or self.args.process_timeout)

    def python_next(self, mode, *rest, timeout=None):
        """The worker in the second venv (tokenizers 1.x, fastokens, kitoken); `None` without it."""
        if not self.args.next_python.exists():
            return None
        return run([str(self.args.next_python), str(Path(__file__).resolve()), "worker", mode, *map(str, rest)],
                   timeout or self.args.process_timeout)

    def collect(self, r, what):
        if r is None:
            return []
        for rec in r.records:
            self.results.append(rec)
            if "error" in rec:
                msg = f"{what}: {rec['subject']} ({Path(str(rec.get('model'))).name}): {rec['error']}"
                (self.problems if rec["subject"] in OURS else self.notes).append(msg)
        if r.failure:
            self.notes.append(f"{what}: {r.failure}" + (f": {r.why}" if r.why else ""))
        return [rec for rec in r.records if "error" not in rec]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_mbs(bytes_, seconds):
    return f"{bytes_ / seconds / 1e6:.1f}" if seconds == seconds and seconds > 0 else "–"


def fmt_ratio(x):
    return f"{x:.2f}x" if x == x else "–"


def fmt_time(seconds):
    if seconds != seconds:
        return "–"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.1f} ms"


# --- setup -----------------------------------------------------------------------------------

def build(args):
    if args.no_build:
        return
    print("building bench/compare (cargo build --release)...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=HERE, check=True)


def tiktoken_offline():
    """Fills a TIKTOKEN_CACHE_DIR with the rank files tiktoken-rs ships (same bytes: tiktoken
    checks their SHA-256), under the names tiktoken gives its download URLs."""
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--manifest-path", str(HERE / "Cargo.toml")],
        check=True, capture_output=True, text=True).stdout)
    pkg = next(p for p in meta["packages"] if p["name"] == "tiktoken-rs")
    assets = Path(pkg["manifest_path"]).parent / "assets"
    TIKTOKEN_CACHE.mkdir(parents=True, exist_ok=True)
    for name in ENCODINGS:
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        dest = TIKTOKEN_CACHE / hashlib.sha1(url.encode()).hexdigest()
        if not dest.exists():
            shutil.copyfile(assets / f"{name}.tiktoken", dest)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(TIKTOKEN_CACHE)
    return pkg["version"]


def make_inputs():
    """The worst-case 1 MB files, the 1 MB prose they are compared with, and the 100-byte text."""
    INPUTS.mkdir(parents=True, exist_ok=True)
    rng = random.Random(6)
    prose = (CORPUS / "prose_en.txt").read_text(encoding="utf-8")
    texts = {
        "prose": (prose * (MB // len(prose.encode()) + 1)).encode()[:MB].decode("utf-8", "ignore"),
        "one letter": "a" * MB,
        "spaces": " " * MB,
        "digits": "".join(rng.choice("0123456789") for _ in range(MB)),
        "base64": base64.b64encode(rng.randbytes(MB * 3 // 4)).decode()[:MB],
        # Unspaced CJK ideographs, 3 bytes each: one letter run, so one piece for the BPE.
        "CJK": "".join(chr(rng.randrange(0x4E00, 0x9FA6)) for _ in range(MB // 3)),
    }
    paths = {}
    for case, text in texts.items():
        path = INPUTS / f"worst_{case.replace(' ', '_')}.txt"
        path.write_text(text, encoding="utf-8")
        paths[case] = path
    # 100 bytes of English prose: the start of the first long line, cut to 100 bytes.
    line = next(l for l in prose.splitlines() if len(l) >= 100 and l.isascii())
    short = INPUTS / "percall_100b.txt"
    short.write_text(line[:100], encoding="utf-8")
    return paths, short


def make_requests():
    """2 KB requests (2048 bytes or a little less, at a character boundary) from the middle of
    corpus files, for the estimate section."""
    INPUTS.mkdir(parents=True, exist_ok=True)
    out = {}
    for label, name in ESTIMATE_REQUESTS.items():
        data = (CORPUS / name).read_bytes()
        start = len(data) // 2
        while start < len(data) and (data[start] & 0xC0) == 0x80:
            start += 1
        end = start + 2048
        while end > start and (data[end] & 0xC0) == 0x80:
            end -= 1
        path = INPUTS / f"request_2kb_{label}.txt"
        path.write_bytes(data[start:end])
        out[label] = path
    return out


def corpus_files(selection):
    files = sorted(p for p in CORPUS.iterdir() if p.is_file() and p.name != "README.md")
    if selection:
        wanted = [s.strip() for s in selection.split(",") if s.strip()]
        files = [p for p in files if p.name in wanted or p.stem in wanted]
        if not files:
            sys.exit(f"compare.py: no corpus file matches --files {selection}")
    return files


# --- the sections ----------------------------------------------------------------------------

def rust_peers(encoding):
    peers = ["tiktoken-rs"]
    if encoding in BPE_OPENAI_ENCODINGS:
        peers.append("bpe-openai")
    return peers


def python_peers(encoding):
    peers = ["quicktok"] if encoding in QUICKTOK_ENCODINGS else []
    return peers + ["tiktoken"]


def check_counts(d, what, counts):
    """`counts`: subject -> count. All must agree."""
    values = {c for c in counts.values() if c is not None}
    if len(values) > 1:
        detail = ", ".join(f"{s}={c}" for s, c in counts.items())
        d.problems.append(f"COUNT MISMATCH {what}: {detail}")
        return False
    return True


def agreeing(d, what, counts):
    """Checks that every subject's count agrees with ours. A peer that disagrees is noted and
    returned in `wrong` (its cell is marked, it is never ranked); a disagreement among our own
    subjects is a problem (exit status 1). Returns (ours agree, wrong peers)."""
    counts = {s: c for s, c in counts.items() if c is not None}
    ours = {c for s, c in counts.items() if s in OURS and s not in ESTIMATES}
    if len(ours) > 1:
        return check_counts(d, what, counts), set()
    if not ours:
        return check_counts(d, what, counts), set()
    want = next(iter(ours))
    wrong = {s for s, c in counts.items() if s not in OURS and c != want}
    for s in sorted(wrong):
        d.notes.append(f"count disagrees, {what}: {s} counts {counts[s]}, ours (and the reference) {want}")
    # The reference peers (tiktoken, HF tokenizers 0.23) must agree with us: else it is ours.
    reference = {"tiktoken", "tiktoken-rs", "hf-py", "hf-py-nospecial", "hf-rs", "hf-rs-nospecial"}
    if wrong & reference:
        d.problems.append(f"COUNT MISMATCH {what}: " + ", ".join(f"{s}={c}" for s, c in counts.items()))
        return False, wrong
    return True, wrong


def throughput(d, files, encodings, stream=False):
    """Whole corpus files counted again and again (warm), or cut into 2 KB requests each
    counted once (`stream`)."""
    a = d.args
    samples, counts, sizes = {}, {}, {}
    for rnd in range(a.rounds):
        for enc in encodings:
            print(f"{'stream' if stream else 'throughput'}: round {rnd + 1}/{a.rounds}, {enc}", file=sys.stderr)
            timing = ["--min-reps", a.min_reps, "--min-seconds", a.min_seconds, "--max-seconds", 30]
            if stream:
                timing = ["--chunk", 2048, "--min-reps", 1, "--min-seconds", 0, "--max-seconds", 60]
            r1 = d.rust("time", "--model", enc, "--subjects", ",".join(["ours", "ours-cabi"] + rust_peers(enc)),
                        *timing, *files)
            # Our Python binding runs in quicktok's process, interleaved with it file by file: on a
            # shared machine that comparison sees the same moments, where two processes may not.
            r2 = d.python("time", "--model", enc, "--subjects", ",".join(["ours-py"] + python_peers(enc)),
                          *timing, *files)
            nexts = [s for s in ["fastokens", "kitoken"] if s != "fastokens" or enc in FASTOKENS_ENCODINGS]
            r3 = d.python_next("time", "--model", enc, "--subjects", ",".join(nexts), *timing, *files)
            for rec in d.collect(r1, f"throughput {enc}") + d.collect(r2, f"throughput {enc}") + d.collect(r3, f"throughput {enc}"):
                key = (rec["file"], enc, rec["subject"])
                samples.setdefault(key, []).extend(rec["samples"])
                counts[key] = rec["count"]
                sizes[rec["file"]] = rec["bytes"]
    subjects = ["ours", "ours-cabi", "ours-py", "quicktok", "tiktoken", "tiktoken-rs", "bpe-openai", "fastokens", "kitoken"]
    lines = ["| file | encoding | " + " | ".join(LABELS[s] for s in subjects)
             + " | ours/quicktok | ours (Python)/quicktok | ours/best peer | tokens |",
             "|---|---|" + "---:|" * (len(subjects) + 4)]
    for f in files:
        for enc in encodings:
            med = {s: median(samples.get((str(f), enc, s), [])) for s in subjects}
            cnt = {s: counts.get((str(f), enc, s)) for s in subjects}
            ok, wrong = agreeing(d, f"{f.name} {enc}", cnt)
            size = sizes.get(str(f), 0)
            peers = [med[s] for s in subjects if s not in OURS and s not in wrong and med[s] == med[s]]
            best = min(peers) if peers else float("nan")
            cells = [fmt_mbs(size, med[s]) + (" ✗" if s in wrong else "") for s in subjects]
            tokens = cnt.get("ours")
            lines.append(f"| {f.name} | {enc} | " + " | ".join(cells)
                         + f" | {fmt_ratio(med['quicktok'] / med['ours'])} | {fmt_ratio(med['quicktok'] / med['ours-py'])}"
                         + f" | {fmt_ratio(best / med['ours'])}"
                         + f" | {tokens if ok else 'MISMATCH'} |")
    return "\n".join(lines)


def worst_case(d, paths, encodings):
    a = d.args
    limit = a.worst_timeout
    res = {}  # (enc, case, subject) -> median seconds or failure text
    for enc in encodings:
        subjects = [("rust", "ours")] + [("python", s) for s in python_peers(enc)] \
            + [("rust", s) for s in rust_peers(enc)]
        for case in WORST_CASES:
            print(f"worst case: {enc}, {case}", file=sys.stderr)
            counts = {}
            for kind, s in subjects:
                timing = ["--min-reps", 3 if not a.quick else 1, "--min-seconds", a.min_seconds,
                          "--max-seconds", limit]
                call = d.rust if kind == "rust" else d.python
                # The process may load its tables first (a few seconds at most): give it that too.
                r = call("time", "--model", enc, "--subjects", s, *timing, paths[case], timeout=limit + 15)
                recs = d.collect(r, f"worst case {enc} {case}, {LABELS.get(s, s)}")
                if recs:
                    secs = median(recs[0]["samples"])
                    res[(enc, case, s)] = secs if secs <= limit else f"> {limit:.0f} s ({fmt_time(secs)})"
                    counts[s] = recs[0]["count"]
                else:
                    res[(enc, case, s)] = r.failure or "error"
                    if s in OURS:
                        d.problems.append(f"worst case {enc} {case}: ours: {r.failure or 'error'}")
            check_counts(d, f"worst case {case} {enc}", counts)
    all_subjects = ["ours", "quicktok", "tiktoken", "tiktoken-rs", "bpe-openai"]
    lines = ["| encoding | input (1 MiB) | " + " | ".join(LABELS[s] for s in all_subjects) + " |",
             "|---|---|" + "---:|" * len(all_subjects)]
    for enc in encodings:
        for case in WORST_CASES:
            cells = []
            for s in all_subjects:
                v = res.get((enc, case, s))
                base = res.get((enc, "prose", s))
                if v is None:
                    cells.append("n/a")
                elif isinstance(v, str):
                    cells.append(v)
                elif case == "prose" or not isinstance(base, float):
                    cells.append(fmt_time(v))
                else:
                    mult = v / base
                    flag = " ⚠" if mult > 3 and s in OURS else ""
                    cells.append(f"{fmt_time(v)} ({mult:.1f}x){flag}")
            lines.append(f"| {enc} | {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_call(d, short, encodings):
    a = d.args
    nbytes = len(short.read_bytes())
    res, counts = {}, {}
    for rnd in range(a.rounds):
        for enc in encodings:
            print(f"per call: round {rnd + 1}/{a.rounds}, {enc}", file=sys.stderr)
            opts = ["--min-seconds", a.percall_seconds]
            r1 = d.rust("percall", "--model", enc, "--subjects",
                        ",".join(["ours-cabi", "ours"] + rust_peers(enc)), *opts, short)
            r2 = d.python("percall", "--model", enc, "--subjects",
                          ",".join(["ours-py"] + python_peers(enc)), *opts, "--batch", 500, short)
            for rec in d.collect(r1, f"per call {enc}") + d.collect(r2, f"per call {enc}"):
                res.setdefault((enc, rec["subject"]), []).extend(rec["ns_per_call"])
                counts.setdefault(enc, {})[rec["subject"]] = rec["count"]
    subjects = ["ours-cabi", "ours", "ours-py", "quicktok", "tiktoken", "tiktoken-rs", "bpe-openai"]
    lines = [f"| encoding | tokens | " + " | ".join(LABELS[s] for s in subjects)
             + " | ours C ABI / quicktok |",
             "|---|---:|" + "---:|" * (len(subjects) + 1)]
    for enc in encodings:
        ok = check_counts(d, f"per call {enc}", counts.get(enc, {}))
        med = {s: median(res.get((enc, s), [])) for s in subjects}
        cells = [f"{med[s]:.0f} ns" if med[s] == med[s] else "n/a" for s in subjects]
        ratio = med["quicktok"] / med["ours-cabi"]
        lines.append(f"| {enc} | {counts.get(enc, {}).get('ours-cabi') if ok else 'MISMATCH'} | "
                     + " | ".join(cells) + f" | {fmt_ratio(ratio)} |")
    text = short.read_text(encoding="utf-8")
    return f"Text ({nbytes} bytes): `{text}`\n\n" + "\n".join(lines)


def memory(d, encodings):
    a = d.args
    models = ",".join(e for e in ["cl100k_base", "o200k_base"])
    subjects = [("rust", "ours"), ("python", "ours-py"), ("python", "quicktok"), ("python", "tiktoken"),
                ("rust", "tiktoken-rs"), ("rust", "bpe-openai")]
    res = {}
    for rnd in range(a.rounds):
        print(f"memory: round {rnd + 1}/{a.rounds}", file=sys.stderr)
        for kind, s in subjects:
            call = d.rust if kind == "rust" else d.python
            r = call("memory", "--subject", s, "--models", models)
            for rec in d.collect(r, "memory"):
                res.setdefault(s, []).append(rec)
    lines = ["| subject | RSS added (MB) | peak RSS (MB) | load time cl100k + o200k | cl100k | o200k |",
             "|---|---:|---:|---:|---:|---:|"]
    for _, s in subjects:
        recs = res.get(s)
        if not recs:
            lines.append(f"| {LABELS[s]} | n/a | n/a | n/a | n/a | n/a |")
            continue
        added = median([(r["rss_after_kb"] - r["rss_before_kb"]) / 1024 for r in recs])
        peak = median([r["hwm_kb"] / 1024 for r in recs])
        load = median([r["load_seconds"] for r in recs])
        each = [fmt_time(median([r["load_seconds_each"][m] for r in recs])) for m in ["cl100k_base", "o200k_base"]]
        flag = " ⚠" if s == "ours" and added >= 30 else ""
        lines.append(f"| {LABELS[s]} | {added:.1f}{flag} | {peak:.1f} | {fmt_time(load)} | {each[0]} | {each[1]} |")
    return ("RSS added: VmRSS after loading both encodings (and one count with each) minus VmRSS "
            "before, in a fresh process each time (Python: after importing the module). Peak: the "
            "process's VmHWM.\n\n" + "\n".join(lines))


def hf_models():
    """Every tokenizer.json the tests know: the ten real published files (tests/fixtures/real,
    gunzipped into target/inputs/real) and the four fixtures."""
    import gzip
    out = {}
    real = ROOT / "tests" / "fixtures" / "real"
    (INPUTS / "real").mkdir(parents=True, exist_ok=True)
    for gz in sorted(real.glob("*.json.gz")):
        name = gz.name[: -len(".json.gz")]
        path = INPUTS / "real" / f"{name}.json"
        if not path.exists():
            path.write_bytes(gzip.decompress(gz.read_bytes()))
        out[name] = path
    for name in ["all-MiniLM-L6-v2", "gpt2", "llama-style-bpe", "t5-style-unigram"]:
        out[f"fixture {name}"] = FIXTURES / name / "tokenizer.json"
    return out


def hf_texts(files):
    """The warm regime's texts: 50 KB from the middle of each corpus file."""
    out = []
    (INPUTS / "hf50k").mkdir(parents=True, exist_ok=True)
    for f in files:
        data = f.read_bytes()
        start = len(data) // 3
        while start < len(data) and (data[start] & 0xC0) == 0x80:
            start += 1
        end = min(len(data), start + 50_000)
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end += 1
        path = INPUTS / "hf50k" / f.name
        path.write_bytes(data[start:end])
        out.append(path)
    return out


HF_TIMED = ["ours-nospecial", "gigatoken", "hf-py-nospecial", "hf1-py-nospecial", "fastokens", "kitoken",
            "hf-rs-nospecial"]
# The columns of each regime (the crate in Rust is timed for the record, not shown).
HF_SHOWN = HF_TIMED[:6]


def huggingface(d, files):
    """Every tokenizer.json model on 50 KB texts counted again and again (warm), and on whole
    corpus files cut into 2 KB requests each counted once (stream), counts without the
    post-processor's special tokens (gigatoken adds none); then load time and memory."""
    a = d.args
    models = hf_models()
    warm_files = hf_texts(files)
    samples, counts, sizes = {}, {}, {}
    for rnd in range(a.rounds):
        for name, path in models.items():
            print(f"tokenizer.json: round {rnd + 1}/{a.rounds}, {name}", file=sys.stderr)
            warm = ["--min-reps", a.min_reps, "--min-seconds", a.min_seconds, "--max-seconds", 30]
            stream = ["--chunk", 2048, "--min-reps", 1, "--min-seconds", 0, "--max-seconds", 60]
            runs = []
            for regime, opts, texts in [("warm", warm, warm_files), ("stream", stream, files)]:
                runs.append((regime, d.rust("time", "--model", path, "--subjects", "ours-nospecial,hf-rs-nospecial", *opts, *texts)))
                runs.append((regime, d.python("time", "--model", path, "--subjects", "gigatoken,hf-py-nospecial", *opts, *texts)))
                runs.append((regime, d.python_next("time", "--model", path, "--subjects", ",".join(NEXT_SUBJECTS), *opts, *texts)))
            for regime, r in runs:
                for rec in d.collect(r, f"tokenizer.json {name} {regime}"):
                    key = (regime, Path(rec["file"]).name, name, rec["subject"])
                    samples.setdefault(key, []).extend(rec["samples"])
                    counts[key] = rec["count"]
                    sizes[(regime, Path(rec["file"]).name)] = rec["bytes"]
    head = ("| model | text | " + " | ".join(f"warm {LABELS.get(s, s)}" for s in HF_SHOWN)
            + " | warm ours/best peer | warm ours/HF 0.23 Py | " + " | ".join(f"stream {LABELS.get(s, s)}" for s in HF_SHOWN)
            + " | stream ours/best peer | stream ours/HF 0.23 Py | tokens (warm text) |")
    lines = [head, "|---|---|" + "---:|" * (2 * len(HF_SHOWN) + 5)]
    for name in models:
        for f in files:
            cells, ok_all = [], True
            for regime in ["warm", "stream"]:
                med = {s: median(samples.get((regime, f.name, name, s), [])) for s in HF_TIMED}
                got = {s: counts.get((regime, f.name, name, s)) for s in HF_TIMED}
                ok, wrong = agreeing(d, f"{f.name} {name} ({regime})", got)
                ok_all = ok_all and ok
                size = sizes.get((regime, f.name), 0)
                cells += [fmt_mbs(size, med[s]) + (" ✗" if s in wrong else "") for s in HF_SHOWN]
                peers = [med[s] for s in HF_SHOWN if s not in OURS and s not in wrong and med[s] == med[s]]
                best = min(peers) if peers else float("nan")
                cells += [fmt_ratio(best / med["ours-nospecial"]), fmt_ratio(med["hf-py-nospecial"] / med["ours-nospecial"])]
            tokens = counts.get(("warm", f.name, name, "ours-nospecial"))
            lines.append(f"| {name} | {f.name} | " + " | ".join(cells) + f" | {tokens if ok_all else 'MISMATCH'} |")
    # Load time and memory, each model alone in a fresh process.
    load = ["", "Load time and memory, each model alone in a fresh process (median of the rounds):", "",
            "| model | ours load | HF Python load | gigatoken load | ours peak RSS (MB) | HF Python peak RSS (MB) | gigatoken peak RSS (MB) |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, path in models.items():
        res = {}
        for _ in range(a.rounds):
            for kind, s in [("rust", "ours"), ("python", "hf-py"), ("python", "gigatoken")]:
                call = d.rust if kind == "rust" else d.python
                for rec in d.collect(call("memory", "--subject", s, "--models", path), f"memory {name}"):
                    res.setdefault(s, []).append(rec)
        def cell(s, f):
            recs = res.get(s)
            return f(recs) if recs else "n/a"
        load.append(f"| {name} | " + " | ".join([
            cell("ours", lambda r: fmt_time(median([x["load_seconds"] for x in r]))),
            cell("hf-py", lambda r: fmt_time(median([x["load_seconds"] for x in r]))),
            cell("gigatoken", lambda r: fmt_time(median([x["load_seconds"] for x in r]))),
            cell("ours", lambda r: f"{median([(x['hwm_kb'] - x['rss_before_kb']) / 1024 for x in r]):.0f}"),
            cell("hf-py", lambda r: f"{median([(x['hwm_kb'] - x['rss_before_kb']) / 1024 for x in r]):.0f}"),
            cell("gigatoken", lambda r: f"{median([(x['hwm_kb'] - x['rss_before_kb']) / 1024 for x in r]):.0f}"),
        ]) + " |")
    return "\n".join(lines + load)


def estimate_vs_counts(d, requests, encodings):
    """Our estimate of each 2 KB request against every subject's exact count of it, per call."""
    a = d.args
    models = [e for e in ["cl100k_base", "o200k_base"] if e in encodings]
    models.append(str(FIXTURES / "gpt2" / "tokenizer.json"))
    res, counts = {}, {}
    for rnd in range(a.rounds):
        for model in models:
            hf = model.endswith(".json")
            name = "gpt2" if hf else model
            print(f"estimate: round {rnd + 1}/{a.rounds}, {name}", file=sys.stderr)
            rust = ["ours-cabi-estimate", "ours-estimate", "ours-cabi", "ours"] + (["hf-rs"] if hf else rust_peers(model))
            python = ["ours-py-estimate", "ours-py"] + (["hf-py"] if hf else python_peers(model))
            opts = ["--min-seconds", a.percall_seconds / 2]
            for label, path in requests.items():
                runs = [d.rust("percall", "--model", model, "--subjects", ",".join(rust), *opts, "--batch", 200, path),
                        d.python("percall", "--model", model, "--subjects", ",".join(python), *opts, "--batch", 50, path)]
                for rec in [rec for r in runs for rec in d.collect(r, f"estimate {name} {label}")]:
                    res.setdefault((name, label, rec["subject"]), []).extend(rec["ns_per_call"])
                    counts.setdefault((name, label), {})[rec["subject"]] = rec["count"]
    exact = ["ours-cabi", "quicktok", "tiktoken", "tiktoken-rs", "bpe-openai", "hf-rs", "hf-py"]
    lines = ["| model | request | tokens | estimate (C ABI) | "
             + " | ".join(f"{LABELS[s]}: count, / estimate" for s in exact) + " |",
             "|---|---|---:|---:|" + "---:|" * len(exact)]
    for model in models:
        name = "gpt2" if model.endswith(".json") else model
        for label in requests:
            c = counts.get((name, label), {})
            ok = check_counts(d, f"estimate {name} {label}", {s: v for s, v in c.items() if s not in ESTIMATES})
            med = {s: median(res.get((name, label, s), [])) for s in exact + ["ours-cabi-estimate"]}
            est = med["ours-cabi-estimate"]
            cells = [f"{med[s] / 1e3:.1f} us, {med[s] / est:.0f}x" if med[s] == med[s] else "n/a" for s in exact]
            lines.append(f"| {name} | {label} | {c.get('ours-cabi') if ok else 'MISMATCH'} | {est:.0f} ns | "
                         + " | ".join(cells) + " |")
    sizes = ", ".join(f"{label} {p.stat().st_size} B" for label, p in requests.items())
    return (f"Requests ({sizes}) from the middle of `bench/corpus` files. Each cell: the subject's exact count "
            "per call, and that time over our estimate's (C ABI, same model and request).\n\n" + "\n".join(lines))


def versions():
    out = {}
    for dist in ["quicktok-v1", "tiktoken", "tokenizers", "gigatoken"]:
        try:
            from importlib.metadata import version

            out[dist] = version(dist)
        except Exception:  # noqa: BLE001
            out[dist] = "not installed"
    return out


def next_versions(python):
    """The second venv's peers and their versions, or {} without it."""
    if not python.exists():
        return {}
    code = ("import json, importlib.metadata as m; print(json.dumps({d: m.version(d) for d in "
            "['tokenizers', 'fastokens', 'kitoken']}))")
    r = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        return {"second venv": "broken"}
    return {("tokenizers (1.x venv)" if k == "tokenizers" else k): v for k, v in json.loads(r.stdout).items()}


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        return worker(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke test: one round, short runs, 5 s worst-case limit")
    p.add_argument("--files", help="corpus files (names or stems, comma-separated); default: all of bench/corpus")
    p.add_argument("--encodings", help=f"comma-separated; default: {','.join(ENCODINGS)}")
    p.add_argument("--sections", default="throughput,stream,worst,percall,memory,hf,estimate",
                   help="which tables (default: all): throughput,stream,worst,percall,memory,hf,estimate")
    p.add_argument("--rounds", type=int, help="times each measurement is repeated, alternating subjects (default 3; --quick 1)")
    p.add_argument("--cpu", type=int, default=0, help="the CPU every process is pinned to (default 0)")
    p.add_argument("--bin", type=Path, default=TARGET / "release" / "kano-compare")
    p.add_argument("--lib", type=Path, default=ROOT / "target" / "release" / "libkano_tokenizer.so",
                   help="libkano_tokenizer.so for the Python binding (make build)")
    p.add_argument("--no-build", action="store_true", help="do not run cargo build first")
    p.add_argument("--next-python", type=Path, default=NEXT_PYTHON,
                   help="the Python of the venv with tokenizers 1.x, fastokens and kitoken (left out if missing)")
    p.add_argument("--out", type=Path, default=TARGET / "compare.md", help="the tables are written here too")
    a = p.parse_args()
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.min_reps = 2 if a.quick else 5
    a.min_seconds = 0.05 if a.quick else 0.5
    a.percall_seconds = 0.1 if a.quick else 1.0
    a.worst_timeout = 5.0 if a.quick else 30.0
    a.process_timeout = 600
    encodings = [e.strip() for e in (a.encodings or ",".join(ENCODINGS)).split(",") if e.strip()]
    for e in encodings:
        if e not in ENCODINGS:
            sys.exit(f"compare.py: unknown encoding {e} (known: {', '.join(ENCODINGS)})")
    sections = set(a.sections.split(","))

    # One core, one thread per library, for every process started from here on.
    os.sched_setaffinity(0, {a.cpu})
    os.environ.update({"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"})
    os.environ.pop("KANO_TOKENIZER_CONFIG", None)
    os.environ["RUST_BACKTRACE"] = "0"  # a peer's panic message, not its backtrace
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "bindings" / "python"), os.environ.get("PYTHONPATH")]))
    os.environ["KANO_TOKENIZER_LIBRARY"] = str(a.lib)
    # Python processes must not fetch anything: the hub stays offline too.
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})

    build(a)
    if not a.bin.exists():
        sys.exit(f"compare.py: {a.bin} is missing (cargo build --release in bench/compare)")
    if sections & {"percall", "memory", "estimate"}:
        if not a.lib.exists():
            sys.exit(f"compare.py: {a.lib} is missing: run `make build` (or pass --lib)")
    tiktoken_rs_version = tiktoken_offline()
    paths, short = make_inputs()
    files = corpus_files(a.files)

    d = Driver(a)
    started = time.time()
    out = [f"## bench/compare ({time.strftime('%Y-%m-%d')}, {'--quick' if a.quick else 'full run'})", "",
           f"{cpu_name()}, every process pinned to CPU {a.cpu}, one thread each; "
           f"median of {a.rounds} round(s) x >= {a.min_reps} runs. Versions: "
           + ", ".join(f"{k} {v}" for k, v in {**versions(), **next_versions(a.next_python)}.items())
           + f", tiktoken-rs {tiktoken_rs_version} (Rust), bpe-openai and tokenizers per bench/compare/Cargo.lock.", ""]
    if "throughput" in sections:
        out += ["### Count throughput, MB/s (higher is better)", "", throughput(d, files, encodings), ""]
    if "stream" in sections:
        out += ["### Count throughput on distinct 2 KB requests (stream), MB/s (higher is better)", "",
                throughput(d, files, encodings, stream=True), ""]
    if "worst" in sections:
        out += [f"### Worst-case inputs: time for 1 MiB, and the multiple of the 1 MiB prose time "
                f"(peers stopped at {a.worst_timeout:.0f} s)", "", worst_case(d, paths, encodings), ""]
    if "percall" in sections:
        out += ["### Per-call cost, 100-byte text (ns per call, lower is better)", "", per_call(d, short, encodings), ""]
    if "memory" in sections:
        out += ["### Memory and load time: cl100k_base + o200k_base loaded together", "", memory(d, encodings), ""]
    if "hf" in sections:
        out += ["### tokenizer.json models, MB/s (counts without the post-processor's special tokens)", "",
                huggingface(d, files), ""]
    if "estimate" in sections:
        out += ["### Our estimate of a 2 KB request against each exact count of it (per call, lower is better)", "",
                estimate_vs_counts(d, make_requests(), encodings), ""]
    if d.notes:
        out += ["### Peers that failed, crashed or timed out", ""] + [f"- {n}" for n in d.notes] + [""]
    if d.problems:
        out += ["### PROBLEMS", ""] + [f"- **{p}**" for p in d.problems] + [""]
    out.append(f"_{time.time() - started:.0f} s_")
    report = "\n".join(out)
    print(report)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(report + "\n")
    with open(TARGET / "results.jsonl", "w") as f:
        for rec in d.results:
            f.write(json.dumps(rec) + "\n")
    if d.problems:
        print("\n".join(["", "!" * 72, "compare.py: PROBLEMS (count mismatches or our errors):"]
                        + [f"  {p}" for p in d.problems] + ["!" * 72]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
