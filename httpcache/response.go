package httpcache

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// response is what the cache stores for a URL. Its fields are exported so
// that byte backends can serialize it (msgpack by default).
type response struct {
	Status int         `msgpack:"s" json:"s"`
	Header http.Header `msgpack:"h" json:"h"`
	Body   []byte      `msgpack:"b" json:"b"`
}

// writeTo sends the response to w, replacing any header of the same name w
// already holds. The stored response is shared by concurrent readers on
// in-process backends, so nothing of it is handed out to be modified.
func (resp *response) writeTo(w http.ResponseWriter, isHead bool) {
	h := w.Header()
	for name, values := range resp.Header {
		h[name] = slices.Clone(values)
	}
	w.WriteHeader(resp.Status)
	if !isHead && len(resp.Body) > 0 {
		_, _ = w.Write(resp.Body)
	}
}

// recorder is the http.ResponseWriter a cached handler writes to. It keeps
// the status, a snapshot of the header taken when the status is written (as
// net/http ignores later header changes) and the body.
type recorder struct {
	header http.Header
	status int // 0 until written
	sent   http.Header
	body   bytes.Buffer
}

var (
	_ http.ResponseWriter = (*recorder)(nil)
	_ http.Flusher        = (*recorder)(nil)
)

func newRecorder() *recorder { return &recorder{header: make(http.Header)} }

// Header returns the header map the handler fills.
func (rec *recorder) Header() http.Header { return rec.header }

// WriteHeader records the first final status; informational (1xx) statuses
// are not recorded.
func (rec *recorder) WriteHeader(status int) {
	if rec.status != 0 || (status >= 100 && status < 200) {
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

// private reports whether a response is meant for its requester alone: it
// may not be stored, nor shared with other requests that waited for it.
// That is the case for Cache-Control no-store and private, and for responses
// that set cookies.
func private(h http.Header) bool {
	if len(h.Values("Set-Cookie")) > 0 {
		return true
	}
	for _, line := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(line, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			if strings.EqualFold(name, "no-store") || strings.EqualFold(name, "private") {
				return true
			}
		}
	}
	return false
}

// statusSet is a set of status codes.
type statusSet map[int]bool

func newStatusSet(codes []int) statusSet {
	if len(codes) == 0 {
		codes = []int{http.StatusOK}
	}
	s := make(statusSet, len(codes))
	for _, c := range codes {
		s[c] = true
	}
	return s
}
