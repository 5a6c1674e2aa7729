package kano

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counterText is the text of request id: 1 to 13 words, some of them not ASCII. It repeats
// every 104 ids, so the expected counts are computed once.
func counterText(id uint64) string {
	words := []string{"token", "count", "billing", "日本語", "naïve", "42", "request", "emoji 👍"}
	var b strings.Builder
	for i := uint64(0); i < id%13+1; i++ {
		b.WriteString(words[(id+i)%8])
		b.WriteByte(' ')
	}
	return b.String()
}

const counterTextPeriod = 104

func expectedCounts(t testing.TB, a *Adapter) []uint64 {
	t.Helper()
	counts := make([]uint64, counterTextPeriod)
	for id := range counts {
		counts[id] = mustCount(t, a, counterText(uint64(id))).Count
	}
	return counts
}

func mustCounter(t testing.TB, a *Adapter, opts CounterOptions) *Counter {
	t.Helper()
	c, err := a.NewCounter(opts)
	if err != nil {
		t.Fatalf("NewCounter(%+v): %v", opts, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ledger records deliveries: each id must arrive once, with its exact count.
type ledger struct {
	deliveries []atomic.Uint32
	counts     []atomic.Uint64
	bad        atomic.Uint64 // out of range, failed or not exact
}

func newLedger(n int) *ledger {
	return &ledger{deliveries: make([]atomic.Uint32, n), counts: make([]atomic.Uint64, n)}
}

func (l *ledger) record(r CountResult) {
	if r.RequestID >= uint64(len(l.deliveries)) || r.Err != nil || !r.Count.IsExact || r.Count.Method != MethodTiktoken {
		l.bad.Add(1)
		return
	}
	l.deliveries[r.RequestID].Add(1)
	l.counts[r.RequestID].Store(r.Count.Count)
}

// check: ids in accepted (all ids when nil) delivered once with the right count, the others
// never.
func (l *ledger) check(t *testing.T, want []uint64, accepted func(id uint64) bool) (delivered uint64) {
	t.Helper()
	if bad := l.bad.Load(); bad > 0 {
		t.Errorf("%d results failed, were not exact or had an unknown id", bad)
	}
	wrong := 0
	for id := range l.deliveries {
		n := l.deliveries[id].Load()
		delivered += uint64(n)
		expected := uint32(1)
		if accepted != nil && !accepted(uint64(id)) {
			expected = 0
		}
		if n != expected || (n == 1 && l.counts[id].Load() != want[id%counterTextPeriod]) {
			wrong++
			if wrong <= 10 {
				t.Errorf("id %d: delivered %d times (want %d), count %d, want %d", id, n, expected, l.counts[id].Load(), want[id%counterTextPeriod])
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d ids wrong", wrong)
	}
	return delivered
}

func statsConsistent(s CounterStats) bool {
	return s.Submitted == s.Completed+s.Failed+s.Pending
}

// observeStats reads the stats until the counter is closed or stop is closed; every snapshot
// must be consistent and within the capacity. It returns how many were read.
func observeStats(c *Counter, capacity uint64, stop <-chan struct{}, problems chan<- string) (reads int) {
	for {
		select {
		case <-stop:
			return reads
		default:
		}
		s, err := c.Stats()
		if errors.Is(err, ErrClosed) {
			return reads
		}
		if err != nil || !statsConsistent(s) || s.Pending > capacity {
			problems <- fmt.Sprintf("stats %+v, %v", s, err)
			return reads
		}
		reads++
		runtime.Gosched()
	}
}

// 4 producers submit 100,000 requests through a queue of 64, retrying on ErrQueueFull, while a
// goroutine reads the stats: every id is delivered exactly once with the count Count gives.
// With a callback the counter is flushed, then closed; with the Results channel it is closed
// with work pending, while a goroutine drains the channel.
func TestCounterProducers(t *testing.T) {
	const n, capacity = 100000, 64
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	want := expectedCounts(t, a)
	for _, mode := range []string{"callback", "channel"} {
		t.Run(mode, func(t *testing.T) {
			l := newLedger(n)
			opts := CounterOptions{Workers: 2, QueueCapacity: capacity}
			if mode == "callback" {
				opts.Callback = l.record
			}
			c := mustCounter(t, a, opts)
			drained := make(chan struct{})
			if mode == "channel" {
				go func() {
					defer close(drained)
					for r := range c.Results() {
						l.record(r)
					}
				}()
			}
			problems := make(chan string, 8)
			stopObserver, observed := make(chan struct{}), make(chan int, 1)
			go func() { observed <- observeStats(c, capacity, stopObserver, problems) }()

			var full atomic.Uint64
			var wg sync.WaitGroup
			for p := uint64(0); p < 4; p++ {
				wg.Add(1)
				go func(first uint64) {
					defer wg.Done()
					for id := first; id < n; id += 4 {
						text := counterText(id)
						err := c.Submit(id, text)
						for errors.Is(err, ErrQueueFull) {
							full.Add(1)
							runtime.Gosched()
							err = c.Submit(id, text)
						}
						if err != nil {
							problems <- fmt.Sprintf("submit %d: %v", id, err)
							return
						}
					}
				}(p)
			}
			wg.Wait()

			if mode == "callback" {
				if err := c.Flush(10 * time.Minute); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				close(stopObserver)
				s, err := c.Stats()
				if err != nil {
					t.Fatal(err)
				}
				if s.Submitted != n || s.Completed != n || s.Failed != 0 || s.Pending != 0 || s.Rejected != full.Load() {
					t.Errorf("stats after Flush: %+v; %d refusals retried", s, full.Load())
				}
				if s.DriftSamples != n || s.DriftMaxAbsError == 0 || s.DriftMeanAbsError <= 0 ||
					s.DriftMeanRelativeError <= 0 || s.DriftMeanRelativeError >= 1 || s.DriftOverThreshold > n {
					t.Errorf("drift figures: %+v", s)
				}
				t.Logf("%d refusals retried; drift %.1f%% mean, %d tokens max, %d over the threshold",
					full.Load(), 100*s.DriftMeanRelativeError, s.DriftMaxAbsError, s.DriftOverThreshold)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if mode == "channel" {
				<-drained // the channel is closed after the last result
				close(stopObserver)
			}
			if reads := <-observed; reads == 0 {
				t.Errorf("the stats were never read during the run")
			}
			close(problems)
			for p := range problems {
				t.Error(p)
			}
			if delivered := l.check(t, want, nil); delivered != n {
				t.Errorf("%d results delivered, want %d", delivered, n)
			}
			if full.Load() == 0 {
				t.Errorf("the queue of %d was never full: the test does not exercise ErrQueueFull", capacity)
			}
		})
	}
}

// gate holds every delivery of its callback until open is closed.
type gate struct {
	open      chan struct{}
	delivered atomic.Uint64
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) callback(r CountResult) {
	<-g.open
	if r.Err == nil {
		g.delivered.Add(1)
	}
}

// Full by bytes and by requests, Flush timing out and then succeeding, the stats at each step.
func TestCounterQueueFullAndFlush(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	g := newGate()
	c := mustCounter(t, a, CounterOptions{Workers: 1, QueueCapacity: 3, MaxPendingBytes: 1 << 20, Callback: g.callback})
	big := strings.Repeat("wwww ", 120000) // 600,000 bytes: two pass the 1 MiB cap
	if err := c.Submit(1, big); err != nil {
		t.Fatal(err)
	}
	kanoError(t, c.Submit(2, big), ErrQueueFull, "bytes")
	for id, text := range map[uint64]string{3: "a", 4: "b"} {
		if err := c.Submit(id, text); err != nil {
			t.Fatalf("submit %d: %v", id, err)
		}
	}
	kanoError(t, c.SubmitBytes(5, []byte("c")), ErrQueueFull, "3 requests pending")

	start := time.Now()
	kanoError(t, c.Flush(20*time.Millisecond), ErrTimeout, "flush")
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Errorf("Flush(20ms) returned after %v", waited)
	}
	kanoError(t, c.Flush(0), ErrTimeout)
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Submitted != 3 || s.Pending != 3 || s.Rejected != 2 || s.Completed != 0 || !statsConsistent(s) {
		t.Errorf("stats while gated: %+v", s)
	}

	close(g.open)
	if err := c.Flush(time.Minute); err != nil {
		t.Fatalf("Flush after the gate opened: %v", err)
	}
	s, err = c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if g.delivered.Load() != 3 || s.Completed != 3 || s.Pending != 0 || s.DriftSamples != 3 || !statsConsistent(s) {
		t.Errorf("after Flush: %d delivered, stats %+v", g.delivered.Load(), s)
	}
	// Room again, by bytes too.
	if err := c.Submit(6, big); err != nil {
		t.Errorf("after the queue emptied: %v", err)
	}
}

// Invalid UTF-8 is refused at Submit, with the offset, and counted as rejected; a NUL byte is
// text like any other.
func TestCounterInvalidUTF8(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	c := mustCounter(t, a, CounterOptions{Workers: 1})
	kanoError(t, c.Submit(1, "ok \xff"), ErrInvalidUTF8, "offset 3")
	kanoError(t, c.SubmitBytes(2, []byte("\xe6\x97\xa5\xe6\x9c")), ErrInvalidUTF8, "offset 3") // truncated at the end
	if err := c.Submit(3, "abc\x00def"); err != nil {
		t.Fatal(err)
	}
	if err := c.SubmitBytes(4, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(time.Minute); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]uint64{}
	for i := 0; i < 2; i++ {
		r := <-c.Results()
		if r.Err != nil {
			t.Fatalf("%+v", r)
		}
		got[r.RequestID] = r.Count.Count
	}
	if want := mustCount(t, a, "abc\x00def").Count; got[3] != want || got[4] != 0 || len(got) != 2 {
		t.Errorf("results %v, want 3: %d and 4: 0", got, want)
	}
	s, err := c.Stats()
	if err != nil || s.Rejected != 2 || s.Submitted != 2 || s.Completed != 2 || !statsConsistent(s) {
		t.Errorf("stats %+v, %v", s, err)
	}
}

// Close with every request still pending (held by the callback) waits until each is delivered;
// Submit during and after Close is ErrClosed, and so is every other call after it.
func TestCounterCloseDeliversPendingWork(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	g := newGate()
	c := mustCounter(t, a, CounterOptions{Workers: 1, QueueCapacity: 4, Callback: g.callback})
	for id := uint64(0); id < 4; id++ {
		if err := c.Submit(id, counterText(id)); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	// Until Close begins the queue is full; then Submit is refused as closed.
	full := 0
	for {
		err := c.Submit(99, "late")
		if errors.Is(err, ErrClosed) {
			kanoError(t, err, ErrClosed, "Counter.Submit")
			break
		}
		if !errors.Is(err, ErrQueueFull) {
			t.Fatalf("Submit before Close began: %v", err)
		}
		full++
		runtime.Gosched()
	}
	select {
	case <-closed:
		t.Fatal("Close returned before the pending requests were delivered")
	default:
	}
	if n := g.delivered.Load(); n != 0 {
		t.Fatalf("%d delivered through a closed gate", n)
	}
	close(g.open)
	<-closed
	if n := g.delivered.Load(); n != 4 {
		t.Errorf("Close delivered %d of 4 pending requests", n)
	}
	t.Logf("%d submits refused as queue full before Close began", full)

	if err := c.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	kanoError(t, c.Submit(100, "after"), ErrClosed, "Counter.Submit")
	kanoError(t, c.SubmitBytes(101, []byte("after")), ErrClosed)
	kanoError(t, c.Flush(time.Second), ErrClosed, "Counter.Flush")
	_, err := c.Stats()
	kanoError(t, err, ErrClosed, "Counter.Stats")
	if c.Results() != nil {
		t.Errorf("Results() is not nil with a callback")
	}
}

// Nobody drains the Results channel: deliveries wait for room (Submit is refused, Flush times
// out), yet Close returns, and every accepted result can be received afterwards, then the
// channel is closed.
func TestCounterUndrainedChannel(t *testing.T) {
	const capacity = 4
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	want := expectedCounts(t, a)
	c := mustCounter(t, a, CounterOptions{Workers: 2, QueueCapacity: capacity})
	if got := cap(c.Results()); got != capacity {
		t.Fatalf("the Results channel holds %d, want %d", got, capacity)
	}
	// capacity results fit in the channel, capacity more stay pending.
	accepted := uint64(0)
	for accepted < 2*capacity {
		err := c.Submit(accepted, counterText(accepted))
		if err == nil {
			accepted++
			continue
		}
		if !errors.Is(err, ErrQueueFull) {
			t.Fatal(err)
		}
		runtime.Gosched()
	}
	kanoError(t, c.Submit(accepted, "one more"), ErrQueueFull, "requests pending")
	kanoError(t, c.Flush(10*time.Millisecond), ErrTimeout)
	s, err := c.Stats()
	if err != nil || s.Submitted != 2*capacity || s.Pending < capacity || !statsConsistent(s) {
		t.Errorf("stats %+v, %v", s, err)
	}

	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close blocked on an undrained Results channel")
	}
	l := newLedger(int(accepted))
	for r := range c.Results() {
		l.record(r)
	}
	if delivered := l.check(t, want, nil); delivered != accepted {
		t.Errorf("%d results received after Close, want %d", delivered, accepted)
	}
}

// Close from many goroutines while producers submit: Close returns everywhere, every accepted
// request is delivered once, and nothing refused is.
func TestCounterCloseRacesWithSubmit(t *testing.T) {
	const producers, perProducer = 4, 5000
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	want := expectedCounts(t, a)
	for round := 0; round < 5; round++ {
		c, err := a.NewCounter(CounterOptions{Workers: 2, QueueCapacity: 16})
		if err != nil {
			t.Fatal(err)
		}
		l := newLedger(producers * perProducer)
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for r := range c.Results() {
				l.record(r)
			}
		}()
		var accepted sync.Map
		var acceptedCount atomic.Uint64
		started := make(chan struct{})
		var startOnce sync.Once
		var wg sync.WaitGroup
		failures := make(chan error, producers)
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func(first uint64) {
				defer wg.Done()
				for id := first; id < producers*perProducer; id += producers {
					err := c.Submit(id, counterText(id))
					switch {
					case err == nil:
						accepted.Store(id, true)
						acceptedCount.Add(1)
						startOnce.Do(func() { close(started) })
					case errors.Is(err, ErrQueueFull):
						runtime.Gosched()
					case errors.Is(err, ErrClosed):
						return
					default:
						failures <- err
						return
					}
				}
			}(uint64(p))
		}
		<-started
		var closers sync.WaitGroup
		for i := 0; i < 8; i++ {
			closers.Add(1)
			go func() { defer closers.Done(); c.Close() }()
		}
		closers.Wait()
		wg.Wait()
		<-drained
		close(failures)
		for err := range failures {
			t.Fatal(err)
		}
		delivered := l.check(t, want, func(id uint64) bool { _, ok := accepted.Load(id); return ok })
		if delivered != acceptedCount.Load() || delivered == 0 {
			t.Errorf("round %d: %d delivered, %d accepted", round, delivered, acceptedCount.Load())
		}
	}
}

// The callback may submit to its own counter and read its stats.
func TestCounterCallbackSubmits(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	want := expectedCounts(t, a)
	l := newLedger(200)
	var c *Counter
	var ready sync.WaitGroup
	ready.Add(1)
	failures := make(chan error, 200)
	c = mustCounter(t, a, CounterOptions{Workers: 2, Callback: func(r CountResult) {
		ready.Wait() // c is set
		l.record(r)
		if s, err := c.Stats(); err != nil || !statsConsistent(s) {
			failures <- fmt.Errorf("stats in the callback: %+v, %v", s, err)
		}
		if r.RequestID < 100 {
			if err := c.Submit(r.RequestID+100, counterText(r.RequestID+100)); err != nil {
				failures <- err
			}
		}
	}})
	ready.Done()
	for id := uint64(0); id < 100; id++ {
		if err := c.Submit(id, counterText(id)); err != nil {
			t.Fatal(err)
		}
	}
	// The first flush covers the first 100, whose callbacks submitted the other 100 before
	// returning; the second covers those.
	for i := 0; i < 2; i++ {
		if err := c.Flush(time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Stats()
	if err != nil || s.Submitted != 200 || s.Completed != 200 || s.Pending != 0 {
		t.Errorf("stats %+v, %v", s, err)
	}
	c.Close()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	l.check(t, want, nil)
}

// The counter keeps what it counts with: its adapter and registry may be closed first.
func TestCounterOutlivesAdapter(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.Resolve("tiktoken", "gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.NewCounter(CounterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a.Close()
	reg.Close()
	if err := c.Submit(42, sentence); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(time.Minute); err != nil {
		t.Fatal(err)
	}
	r := <-c.Results()
	if r.RequestID != 42 || r.Err != nil || r.Count != (Count{Count: 10, IsExact: true, Method: MethodTiktoken}) {
		t.Errorf("%+v", r)
	}
}

func TestCounterOptionsRefused(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	for _, tc := range []struct {
		opts  CounterOptions
		parts []string
	}{
		{CounterOptions{Workers: 257}, []string{"kano_counter_new", "workers"}},
		{CounterOptions{Workers: -1}, []string{"Workers is -1"}},
		{CounterOptions{QueueCapacity: -5}, []string{"QueueCapacity is -5"}},
		{CounterOptions{QueueCapacity: math.MaxUint32 + 1}, []string{"QueueCapacity"}},
		{CounterOptions{DriftThreshold: -0.5}, []string{"drift_threshold"}},
		{CounterOptions{DriftThreshold: math.NaN()}, []string{"drift_threshold"}},
	} {
		c, err := a.NewCounter(tc.opts)
		if c != nil {
			c.Close()
		}
		kanoError(t, err, ErrInvalidArgument, tc.parts...)
	}
	a.Close()
	_, err := a.NewCounter(CounterOptions{})
	kanoError(t, err, ErrClosed, "Adapter.NewCounter")
}

func TestCountResultOfAFailure(t *testing.T) {
	r := newCountResult(7, StatusAdapterUnavailable, 0, false, 0)
	if r.RequestID != 7 || r.Count != (Count{}) || !errors.Is(r.Err, ErrUnavailable) || !strings.Contains(r.Err.Error(), "request 7") {
		t.Errorf("%+v", r)
	}
	r = newCountResult(8, StatusOK, 12, true, 2)
	if r.Err != nil || r.Count != (Count{Count: 12, IsExact: true, Method: MethodHuggingface}) {
		t.Errorf("%+v", r)
	}
}

func TestFlushTimeoutMillis(t *testing.T) {
	for d, want := range map[time.Duration]uint32{
		-time.Second:                 0,
		0:                            0,
		time.Nanosecond:              1,
		time.Millisecond:             1,
		1500 * time.Microsecond:      2,
		5 * time.Second:              5000,
		1000 * 24 * time.Hour:        math.MaxUint32,
		time.Duration(math.MaxInt64): math.MaxUint32,
	} {
		if got := timeoutMillis(d); got != want {
			t.Errorf("timeoutMillis(%v) = %d, want %d", d, got, want)
		}
	}
}

// The Results channel is buffered to QueueCapacity (0: the library's 1024), at most 65536.
func TestCounterResultsBuffer(t *testing.T) {
	reg := mustRegistry(t)
	a := mustResolve(t, reg, "tiktoken", "gpt-4o")
	for capacity, want := range map[int]int{0: 1024, 1: 1, 5000: 5000, 1 << 20: 1 << 16} {
		c := mustCounter(t, a, CounterOptions{Workers: 1, QueueCapacity: capacity})
		if got := cap(c.Results()); got != want {
			t.Errorf("QueueCapacity %d: a buffer of %d, want %d", capacity, got, want)
		}
		c.Close()
		if _, open := <-c.Results(); open {
			t.Errorf("QueueCapacity %d: the channel is open after Close with nothing submitted", capacity)
		}
	}
}
