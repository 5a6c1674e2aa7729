package kano

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// goldenCase is one line of tests/fixtures/golden*.jsonl: counts from the Python tiktoken and
// tokenizers packages (tests/fixtures/README.md).
type goldenCase struct {
	ID     string            `json:"id"`
	Text   string            `json:"text"`
	Counts map[string]uint64 `json:"counts"`
}

func goldenCases(t testing.TB) []goldenCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "tests", "fixtures", "golden*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden data: %v", err)
	}
	sort.Strings(files)
	var cases []goldenCase
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		scanner := bufio.NewScanner(f)
		scanner.Buffer(nil, 16<<20)
		for scanner.Scan() {
			if strings.TrimSpace(scanner.Text()) == "" {
				continue
			}
			var c goldenCase
			if err := json.Unmarshal(scanner.Bytes(), &c); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			cases = append(cases, c)
		}
		f.Close()
		if err := scanner.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return cases
}

// goldenAdapters resolves an adapter for every key of the golden data: "cl100k_base"... through
// the tiktoken adapter, "hf:NAME" and "hf:NAME:no_special" through the huggingface adapter
// with the fixture tokenizer.json, with and without special tokens.
type goldenAdapters struct {
	t                  testing.TB
	special, noSpecial *Registry
	adapters           map[string]*Adapter
}

func newGoldenAdapters(t testing.TB) *goldenAdapters {
	t.Helper()
	tokenizers, err := filepath.Abs(filepath.Join(repoRoot, "tests", "fixtures", "tokenizers"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(tokenizers)
	if err != nil {
		t.Fatal(err)
	}
	var models strings.Builder
	models.WriteString("[tokenizer.huggingface.models]\n")
	for _, e := range entries {
		fmt.Fprintf(&models, "%q = %q\n", e.Name(), filepath.Join(tokenizers, e.Name(), "tokenizer.json"))
	}
	special, err := NewRegistryFromTOML(models.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { special.Close() })
	noSpecial, err := NewRegistryFromTOML("[tokenizer.huggingface]\nadd_special_tokens = false\n" + models.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { noSpecial.Close() })
	return &goldenAdapters{t: t, special: special, noSpecial: noSpecial, adapters: map[string]*Adapter{}}
}

func (g *goldenAdapters) get(key string) *Adapter {
	if a, ok := g.adapters[key]; ok {
		return a
	}
	reg, adapter, model := g.special, "tiktoken", key
	if rest, ok := strings.CutPrefix(key, "hf:"); ok {
		adapter, model = "huggingface", rest
		if name, ok := strings.CutSuffix(rest, ":no_special"); ok {
			reg, model = g.noSpecial, name
		}
	}
	a, err := reg.Resolve(adapter, model)
	if err != nil {
		g.t.Fatalf("golden key %s: %v", key, err)
	}
	g.t.Cleanup(func() { a.Close() })
	g.adapters[key] = a
	return a
}

// Every golden count of every key must match exactly.
func TestGoldenCounts(t *testing.T) {
	cases := goldenCases(t)
	if len(cases) < 200 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	adapters := newGoldenAdapters(t)
	checked := map[string]int{}
	failures := 0
	for _, c := range cases {
		for key, want := range c.Counts {
			got, err := adapters.get(key).Count(c.Text)
			checked[key]++
			if err != nil || got.Count != want || !got.IsExact {
				failures++
				if failures <= 20 {
					t.Errorf("%s [%s]: got %+v, %v; want %d", c.ID, key, got, err, want)
				}
			}
			wantMethod := MethodTiktoken
			if strings.HasPrefix(key, "hf:") {
				wantMethod = MethodHuggingface
			}
			if err == nil && got.Method != wantMethod {
				t.Errorf("%s [%s]: method %s", c.ID, key, got.Method)
			}
		}
	}
	// Every key present in the data was checked: 4 encodings, 4 tokenizers with and without
	// special tokens.
	if len(checked) < 12 {
		t.Errorf("only %d keys: %v", len(checked), checked)
	}
	total := 0
	for _, n := range checked {
		total += n
	}
	if failures > 0 {
		t.Errorf("%d of %d counts differ", failures, total)
	}
	t.Logf("%d golden counts over %d texts and %d keys", total, len(cases), len(checked))
}
