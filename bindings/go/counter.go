package kano

// #include <stdint.h>
// #include <kano_tokenizer.h>
//
// /* The Go function that receives every result (counter_export.go). */
// extern void kanoGoCounterDeliver(uintptr_t handle, uint64_t request_id, int status, uint64_t count, int is_exact,
//                                  int method);
//
// /* The KanoCountCallback of every Go counter: user_data is the counter's runtime/cgo.Handle. */
// static void kano_go_counter_callback(void *user_data, uint64_t request_id, KanoStatus status, KanoCount count) {
//     kanoGoCounterDeliver((uintptr_t)user_data, request_id, (int)status, count.count, count.is_exact ? 1 : 0,
//                          (int)count.method);
// }
//
// static KanoStatus kano_go_counter_new(const KanoAdapter *adapter, uint32_t workers, uint32_t queue_capacity,
//                                       uint64_t max_pending_bytes, double drift_threshold, uintptr_t handle,
//                                       KanoCounter **out) {
//     KanoCounterOptions options = { workers, queue_capacity, max_pending_bytes, kano_go_counter_callback,
//                                    (void *)handle, drift_threshold };
//     return kano_counter_new(adapter, &options, out);
// }
//
// typedef struct { KanoStatus status; KanoCounterStats stats; } kano_go_stats_result;
// static kano_go_stats_result kano_go_counter_stats(const KanoCounter *counter) {
//     kano_go_stats_result r = { KANO_STATUS_OK, { 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0, 0 } };
//     r.status = kano_counter_stats(counter, &r.stats);
//     return r;
// }
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// defaultQueueCapacity is the library's queue_capacity when CounterOptions.QueueCapacity is 0;
// it sizes the Results channel. maxResultsBuffer bounds the channel's buffer, which is allocated
// at once.
const (
	defaultQueueCapacity = 1024
	maxResultsBuffer     = 1 << 16
)

// CounterOptions are the settings of a Counter (KanoCounterOptions). Zero fields take the
// library's defaults.
type CounterOptions struct {
	// Workers is the number of worker threads; 0: the available cores, at most 4. At most 256.
	Workers int
	// QueueCapacity is the maximum number of requests pending (queued, being counted, or
	// waiting for their delivery to return); 0: 1024. It is also the buffer of the Results
	// channel (at most 65536).
	QueueCapacity int
	// MaxPendingBytes is the maximum number of text bytes pending; 0: 64 MiB. A larger text is
	// accepted when nothing is pending.
	MaxPendingBytes uint64
	// DriftThreshold: a request counts in CounterStats.DriftOverThreshold when the estimate is
	// off by more than this fraction of the exact count; 0: 0.10; math.Inf(1): never. Negative
	// or NaN is ErrInvalidArgument.
	DriftThreshold float64
	// Callback, if not nil, receives every result, on a worker thread of the library: it may
	// run on several at once, so it must be safe for concurrent use, and it must return (a
	// request counts as delivered, for Flush, Stats and Close, when Callback returns; while it
	// blocks, its worker counts nothing else). It may call Submit and Stats on its own Counter,
	// and any Adapter method; it must not call Close (which waits for Callback to return) and
	// should not call Flush (which would wait for it until the timeout). A panic in it crashes
	// the program, as in any goroutine.
	//
	// If Callback is nil, results go to the Results channel.
	Callback func(CountResult)
}

// CountResult is one result of a Counter (KanoCountResult).
type CountResult struct {
	// RequestID is the id given to Submit.
	RequestID uint64
	// Count is the exact count; the zero Count when Err is not nil.
	Count Count
	// Err is nil, or an *Error whose Status says why the text could not be counted (such as
	// ErrUnavailable for text the tokenizer cannot encode).
	Err error
}

// CounterStats is a consistent snapshot of a Counter (KanoCounterStats):
// Submitted == Completed + Failed + Pending always holds. The drift fields compare the estimate
// (Adapter.Estimate) with the exact count, for every completed request with an exact count.
type CounterStats struct {
	// Submitted is the number of requests accepted.
	Submitted uint64
	// Completed is the number of results delivered with a count.
	Completed uint64
	// Failed is the number of results delivered with an error.
	Failed uint64
	// Rejected is the number of requests refused (queue full, invalid UTF-8, closed); none of
	// them was accepted.
	Rejected uint64
	// Pending is the number of requests accepted and not yet delivered.
	Pending uint64
	// DriftSamples is the number of completed requests compared with their estimate.
	DriftSamples uint64
	// DriftMeanAbsError is the mean of |estimate - exact|, in tokens.
	DriftMeanAbsError float64
	// DriftMeanRelativeError is the mean of |estimate - exact| / exact (samples with an exact
	// count of 0 left out).
	DriftMeanRelativeError float64
	// DriftMaxAbsError is the largest |estimate - exact|, in tokens.
	DriftMaxAbsError uint64
	// DriftOverThreshold is the number of samples whose relative error passed
	// CounterOptions.DriftThreshold.
	DriftOverThreshold uint64
}

// Counter counts texts exactly in the background (KanoCounter): worker threads of the library
// count each submitted text and deliver its result once, to CounterOptions.Callback or to the
// Results channel. Create it with Adapter.NewCounter and Close it when done. It may be used by
// many goroutines at once.
//
// Backpressure: Submit never waits. It refuses with ErrQueueFull when QueueCapacity requests or
// MaxPendingBytes bytes are pending; retry later. A request stays pending until its delivery
// returns, so a slow Callback, or a Results channel nobody drains, holds the workers and
// eventually fills the queue: Submit then returns ErrQueueFull and Flush ErrTimeout. Nothing is
// lost, and Close never waits for the Results channel to be drained (with a Callback it waits
// for the Callback to return).
type Counter struct {
	mu     sync.Mutex
	idle   sync.Cond // signalled when active drops to 0 after Close has begun
	ptr    *C.KanoCounter
	active int  // calls using ptr
	closed bool // Close has begun: no call starts any more
	done   chan struct{}
	handle cgo.Handle // to sink, the callback's user_data; deleted after kano_counter_free
	sink   *sink
}

// sink is where the library's callback delivers results. The cgo.Handle refers to it, not to
// the Counter, so that a Counter the program forgot to Close can still be finalized.
type sink struct {
	callback func(CountResult)
	results  chan CountResult // nil with a callback
	closing  chan struct{}    // closed when Close begins

	mu       sync.Mutex
	overflow []CountResult // results that found the channel full after Close began
}

// NewCounter starts a background counter over the adapter (kano_counter_new). The counter holds
// its own reference to what the adapter counts with: the Adapter (and its Registry) may be
// closed while the Counter lives.
//
// More than 256 Workers, a negative DriftThreshold or NaN, and a negative Workers or
// QueueCapacity are ErrInvalidArgument; ErrIO when a worker thread cannot be started.
func (a *Adapter) NewCounter(opts CounterOptions) (*Counter, error) {
	workers, err := optionUint32("Workers", opts.Workers)
	if err != nil {
		return nil, err
	}
	capacity, err := optionUint32("QueueCapacity", opts.QueueCapacity)
	if err != nil {
		return nil, err
	}
	s := &sink{callback: opts.Callback, closing: make(chan struct{})}
	if s.callback == nil {
		buffer := opts.QueueCapacity
		if buffer == 0 {
			buffer = defaultQueueCapacity
		}
		buffer = min(buffer, maxResultsBuffer)
		s.results = make(chan CountResult, buffer)
	}

	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.ptr == nil {
		return nil, closedError("Adapter.NewCounter: the adapter")
	}
	h := cgo.NewHandle(s)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ptr *C.KanoCounter
	status := C.kano_go_counter_new(a.ptr, C.uint32_t(workers), C.uint32_t(capacity),
		C.uint64_t(opts.MaxPendingBytes), C.double(opts.DriftThreshold), C.uintptr_t(h), &ptr)
	if status != C.KANO_STATUS_OK {
		err := lastError(status)
		h.Delete() // no counter: nothing was delivered, nothing will be
		return nil, err
	}
	c := &Counter{ptr: ptr, done: make(chan struct{}), handle: h, sink: s}
	c.idle.L = &c.mu
	// A counter the program forgot to Close is closed (its requests delivered, its threads
	// joined) when it becomes unreachable.
	runtime.SetFinalizer(c, (*Counter).Close)
	return c, nil
}

func optionUint32(name string, v int) (uint32, error) {
	if v < 0 || uint64(v) > math.MaxUint32 {
		return 0, &Error{Status: StatusInvalidArgument, Message: fmt.Sprintf("Adapter.NewCounter: %s is %d, it must be between 0 and %d", name, v, uint32(math.MaxUint32))}
	}
	return uint32(v), nil
}

// acquire returns the handle for a call, which must call release when done, or ErrClosed once
// Close has begun.
func (c *Counter) acquire(what string) (*C.KanoCounter, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, closedError(what + ": the counter")
	}
	c.active++
	return c.ptr, nil
}

func (c *Counter) release() {
	c.mu.Lock()
	c.active--
	if c.active == 0 && c.closed {
		c.idle.Broadcast()
	}
	c.mu.Unlock()
}

// Submit queues requestID for an exact count of text, which must be UTF-8
// (kano_counter_submit). It never waits for counting. The text is passed to the library without
// a copy; the library copies it before Submit returns.
//
// On nil the request is accepted and yields exactly one result, also if the Counter is closed
// meanwhile. Otherwise it was not accepted (and counts in CounterStats.Rejected):
// ErrQueueFull when QueueCapacity requests are pending or the text would take the pending
// bytes past MaxPendingBytes (retry later), ErrInvalidUTF8 for text that is not UTF-8 (the
// message gives the byte offset), ErrClosed once Close has begun. Ids are not checked for
// uniqueness.
func (c *Counter) Submit(requestID uint64, text string) error {
	return c.submit(requestID, stringData(text), len(text))
}

// SubmitBytes is Submit for UTF-8 in a byte slice, also without a copy on the Go side.
func (c *Counter) SubmitBytes(requestID uint64, text []byte) error {
	var data *C.char
	if len(text) > 0 {
		data = (*C.char)(unsafe.Pointer(&text[0]))
	}
	return c.submit(requestID, data, len(text))
}

func (c *Counter) submit(requestID uint64, data *C.char, n int) error {
	ptr, err := c.acquire("Counter.Submit")
	if err != nil {
		return err
	}
	defer c.release()
	runtime.LockOSThread()
	if status := C.kano_counter_submit(ptr, C.uint64_t(requestID), data, C.size_t(n)); status != C.KANO_STATUS_OK {
		err = lastError(status) // on the thread that failed
	}
	runtime.UnlockOSThread()
	return err
}

// Flush waits up to timeout until every request accepted before the call has been delivered
// (kano_counter_flush): its Callback returned, or its result is in the Results channel. It
// returns nil, or ErrTimeout. Requests submitted during the wait are not waited for. The
// timeout is rounded up to whole milliseconds; zero or negative does not wait. With a Results
// channel, results must be received for more than the channel's buffer to be delivered.
func (c *Counter) Flush(timeout time.Duration) error {
	ms := timeoutMillis(timeout)
	ptr, err := c.acquire("Counter.Flush")
	if err != nil {
		return err
	}
	defer c.release()
	runtime.LockOSThread()
	if status := C.kano_counter_flush(ptr, C.uint32_t(ms)); status != C.KANO_STATUS_OK {
		err = lastError(status)
	}
	runtime.UnlockOSThread()
	return err
}

// timeoutMillis is d in milliseconds, rounded up, within what kano_counter_flush takes.
func timeoutMillis(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	if ms > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(ms)
}

// Stats is a consistent snapshot of the counter's figures (kano_counter_stats). Once Close has
// begun it is ErrClosed.
func (c *Counter) Stats() (CounterStats, error) {
	ptr, err := c.acquire("Counter.Stats")
	if err != nil {
		return CounterStats{}, err
	}
	defer c.release()
	runtime.LockOSThread()
	r := C.kano_go_counter_stats(ptr)
	if r.status != C.KANO_STATUS_OK {
		err := lastError(r.status)
		runtime.UnlockOSThread()
		return CounterStats{}, err
	}
	runtime.UnlockOSThread()
	s := r.stats
	return CounterStats{
		Submitted:              uint64(s.submitted),
		Completed:              uint64(s.completed),
		Failed:                 uint64(s.failed),
		Rejected:               uint64(s.rejected),
		Pending:                uint64(s.pending),
		DriftSamples:           uint64(s.drift_samples),
		DriftMeanAbsError:      float64(s.drift_mean_abs_error),
		DriftMeanRelativeError: float64(s.drift_mean_relative_error),
		DriftMaxAbsError:       uint64(s.drift_max_abs_error),
		DriftOverThreshold:     uint64(s.drift_over_threshold),
	}, nil
}

// Results is the channel that receives every result when CounterOptions.Callback is nil (nil
// otherwise). Its buffer holds QueueCapacity results (0: 1024; at most 65536); a result that
// finds it full stays pending, holding its worker, until there is room (see Counter). After
// Close, every accepted request's result is in it or on its way, and the channel is closed
// after the last one, so `for r := range counter.Results()` ends after Close.
func (c *Counter) Results() <-chan CountResult {
	return c.sink.results
}

// Close stops accepting requests (later calls return ErrClosed), waits for the calls in
// progress, then delivers every accepted request, joins the worker threads and frees the
// counter (kano_counter_free). It is idempotent and safe to call concurrently: every call
// returns once the counter is freed. It always returns nil.
//
// With a Callback, Close returns after the last Callback returned; it must not be called from
// the Callback. With the Results channel, Close does not wait for the channel to be drained:
// results that do not fit in its buffer are kept and handed over by a goroutine as the channel
// is received from, and the channel is closed after the last one.
func (c *Counter) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closed = true
	// Deliveries waiting for room in the Results channel now keep their result aside instead,
	// so that calls in progress (Flush) and kano_counter_free finish.
	close(c.sink.closing)
	for c.active > 0 {
		c.idle.Wait()
	}
	ptr := c.ptr
	c.ptr = nil
	c.mu.Unlock()

	C.kano_counter_free(ptr) // returns once every accepted request has been delivered
	c.handle.Delete()        // no callback runs any more
	c.sink.finish()
	runtime.SetFinalizer(c, nil)
	close(c.done)
	return nil
}

// deliver hands one result to the callback or the channel; it runs on a worker thread.
func (s *sink) deliver(r CountResult) {
	if s.callback != nil {
		s.callback(r)
		return
	}
	select {
	case s.results <- r:
		return
	default:
	}
	// The channel is full: wait for room (backpressure), or for Close.
	select {
	case s.results <- r:
	case <-s.closing:
		s.mu.Lock()
		s.overflow = append(s.overflow, r)
		s.mu.Unlock()
	}
}

// finish closes the Results channel once the results kept aside by deliver are in it; it runs
// after kano_counter_free returned, so no delivery is in progress.
func (s *sink) finish() {
	if s.results == nil {
		return
	}
	s.mu.Lock()
	rest := s.overflow
	s.overflow = nil
	s.mu.Unlock()
send:
	for len(rest) > 0 {
		select {
		case s.results <- rest[0]:
			rest = rest[1:]
		default:
			break send
		}
	}
	if len(rest) == 0 {
		close(s.results)
		return
	}
	go func() {
		for _, r := range rest {
			s.results <- r
		}
		close(s.results)
	}()
}

// newCountResult converts one delivery of the library.
func newCountResult(requestID uint64, status Status, count uint64, isExact bool, method int) CountResult {
	if status != StatusOK {
		return CountResult{
			RequestID: requestID,
			Err:       &Error{Status: status, Message: fmt.Sprintf("Counter: request %d could not be counted", requestID)},
		}
	}
	return CountResult{RequestID: requestID, Count: Count{Count: count, IsExact: isExact, Method: methodName(C.KanoMethod(method))}}
}
