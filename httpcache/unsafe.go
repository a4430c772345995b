package httpcache

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// unsafe serves a request with an unsafe method, invalidating what it
// changed (RFC 9111 §4.4) once its handler reports success.
func (c *Cache) unsafe(w http.ResponseWriter, req *http.Request, next http.Handler) {
	iw := &invalidating{ResponseWriter: w, c: c, req: req}
	next.ServeHTTP(iw, req)
	iw.WriteHeader(http.StatusOK) // a handler that wrote nothing succeeded
}

// invalidating is the ResponseWriter of an unsafe request: before a 2xx or
// 3xx status goes out, it invalidates the request's URL and those of its
// Location and Content-Location, so that the client reads its own write.
type invalidating struct {
	http.ResponseWriter
	c       *Cache
	req     *http.Request
	written bool
}

func (iw *invalidating) WriteHeader(status int) {
	if iw.written {
		return
	}
	if status >= 200 {
		iw.written = true
		if status < 400 {
			iw.c.invalidateAfter(iw.req, iw.Header())
		}
	}
	iw.ResponseWriter.WriteHeader(status)
}

func (iw *invalidating) Write(p []byte) (int, error) {
	iw.WriteHeader(http.StatusOK)
	return iw.ResponseWriter.Write(p)
}

// Flush sends what was written so far.
func (iw *invalidating) Flush() {
	iw.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(iw.ResponseWriter).Flush()
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController.
func (iw *invalidating) Unwrap() http.ResponseWriter { return iw.ResponseWriter }

// invalidateAfter invalidates, in every route of the Cache, the request's
// URL and the Location and Content-Location of its response when they are
// on the request's host. Failures are logged: the write itself succeeded.
func (c *Cache) invalidateAfter(req *http.Request, h http.Header) {
	ctx := context.WithoutCancel(req.Context())
	urls := []*url.URL{req.URL}
	for _, name := range []string{"Location", "Content-Location"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		u, err := req.URL.Parse(v)
		if err != nil || (u.Host != "" && !strings.EqualFold(u.Host, req.Host)) {
			continue
		}
		urls = append(urls, u)
	}
	c.mu.Lock()
	routes := make([]*routeFunc, 0, len(c.routes))
	for _, f := range c.routes {
		routes = append(routes, f)
	}
	c.mu.Unlock()
	for _, u := range urls {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			target, err := c.keys.target(m, u)
			if err != nil {
				continue
			}
			for _, f := range routes {
				if err := c.invalidate(ctx, f, target); err != nil {
					c.log.WarnContext(ctx, "httpcache: not invalidated after "+req.Method, "url", u.String(), "err", err)
				}
			}
		}
	}
}
