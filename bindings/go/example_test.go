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

	kano "github.com/kano-tokenizer/kano-tokenizer/bindings/go"
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

// The longest prefix of a text within 12 tokens, counted alone.
func ExampleAdapter_Truncate() {
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

	text := strings.Repeat("Budgets cut text at token boundaries. ", 3)
	cut, err := adapter.Truncate(text, 12)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d tokens: %q\n", cut.Count, text[:cut.ByteLen])
	// Output: 12 tokens: "Budgets cut text at token boundaries. Budgets cut text"
}

// Fit a text to a token budget (docs/BUDGETS-AND-CHAT.md's Go example for budgets): the longest prefix within
// 12 tokens, and chunks of at most 12 tokens that overlap by 2, each with its byte offsets and its
// count alone.
func ExampleAdapter_Split() {
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

	text := strings.Repeat("Budgets cut text at token boundaries. ", 3)
	cut, err := adapter.Truncate(text, 12) // the prefix is text[:cut.ByteLen]
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cut.ByteLen, cut.Count, cut.IsExact)
	chunks, err := adapter.Split(text, 12, 2) // at most 12 tokens each, 2 of overlap
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range chunks {
		fmt.Printf("[%d:%d] %d tokens: %q\n", c.Start, c.End, c.Count, c.Text)
	}
	// Output:
	// 54 12 true
	// [0:54] 12 tokens: "Budgets cut text at token boundaries. Budgets cut text"
	// [45:101] 12 tokens: " cut text at token boundaries. Budgets cut text at token"
	// [92:114] 5 tokens: " at token boundaries. "
}

// The OpenAI cookbook's tools sample, counted as the API counts the prompt: 101 tokens for
// gpt-4o (105 for gpt-4).
func ExampleAdapter_CountChat() {
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

	request := `{"model": "gpt-4o", "messages": [
		{"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
		{"role": "user", "content": "What's the weather like in San Francisco?"}
	], "tools": [{"type": "function", "function": {
		"name": "get_current_weather",
		"description": "Get the current weather in a given location",
		"parameters": {"type": "object", "properties": {
			"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
			"unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
		}, "required": ["location"]}
	}}]}`
	count, err := adapter.CountChat(request) // or CountChatBytes(json.Marshal(...))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(count.Total, count.IsExact, count.Messages, count.Tools, count.ReplyPriming)

	count, err = adapter.CountChat(`{"messages": [{"role": "user", "content": "Hi"}], "tool_choice": "auto"}`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(count.Total, count.IsExact, len(count.Reasons)) // Reasons names tool_choice
	// Output:
	// 101 true [18 12] 68 3
	// 8 false 1
}

// A short request (docs/BUDGETS-AND-CHAT.md's Go example for chat): 3 tokens per message, the encoded fields,
// and 3 to prime the reply; tool_choice is beyond the published rules, so it is named.
func ExampleChatCount() {
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

	count, err := adapter.CountChat(`{"messages": [{"role": "user", "content": "Hello, world!"}]}`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(count.Total, count.Messages, count.IsExact)
	count, err = adapter.CountChat(`{"messages": [{"role": "user", "content": "Hi"}], "tool_choice": "auto"}`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(count.Total, count.IsExact, count.Reasons)
	// Output:
	// 11 [8] true
	// 8 false [tool_choice: the published rules do not cover it; not counted]
}

// Every ```go block that follows a marker `<!-- snippet: bindings/go/example_test.go NAME -->`
// in the README, in docs/*.md or in bindings/go/README.md is, line for line, the body of the
// example NAME; the README must have one for ExampleRegistry_Resolve.
func TestReadmeSnippet(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{filepath.Join("..", "..", "README.md"), "README.md"}, docs...)
	source, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	marker := regexp.MustCompile("(?s)<!-- snippet: bindings/go/example_test.go (\\w+) -->\\s*```go\n(.*?)```")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			t.Fatal(err)
		}
		file, err := filepath.Rel(root, abs) // as named from the repository's root
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, block := range marker.FindAllSubmatch(text, -1) {
			name := string(block[1])
			names[name] = true
			body := regexp.MustCompile("(?s)\nfunc " + name + "\\(\\) \\{\n(.*?)\t// Output:").FindSubmatch(source)
			if body == nil {
				t.Errorf("%s has a snippet for %s, which example_test.go does not have", file, name)
				continue
			}
			var want strings.Builder
			for _, line := range strings.SplitAfter(string(body[1]), "\n") {
				want.WriteString(strings.TrimPrefix(line, "\t"))
			}
			if got := string(block[2]); got != want.String() {
				t.Errorf("the Go snippet of %s differs from %s:\n--- %s\n%s--- example_test.go\n%s", file, name, file, got, want.String())
			}
		}
		if path == files[0] && !names["ExampleRegistry_Resolve"] {
			t.Error("README.md has no Go snippet marked for ExampleRegistry_Resolve")
		}
	}
}
