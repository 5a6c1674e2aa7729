package kano

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// benchText is n bytes of English prose from bench/corpus (repeated as needed), cut at a
// character boundary.
func benchText(b *testing.B, n int) string {
	b.Helper()
	corpus, err := os.ReadFile(filepath.Join(repoRoot, "bench", "corpus", "prose_en.txt"))
	if err != nil {
		b.Fatal(err)
	}
	// Skip the table of contents: start in running text.
	text := strings.Join(strings.Fields(string(corpus)), " ")
	text = text[len(text)/3:]
	for len(text) < n {
		text += " " + text
	}
	text = text[:n]
	for !utf8.ValidString(text) {
		text = text[:len(text)-1]
	}
	return text
}

var benchAdapters = []struct{ name, adapter, model string }{
	{"heuristic", "heuristic", "gpt-4o"},
	{"tiktoken-o200k", "tiktoken", "gpt-4o"},
	{"tiktoken-cl100k", "tiktoken", "gpt-4"},
	{"huggingface-minilm", "huggingface", "all-MiniLM-L6-v2"},
}

// BenchmarkCount: ns/op is the time of one Count call, C call and Go overhead included; for
// 1MB, MB/s is the throughput.
func BenchmarkCount(b *testing.B) {
	reg := mustRegistry(b)
	for _, size := range []struct {
		name string
		n    int
	}{{"100B", 100}, {"1MB", 1 << 20}} {
		text := benchText(b, size.n)
		for _, ad := range benchAdapters {
			a := mustResolve(b, reg, ad.adapter, ad.model)
			b.Run(size.name+"/"+ad.name, func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := a.Count(text); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCountParallel: one adapter shared by GOMAXPROCS goroutines, 100-byte texts.
func BenchmarkCountParallel(b *testing.B) {
	reg := mustRegistry(b)
	text := benchText(b, 100)
	a := mustResolve(b, reg, "tiktoken", "gpt-4o")
	b.SetBytes(int64(len(text)))
	b.ResetTimer() // loading the encoding is not counting
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Count(text); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCallOverhead: the cost of the binding itself, counting the empty text (one cgo call,
// the thread lock and the handle's read lock).
func BenchmarkCallOverhead(b *testing.B) {
	reg := mustRegistry(b)
	a := mustResolve(b, reg, "tiktoken", "gpt-4o")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Count(""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEstimate: one Estimate of 2 KB next to one Count of the same text, per adapter (and a
// CheckLimit against 128 tokens, which the bounds settle without counting).
func BenchmarkEstimate(b *testing.B) {
	reg := mustRegistry(b)
	text := benchText(b, 2048)
	for _, ad := range benchAdapters {
		a := mustResolve(b, reg, ad.adapter, ad.model)
		for _, op := range []struct {
			name string
			call func() error
		}{
			{"estimate", func() error { _, err := a.Estimate(text); return err }},
			{"count", func() error { _, err := a.Count(text); return err }},
			{"check_limit_128", func() error { _, err := a.CheckLimit(text, 128); return err }},
		} {
			b.Run("2KB/"+op.name+"/"+ad.name, func(b *testing.B) {
				b.SetBytes(int64(len(text)))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := op.call(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCounter: requests of 100 bytes through a Counter (2 workers, o200k_base), from
// submit to the result received on the Results channel; ns/op is per request.
func BenchmarkCounter(b *testing.B) {
	reg := mustRegistry(b)
	a := mustResolve(b, reg, "tiktoken", "gpt-4o")
	text := benchText(b, 100)
	c := mustCounter(b, a, CounterOptions{Workers: 2, QueueCapacity: 1024})
	done := make(chan int)
	b.ResetTimer()
	go func() {
		received := 0
		for range c.Results() {
			received++
		}
		done <- received
	}()
	for i := 0; i < b.N; i++ {
		for {
			err := c.Submit(uint64(i), text)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				b.Fatal(err)
			}
			runtime.Gosched()
		}
	}
	c.Close()
	if received := <-done; received != b.N {
		b.Fatalf("%d results for %d requests", received, b.N)
	}
}
