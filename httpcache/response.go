package httpcache

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// response is what the cache stores under a key: a response, or the index
// of a URL (Nonce set). Its fields are exported so that byte backends can
// serialize it (msgpack by default).
type response struct {
	Status int         `msgpack:"s" json:"s"`
	Header http.Header `msgpack:"h" json:"h"`
	Body   []byte      `msgpack:"b" json:"b"`
	// Received is when the response was received, and InitialAge its
	// corrected initial age (RFC 9111 §4.2.3), in nanoseconds as the
	// Cache's clock tells them. The stored header holds no Age: it is
	// computed from these on every use.
	Received   int64 `msgpack:"t,omitempty" json:"t,omitempty"`
	InitialAge int64 `msgpack:"a,omitempty" json:"a,omitempty"`
	// Nonce marks an index: the entry of a URL that names the variants of
	// its responses. Variants are keyed under the nonce, so deleting the
	// index makes them all unreachable at once (see keys.go).
	Nonce string `msgpack:"n,omitempty" json:"n,omitempty"`
	// Vary lists, in an index, the canonical names of the request headers
	// the URL's responses vary on (the response's Vary and Options.Vary),
	// sorted.
	Vary []string `msgpack:"v,omitempty" json:"v,omitempty"`
}

// writeTo sends the response to w, replacing any header of the same name w
// already holds, and leaving out the field named omit, if any. The stored
// response is shared by concurrent readers on in-process backends, so
// nothing of it is handed out to be modified.
func (resp *response) writeTo(w http.ResponseWriter, isHead bool, omit string) {
	h := w.Header()
	resp.copyHeader(h, omit)
	if isHead && len(resp.Body) > 0 && h.Get("Content-Length") == "" {
		// A GET response answering a HEAD request.
		h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	}
	w.WriteHeader(resp.Status)
	if !isHead && len(resp.Body) > 0 {
		_, _ = w.Write(resp.Body)
	}
}

// writeRange answers a Range request from a complete stored response (RFC
// 9110 §14), without the field named omit: one satisfiable byte range gets
// 206 with that part, one that cannot be satisfied 416; any other Range
// (several ranges, another unit) is ignored, as a server may, and the
// whole response is sent.
func (resp *response) writeRange(w http.ResponseWriter, req *http.Request, omit string) {
	size := int64(len(resp.Body))
	first, last, ok := byteRange(req.Header.Get("Range"), size)
	if !ok {
		resp.writeTo(w, false, omit)
		return
	}
	h := w.Header()
	resp.copyHeader(h, omit)
	if first > last {
		h.Del("Content-Length")
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	h.Set("Content-Range", "bytes "+strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(last, 10)+"/"+strconv.FormatInt(size, 10))
	h.Set("Content-Length", strconv.FormatInt(last-first+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(resp.Body[first : last+1])
}

// copyHeader copies the response's header fields into h, but the one named
// omit.
func (resp *response) copyHeader(h http.Header, omit string) {
	for name, values := range resp.Header {
		if name != omit {
			h[name] = slices.Clone(values)
		}
	}
}

// byteRange reads a Range field of a single byte range over a body of size
// bytes: ok is false when it is not one (the field is then ignored), and
// first > last when the range cannot be satisfied.
func byteRange(v string, size int64) (first, last int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	num := func(s string) (int64, bool) {
		if s == "" || strings.TrimLeft(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	switch {
	case a == "":
		n, ok := num(b) // the last n bytes
		if !ok {
			return 0, 0, false
		}
		if n == 0 || size == 0 {
			return 1, 0, true
		}
		return max(size-n, 0), size - 1, true
	default:
		first, ok := num(a)
		if !ok {
			return 0, 0, false
		}
		last := size - 1
		if b != "" {
			if last, ok = num(b); !ok || last < first {
				return 0, 0, false
			}
			last = min(last, size-1)
		}
		if first >= size {
			return 1, 0, true
		}
		return first, last, true
	}
}

// withHeader returns a shallow copy of resp with a header of its own.
func (resp *response) withHeader() *response {
	c := *resp
	c.Header = resp.Header.Clone()
	return &c
}

// notModifiedFields are the fields a 304 answer carries from the selected
// response (RFC 9110 §15.4.5).
var notModifiedFields = []string{"Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Vary", "Last-Modified"}

// writeNotModified answers a conditional request with 304 on resp's behalf.
func (resp *response) writeNotModified(w http.ResponseWriter) {
	h := w.Header()
	for _, name := range notModifiedFields {
		if v, ok := resp.Header[name]; ok {
			h[name] = slices.Clone(v)
		}
	}
	w.WriteHeader(http.StatusNotModified)
}

// unmergeable are the header fields a 304 does not update in the stored
// response (RFC 9111 §3.2).
// Content-MD5 describes the stored body, which a 304 does not replace.
var unmergeable = map[string]bool{"Content-Length": true, "Content-Encoding": true, "Transfer-Encoding": true, "Content-Range": true, "Content-Md5": true, "Age": true}

// merge returns the stored response updated by the header of a 304 that
// validated it (RFC 9111 §4.3.4), received as fresh says.
func (resp *response) merge(nm *response) *response {
	out := resp.withHeader()
	for name, v := range nm.Header {
		if !unmergeable[name] {
			out.Header[name] = slices.Clone(v)
		}
	}
	out.Received, out.InitialAge = nm.Received, nm.InitialAge
	return out
}

// selects tells whether a 304 received for a conditional request made with
// resp's validators identifies resp (RFC 9111 §4.3.4): a strong ETag in the
// 304 must be resp's; without one, a Last-Modified in the 304 must be
// resp's. A 304 with neither selects resp, the only response the request
// was made for. A 304 that does not select resp must not update it.
func (resp *response) selects(nm *response) bool {
	if etag := nm.Header.Get("Etag"); etag != "" {
		if strings.HasPrefix(etag, "W/") {
			// A weak validator: compared weakly, it must still match.
			return strings.TrimPrefix(resp.Header.Get("Etag"), "W/") == strings.TrimPrefix(etag, "W/")
		}
		return resp.Header.Get("Etag") == etag
	}
	if lm := nm.Header.Get("Last-Modified"); lm != "" {
		return resp.Header.Get("Last-Modified") == lm
	}
	return true
}

// matches tells whether the conditional request header h is satisfied by
// resp's validators, so that it may be answered 304 (RFC 9110 §13.1.2,
// §13.1.3; RFC 9111 §4.3.2). If-None-Match takes precedence over
// If-Modified-Since.
func (resp *response) matches(h http.Header) bool {
	if inm := h.Values("If-None-Match"); len(inm) > 0 {
		etag := strings.TrimPrefix(resp.Header.Get("Etag"), "W/")
		for _, line := range inm {
			for tag := range strings.SplitSeq(line, ",") {
				tag = strings.TrimSpace(tag)
				if tag == "*" || (etag != "" && strings.TrimPrefix(tag, "W/") == etag) {
					return true
				}
			}
		}
		return false
	}
	ims, ok := httpDate(h.Get("If-Modified-Since"), resp.Received)
	if !ok {
		return false
	}
	lm, ok := httpDate(resp.Header.Get("Last-Modified"), resp.Received)
	if !ok {
		lm, ok = httpDate(resp.Header.Get("Date"), resp.Received)
	}
	return ok && !lm.After(ims)
}

// conditionalFields are the request fields that make a request
// conditional; the cache leaves them out of the requests it makes for
// itself, and answers them from what it stores.
var conditionalFields = []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"}

// recorder is the http.ResponseWriter a cached handler writes to. It keeps
// the status, a snapshot of the header taken when the status is written (as
// net/http ignores later header changes) and the body. Informational (1xx)
// responses go straight to the client of the request the handler runs for.
type recorder struct {
	header http.Header
	status int // 0 until written
	sent   http.Header
	body   bytes.Buffer
	early  *client // receives 1xx responses; may be nil
}

var (
	_ http.ResponseWriter = (*recorder)(nil)
	_ http.Flusher        = (*recorder)(nil)
)

func newRecorder(early *client) *recorder { return &recorder{header: make(http.Header), early: early} }

// Header returns the header map the handler fills.
func (rec *recorder) Header() http.Header { return rec.header }

// WriteHeader records the first final status; an informational (1xx) one
// is passed on to the client, if it still waits.
func (rec *recorder) WriteHeader(status int) {
	if rec.status != 0 {
		return
	}
	if status >= 100 && status < 200 {
		if rec.early != nil && status != http.StatusContinue && status != http.StatusSwitchingProtocols {
			rec.early.informational(status, rec.header)
		}
		return
	}
	rec.status = status
	rec.sent = rec.header.Clone()
}

// Write appends to the body, writing a 200 status first if none was.
func (rec *recorder) Write(p []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.body.Write(p)
}

// Flush does nothing: the response goes out once the handler is done.
func (rec *recorder) Flush() {}

// result returns the recorded response. For a HEAD request the body the
// handler may have written is dropped, and its length kept as
// Content-Length, which net/http would have sent.
func (rec *recorder) result(isHead bool) *response {
	rec.WriteHeader(http.StatusOK)
	resp := &response{Status: rec.status, Header: rec.sent}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	if isHead {
		if rec.body.Len() > 0 && resp.Header.Get("Content-Length") == "" {
			resp.Header.Set("Content-Length", strconv.Itoa(rec.body.Len()))
		}
	} else if rec.body.Len() > 0 {
		resp.Body = bytes.Clone(rec.body.Bytes())
	}
	return resp
}

// client is the ResponseWriter of a request, for the 1xx responses a
// handler run on its behalf (perhaps in another goroutine) sends before
// the request is answered.
type client struct {
	mu   sync.Mutex // protects w and done
	w    http.ResponseWriter
	done bool // the request has been answered: w is no longer usable
}

// informational sends a 1xx response with header h, unless the request has
// been answered.
func (c *client) informational(status int, h http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	wh := c.w.Header()
	saved := wh.Clone()
	for name, v := range h {
		wh[name] = slices.Clone(v)
	}
	c.w.WriteHeader(status)
	// The final response carries its own header.
	clear(wh)
	for name, v := range saved {
		wh[name] = v
	}
}

// finish marks the request answered; informational responses sent later
// are dropped. It must be called before the final response is written.
func (c *client) finish() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
}

// statusSet is a set of status codes.
type statusSet map[int]bool

func newStatusSet(codes []int) statusSet {
	if len(codes) == 0 {
		return nil
	}
	s := make(statusSet, len(codes))
	for _, c := range codes {
		s[c] = true
	}
	return s
}
