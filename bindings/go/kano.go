// Package kano counts LLM tokens with kano-tokenizer, through its C ABI
// (include/kano_tokenizer.h): tiktoken encodings and tokenizer.json files counted exactly, and
// a fast heuristic estimate.
//
//	reg, err := kano.NewRegistry()          // defaults + KANO_TOKENIZER_* variables
//	if err != nil { ... }
//	defer reg.Close()
//	ad, err := reg.Resolve("tiktoken", "gpt-4o")
//	if err != nil { ... }                   // errors.Is(err, kano.ErrUnknownModel)...
//	defer ad.Close()
//	c, err := ad.Count("Hello, world!")     // c.Count == 4, c.IsExact, c.Method == "tiktoken"
//	e, err := ad.Estimate(text)             // e.LowerBound <= exact count <= e.UpperBound
//	l, err := ad.CheckLimit(text, 4096)     // l.WithinLimit, from the bounds when they settle it
//	t, err := ad.Truncate(text, 1000)       // text[:t.ByteLen] has t.Count <= 1000 tokens
//	cs, err := ad.Split(text, 512, 64)      // []Chunk{Start, End, Count, Text...}, byte offsets
//	cc, err := ad.CountChat(requestJSON)    // cc.Total, cc.Messages, cc.IsExact, cc.Reasons
//
// Exact counts in the background: Adapter.NewCounter starts a Counter, whose worker threads
// count submitted texts and deliver each result once, to a callback or to a channel (see
// Counter).
//
// The package is a thin layer over the C ABI and adds no behaviour of its own: a Registry, an
// Adapter and a Counter own one C handle each, and every method is one C call (a Counter adds
// only the hand-over of its results to a Go callback or channel). All three are safe for
// concurrent use: many goroutines may resolve from one Registry and count with one Adapter at
// once (counting takes no lock in the library). Close frees the handle; it is idempotent, safe
// to call concurrently, and waits for calls in progress on that handle. An Adapter stays usable
// after its Registry is closed, and a Counter after its Adapter is closed.
//
// Linking (cgo): by default the package uses ../../include and ../../target/release of this
// repository; build the library first with `make build`. `-tags kano_pkgconfig` uses an
// installed library through `pkg-config kano_tokenizer` instead, and `-tags kano_static` links
// target/release/libkano_tokenizer.a into the program.
package kano

// #include <stdlib.h>
// #include <kano_tokenizer.h>
//
// /* kano_adapter_count with the count returned by value: a Go variable passed to C by address
//    would escape to the heap, one allocation per call. */
// typedef struct { KanoStatus status; KanoCount count; } kano_go_count_result;
// static kano_go_count_result kano_go_count(const KanoAdapter *adapter, const char *text, size_t len) {
//     kano_go_count_result r = { KANO_STATUS_OK, { 0, false, KANO_METHOD_HEURISTIC } };
//     r.status = kano_adapter_count(adapter, text, len, &r.count);
//     return r;
// }
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Version is the library version, "MAJOR.MINOR.PATCH" (kano_version).
func Version() string {
	return C.GoString(C.kano_version())
}

// The values of Count.Method.
const (
	MethodHeuristic   = "heuristic"
	MethodTiktoken    = "tiktoken"
	MethodHuggingface = "huggingface"
)

// Count is a token count (KanoCount).
type Count struct {
	// Count is the number of tokens.
	Count uint64
	// IsExact is true when Count is exact for the resolved encoding or tokenizer, false for
	// estimates.
	IsExact bool
	// Method is the adapter that counted (for "auto", the one that served): MethodHeuristic,
	// MethodTiktoken or MethodHuggingface.
	Method string
}

func methodName(m C.KanoMethod) string {
	switch m {
	case C.KANO_METHOD_HEURISTIC:
		return MethodHeuristic
	case C.KANO_METHOD_TIKTOKEN:
		return MethodTiktoken
	case C.KANO_METHOD_HUGGINGFACE:
		return MethodHuggingface
	}
	return "unknown"
}

// Registry is the effective configuration plus every encoding and tokenizer loaded so far
// (KanoRegistry). Create it with NewRegistry, NewRegistryFromConfig or NewRegistryFromTOML and
// Close it when done resolving.
type Registry struct {
	mu  sync.RWMutex // read-held by calls, write-held by Close
	ptr *C.KanoRegistry
}

// NewRegistry creates a registry from the defaults, the file named by KANO_TOKENIZER_CONFIG (if
// set) and the other KANO_TOKENIZER_* environment variables (kano_registry_new).
func NewRegistry() (*Registry, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ptr *C.KanoRegistry
	if status := C.kano_registry_new(&ptr); status != C.KANO_STATUS_OK {
		return nil, lastError(status)
	}
	return newRegistry(ptr), nil
}

// NewRegistryFromConfig creates a registry from a TOML config file, with the KANO_TOKENIZER_*
// environment variables taking precedence (kano_registry_from_config). Relative paths in the
// file resolve against the file's folder.
func NewRegistryFromConfig(path string) (*Registry, error) {
	cpath, err := cName("NewRegistryFromConfig: the path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ptr *C.KanoRegistry
	if status := C.kano_registry_from_config(cpath, &ptr); status != C.KANO_STATUS_OK {
		return nil, lastError(status)
	}
	return newRegistry(ptr), nil
}

// NewRegistryFromTOML creates a registry from TOML text, with the KANO_TOKENIZER_* environment
// variables taking precedence (kano_registry_from_toml). Relative paths in it resolve against
// the working directory.
func NewRegistryFromTOML(toml string) (*Registry, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ptr *C.KanoRegistry
	status := C.kano_registry_from_toml(stringData(toml), C.size_t(len(toml)), &ptr)
	if status != C.KANO_STATUS_OK {
		return nil, lastError(status)
	}
	return newRegistry(ptr), nil
}

func newRegistry(ptr *C.KanoRegistry) *Registry {
	r := &Registry{ptr: ptr}
	// A registry the program forgot to Close is freed when it becomes unreachable.
	runtime.SetFinalizer(r, (*Registry).Close)
	return r
}

// Resolve returns an adapter for a model (kano_registry_resolve). adapter is "auto",
// "heuristic", "tiktoken" or "huggingface"; model is an OpenAI model or encoding name, a
// tokenizer.json path or folder, a name from the config, or a Hugging Face repository in the
// local cache. An empty adapter or model means the configured one. Nothing is ever downloaded.
//
// The adapter is independent of the registry: Close both.
func (r *Registry) Resolve(adapter, model string) (*Adapter, error) {
	cadapter, err := cName("Registry.Resolve: the adapter name", adapter)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cadapter))
	cmodel, err := cName("Registry.Resolve: the model name", model)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cmodel))

	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.ptr == nil {
		return nil, closedError("Registry.Resolve: the registry")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ptr *C.KanoAdapter
	if status := C.kano_registry_resolve(r.ptr, cadapter, cmodel, &ptr); status != C.KANO_STATUS_OK {
		return nil, lastError(status)
	}
	a := &Adapter{
		ptr: ptr,
		// Copied once: the C strings live as long as the handle, these as long as the Adapter.
		name:  C.GoString(C.kano_adapter_name(ptr)),
		model: C.GoString(C.kano_adapter_model(ptr)),
	}
	if reason := C.kano_adapter_fallback_reason(ptr); reason != nil {
		a.fallbackReason = C.GoString(reason)
	}
	runtime.SetFinalizer(a, (*Adapter).Close)
	return a, nil
}

// Close frees the registry (kano_registry_free). It is idempotent, safe to call concurrently,
// and waits for Resolve calls in progress. Adapters resolved from it stay usable. It always
// returns nil.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr != nil {
		C.kano_registry_free(r.ptr)
		r.ptr = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

// Adapter is a resolved adapter for one model (KanoAdapter). It may be used by many goroutines
// at once.
type Adapter struct {
	mu             sync.RWMutex // read-held by Count, write-held by Close
	ptr            *C.KanoAdapter
	name, model    string
	fallbackReason string
}

// Name is the adapter's name: "heuristic", "tiktoken" or "huggingface" (for "auto", the one
// that served).
func (a *Adapter) Name() string { return a.name }

// Model is what the adapter resolved to: the encoding ("cl100k_base"), the tokenizer (a file
// path or "embedded:sentence-transformers/all-MiniLM-L6-v2"), or for the heuristic the model
// asked for.
func (a *Adapter) Model() string { return a.model }

// FallbackReason says why "auto" passed over the adapters of the fallback chain before the one
// that serves: "adapter: why" for each, joined by "; " (a tokenizer.json that does not load, a
// model no encoding knows). It is "" when the first adapter of the chain served or the adapter
// was asked for by name.
func (a *Adapter) FallbackReason() string { return a.fallbackReason }

// Count counts the tokens of text, which must be UTF-8 (kano_adapter_count). The text is passed
// to the library without a copy. Invalid UTF-8 is ErrInvalidUTF8, and the message gives the
// byte offset of the first bad byte.
func (a *Adapter) Count(text string) (Count, error) {
	return a.count(stringData(text), len(text))
}

// CountBytes is Count for UTF-8 in a byte slice, also without a copy.
func (a *Adapter) CountBytes(text []byte) (Count, error) {
	var data *C.char
	if len(text) > 0 {
		data = (*C.char)(unsafe.Pointer(&text[0]))
	}
	return a.count(data, len(text))
}

func (a *Adapter) count(data *C.char, n int) (Count, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return Count{}, closedError("Adapter.Count: the adapter")
	}
	runtime.LockOSThread()
	r := C.kano_go_count(a.ptr, data, C.size_t(n))
	if r.status != C.KANO_STATUS_OK {
		err := lastError(r.status) // on the thread that failed
		runtime.UnlockOSThread()
		return Count{}, err
	}
	runtime.UnlockOSThread()
	return Count{Count: uint64(r.count.count), IsExact: bool(r.count.is_exact), Method: methodName(r.count.method)}, nil
}

// Close frees the adapter (kano_adapter_free). It is idempotent, safe to call concurrently, and
// waits for Count calls in progress; later calls return ErrClosed. It always returns nil.
func (a *Adapter) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ptr != nil {
		C.kano_adapter_free(a.ptr)
		a.ptr = nil
		runtime.SetFinalizer(a, nil)
	}
	return nil
}

// stringData is the text's bytes as a C pointer, without a copy; NULL for the empty string.
// The library reads them only during the call and keeps no pointer to them.
func stringData(s string) *C.char {
	if len(s) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}

// cName is a NUL-terminated copy of a name or path for the library, to be freed with C.free
// (a no-op on NULL): NULL for "", which the library reads as "the configured one". A NUL byte
// inside would cut the name short, so it is ErrInvalidArgument.
func cName(what, s string) (*C.char, error) {
	if s == "" {
		return nil, nil
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("%s %q contains a NUL byte at offset %d", what, s, i)}
	}
	return C.CString(s), nil
}
