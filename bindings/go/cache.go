package kano

// #include <kano_tokenizer.h>
//
// typedef struct { KanoStatus status; KanoCacheStats stats; } kano_go_cache_stats_result;
// static kano_go_cache_stats_result kano_go_cache_stats(void) {
//     kano_go_cache_stats_result r = { KANO_STATUS_OK, { 0, 0, 0, 0, 0.0, 0, 0 } };
//     r.status = kano_cache_stats(&r.stats);
//     return r;
// }
import "C"

import "runtime"

// CacheStats are the figures of the library's per-thread caches of piece counts, summed over
// threads (kano_cache_stats): lookups of pieces up to 64 bytes and their hits, lookups of long
// pieces and whole chunks of text and their hits, the share of all lookups that hit, and the
// threads holding a cache and the bytes those hold now. A thread's latest lookups (fewer than
// 4,096) are added when it makes more or ends; the calling thread's are always included.
type CacheStats struct {
	Lookups     uint64
	Hits        uint64
	LongLookups uint64
	LongHits    uint64
	HitRate     float64
	Threads     uint64
	Bytes       uint64
}

// GetCacheStats returns the piece caches' figures.
func GetCacheStats() (CacheStats, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := C.kano_go_cache_stats()
	if r.status != C.KANO_STATUS_OK {
		return CacheStats{}, lastError(r.status)
	}
	s := r.stats
	return CacheStats{
		Lookups:     uint64(s.lookups),
		Hits:        uint64(s.hits),
		LongLookups: uint64(s.long_lookups),
		LongHits:    uint64(s.long_hits),
		HitRate:     float64(s.hit_rate),
		Threads:     uint64(s.threads),
		Bytes:       uint64(s.bytes),
	}, nil
}
