package kano

import (
	"runtime"
	"strings"
	"testing"
)

func TestCacheStatsShowCounting(t *testing.T) {
	ad := mustResolve(t, mustRegistry(t), "tiktoken", "gpt-4o")
	text := strings.Repeat("the same words counted again and again, ", 8)
	// One OS thread for the counts and the figures: the calling thread's lookups are always in.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := ad.Count(text); err != nil {
		t.Fatal(err)
	}
	before, err := GetCacheStats()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ad.Count(text); err != nil {
		t.Fatal(err)
	}
	after, err := GetCacheStats()
	if err != nil {
		t.Fatal(err)
	}
	if after.Lookups <= before.Lookups || after.Hits-before.Hits != after.Lookups-before.Lookups {
		t.Fatalf("the second count should hit on every lookup: before %+v, after %+v", before, after)
	}
	if after.Threads < 1 || after.Bytes < 512*1024 || after.HitRate <= 0 || after.HitRate > 1 {
		t.Fatalf("figures %+v", after)
	}
}
