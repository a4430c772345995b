package httpcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/corralcache/corral/region"
)

var (
	// ErrInvalidOptions is wrapped by the errors New returns for options it
	// cannot use.
	ErrInvalidOptions = errors.New("httpcache: invalid options")
	// ErrInvalidURL is wrapped by the error InvalidateURL returns for a URL
	// or query that does not parse.
	ErrInvalidURL = errors.New("httpcache: invalid URL")
)

// Cache states reported in the status header (see Options.StatusHeader).
const (
	Hit   = "HIT"   // served from the cache, or shared with a concurrent request that ran the handler
	Miss  = "MISS"  // this request ran the handler, or the response could not be cached
	Stale = "STALE" // a stale response, served while another request regenerates it
)

// DefaultStatusHeader is the response header that reports the cache state.
const DefaultStatusHeader = "X-Cache"

// Options configures a Cache. The zero value caches 200 responses to GET
// and HEAD, keyed by method, path and every query parameter.
type Options struct {
	// IgnoreParams lists query parameters left out of the key, such as the
	// cache buster "_dc": URLs that differ only in them share one entry. The
	// handler still sees them.
	IgnoreParams []string
	// Vary lists request headers whose values are part of the key, such as
	// Accept-Language: requests that differ in them get their own entries.
	Vary []string
	// Statuses lists the status codes of responses that are stored.
	// Default: 200 only. Other responses go to their requester (and to
	// concurrent requests for the same URL that waited for them) but are
	// not stored.
	Statuses []int
	// Expiration is the soft expiration of cached responses, in place of the
	// region's Config.Expiration when positive.
	Expiration time.Duration
	// MaxBodyBytes is the size of the largest body stored; larger responses
	// are served but not stored. Zero: no limit. The whole response is
	// buffered in memory either way.
	MaxBodyBytes int
	// StatusHeader names the response header that reports HIT, MISS or
	// STALE. Default: DefaultStatusHeader.
	StatusHeader string
	// Logger receives the region errors that made a request bypass the
	// cache, at Warn level. Default: slog.Default().
	Logger *slog.Logger
}

// routeFunc is the cached function behind one route: its arguments are the
// canonical target ("GET /path?query") and variant (the Vary headers); its
// name in the key registry is "http:" and the route's name.
type routeFunc = region.Func2[string, string, *response]

// Cache is HTTP middleware that caches responses in a region. Create it with
// New; it is safe for concurrent use.
type Cache struct {
	r        *region.Region
	opts     Options
	keys     keyer
	statuses statusSet
	header   string
	log      *slog.Logger

	mu     sync.Mutex            // protects routes
	routes map[string]*routeFunc // cached functions by route name
}

// New returns a Cache that stores responses in r. Errors wrap
// ErrInvalidOptions.
func New(r *region.Region, o Options) (*Cache, error) {
	invalid := func(format string, args ...any) (*Cache, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case r == nil:
		return invalid("region is nil")
	case o.Expiration < 0:
		return invalid("Expiration %v is negative", o.Expiration)
	case o.MaxBodyBytes < 0:
		return invalid("MaxBodyBytes %d is negative", o.MaxBodyBytes)
	}
	for _, s := range o.Statuses {
		if s < 200 || s > 599 {
			return invalid("status %d cannot be cached", s)
		}
	}
	for _, h := range o.Vary {
		if h == "" || strings.ContainsAny(h, " :\r\n") {
			return invalid("Vary header name %q", h)
		}
	}
	c := &Cache{
		r:        r,
		opts:     o,
		keys:     newKeyer(o),
		statuses: newStatusSet(o.Statuses),
		header:   o.StatusHeader,
		log:      o.Logger,
		routes:   make(map[string]*routeFunc),
	}
	if c.header == "" {
		c.header = DefaultStatusHeader
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// FuncName returns the name under which the key registry files the URLs
// cached for route: "http:" and the route.
func FuncName(route string) string { return "http:" + route }

// route returns the cached function of the named route, making it on first
// use.
func (c *Cache) route(name string) (*routeFunc, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.routes[name]; ok {
		return f, nil
	}
	opts := []region.FuncOption{region.Named(FuncName(name))}
	if c.opts.Expiration > 0 {
		opts = append(opts, region.Expires(c.opts.Expiration))
	}
	f, err := region.Cache2(c.r, c.create, opts...)
	if err != nil {
		return nil, err
	}
	c.routes[name] = f
	return f, nil
}

// Handler returns next wrapped so that its GET and HEAD responses are cached
// under route, a name that groups URLs for InvalidateRoute and must be the
// same in every process sharing the cache. Other methods go to next
// untouched. Several handlers may share a route.
//
// On a miss next runs in a goroutine the region owns, with the request's
// context values but not its cancellation, so that a client that goes away
// does not cancel the work other requests wait for.
//
// NOTE: on a region with Config.BackgroundRegeneration, the request that
// finds a stale response gets it at once and next runs afterwards, with that
// request's URL, header and context values, once the request has ended.
func (c *Cache) Handler(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			next.ServeHTTP(w, req)
			return
		}
		c.serve(w, req, route, next)
	})
}

// pending is the request a cached function call is made for. It travels to
// the creator in the context, since a cached function's arguments are its
// key.
type pending struct {
	req  *http.Request
	next http.Handler
}

type pendingKey struct{}

// notStored is the error a creator returns for a response that must not be
// stored: returning an error keeps the region from storing it, and carries
// the response to the caller.
type notStored struct {
	resp   *response
	origin *pending // the request the handler ran for
	// private responses go to origin alone; others may also go to the
	// requests that waited for the same URL.
	private bool
}

func (e *notStored) Error() string {
	return "httpcache: response with status " + strconv.Itoa(e.resp.Status) + " not stored"
}

// errNoRequest is returned by a route's cached function called without a
// request, which cannot happen through Handler.
var errNoRequest = errors.New("httpcache: cached function called outside a request")

// create runs the handler of the request in ctx and returns its response,
// or a *notStored error carrying it when it must not be stored.
func (c *Cache) create(ctx context.Context, _, _ string) (*response, error) {
	p, ok := ctx.Value(pendingKey{}).(*pending)
	if !ok {
		return nil, errNoRequest
	}
	rec := newRecorder()
	p.next.ServeHTTP(rec, p.req.WithContext(ctx))
	resp := rec.result(p.req.Method == http.MethodHead)
	switch {
	case private(resp.Header):
		return nil, &notStored{resp: resp, origin: p, private: true}
	case !c.statuses[resp.Status], c.opts.MaxBodyBytes > 0 && len(resp.Body) > c.opts.MaxBodyBytes:
		return nil, &notStored{resp: resp, origin: p}
	}
	return resp, nil
}

func (c *Cache) serve(w http.ResponseWriter, req *http.Request, route string, next http.Handler) {
	isHead := req.Method == http.MethodHead
	target, err := c.keys.target(req.Method, req.URL)
	if err != nil {
		c.bypass(w, req, next, err)
		return
	}
	f, err := c.route(route)
	if err != nil {
		c.bypass(w, req, next, err)
		return
	}
	p := &pending{req: req, next: next}
	ctx := context.WithValue(req.Context(), pendingKey{}, p)
	var outcome region.Outcome
	resp, err := f.Call(ctx, target, c.keys.variant(req.Header), region.ReportOutcome(&outcome))
	if err == nil {
		state := Hit
		switch outcome {
		case region.OutcomeCreated:
			state = Miss
		case region.OutcomeStale:
			state = Stale
		}
		w.Header().Set(c.header, state)
		resp.writeTo(w, isHead)
		return
	}
	var ns *notStored
	var pe *region.PanicError
	switch {
	case errors.As(err, &ns) && (ns.origin == p || !ns.private):
		w.Header().Set(c.header, Miss)
		ns.resp.writeTo(w, isHead)
	case errors.As(err, &ns):
		// Another request's private response: make our own.
		w.Header().Set(c.header, Miss)
		next.ServeHTTP(w, req)
	case errors.Is(err, http.ErrAbortHandler):
		// The handler aborted: abort this response too, quietly.
		panic(http.ErrAbortHandler)
	case errors.As(err, &pe):
		// The handler panicked: let net/http handle it as it would have.
		panic(pe)
	case req.Context().Err() != nil:
		// The client went away while waiting; nobody reads the response.
	default:
		c.bypass(w, req, next, err)
	}
}

// bypass serves req uncached after a failure of the cache.
func (c *Cache) bypass(w http.ResponseWriter, req *http.Request, next http.Handler, err error) {
	c.log.WarnContext(req.Context(), "httpcache: serving uncached", "method", req.Method, "url", req.URL.String(), "err", err)
	w.Header().Set(c.header, Miss)
	next.ServeHTTP(w, req)
}

// InvalidateURL removes the cached responses of route for rawURL (a path
// with an optional query, or an absolute URL whose host is ignored), in every
// process that shares the region's backend and key registry. The URL is
// canonicalised as requests are, so parameter order and ignored parameters
// do not matter. An empty method removes both the GET and the HEAD
// responses. With Options.Vary, every header variant recorded in the key
// registry is removed, which needs a registry that can list keys.
//
// Errors wrap ErrInvalidURL or keyreg.ErrNotListable, or come from the
// region (region.ErrBackend, region.ErrClosed).
func (c *Cache) InvalidateURL(ctx context.Context, route, method, rawURL string) error {
	parse := url.Parse
	if strings.HasPrefix(rawURL, "/") {
		parse = url.ParseRequestURI // "//a" is a path, as in a request
	}
	u, err := parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	methods := []string{method}
	if method == "" {
		methods = []string{http.MethodGet, http.MethodHead}
	}
	f, err := c.route(route)
	if err != nil {
		return err
	}
	for _, m := range methods {
		target, err := c.keys.target(m, u)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidURL, err)
		}
		if err := c.invalidate(ctx, f, target); err != nil {
			return err
		}
	}
	return nil
}

// invalidate removes every variant of target: with Vary headers, each
// combination of their values has its own entry, the target being the
// route function's first argument.
func (c *Cache) invalidate(ctx context.Context, f *routeFunc, target string) error {
	if len(c.keys.vary) == 0 {
		return f.Invalidate(ctx, target, "")
	}
	return f.InvalidateFirst(ctx, target)
}

// InvalidateRoute removes every cached response of route, in every process
// that shares the region's backend and key registry. Errors come from the
// region (region.ErrBackend, region.ErrClosed).
func (c *Cache) InvalidateRoute(ctx context.Context, route string) error {
	f, err := c.route(route)
	if err != nil {
		return err
	}
	return f.InvalidateAll(ctx)
}
