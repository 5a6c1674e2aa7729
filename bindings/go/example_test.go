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

// The ```go block that follows the README's marker for ExampleRegistry_Resolve is, line for
// line, the body of that example.
func TestReadmeSnippet(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)<!-- snippet: bindings/go/example_test.go ExampleRegistry_Resolve -->\\s*```go\n(.*?)```").
		FindSubmatch(readme)
	if block == nil {
		t.Fatal("README.md has no Go snippet marked for ExampleRegistry_Resolve")
	}
	source, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile("(?s)func ExampleRegistry_Resolve\\(\\) \\{\n(.*?)\t// Output:").FindSubmatch(source)
	if body == nil {
		t.Fatal("no ExampleRegistry_Resolve body")
	}
	var want strings.Builder
	for _, line := range strings.SplitAfter(string(body[1]), "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	if got := string(block[1]); got != want.String() {
		t.Errorf("the README's Go snippet differs from ExampleRegistry_Resolve:\n--- README\n%s--- example_test.go\n%s", got, want.String())
	}
}
