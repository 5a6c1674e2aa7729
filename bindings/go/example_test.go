package kano_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	kano "kano-tokenizer/bindings/go"
)

// The README's Go snippet is this function's body (TestReadmeSnippet checks it), so it is
// compiled and its output checked by `go test`.
func ExampleRegistry_Resolve() {
	reg, err := kano.NewRegistry() // defaults + KANO_TOKENIZER_* variables
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()

	adapter, err := reg.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		log.Fatal(err)
	}
	defer adapter.Close()

	count, err := adapter.Count("Hello, world!")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(count.Count, count.IsExact, count.Method)

	_, err = reg.Resolve("tiktoken", "my-private-model")
	if errors.Is(err, kano.ErrUnknownModel) {
		fmt.Println("not a tiktoken model") // err.Error() names the model and says why
	}
	// Output:
	// 4 true tiktoken
	// not a tiktoken model
}

func ExampleNewRegistryFromConfig() {
	reg, err := kano.NewRegistryFromConfig("../../examples/kano-tokenizer.toml")
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()
	adapter, err := reg.Resolve("", "") // the configured adapter and model
	if err != nil {
		log.Fatal(err)
	}
	defer adapter.Close()
	count, err := adapter.Count("The quick brown fox jumps over the lazy dog.")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(adapter.Name(), adapter.Model(), count.Count, count.IsExact)
	// Output: tiktoken cl100k_base 10 true
}

// Background counting: answer at once from the estimate or the limit check, and get the exact
// counts from a Counter (here through its Results channel).
func ExampleCounter() {
	reg, err := kano.NewRegistry()
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()
	adapter, err := reg.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		log.Fatal(err)
	}
	defer adapter.Close()

	texts := []string{"Hello, world!", "The quick brown fox jumps over the lazy dog."}
	check, err := adapter.CheckLimit(texts[1], 8) // decided from the bounds when they can
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("within 8 tokens:", check.WithinLimit)

	counter, err := adapter.NewCounter(kano.CounterOptions{Workers: 2, QueueCapacity: 64})
	if err != nil {
		log.Fatal(err)
	}
	for id, text := range texts {
		if err := counter.Submit(uint64(id), text); err != nil { // ErrQueueFull: retry later
			log.Fatal(err)
		}
	}
	counter.Close() // delivers every accepted request, then closes Results
	exact := make([]uint64, len(texts))
	for r := range counter.Results() {
		if r.Err != nil {
			log.Fatal(r.Err)
		}
		exact[r.RequestID] = r.Count.Count
	}
	fmt.Println("exact counts:", exact)
	// Output:
	// within 8 tokens: false
	// exact counts: [4 10]
}

func ExampleAdapter_Estimate() {
	reg, err := kano.NewRegistry()
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()
	adapter, err := reg.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		log.Fatal(err)
	}
	defer adapter.Close()
	text := "The quick brown fox jumps over the lazy dog."
	estimate, err := adapter.Estimate(text) // one pass, no allocation
	if err != nil {
		log.Fatal(err)
	}
	count, err := adapter.Count(text)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(estimate.LowerBound <= count.Count && count.Count <= estimate.UpperBound)
	// Output: true
}

// Every ```go block that follows a README marker `<!-- snippet: bindings/go/example_test.go
// NAME -->` is, line for line, the body of the example NAME; ExampleRegistry_Resolve must have
// one.
func TestReadmeSnippet(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)<!-- snippet: bindings/go/example_test.go (\\w+) -->\\s*```go\n(.*?)```").
		FindAllSubmatch(readme, -1)
	names := map[string]bool{}
	for _, block := range blocks {
		name := string(block[1])
		names[name] = true
		body := regexp.MustCompile("(?s)\nfunc " + name + "\\(\\) \\{\n(.*?)\t// Output:").FindSubmatch(source)
		if body == nil {
			t.Errorf("README.md has a snippet for %s, which example_test.go does not have", name)
			continue
		}
		var want strings.Builder
		for _, line := range strings.SplitAfter(string(body[1]), "\n") {
			want.WriteString(strings.TrimPrefix(line, "\t"))
		}
		if got := string(block[2]); got != want.String() {
			t.Errorf("the README's Go snippet differs from %s:\n--- README\n%s--- example_test.go\n%s", name, got, want.String())
		}
	}
	if !names["ExampleRegistry_Resolve"] {
		t.Error("README.md has no Go snippet marked for ExampleRegistry_Resolve")
	}
}
