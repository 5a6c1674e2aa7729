package kano

import (
	"strings"
	"testing"
)

// On every golden count: lower <= exact <= upper, and the estimate between the bounds.
func TestEstimateBoundsOnGolden(t *testing.T) {
	cases := goldenCases(t)
	adapters := newGoldenAdapters(t)
	checked, failures := 0, 0
	for _, c := range cases {
		for key, exact := range c.Counts {
			e, err := adapters.get(key).Estimate(c.Text)
			checked++
			if err != nil || e.LowerBound > exact || exact > e.UpperBound || e.Estimate < e.LowerBound || e.Estimate > e.UpperBound {
				failures++
				if failures <= 20 {
					t.Errorf("%s [%s]: %+v, %v; exact %d", c.ID, key, e, err, exact)
				}
			}
		}
	}
	if checked < 2000 {
		t.Errorf("only %d golden counts checked", checked)
	}
	if failures > 0 {
		t.Errorf("%d of %d estimates violate their bounds", failures, checked)
	}
}

// The heuristic adapter's bounds are its estimate, which is its count.
func TestEstimateHeuristic(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "heuristic", "gpt-4o")
	for _, text := range []string{"", sentence, strings.Repeat("naïve 日本語 👍 ", 50)} {
		e, err := a.Estimate(text)
		if err != nil {
			t.Fatal(err)
		}
		c := mustCount(t, a, text)
		if e.LowerBound != e.Estimate || e.UpperBound != e.Estimate || e.Estimate != c.Count {
			t.Errorf("%q: %+v, count %d", text, e, c.Count)
		}
	}
}

// Verdicts just below, at and above the exact count, on every golden count: right for exact
// adapters, and Tokens is the count, a bound or the partial count that proved the verdict.
func TestCheckLimitOnGolden(t *testing.T) {
	cases := goldenCases(t)
	adapters := newGoldenAdapters(t)
	checked, failures := 0, 0
	fail := func(format string, args ...any) {
		failures++
		if failures <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, c := range cases {
		for key, exact := range c.Counts {
			a := adapters.get(key)
			// Both sides of the exact count; far from it too for the shorter texts (a
			// tokenizer.json check counts to the end, so the long texts cost most).
			limits := []uint64{exact}
			if exact > 0 {
				limits = append(limits, exact-1)
			}
			if len(c.Text) < 8192 {
				limits = append(limits, exact+1, exact*2+10, exact/2)
			}
			for _, limit := range limits {
				checked++
				lc, err := a.CheckLimit(c.Text, limit)
				if err != nil {
					fail("%s [%s] limit %d: %v", c.ID, key, limit, err)
					continue
				}
				if want := exact <= limit; lc.WithinLimit != want {
					fail("%s [%s] limit %d: %+v, exact %d", c.ID, key, limit, lc, exact)
				}
				switch {
				case lc.IsExact && lc.Tokens != exact:
					fail("%s [%s] limit %d: exact Tokens %d, want %d", c.ID, key, limit, lc.Tokens, exact)
				case !lc.IsExact && lc.WithinLimit && (lc.Tokens > limit || lc.Tokens < exact):
					fail("%s [%s] limit %d: upper bound %d does not prove %d <= limit", c.ID, key, limit, lc.Tokens, exact)
				case !lc.IsExact && !lc.WithinLimit && (lc.Tokens <= limit || lc.Tokens > exact):
					fail("%s [%s] limit %d: lower bound %d does not prove %d > limit", c.ID, key, limit, lc.Tokens, exact)
				}
			}
		}
	}
	if checked < 8000 {
		t.Errorf("only %d verdicts checked", checked)
	}
	if failures > 0 {
		t.Errorf("%d of %d verdicts wrong", failures, checked)
	}
}

func TestCheckLimitHeuristic(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "heuristic", "gpt-4o")
	e, err := a.Estimate(sentence)
	if err != nil || e.Estimate == 0 {
		t.Fatalf("%+v, %v", e, err)
	}
	for _, limit := range []uint64{e.Estimate - 1, e.Estimate, e.Estimate + 1} {
		lc, err := a.CheckLimit(sentence, limit)
		if err != nil || lc.IsExact || lc.Tokens != e.Estimate || lc.WithinLimit != (e.Estimate <= limit) {
			t.Errorf("limit %d: %+v, %v; estimate %d", limit, lc, err, e.Estimate)
		}
	}
}

func TestEstimateAndCheckLimitErrors(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	_, err := a.Estimate("valid, then \xff")
	kanoError(t, err, ErrInvalidUTF8, "offset 12")
	_, err = a.CheckLimit("ok\xc3", 10)
	kanoError(t, err, ErrInvalidUTF8, "offset 2")
	if e, err := a.Estimate(""); err != nil || e != (Estimate{}) {
		t.Errorf("the empty text: %+v, %v", e, err)
	}
	if lc, err := a.CheckLimit("", 0); err != nil || !lc.WithinLimit || lc.Tokens != 0 {
		t.Errorf("the empty text against 0: %+v, %v", lc, err)
	}
	a.Close()
	_, err = a.Estimate(sentence)
	kanoError(t, err, ErrClosed, "Adapter.Estimate")
	_, err = a.CheckLimit(sentence, 10)
	kanoError(t, err, ErrClosed, "Adapter.CheckLimit")
}
