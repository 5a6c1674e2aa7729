package kano

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// budgetText mixes prose, line ends, long runs of spaces, digits and characters of two to four
// bytes, so that cuts land next to every kind of piece.
var budgetText = strings.Repeat("Budgets cut text at token boundaries.\nCafé crème, naïve façade: 12345678 tokens?   "+
	"東京の天気は晴れです。 Emoji 🎉🚀 and	tabs.\n\n", 12)

// budgetAdapters are one adapter of each kind: the heuristic, two OpenAI encodings, and two
// tokenizer.json files (one that adds [CLS] and [SEP] to every text).
func budgetAdapters(t *testing.T) []*Adapter {
	reg := mustRegistry(t)
	gpt2, err := filepath.Abs(filepath.Join(repoRoot, "tests", "fixtures", "tokenizers", "gpt2", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return []*Adapter{
		mustResolve(t, reg, "heuristic", "gpt-4o"),
		mustResolve(t, reg, "tiktoken", "gpt-4o"),
		mustResolve(t, reg, "tiktoken", "cl100k_base"),
		mustResolve(t, reg, "huggingface", gpt2),
		mustResolve(t, reg, "huggingface", "all-MiniLM-L6-v2"),
	}
}

func TestTruncateIsTheLongestPrefixWithinTheBudget(t *testing.T) {
	for _, a := range budgetAdapters(t) {
		exact := a.Name() != "heuristic"
		whole := mustCount(t, a, budgetText).Count
		for _, max := range []uint64{2, 3, 7, 50, 333, whole - 1, whole, whole + 10} {
			tr, err := a.Truncate(budgetText, max)
			if err != nil {
				t.Fatalf("%s/%s: Truncate(%d): %v", a.Name(), a.Model(), max, err)
			}
			prefix := budgetText[:tr.ByteLen]
			if tr.IsExact != exact || tr.Method != a.Name() || !utf8.ValidString(prefix) {
				t.Errorf("%s/%s: Truncate(%d) = %+v: exact/method/boundary", a.Name(), a.Model(), max, tr)
			}
			if c := mustCount(t, a, prefix).Count; c != tr.Count || c > max {
				t.Errorf("%s/%s: Truncate(%d) = %+v, but the prefix counts %d alone", a.Name(), a.Model(), max, tr, c)
			}
			if tr.ByteLen == len(budgetText) {
				if max < whole {
					t.Errorf("%s/%s: Truncate(%d) kept all %d tokens", a.Name(), a.Model(), max, whole)
				}
				continue
			}
			// One character more would not fit (exact adapters: their counts decide the cut).
			_, size := utf8.DecodeRuneInString(budgetText[tr.ByteLen:])
			if longer := mustCount(t, a, budgetText[:tr.ByteLen+size]).Count; exact && longer <= max {
				t.Errorf("%s/%s: Truncate(%d) cut at %d, but %d bytes count %d", a.Name(), a.Model(), max, tr.ByteLen, tr.ByteLen+size, longer)
			}
		}
	}
}

func TestTruncateEdges(t *testing.T) {
	reg := mustRegistry(t)
	gpt := mustResolve(t, reg, "tiktoken", "gpt-4o")
	if tr, err := gpt.Truncate("", 10); err != nil || tr != (Truncation{0, 0, true, MethodTiktoken}) {
		t.Errorf("Truncate of the empty text = %+v, %v", tr, err)
	}
	if tr, err := gpt.Truncate(sentence, 0); err != nil || tr.ByteLen != 0 || tr.Count != 0 {
		t.Errorf("Truncate(sentence, 0) = %+v, %v", tr, err)
	}
	// [CLS] and [SEP] alone take 2 tokens: not even the empty text fits in 1.
	bert := mustResolve(t, reg, "huggingface", "all-MiniLM-L6-v2")
	_, err := bert.Truncate(sentence, 1)
	kanoError(t, err, ErrInvalidArgument)
	// Invalid UTF-8 in the part read names its offset; past it, OpenAI encodings never look.
	_, err = gpt.Truncate("ab\xffcd", 10)
	kanoError(t, err, ErrInvalidUTF8, "offset 2")
	if tr, err := gpt.Truncate(strings.Repeat("word ", 100_000)+"\xff", 5); err != nil || tr.Count != 5 {
		t.Errorf("Truncate read past the budget: %+v, %v", tr, err)
	}
	gpt.Close()
	_, err = gpt.Truncate(sentence, 5)
	kanoError(t, err, ErrClosed)
}

func TestSplitChunksCountAloneAndCoverTheText(t *testing.T) {
	for _, a := range budgetAdapters(t) {
		exact := a.Name() != "heuristic"
		for _, sizes := range [][2]uint64{{8, 0}, {40, 0}, {40, 10}, {200, 50}, {1 << 20, 0}} {
			max, overlap := sizes[0], sizes[1]
			chunks, err := a.Split(budgetText, max, overlap)
			if err != nil {
				t.Fatalf("%s/%s: Split(%d, %d): %v", a.Name(), a.Model(), max, overlap, err)
			}
			if len(chunks) == 0 || chunks[0].Start != 0 || chunks[len(chunks)-1].End != len(budgetText) {
				t.Fatalf("%s/%s: Split(%d, %d) does not cover the text: %d chunks", a.Name(), a.Model(), max, overlap, len(chunks))
			}
			for i, c := range chunks {
				if c.Text != budgetText[c.Start:c.End] || !utf8.ValidString(c.Text) || c.IsExact != exact {
					t.Errorf("%s/%s: chunk %d %+v: text/boundary/exact", a.Name(), a.Model(), i, c)
				}
				// BPE merges across a cut can change counts: each chunk is counted alone.
				if alone := mustCount(t, a, c.Text).Count; alone != c.Count || c.Count > max {
					t.Errorf("%s/%s: Split(%d, %d) chunk %d [%d:%d] says %d tokens, counts %d alone", a.Name(), a.Model(), max, overlap, i, c.Start, c.End, c.Count, alone)
				}
				if i == 0 {
					continue
				}
				prev := chunks[i-1]
				if overlap == 0 && c.Start != prev.End {
					t.Errorf("%s/%s: Split(%d, 0): chunk %d starts at %d, the previous ends at %d", a.Name(), a.Model(), max, i, c.Start, prev.End)
				}
				if c.Start <= prev.Start || c.Start > prev.End || c.End <= prev.End {
					t.Errorf("%s/%s: Split(%d, %d): chunk %d [%d:%d] after [%d:%d]", a.Name(), a.Model(), max, overlap, i, c.Start, c.End, prev.Start, prev.End)
				}
			}
			if max == 1<<20 && len(chunks) != 1 {
				t.Errorf("%s/%s: a text within the budget gives %d chunks", a.Name(), a.Model(), len(chunks))
			}
		}
	}
}

func TestSplitEdges(t *testing.T) {
	reg := mustRegistry(t)
	gpt := mustResolve(t, reg, "tiktoken", "gpt-4o")
	if chunks, err := gpt.Split("", 10, 0); err != nil || len(chunks) != 0 {
		t.Errorf("Split of the empty text = %v, %v", chunks, err)
	}
	_, err := gpt.Split(sentence, 0, 0)
	kanoError(t, err, ErrInvalidArgument)
	_, err = gpt.Split(sentence, 10, 10)
	kanoError(t, err, ErrInvalidArgument)
	_, err = gpt.Split("ab\xffcd", 10, 0)
	kanoError(t, err, ErrInvalidUTF8, "offset 2")
	gpt.Close()
	_, err = gpt.Split(sentence, 5, 0)
	kanoError(t, err, ErrClosed)
}
