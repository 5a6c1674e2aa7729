package kano

// #include <kano_tokenizer.h>
//
// /* kano_adapter_estimate and kano_adapter_check_limit with the result returned by value, as
//    kano_go_count does: no Go variable passed by address, so nothing escapes to the heap. */
// typedef struct { KanoStatus status; KanoEstimate estimate; } kano_go_estimate_result;
// static kano_go_estimate_result kano_go_estimate(const KanoAdapter *adapter, const char *text, size_t len) {
//     kano_go_estimate_result r = { KANO_STATUS_OK, { 0, 0, 0 } };
//     r.status = kano_adapter_estimate(adapter, text, len, &r.estimate);
//     return r;
// }
// typedef struct { KanoStatus status; KanoLimitCheck check; } kano_go_check_limit_result;
// static kano_go_check_limit_result kano_go_check_limit(const KanoAdapter *adapter, const char *text, size_t len,
//                                                       uint64_t max_tokens) {
//     kano_go_check_limit_result r = { KANO_STATUS_OK, { false, 0, false } };
//     r.status = kano_adapter_check_limit(adapter, text, len, max_tokens, &r.check);
//     return r;
// }
import "C"

import "runtime"

// Estimate is a fast estimate of a text's tokens and bounds on its exact count (KanoEstimate).
type Estimate struct {
	// Estimate is the estimated count, between the bounds.
	Estimate uint64
	// LowerBound: for exact adapters, the exact count is never below it.
	LowerBound uint64
	// UpperBound: for exact adapters, the exact count is never above it (math.MaxUint64 when a
	// tokenizer.json step cannot be bounded).
	UpperBound uint64
}

// LimitCheck says whether a text fits a token limit (KanoLimitCheck).
type LimitCheck struct {
	// WithinLimit is true when the text has at most maxTokens tokens; always right for exact
	// adapters.
	WithinLimit bool
	// Tokens is the exact count when IsExact; otherwise what proved the verdict: a bound, or the
	// partial count at which counting stopped past the limit (for the heuristic adapter, the
	// estimate).
	Tokens uint64
	// IsExact is true when Tokens is the exact count.
	IsExact bool
}

// Estimate estimates the tokens of text in one pass, without allocating (kano_adapter_estimate).
// For exact adapters LowerBound <= exact count <= UpperBound holds for every text; for the
// heuristic adapter both bounds are the estimate. Text rules as Count: UTF-8, passed without a
// copy; invalid UTF-8 is ErrInvalidUTF8 with the byte offset.
func (a *Adapter) Estimate(text string) (Estimate, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return Estimate{}, closedError("Adapter.Estimate: the adapter")
	}
	runtime.LockOSThread()
	r := C.kano_go_estimate(a.ptr, stringData(text), C.size_t(len(text)))
	if r.status != C.KANO_STATUS_OK {
		err := lastError(r.status) // on the thread that failed
		runtime.UnlockOSThread()
		return Estimate{}, err
	}
	runtime.UnlockOSThread()
	return Estimate{
		Estimate:   uint64(r.estimate.estimate),
		LowerBound: uint64(r.estimate.lower_bound),
		UpperBound: uint64(r.estimate.upper_bound),
	}, nil
}

// CheckLimit checks whether text has at most maxTokens tokens (kano_adapter_check_limit). For
// exact adapters the verdict is always right: the bounds decide when they can; otherwise the
// library counts, stopping as soon as the count passes the limit (OpenAI encodings) or running
// to the end (tokenizer.json). Text rules as Count.
func (a *Adapter) CheckLimit(text string, maxTokens uint64) (LimitCheck, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return LimitCheck{}, closedError("Adapter.CheckLimit: the adapter")
	}
	runtime.LockOSThread()
	r := C.kano_go_check_limit(a.ptr, stringData(text), C.size_t(len(text)), C.uint64_t(maxTokens))
	if r.status != C.KANO_STATUS_OK {
		err := lastError(r.status) // on the thread that failed
		runtime.UnlockOSThread()
		return LimitCheck{}, err
	}
	runtime.UnlockOSThread()
	return LimitCheck{WithinLimit: bool(r.check.within_limit), Tokens: uint64(r.check.tokens), IsExact: bool(r.check.is_exact)}, nil
}
