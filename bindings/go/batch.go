package kano

// #include <kano_tokenizer.h>
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// BatchError is the error of a CountBatch call in which some texts failed: Errs[i] is text i's
// error (a *Error: ErrInvalidUTF8, ErrInputTooLarge...) or nil when it was counted. The first
// failure's message is the library's (kano_last_error: the byte offset of invalid UTF-8, the
// limit...); the others carry their status and index.
//
// errors.Is(err, ErrInvalidUTF8) reports whether any text failed that way, and
// errors.Is(err, ErrBatchPartial) whether the error is a BatchError at all.
type BatchError struct {
	// Failed is the number of texts that failed.
	Failed int
	// Errs has one entry per text: nil for a counted text.
	Errs []error
	// Message is the library's summary: how many failed, and the first failure.
	Message string
}

func (e *BatchError) Error() string {
	return "kano: " + StatusBatchPartial.String() + ": " + e.Message
}

// Unwrap returns every text's error (for errors.Is and errors.As), and ErrBatchPartial.
func (e *BatchError) Unwrap() []error {
	errs := []error{ErrBatchPartial}
	for _, err := range e.Errs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// CountBatch counts the tokens of every text in one call (kano_adapter_count_batch):
// counts[i] is text i's count, as Count would give it. Large batches (64 KiB of text or more)
// are counted on several threads of the library (the config's batch_threads, by default the
// cores, at most 8), small ones on the calling thread. The texts are passed without a copy.
//
// When some texts fail, the others are still counted: counts has an entry for every text (0
// for a failed one) and err is a *BatchError. Any other error (ErrClosed) means nothing was
// counted and counts is nil. Whether counts are exact is the adapter's, the same for all.
func (a *Adapter) CountBatch(texts []string) (counts []uint64, err error) {
	n := len(texts)
	counts = make([]uint64, n)
	if n == 0 {
		// Still checks that the adapter is open, like any call.
		a.mu.RLock()
		defer a.mu.RUnlock()
		if a.ptr == nil {
			return nil, closedError("Adapter.CountBatch: the adapter")
		}
		return counts, nil
	}
	// The library reads the texts through an array of pointers, so the texts' bytes are pinned
	// for the call (a Go pointer stored in memory passed to C must be pinned).
	var pinner runtime.Pinner
	defer pinner.Unpin()
	ptrs := make([]*C.char, n)
	lens := make([]C.size_t, n)
	for i, text := range texts {
		if len(text) > 0 {
			data := unsafe.StringData(text)
			pinner.Pin(data)
			ptrs[i] = (*C.char)(unsafe.Pointer(data))
			lens[i] = C.size_t(len(text))
		}
	}
	statuses := make([]C.KanoStatus, n)

	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return nil, closedError("Adapter.CountBatch: the adapter")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	status := C.kano_adapter_count_batch(a.ptr, &ptrs[0], &lens[0], C.size_t(n),
		(*C.uint64_t)(unsafe.Pointer(&counts[0])), &statuses[0])
	switch status {
	case C.KANO_STATUS_OK:
		return counts, nil
	case C.KANO_STATUS_BATCH_PARTIAL:
		message := C.GoString(C.kano_last_error()) // on the thread that made the call
		batch := &BatchError{Errs: make([]error, n), Message: message}
		for i, s := range statuses {
			if s != C.KANO_STATUS_OK {
				if batch.Failed == 0 {
					batch.Errs[i] = &Error{Status: Status(s), Message: message}
				} else {
					batch.Errs[i] = &Error{Status: Status(s), Message: fmt.Sprintf("kano_adapter_count_batch: text %d: %s", i, Status(s))}
				}
				batch.Failed++
			}
		}
		return counts, batch
	default:
		return nil, lastError(status)
	}
}
