// Counting tokens with kano-tokenizer from Go (bindings/go, cgo).
//
// Run from this folder (or just `make demo` from the repository root):
//
//	make -C ../.. build
//	go run . ../kano-tokenizer.toml
//
// Against an installed library: go run -tags kano_pkgconfig . (with PKG_CONFIG_PATH set to
// PREFIX/lib/pkgconfig if needed); statically linked: go build -tags kano_static.
package main

import (
	"errors"
	"fmt"
	"os"

	kano "github.com/kano-tokenizer/kano-tokenizer/bindings/go"
)

const text = "The quick brown fox jumps over the lazy dog."

// countWith resolves an adapter, counts text and prints the result.
func countWith(reg *kano.Registry, adapterName, model string) error {
	adapter, err := reg.Resolve(adapterName, model)
	if err != nil {
		return err
	}
	defer adapter.Close()
	count, err := adapter.Count(text)
	if err != nil {
		return err
	}
	kind := "estimate"
	if count.IsExact {
		kind = "exact"
	}
	// For "auto", adapter.Name() is the adapter that served.
	fmt.Printf("  %-28s %-11s  %-48s %4d  %s\n", adapterName+" "+model, adapter.Name(), adapter.Model(), count.Count, kind)
	return nil
}

func run(config string) int {
	failures := 0
	fmt.Printf("kano-tokenizer %s (Go)\n", kano.Version())

	// 1. A registry from the defaults and the KANO_TOKENIZER_* environment variables.
	reg, err := kano.NewRegistry()
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // a bad KANO_TOKENIZER_* variable or config file
		return 1
	}
	defer reg.Close()
	fmt.Printf("\nCounting %q\n\n", text)
	fmt.Printf("  %-28s %-11s  %-48s %4s\n", "asked for", "served by", "resolved to", "tokens")
	for _, c := range [][2]string{
		{"heuristic", "gpt-4o"},
		{"tiktoken", "gpt-4o"},
		{"huggingface", "all-MiniLM-L6-v2"}, // built into the library
		{"auto", "gpt-4"},
	} {
		if err := countWith(reg, c[0], c[1]); err != nil {
			fmt.Fprintf(os.Stderr, "  %s / %s: %v\n", c[0], c[1], err)
			failures++
		}
	}

	// 2. Errors are *kano.Error values: errors.Is against the sentinels, Message for details.
	fmt.Println("\nAn unknown model:")
	_, err = reg.Resolve("tiktoken", "my-private-model")
	var kerr *kano.Error
	if errors.Is(err, kano.ErrUnknownModel) && errors.As(err, &kerr) {
		fmt.Printf("  %s: %s\n", kerr.Status, kerr.Message)
	} else {
		fmt.Fprintf(os.Stderr, "  expected kano.ErrUnknownModel, got %v\n", err)
		failures++
	}

	// 3. A registry from a config file: its adapter, model and named tokenizer files.
	configured, err := kano.NewRegistryFromConfig(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer configured.Close()
	adapter, err := configured.Resolve("", "") // as configured
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer adapter.Close()
	count, err := adapter.Count(text)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("\nFrom %s:\n  configured: %s %s: %d tokens\n", config, adapter.Name(), adapter.Model(), count.Count)
	if err := countWith(configured, "huggingface", "gpt2-local"); err != nil {
		fmt.Fprintf(os.Stderr, "  %v\n", err)
		failures++
	}

	// 4. A fast estimate with bounds on the exact count, and a limit check that the bounds
	// settle when they can.
	estimate, err := adapter.Estimate(text)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	check, err := adapter.CheckLimit(text, 8)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("\nEstimate: %d tokens (exact between %d and %d); within 8 tokens: %v\n",
		estimate.Estimate, estimate.LowerBound, estimate.UpperBound, check.WithinLimit)
	if failures > 0 {
		return 1
	}
	return 0
}

func main() {
	config := "../kano-tokenizer.toml"
	if len(os.Args) > 1 {
		config = os.Args[1]
	}
	os.Exit(run(config))
}
