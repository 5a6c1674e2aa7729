package kano

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// batchTexts is n texts of 100 to 2000 bytes made of the short golden texts.
func batchTexts(t testing.TB, n int) []string {
	var short []string
	for _, c := range goldenCases(t) {
		if len(c.Text) > 0 && len(c.Text) < 500 {
			short = append(short, c.Text)
		}
	}
	texts := make([]string, n)
	next := 0
	for i := range texts {
		target := 100 + (i*7919)%1900
		var b strings.Builder
		for b.Len() < target {
			b.WriteString(short[next%len(short)])
			b.WriteByte(' ')
			next++
		}
		texts[i] = strings.ToValidUTF8(b.String()[:target], "")
	}
	return texts
}

func TestCountBatchEqualsCount(t *testing.T) {
	reg := mustRegistry(t)
	golden := goldenCases(t)
	goldenTexts := make([]string, len(golden))
	for i, c := range golden {
		goldenTexts[i] = c.Text
	}
	for _, texts := range [][]string{goldenTexts, batchTexts(t, 300)} {
		for _, tc := range []struct{ adapter, model string }{
			{"tiktoken", "gpt-4o"}, {"huggingface", "all-MiniLM-L6-v2"}, {"heuristic", "gpt-4"},
		} {
			a := mustResolve(t, reg, tc.adapter, tc.model)
			counts, err := a.CountBatch(texts)
			if err != nil {
				t.Fatalf("%s: CountBatch: %v", tc.adapter, err)
			}
			if len(counts) != len(texts) {
				t.Fatalf("%s: %d counts for %d texts", tc.adapter, len(counts), len(texts))
			}
			for i, text := range texts {
				if want := mustCount(t, a, text).Count; counts[i] != want {
					t.Errorf("%s: text %d: batch %d, single %d", tc.adapter, i, counts[i], want)
				}
			}
		}
	}
}

func TestCountBatchGolden(t *testing.T) {
	g := newGoldenAdapters(t)
	cases := goldenCases(t)
	texts := make([]string, len(cases))
	for i, c := range cases {
		texts[i] = c.Text
	}
	for _, key := range []string{"o200k_base", "cl100k_base", "hf:gpt2", "hf:llama-style-bpe:no_special"} {
		counts, err := g.get(key).CountBatch(texts)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		for i, c := range cases {
			if want, ok := c.Counts[key]; ok && counts[i] != want {
				t.Errorf("%s %s: %d, want %d", key, c.ID, counts[i], want)
			}
		}
	}
}

func TestCountBatchFailuresPerText(t *testing.T) {
	reg, err := NewRegistryFromTOML("[tokenizer]\nmax_input_bytes = 1000\n")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	texts := batchTexts(t, 200)
	for i := range texts {
		if len(texts[i]) > 1000 {
			texts[i] = strings.ToValidUTF8(texts[i][:900], "")
		}
	}
	texts[3] = "ok then \xff here"
	texts[150] = strings.Repeat("x", 1001)
	texts[7] = ""
	counts, err := a.CountBatch(texts)
	var batch *BatchError
	if !errors.As(err, &batch) {
		t.Fatalf("want a *BatchError, got %T %v", err, err)
	}
	if batch.Failed != 2 || len(batch.Errs) != len(texts) || len(counts) != len(texts) {
		t.Fatalf("failed %d, %d errors, %d counts", batch.Failed, len(batch.Errs), len(counts))
	}
	if !errors.Is(err, ErrInvalidUTF8) || !errors.Is(err, ErrInputTooLarge) || !errors.Is(err, ErrBatchPartial) {
		t.Errorf("errors.Is misses a failure: %v", err)
	}
	if errors.Is(err, ErrClosed) {
		t.Errorf("errors.Is(err, ErrClosed) for %v", err)
	}
	kanoError(t, batch.Errs[3], ErrInvalidUTF8, "2 of 200 texts failed; the first, text 3", "offset 8")
	kanoError(t, batch.Errs[150], ErrInputTooLarge, "text 150")
	if !strings.Contains(err.Error(), "some texts of the batch failed") {
		t.Errorf("Error() = %q", err.Error())
	}
	for i, text := range texts {
		if i == 3 || i == 150 {
			if counts[i] != 0 {
				t.Errorf("failed text %d has count %d", i, counts[i])
			}
			continue
		}
		if batch.Errs[i] != nil {
			t.Errorf("text %d: %v", i, batch.Errs[i])
		}
		if want := mustCount(t, a, text).Count; counts[i] != want {
			t.Errorf("text %d: batch %d, single %d", i, counts[i], want)
		}
	}
}

func TestCountBatchEmptyAndClosed(t *testing.T) {
	reg := mustRegistry(t)
	a, err := reg.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	if counts, err := a.CountBatch(nil); err != nil || len(counts) != 0 {
		t.Fatalf("CountBatch(nil) = %v, %v", counts, err)
	}
	if counts, err := a.CountBatch([]string{"", "Hello, world!"}); err != nil || counts[0] != 0 || counts[1] != 4 {
		t.Fatalf("CountBatch = %v, %v", counts, err)
	}
	a.Close()
	for _, texts := range [][]string{nil, {"a"}} {
		counts, err := a.CountBatch(texts)
		kanoError(t, err, ErrClosed, "CountBatch")
		if counts != nil {
			t.Errorf("counts %v from a closed adapter", counts)
		}
	}
}

// Many goroutines counting large batches with one adapter at once (run under -race).
func TestCountBatchConcurrent(t *testing.T) {
	a := mustResolve(t, mustRegistry(t), "tiktoken", "cl100k_base")
	texts := batchTexts(t, 150)
	want, err := a.CountBatch(texts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 3; k++ {
				got, err := a.CountBatch(texts)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("text %d: %d, want %d", i, got[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
