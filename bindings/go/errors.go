package kano

// #include <kano_tokenizer.h>
import "C"

import "fmt"

// Status is a KanoStatus from the C ABI. Values never change meaning; new ones are only
// appended.
type Status int

// The KanoStatus values (include/kano_tokenizer.h documents each).
const (
	StatusOK                 Status = C.KANO_STATUS_OK
	StatusNullPointer        Status = C.KANO_STATUS_NULL_POINTER
	StatusInvalidUTF8        Status = C.KANO_STATUS_INVALID_UTF8
	StatusInvalidArgument    Status = C.KANO_STATUS_INVALID_ARGUMENT
	StatusUnknownAdapter     Status = C.KANO_STATUS_UNKNOWN_ADAPTER
	StatusUnknownModel       Status = C.KANO_STATUS_UNKNOWN_MODEL
	StatusAdapterUnavailable Status = C.KANO_STATUS_ADAPTER_UNAVAILABLE
	StatusConfigError        Status = C.KANO_STATUS_CONFIG_ERROR
	StatusIOError            Status = C.KANO_STATUS_IO_ERROR
	StatusPanic              Status = C.KANO_STATUS_PANIC
	StatusQueueFull          Status = C.KANO_STATUS_QUEUE_FULL
	StatusTimeout            Status = C.KANO_STATUS_TIMEOUT
	StatusClosed             Status = C.KANO_STATUS_CLOSED
	StatusInputTooLarge      Status = C.KANO_STATUS_INPUT_TOO_LARGE
	StatusBatchPartial       Status = C.KANO_STATUS_BATCH_PARTIAL
	StatusUnsupported        Status = C.KANO_STATUS_UNSUPPORTED
)

// String is the library's short description of the status (kano_status_str), such as
// "unknown model".
func (s Status) String() string {
	if s < StatusOK || s > StatusUnsupported {
		// kano_status_str would say "unknown status"; the number says more.
		return fmt.Sprintf("status %d", int(s))
	}
	return C.GoString(C.kano_status_str(C.uint32_t(s)))
}

// Error is a failure reported by the library: the status and the message of
// kano_last_error(), which names the function and what failed (the unknown model, the missing
// path, the byte offset of invalid UTF-8...).
//
// Compare with errors.Is against the Err* sentinels, which match any Error with the same
// Status:
//
//	if errors.Is(err, kano.ErrUnknownModel) { ... }
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "kano: " + e.Status.String()
	}
	return "kano: " + e.Status.String() + ": " + e.Message
}

// Is reports whether target is an *Error with the same Status and either no Message (the
// sentinels) or the same Message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && (t.Message == "" || t.Message == e.Message)
}

// Sentinels for errors.Is, one per status.
var (
	ErrNullPointer     = &Error{Status: StatusNullPointer}
	ErrInvalidUTF8     = &Error{Status: StatusInvalidUTF8}
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrUnknownAdapter  = &Error{Status: StatusUnknownAdapter}
	ErrUnknownModel    = &Error{Status: StatusUnknownModel}
	ErrUnavailable     = &Error{Status: StatusAdapterUnavailable}
	ErrConfig          = &Error{Status: StatusConfigError}
	ErrIO              = &Error{Status: StatusIOError}
	ErrPanic           = &Error{Status: StatusPanic}
	// ErrQueueFull: Counter.Submit refused a request because QueueCapacity requests or
	// MaxPendingBytes bytes are pending; retry later.
	ErrQueueFull = &Error{Status: StatusQueueFull}
	// ErrTimeout: Counter.Flush returned before every earlier request was delivered.
	ErrTimeout = &Error{Status: StatusTimeout}
	// ErrClosed: the handle was closed (Registry.Close, Adapter.Close, Counter.Close) and takes
	// no more calls.
	ErrClosed = &Error{Status: StatusClosed}
	// ErrInputTooLarge: the text is longer than the registry's max_input_bytes
	// (KANO_TOKENIZER_MAX_INPUT_BYTES; 64 MiB by default).
	ErrInputTooLarge = &Error{Status: StatusInputTooLarge}
	// ErrBatchPartial: Adapter.CountBatch counted the batch but some texts failed; the error
	// is a *BatchError that says which.
	ErrBatchPartial = &Error{Status: StatusBatchPartial}
	// ErrUnsupported: the adapter cannot do what was asked (Adapter.CountChat with a
	// tokenizer.json model that has no chat template beside it).
	ErrUnsupported = &Error{Status: StatusUnsupported}
)

// lastError builds the Error of a failed call. The caller must still be on the OS thread that
// made the call (runtime.LockOSThread): the message is thread-local.
func lastError(status C.KanoStatus) error {
	return &Error{Status: Status(status), Message: C.GoString(C.kano_last_error())}
}

func closedError(what string) error {
	return &Error{Status: StatusClosed, Message: what + " is closed"}
}
