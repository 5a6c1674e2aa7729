package kano

// The callback of every Go counter. A file with //export may only declare in its preamble, so
// the C side of the callback is in counter.go.

// #include <stdint.h>
// #include <kano_tokenizer.h>
import "C"

import "runtime/cgo"

// kanoGoCounterDeliver receives one result from kano_go_counter_callback, on a worker thread of
// the library. handle is the counter's cgo.Handle, valid until kano_counter_free returned.
//
//export kanoGoCounterDeliver
func kanoGoCounterDeliver(handle C.uintptr_t, requestID C.uint64_t, status C.int, count C.uint64_t, isExact C.int, method C.int) {
	s := cgo.Handle(handle).Value().(*sink)
	s.deliver(newCountResult(uint64(requestID), Status(status), uint64(count), isExact != 0, int(method)))
}
