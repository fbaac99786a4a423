package simengine

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// gen is the state of one accepted completion request. It is pooled and
// holds the buffers every event is built in, so that a stream allocates
// nothing per token.
type gen struct {
	e   *Engine
	w   http.ResponseWriter
	rc  *http.ResponseController
	ctx context.Context

	chat, stream bool
	usageNull    bool // "usage": null on every chunk (usage_chunk mode with include_usage)
	usageChunk   bool // a final chunk with empty choices and the usage (usage_chunk mode with include_usage)
	usageOnFinal bool // real usage on the chunk with finish_reason (final_chunk, zeros_then_final)
	usageZeros   bool // all-zero usage on every other chunk (zeros_then_final)

	seq        uint64
	created    int64 // unix seconds of arrival
	receivedNS int64 // unix nanoseconds of arrival, for x_sim
	prompt     int   // prompt tokens
	n          int   // output tokens to generate
	sent       int   // output tokens generated so far

	rng    rand.PCG
	prefix []byte // `data: {"id":...,"choices":[`, the part every chunk of the request shares
	buf    []byte // the event or body being built
	waiter waiter
}

var genPool = sync.Pool{New: func() any {
	return &gen{prefix: make([]byte, 0, 192), buf: make([]byte, 0, 512), waiter: newWaiter()}
}}

// splitmix64 spreads consecutive request numbers over the PCG seed space.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// float returns a uniform float64 in [0, 1).
func (g *gen) float() float64 { return float64(g.rng.Uint64()>>11) / (1 << 53) }

// jit applies Options.Jitter to one delay. It draws from the request's
// generator only for a non-zero delay with jitter on, so an exact engine
// does no random draws per token.
func (g *gen) jit(d time.Duration) time.Duration {
	j := g.e.opts.Jitter
	if d <= 0 || j == 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + j*(2*g.float()-1)))
}

// tokenDelay is the time from one token's deadline to the next:
// TPOT * (1 + DecodeGrowth*(active-1)), active counted now, then jittered.
func (g *gen) tokenDelay() time.Duration {
	d := g.e.opts.TPOT
	if d == 0 {
		return 0
	}
	if growth := g.e.opts.DecodeGrowth; growth != 0 {
		active := g.e.decoding.Load()
		d = time.Duration(float64(d) * (1 + growth*float64(active-1)))
	}
	return g.jit(d)
}

// serveCompletion handles POST /v1/chat/completions (chat) and
// POST /v1/completions.
func (e *Engine) serveCompletion(w http.ResponseWriter, r *http.Request, chat bool) {
	// Arrival is taken first: every deadline of the request counts from it,
	// so reading and parsing the body eat into the TTFT rather than add to it.
	arrival := time.Now()
	e.requests.Add(1)
	if r.Method != http.MethodPost {
		e.rejected.Add(1)
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", nil, "method "+r.Method+" not allowed on "+r.URL.Path)
		return
	}
	p, rerr := e.parseRequest(w, r, chat)
	if rerr != nil {
		e.rejected.Add(1)
		var code any
		if rerr.code != "" {
			code = rerr.code
		}
		writeError(w, rerr.status, rerr.typ, rerr.param, code, rerr.msg)
		return
	}
	e.inFlight.Add(1)
	defer e.inFlight.Add(-1)

	g := genPool.Get().(*gen)
	defer func() {
		g.w, g.rc, g.ctx, g.e = nil, nil, nil, nil
		if cap(g.buf) > 64<<10 {
			// A large non-streaming body; do not keep it alive in the pool.
			g.buf = make([]byte, 0, 512)
		}
		genPool.Put(g)
	}()
	g.e, g.w, g.ctx = e, w, r.Context()
	g.chat, g.stream = chat, p.stream
	g.seq = e.seq.Add(1) - 1
	g.created = arrival.Unix()
	g.receivedNS = arrival.UnixNano()
	g.prompt = p.promptTokens
	g.n = p.maxTokens
	if g.n == 0 {
		g.n = e.opts.OutputTokens
	}
	g.sent = 0
	g.usageNull = e.opts.Usage == UsageChunk && p.includeUsage
	g.usageChunk = g.usageNull
	g.usageOnFinal = e.opts.Usage == UsageFinalChunk || e.opts.Usage == UsageZerosThenFinal
	g.usageZeros = e.opts.Usage == UsageZerosThenFinal
	g.rng.Seed(e.opts.Seed, splitmix64(g.seq))

	// The failure plan. The three draws are made for every request, failing
	// or not, so that request k sees the same draws whatever the options
	// that decide whether it fails.
	failKind, failAt := -1, -1
	u, kindDraw, atDraw := g.float(), g.rng.Uint64(), g.rng.Uint64()
	if u < e.opts.ErrorRate {
		failKind = errorKindIndex(e.kinds[kindDraw%uint64(len(e.kinds))])
		failAt = int(atDraw % uint64(g.n))
	}
	if failKind >= 0 && errorKinds[failKind] == ErrorHTTP500 {
		e.errCount[failKind].Add(1)
		writeError(w, http.StatusInternalServerError, "server_error", "", http.StatusInternalServerError, "simulated internal server error (error injection)")
		return
	}

	if g.stream {
		g.rc = http.NewResponseController(w)
		h := w.Header()
		h["Content-Type"] = hdrEventStream
		h["Cache-Control"] = hdrNoCache
		w.WriteHeader(http.StatusOK)
		// Headers go out at once, as a real server's would, whenever the
		// first event may be a while coming; with no delays at all they
		// travel with the first event and save a write.
		if e.opts.TTFT > 0 || e.opts.PrefillPerToken > 0 || e.slots != nil {
			if g.rc.Flush() != nil {
				e.canceled.Add(1)
				return
			}
		}
		g.buildPrefix()
	}

	admitted := arrival
	holding := false // a batch slot is held and must be given back
	if e.slots != nil {
		select {
		case e.slots <- struct{}{}:
		default:
			e.queued.Add(1)
			select {
			case e.slots <- struct{}{}:
				e.queued.Add(-1)
			case <-g.ctx.Done():
				e.queued.Add(-1)
				e.canceled.Add(1)
				return
			}
			admitted = time.Now()
		}
		holding = true
		defer func() {
			if holding {
				<-e.slots
			}
		}()
	}

	decoding := false
	defer func() {
		if decoding {
			e.decoding.Add(-1)
		}
	}()
	next := e.clock.mono(admitted)
	delta := g.jit(e.opts.TTFT + e.opts.PrefillPerToken*time.Duration(g.prompt))
	next += int64(delta)
	for i := 0; i < g.n; i++ {
		// A zero delay leaves the deadline where it was, and that deadline
		// has been reached already: no clock read, no wait.
		if delta > 0 && !e.clock.sleepUntil(g.ctx, &g.waiter, next) {
			e.canceled.Add(1)
			return
		}
		if i == failAt {
			e.errCount[failKind].Add(1)
			g.fail(errorKinds[failKind])
			return
		}
		if i == 0 && g.stream && g.chat && e.opts.RoleChunk {
			// As vLLM does: the role-only chunk goes out when the first
			// token is ready (after prefill), just before it, and with it.
			g.buf = g.appendChunk(g.buf[:0], chunkRole, 0)
			if g.write() != nil {
				e.canceled.Add(1)
				return
			}
		}
		if g.stream {
			kind := chunkToken
			if i == g.n-1 {
				kind = chunkFinal
			}
			g.buf = g.appendChunk(g.buf[:0], kind, i)
			send := g.emit
			if e.opts.TPOT == 0 && i < g.n-1 {
				send = g.write // the next token is due now: flush it with that one
			}
			if send() != nil {
				e.canceled.Add(1)
				return
			}
		}
		g.sent++
		e.tokens.Add(1)
		if i == 0 {
			e.decoding.Add(1)
			decoding = true
		}
		if i+1 < g.n {
			delta = g.tokenDelay()
			next += int64(delta)
		}
	}
	// The generation is over: leave the batch before writing the trailer
	// (or building a non-streaming body), so that a queued request is
	// admitted at the time of the last token.
	if decoding {
		e.decoding.Add(-1)
		decoding = false
	}
	if holding {
		<-e.slots
		holding = false
	}

	if !g.stream {
		g.buf = g.appendBody(g.buf[:0])
		h := w.Header()
		h["Content-Type"] = hdrJSON
		h["Content-Length"] = []string{strconv.Itoa(len(g.buf))}
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(g.buf); err != nil {
			e.canceled.Add(1)
			return
		}
		e.completed.Add(1)
		return
	}
	if g.usageChunk {
		g.buf = g.appendChunk(g.buf[:0], chunkUsage, 0)
		if g.emit() != nil {
			e.canceled.Add(1)
			return
		}
	}
	g.buf = append(g.buf[:0], doneEvent...)
	if g.emit() != nil {
		e.canceled.Add(1)
		return
	}
	e.completed.Add(1)
}

const doneEvent = "data: [DONE]\n\n"

// emit writes g.buf to the client and flushes it.
func (g *gen) emit() error {
	if _, err := g.w.Write(g.buf); err != nil {
		return err
	}
	return g.rc.Flush()
}

// write writes g.buf without flushing: for events immediately followed by
// another, which the flush after that one carries too. A flush is a system
// call; with zero delays there is nothing to stream between events.
func (g *gen) write() error {
	_, err := g.w.Write(g.buf)
	return err
}

// fail carries out an injected failure at the point where token g.sent
// would have been sent.
func (g *gen) fail(kind string) {
	e := g.e
	switch kind {
	case ErrorPayload:
		if !g.stream {
			g.buf = g.appendErrorObject(g.buf[:0])
			h := g.w.Header()
			h["Content-Type"] = hdrJSON
			g.w.WriteHeader(http.StatusOK)
			_, _ = g.w.Write(g.buf)
			return
		}
		g.buf = g.appendErrorObject(append(g.buf[:0], "data: "...))
		g.buf = append(g.buf, "\n\n"...)
		if g.emit() != nil {
			e.canceled.Add(1)
			return
		}
		// vLLM ends an errored stream with [DONE] too: a client that takes
		// [DONE] as success miscounts this request.
		g.buf = append(g.buf[:0], doneEvent...)
		_ = g.emit()
	case ErrorTruncate:
		if !g.stream {
			// Promise the whole body, deliver half of it.
			g.sent = g.n
			g.buf = g.appendBody(g.buf[:0])
			h := g.w.Header()
			h["Content-Type"] = hdrJSON
			h["Content-Length"] = []string{strconv.Itoa(len(g.buf))}
			g.w.WriteHeader(http.StatusOK)
			_, _ = g.w.Write(g.buf[:len(g.buf)/2])
			_ = http.NewResponseController(g.w).Flush()
		} else {
			// Make sure the 200 and the events so far are on the wire, so
			// that the client sees a stream cut short rather than no
			// response at all.
			_ = g.rc.Flush()
		}
		// ErrAbortHandler makes net/http drop the connection without
		// finishing the response: no terminating chunk, no [DONE]. The
		// deferred clean-up of serveCompletion runs on the way out.
		panic(http.ErrAbortHandler)
	case ErrorStall:
		if g.stream {
			_ = g.rc.Flush() // the client has its 200 and waits for tokens
		}
		stop, _ := g.ctx.Value(stopKey{}).(chan struct{})
		select {
		case <-g.ctx.Done():
			e.canceled.Add(1)
		case <-stop: // nil outside Serve: never ready
			e.canceled.Add(1)
			panic(http.ErrAbortHandler)
		}
	}
}

type chunkKind uint8

const (
	chunkRole  chunkKind = iota // {"delta":{"role":"assistant"}}
	chunkToken                  // token i, finish_reason null
	chunkFinal                  // the last token, finish_reason "length"
	chunkUsage                  // "choices": [] and the usage
)

// buildPrefix builds the part of a streamed chunk that does not change
// within a request.
func (g *gen) buildPrefix() {
	b := append(g.prefix[:0], "data: "...)
	b = g.appendHead(b, "chat.completion.chunk")
	g.prefix = append(b, `,"choices":[`...)
}

// appendHead appends the opening members that a response and each of its
// chunks share: {"id":...,"object":...,"created":...,"model":... . The object
// is chatObject for the chat API and "text_completion" for completions.
func (g *gen) appendHead(b []byte, chatObject string) []byte {
	if g.chat {
		b = append(b, `{"id":"chatcmpl-sim-`...)
	} else {
		b = append(b, `{"id":"cmpl-sim-`...)
		chatObject = "text_completion"
	}
	b = strconv.AppendUint(b, g.seq, 10)
	b = append(b, `","object":"`...)
	b = append(b, chatObject...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, g.created, 10)
	b = append(b, `,"model":`...)
	return append(b, g.e.modelJSON...)
}

// appendChunk appends one SSE data event.
func (g *gen) appendChunk(b []byte, kind chunkKind, i int) []byte {
	b = append(b, g.prefix...)
	switch kind {
	case chunkRole:
		b = append(b, `{"index":0,"delta":{"role":"assistant"},"logprobs":null,"finish_reason":null}]`...)
	case chunkToken, chunkFinal:
		if g.chat {
			b = append(b, `{"index":0,"delta":{"content":" tok`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `"},"logprobs":null,"finish_reason":`...)
		} else {
			b = append(b, `{"index":0,"text":" tok`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `","logprobs":null,"finish_reason":`...)
		}
		if kind == chunkFinal {
			b = append(b, `"length"}]`...)
		} else {
			b = append(b, `null}]`...)
		}
	case chunkUsage:
		b = append(b, ']')
	}
	switch {
	case kind == chunkUsage:
		b = append(b, `,"usage":`...)
		b = appendUsage(b, g.prompt, g.sent)
	case kind == chunkFinal && g.usageOnFinal:
		b = append(b, `,"usage":`...)
		b = appendUsage(b, g.prompt, i+1)
	case g.usageZeros:
		b = append(b, `,"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}`...)
	case g.usageNull:
		b = append(b, `,"usage":null`...)
	}
	b = g.appendXSim(b)
	return append(b, "}\n\n"...)
}

// appendXSim appends the ground-truth field when enabled. sent_ns is read
// here, the last thing before the event is complete and written.
func (g *gen) appendXSim(b []byte) []byte {
	if !g.e.opts.GroundTruth {
		return b
	}
	b = append(b, `,"x_sim":{"received_ns":`...)
	b = strconv.AppendInt(b, g.receivedNS, 10)
	b = append(b, `,"sent_ns":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	return append(b, '}')
}

// appendErrorObject appends {"error":{...}} (with x_sim when enabled).
func (g *gen) appendErrorObject(b []byte) []byte {
	b = append(b, `{"error":{"message":"simulated error payload after `...)
	b = strconv.AppendInt(b, int64(g.sent), 10)
	b = append(b, ` tokens (error injection)","type":"server_error","param":null,"code":500}`...)
	b = g.appendXSim(b)
	return append(b, '}')
}

// appendBody appends the non-streaming response for g.sent tokens.
func (g *gen) appendBody(b []byte) []byte {
	b = g.appendHead(b, "chat.completion")
	if g.chat {
		b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":"`...)
	} else {
		b = append(b, `,"choices":[{"index":0,"text":"`...)
	}
	for i := 0; i < g.sent; i++ {
		b = append(b, " tok"...)
		b = strconv.AppendInt(b, int64(i), 10)
	}
	if g.chat {
		b = append(b, `"}`...)
	} else {
		b = append(b, `"`...)
	}
	b = append(b, `,"logprobs":null,"finish_reason":"length"}],"usage":`...)
	b = appendUsage(b, g.prompt, g.sent)
	b = g.appendXSim(b)
	return append(b, '}')
}
