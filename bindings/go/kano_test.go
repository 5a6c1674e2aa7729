package kano

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the repository holding this module (bindings/go).
var repoRoot = filepath.Join("..", "..")

const sentence = "The quick brown fox jumps over the lazy dog."

func TestMain(m *testing.M) {
	// The tests must not depend on the machine's settings: no KANO_TOKENIZER_* variables, and an
	// empty Hugging Face cache. (With cgo, os.Setenv also changes the C environment the library
	// reads.)
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "KANO_TOKENIZER_") {
			os.Unsetenv(name)
		}
	}
	cache, err := os.MkdirTemp("", "kano-go-hf-cache")
	if err != nil {
		panic(err)
	}
	os.Setenv("HF_HUB_CACHE", cache)
	os.Setenv("HF_HOME", cache)
	code := m.Run()
	os.RemoveAll(cache)
	os.Exit(code)
}

func mustRegistry(t testing.TB) *Registry {
	t.Helper()
	reg, err := NewRegistry()
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

func mustResolve(t testing.TB, reg *Registry, adapter, model string) *Adapter {
	t.Helper()
	a, err := reg.Resolve(adapter, model)
	if err != nil {
		t.Fatalf("Resolve(%q, %q): %v", adapter, model, err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func mustCount(t testing.TB, a *Adapter, text string) Count {
	t.Helper()
	c, err := a.Count(text)
	if err != nil {
		t.Fatalf("Count(%q) with %s/%s: %v", text, a.Name(), a.Model(), err)
	}
	return c
}

// kanoError asserts that err is a *Error matching sentinel, whose message contains every part.
func kanoError(t *testing.T, err error, sentinel *Error, parts ...string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("expected %v, got no error", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("expected errors.Is(err, %v), got %v", sentinel, err)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("expected a *kano.Error, got %T", err)
	}
	for _, part := range parts {
		if !strings.Contains(e.Message, part) {
			t.Errorf("message %q does not contain %q", e.Message, part)
		}
	}
	return e
}

func TestVersionMatchesCargoToml(t *testing.T) {
	manifest, err := os.ReadFile(filepath.Join(repoRoot, "Cargo.toml"))
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^version = "([^"]+)"`).FindSubmatch(manifest)
	if want == nil {
		t.Fatal("no version in Cargo.toml")
	}
	if got := Version(); got != string(want[1]) {
		t.Fatalf("Version() = %q, Cargo.toml says %q", got, want[1])
	}
}

func TestStatusStrings(t *testing.T) {
	for status, want := range map[Status]string{
		StatusOK:                 "ok",
		StatusInvalidUTF8:        "invalid UTF-8",
		StatusUnknownAdapter:     "unknown adapter",
		StatusUnknownModel:       "unknown model",
		StatusAdapterUnavailable: "adapter unavailable",
		StatusConfigError:        "configuration error",
		StatusIOError:            "I/O error",
		StatusClosed:             "closed",
		Status(99):               "status 99",
		Status(-1):               "status -1",
	} {
		if got := status.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(status), got, want)
		}
	}
}

func TestEveryAdapterCounts(t *testing.T) {
	reg := mustRegistry(t)
	for _, tc := range []struct {
		adapter, model   string
		name, resolvedTo string
		count            uint64 // 0: an estimate, checked loosely
		exact            bool
		method           string
	}{
		{"heuristic", "gpt-4o", "heuristic", "gpt-4o", 0, false, MethodHeuristic},
		{"tiktoken", "gpt-4o", "tiktoken", "o200k_base", 10, true, MethodTiktoken},
		{"tiktoken", "cl100k_base", "tiktoken", "cl100k_base", 10, true, MethodTiktoken},
		// [CLS] the quick brown fox jumps over the lazy dog . [SEP]
		{"huggingface", "all-MiniLM-L6-v2", "huggingface", "embedded:sentence-transformers/all-MiniLM-L6-v2", 12, true, MethodHuggingface},
		{"auto", "gpt-4", "tiktoken", "cl100k_base", 10, true, MethodTiktoken},
		{"auto", "all-MiniLM-L6-v2", "huggingface", "embedded:sentence-transformers/all-MiniLM-L6-v2", 12, true, MethodHuggingface},
		{"auto", "no-such-model", "heuristic", "no-such-model", 0, false, MethodHeuristic},
	} {
		a := mustResolve(t, reg, tc.adapter, tc.model)
		if a.Name() != tc.name || a.Model() != tc.resolvedTo {
			t.Errorf("%s/%s resolved to %s/%s, want %s/%s", tc.adapter, tc.model, a.Name(), a.Model(), tc.name, tc.resolvedTo)
		}
		// auto says why it passed over the adapters before the one that serves.
		reason := a.FallbackReason()
		if tc.adapter == "auto" && tc.name != "tiktoken" {
			if !strings.HasPrefix(reason, "tiktoken: ") || strings.Contains(reason, "; huggingface: ") != (tc.name == "heuristic") {
				t.Errorf("%s/%s: fallback reason %q", tc.adapter, tc.model, reason)
			}
		} else if reason != "" {
			t.Errorf("%s/%s: fallback reason %q, want none", tc.adapter, tc.model, reason)
		}
		c := mustCount(t, a, sentence)
		if c.IsExact != tc.exact || c.Method != tc.method {
			t.Errorf("%s/%s: %+v, want exact=%v method=%s", tc.adapter, tc.model, c, tc.exact, tc.method)
		}
		if tc.count != 0 && c.Count != tc.count {
			t.Errorf("%s/%s: %d tokens, want %d", tc.adapter, tc.model, c.Count, tc.count)
		}
		if tc.count == 0 && (c.Count < 5 || c.Count > 20) {
			t.Errorf("%s/%s: estimate %d is far from the 10 tokens of the sentence", tc.adapter, tc.model, c.Count)
		}
		// The same text as bytes, without a copy either.
		if cb, err := a.CountBytes([]byte(sentence)); err != nil || cb != c {
			t.Errorf("%s/%s: CountBytes = %+v, %v; Count = %+v", tc.adapter, tc.model, cb, err, c)
		}
	}
}

func TestEmptyTextAndNULBytes(t *testing.T) {
	reg := mustRegistry(t)
	tk := mustResolve(t, reg, "tiktoken", "gpt-4")
	for _, a := range []*Adapter{tk, mustResolve(t, reg, "heuristic", "x")} {
		if c := mustCount(t, a, ""); c.Count != 0 {
			t.Errorf("%s: the empty text has %d tokens", a.Name(), c.Count)
		}
		if c, err := a.CountBytes(nil); err != nil || c.Count != 0 {
			t.Errorf("%s: CountBytes(nil) = %+v, %v", a.Name(), c, err)
		}
	}
	// The text is (pointer, length): a NUL byte is text like any other, not its end.
	withNUL := mustCount(t, tk, "abc\x00def")
	before := mustCount(t, tk, "abc")
	if withNUL.Count <= before.Count {
		t.Errorf("text after a NUL byte was not counted: %d vs %d", withNUL.Count, before.Count)
	}
}

func TestErrors(t *testing.T) {
	reg := mustRegistry(t)

	_, err := reg.Resolve("sentencepiece", "gpt-4")
	kanoError(t, err, ErrUnknownAdapter, "sentencepiece")

	_, err = reg.Resolve("tiktoken", "my-private-model")
	e := kanoError(t, err, ErrUnknownModel, "kano_registry_resolve", "my-private-model")
	if want := "kano: unknown model: " + e.Message; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if errors.Is(err, ErrUnknownAdapter) || errors.Is(err, ErrConfig) {
		t.Errorf("%v matches another sentinel", err)
	}
	if !errors.Is(err, &Error{Status: StatusUnknownModel, Message: e.Message}) {
		t.Errorf("an Error with the same status and message does not match")
	}
	if errors.Is(err, &Error{Status: StatusUnknownModel, Message: "another message"}) {
		t.Errorf("an Error with another message matches")
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", err), ErrUnknownModel) {
		t.Errorf("a wrapped error does not match")
	}

	// No model configured or given.
	_, err = reg.Resolve("tiktoken", "")
	kanoError(t, err, ErrUnknownModel)

	_, err = reg.Resolve("huggingface", filepath.Join(t.TempDir(), "missing", "tokenizer.json"))
	kanoError(t, err, ErrIO, "missing")

	// A tokenizer.json that does not load.
	broken := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(broken, []byte(`{"model": 42}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = reg.Resolve("huggingface", broken)
	kanoError(t, err, ErrUnavailable, broken)

	// A NUL byte would cut a name short: refused before the library sees it.
	_, err = reg.Resolve("tiktoken", "gpt-4\x00o")
	kanoError(t, err, ErrInvalidArgument, "NUL byte at offset 5")
	_, err = NewRegistryFromConfig("a\x00b.toml")
	kanoError(t, err, ErrInvalidArgument, "NUL byte")

	a := mustResolve(t, reg, "tiktoken", "gpt-4")
	_, err = a.Count("valid, then \xff")
	kanoError(t, err, ErrInvalidUTF8, "offset 12")
	_, err = a.CountBytes([]byte{'o', 'k', 0xc3})
	kanoError(t, err, ErrInvalidUTF8, "offset 2")

	_, err = NewRegistryFromConfig(filepath.Join(t.TempDir(), "absent.toml"))
	kanoError(t, err, ErrIO, "absent.toml")

	_, err = NewRegistryFromTOML("[tokenizer]\nadapter = \"magic\"\n[tokenizer.heuristic]\nchars_per_token = -1\n")
	kanoError(t, err, ErrConfig, "magic", "chars_per_token")

	_, err = NewRegistryFromTOML("[tokenizer\n")
	kanoError(t, err, ErrConfig, "TOML text:1:", "syntax error")

	os.Setenv("KANO_TOKENIZER_ADAPTER", "bogus")
	_, err = NewRegistry()
	os.Unsetenv("KANO_TOKENIZER_ADAPTER")
	kanoError(t, err, ErrConfig, "KANO_TOKENIZER_ADAPTER", "bogus")
}

func TestConfigFileAndTOML(t *testing.T) {
	dir := t.TempDir()
	gpt2, err := filepath.Abs(filepath.Join(repoRoot, "tests", "fixtures", "tokenizers", "gpt2", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(gpt2)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gpt2.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "kano.toml")
	toml := `[tokenizer]
adapter = "huggingface"
model = "local-gpt2"

[tokenizer.huggingface.models]
local-gpt2 = "gpt2.json"   # relative to this file's folder
`
	if err := os.WriteFile(config, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistryFromConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	a := mustResolve(t, reg, "", "") // the configured adapter and model
	if a.Name() != "huggingface" || !strings.HasSuffix(a.Model(), "gpt2.json") {
		t.Errorf("the configured adapter resolved to %s/%s", a.Name(), a.Model())
	}
	// GPT-2 byte-level BPE: the same tokens as r50k_base for this sentence.
	if c := mustCount(t, a, sentence); c.Count != 10 || !c.IsExact {
		t.Errorf("gpt2 from the config counted %+v", c)
	}

	fromText, err := NewRegistryFromTOML("[tokenizer]\nadapter = \"tiktoken\"\nmodel = \"text-davinci-003\"\n")
	if err != nil {
		t.Fatal(err)
	}
	defer fromText.Close()
	if a := mustResolve(t, fromText, "", ""); a.Model() != "p50k_base" {
		t.Errorf("TOML text: resolved to %s", a.Model())
	}
	empty, err := NewRegistryFromTOML("")
	if err != nil {
		t.Fatalf("the empty TOML text is the defaults: %v", err)
	}
	empty.Close()
}

func TestAdapterOutlivesRegistry(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	reg.Close()
	if c := mustCount(t, a, sentence); c.Count != 10 {
		t.Errorf("after the registry was closed: %+v", c)
	}
}

func TestCloseIsIdempotentAndConcurrent(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); reg.Close() }()
		go func() { defer wg.Done(); a.Close() }()
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	_, err = a.Count(sentence)
	kanoError(t, err, ErrClosed, "Adapter.Count")
	_, err = a.CountBytes([]byte(sentence))
	kanoError(t, err, ErrClosed)
	_, err = reg.Resolve("tiktoken", "gpt-4")
	kanoError(t, err, ErrClosed, "Registry.Resolve")
	if a.Name() != "tiktoken" || a.Model() != "o200k_base" {
		t.Errorf("Name and Model are kept after Close: %q %q", a.Name(), a.Model())
	}
}

// Close while other goroutines count: every call either counts correctly or sees ErrClosed.
func TestCloseWhileCounting(t *testing.T) {
	reg := mustRegistry(t)
	for round := 0; round < 20; round++ {
		a, err := reg.Resolve("tiktoken", "gpt-4o")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8*50)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					c, err := a.Count(sentence)
					if err != nil && !errors.Is(err, ErrClosed) {
						errs <- err
					}
					if err == nil && c.Count != 10 {
						errs <- fmt.Errorf("counted %d", c.Count)
					}
				}
			}()
		}
		a.Close()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}

// Many goroutines share one adapter per kind (run with -race): every count is right.
func TestManyGoroutinesShareOneAdapter(t *testing.T) {
	cases := goldenCases(t)
	reg := mustRegistry(t)
	adapters := map[string]*Adapter{
		"o200k_base":          mustResolve(t, reg, "tiktoken", "o200k_base"),
		"cl100k_base":         mustResolve(t, reg, "tiktoken", "cl100k_base"),
		"hf:all-MiniLM-L6-v2": mustResolve(t, reg, "huggingface", "all-MiniLM-L6-v2"),
	}
	type job struct {
		key, text string
		want      uint64
	}
	var jobs []job
	for _, c := range cases {
		if len(c.Text) > 2000 {
			continue
		}
		for key := range adapters {
			jobs = append(jobs, job{key, c.Text, c.Counts[key]})
		}
	}
	if len(jobs) < 300 {
		t.Fatalf("only %d jobs", len(jobs))
	}
	const goroutines = 64
	var wg sync.WaitGroup
	failures := make(chan string, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			// Each goroutine walks all jobs from its own starting point, so all adapters are
			// busy with different texts at once.
			for i := range jobs {
				j := jobs[(i*7+g*31)%len(jobs)]
				c, err := adapters[j.key].Count(j.text)
				if err != nil || c.Count != j.want || !c.IsExact {
					failures <- fmt.Sprintf("goroutine %d, %s: %+v, %v; want %d", g, j.key, c, err, j.want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}

// Each goroutine's failure carries its own message: the thread-local last error is read on the
// thread that failed, however the scheduler moves goroutines between threads.
func TestErrorMessagesStayWithTheirCall(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4")
	var wg sync.WaitGroup
	failures := make(chan string, 32)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				model := fmt.Sprintf("model-%d-%d", g, i)
				_, err := reg.Resolve("tiktoken", model)
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(e.Message, `"`+model+`"`) {
					failures <- fmt.Sprintf("resolve %s: %v", model, err)
					return
				}
				text := strings.Repeat("a", g*10+i%10) + "\xff"
				_, err = a.Count(text)
				if !errors.As(err, &e) || !strings.Contains(e.Message, fmt.Sprintf("offset %d", len(text)-1)) {
					failures <- fmt.Sprintf("count %d bytes: %v", len(text), err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}

// Texts over the registry's max_input_bytes are refused with ErrInputTooLarge, by Count,
// CheckLimit and Counter.Submit alike; the estimate takes any length.
func TestInputTooLarge(t *testing.T) {
	reg, err := NewRegistryFromTOML("[tokenizer]\nmax_input_bytes = 16\n")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	a, err := reg.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Count("sixteen bytes ok"); err != nil {
		t.Fatalf("16 bytes: %v", err)
	}
	_, err = a.Count("seventeen bytes!!")
	kanoError(t, err, ErrInputTooLarge, "kano_adapter_count", "17 bytes")
	if got := ErrInputTooLarge.Status.String(); got != "input too large" {
		t.Errorf("status string %q", got)
	}
	_, err = a.CheckLimit("seventeen bytes!!", 100)
	kanoError(t, err, ErrInputTooLarge)
	if _, err := a.Estimate("seventeen bytes!!"); err != nil {
		t.Errorf("estimate: %v", err)
	}
	c, err := a.NewCounter(CounterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kanoError(t, c.Submit(1, "seventeen bytes!!"), ErrInputTooLarge, "max_input_bytes")
	stats, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Rejected != 1 || stats.Submitted != 0 {
		t.Errorf("stats %+v", stats)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// The text crosses into C without a copy: counting allocates nothing on the Go side, for a
// short request and for a megabyte alike.
func TestCountDoesNotCopyTheText(t *testing.T) {
	reg := mustRegistry(t)
	a, err := reg.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	short := strings.Repeat("token ", 17)[:100]
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 1<<20/45)
	longBytes := []byte(long)
	for name, count := range map[string]func(){
		"100 B string": func() { _, _ = a.Count(short) },
		"1 MB string":  func() { _, _ = a.Count(long) },
		"1 MB bytes":   func() { _, _ = a.CountBytes(longBytes) },
		"estimate":     func() { _, _ = a.Estimate(long) },
	} {
		if allocs := testing.AllocsPerRun(5, count); allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, allocs)
		}
	}
}
