package kano

// #include <kano_tokenizer.h>
//
// /* kano_adapter_truncate and kano_adapter_split with the result returned by value, as
//    kano_go_count does: no Go variable passed by address, so nothing escapes to the heap. */
// typedef struct { KanoStatus status; KanoTruncation truncation; } kano_go_truncate_result;
// static kano_go_truncate_result kano_go_truncate(const KanoAdapter *adapter, const char *text, size_t len,
//                                                 uint64_t max_tokens) {
//     kano_go_truncate_result r = { KANO_STATUS_OK, { 0, 0, false, KANO_METHOD_HEURISTIC } };
//     r.status = kano_adapter_truncate(adapter, text, len, max_tokens, &r.truncation);
//     return r;
// }
// typedef struct { KanoStatus status; KanoChunks *chunks; } kano_go_split_result;
// static kano_go_split_result kano_go_split(const KanoAdapter *adapter, const char *text, size_t len,
//                                           uint64_t max_tokens, uint64_t overlap) {
//     kano_go_split_result r = { KANO_STATUS_OK, NULL };
//     r.status = kano_adapter_split(adapter, text, len, max_tokens, overlap, &r.chunks);
//     return r;
// }
// /* Every chunk's kano_chunks_get in one cgo call, into arrays the caller sized with
//    kano_chunks_len; stops at the first failure and returns its status. */
// static KanoStatus kano_go_chunks_read(const KanoChunks *chunks, size_t n, size_t *starts, size_t *ends,
//                                       uint64_t *counts) {
//     for (size_t i = 0; i < n; i++) {
//         KanoStatus status = kano_chunks_get(chunks, i, &starts[i], &ends[i], &counts[i]);
//         if (status != KANO_STATUS_OK) {
//             return status;
//         }
//     }
//     return KANO_STATUS_OK;
// }
import "C"

import "runtime"

// Truncation is the longest prefix of a text within a token budget (KanoTruncation): the
// prefix is text[:ByteLen].
type Truncation struct {
	// ByteLen is the prefix's length in bytes; always on a UTF-8 character boundary.
	ByteLen int
	// Count is the prefix's tokens, counted alone (as Count counts text[:ByteLen]); at most
	// maxTokens.
	Count uint64
	// IsExact is false for the heuristic adapter, whose counts (and so the cut) are estimates.
	IsExact bool
	// Method is the adapter that counted: MethodHeuristic, MethodTiktoken or MethodHuggingface.
	Method string
}

// Chunk is one chunk of Split: bytes [Start, End) of the text, on character boundaries.
type Chunk struct {
	// Start and End are byte offsets into the text: the chunk is text[Start:End].
	Start, End int
	// Count is the chunk's tokens, counted alone (as Count counts Text); at most maxTokens.
	Count uint64
	// Text is text[Start:End], a substring that shares the text's bytes (no copy).
	Text string
	// IsExact is false for the heuristic adapter, whose counts are estimates; the same for
	// every chunk.
	IsExact bool
}

// Truncate finds the longest prefix of text with at most maxTokens tokens
// (kano_adapter_truncate): text[:t.ByteLen], whose count alone is t.Count. The cut is on a
// character boundary, and one more character would not fit (or the prefix is the whole text).
// For OpenAI encodings only the start of the text is read (a 1 MB text cut to 1,000 tokens reads
// a few KB); tokenizer.json adapters search with counts of whole prefixes.
//
// Text rules as Count: UTF-8, passed without a copy; invalid UTF-8 in the part read is
// ErrInvalidUTF8 with the byte offset. ErrInvalidArgument when not even the empty text fits (a
// tokenizer that adds [CLS] and [SEP], with maxTokens below 2).
func (a *Adapter) Truncate(text string, maxTokens uint64) (Truncation, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return Truncation{}, closedError("Adapter.Truncate: the adapter")
	}
	runtime.LockOSThread()
	r := C.kano_go_truncate(a.ptr, stringData(text), C.size_t(len(text)), C.uint64_t(maxTokens))
	if r.status != C.KANO_STATUS_OK {
		err := lastError(r.status) // on the thread that failed
		runtime.UnlockOSThread()
		return Truncation{}, err
	}
	runtime.UnlockOSThread()
	return Truncation{
		ByteLen: int(r.truncation.byte_len),
		Count:   uint64(r.truncation.count),
		IsExact: bool(r.truncation.is_exact),
		Method:  methodName(r.truncation.method),
	}, nil
}

// Split cuts text into chunks of at most maxTokens tokens each that cover it
// (kano_adapter_split). Each chunk's Count is its count alone, as Count would give it. Each
// chunk starts overlap tokens (at most) before the previous one ends; with overlap 0 the
// chunks meet end to end (chunks[i].End == chunks[i+1].Start). A cut prefers a line end, then
// a whitespace character, within the last 10% of a chunk's bytes. An empty text gives no
// chunks.
//
// Text rules as Count: the text is passed without a copy, and each Chunk's Text shares its
// bytes. ErrInvalidArgument when maxTokens is 0, when overlap is not below maxTokens, or when
// one character alone takes more than maxTokens tokens.
func (a *Adapter) Split(text string, maxTokens, overlap uint64) ([]Chunk, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return nil, closedError("Adapter.Split: the adapter")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := C.kano_go_split(a.ptr, stringData(text), C.size_t(len(text)), C.uint64_t(maxTokens), C.uint64_t(overlap))
	if r.status != C.KANO_STATUS_OK {
		return nil, lastError(r.status) // on the thread that failed
	}
	defer C.kano_chunks_free(r.chunks)
	n := int(C.kano_chunks_len(r.chunks))
	exact := bool(C.kano_chunks_is_exact(r.chunks))
	chunks := make([]Chunk, n)
	if n == 0 {
		return chunks, nil
	}
	starts := make([]C.size_t, n)
	ends := make([]C.size_t, n)
	counts := make([]C.uint64_t, n)
	if status := C.kano_go_chunks_read(r.chunks, C.size_t(n), &starts[0], &ends[0], &counts[0]); status != C.KANO_STATUS_OK {
		return nil, lastError(status)
	}
	for i := range chunks {
		start, end := int(starts[i]), int(ends[i])
		chunks[i] = Chunk{Start: start, End: end, Count: uint64(counts[i]), Text: text[start:end], IsExact: exact}
	}
	return chunks, nil
}
