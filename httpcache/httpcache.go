package httpcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
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
	Hit         = "HIT"         // served from the cache, or shared with a concurrent request that ran the handler
	Miss        = "MISS"        // this request ran the handler, or the response could not be cached
	Stale       = "STALE"       // a stale response, served as stale-while-revalidate, stale-if-error or max-stale allow
	Revalidated = "REVALIDATED" // a stored response the handler confirmed with 304 Not Modified
)

// DefaultStatusHeader is the response header that reports the cache state.
const DefaultStatusHeader = "X-Cache"

// Defaults of Options.
const (
	// DefaultExpiration is the heuristic freshness lifetime of responses
	// that state none and have no Last-Modified.
	DefaultExpiration = time.Minute
	// DefaultRetention is how long a stored response is kept after it was
	// stored or revalidated.
	DefaultRetention = 24 * time.Hour
)

// Options configures a Cache. The zero value is a shared cache of GET and
// HEAD responses, keyed by method, path, every query parameter, host and
// the request headers the responses Vary on.
type Options struct {
	// IgnoreParams lists query parameters left out of the key, such as the
	// cache buster "_dc": URLs that differ only in them share one entry. The
	// handler still sees them.
	IgnoreParams []string
	// Vary lists request headers whose values are part of the key, such as
	// Accept-Language, in addition to those each response names in its
	// Vary header.
	Vary []string
	// Statuses, when set, lists the only status codes of responses that
	// are stored; a listed status may be stored with the heuristic lifetime.
	// Default: any status with explicit freshness (or public), and those
	// cacheable by default (RFC 9110 §15.1) with the heuristic lifetime.
	Statuses []int
	// Expiration is the heuristic freshness lifetime: that of a response
	// without explicit freshness (Cache-Control s-maxage or max-age,
	// Expires) or Last-Modified whose status is cacheable by default. One
	// with a Last-Modified is fresh for a tenth of the time since then, at
	// most Retention (RFC 9111 §4.2.2). Default: DefaultExpiration.
	Expiration time.Duration
	// Retention is how long a stored response stays in the region after it
	// was stored or revalidated, fresh or stale, so that it can be
	// revalidated or served stale: it is the region's soft expiration of
	// the route's entries. Default: DefaultRetention.
	Retention time.Duration
	// MaxBodyBytes is the size of the largest body stored; larger responses
	// are served but not stored. Zero: no limit. The whole response is
	// buffered in memory either way.
	MaxBodyBytes int
	// StatusHeader names the response header that reports HIT, MISS, STALE
	// or REVALIDATED. Default: DefaultStatusHeader.
	StatusHeader string
	// UnsafeShareResponsesToRequestsWithCookies makes requests that carry a
	// Cookie header cacheable like any other. By default such a request is
	// treated as one with Authorization: it is answered from the cache, and
	// its response stored, only when the response says it may be shared
	// (Cache-Control public, s-maxage or must-revalidate). Set it only when
	// no handler behind the cache reads cookies, or they vary per user and
	// every response says so with Vary: Cookie.
	UnsafeShareResponsesToRequestsWithCookies bool
	// TargetedFields is the cache's target list (RFC 9213 §2.2): response
	// fields with Cache-Control's directives, in order of precedence, that
	// are meant for this cache. The first of them a response carries with
	// a valid, non-empty value sets its caching policy (storage, freshness,
	// revalidation, use for requests with Authorization), and its
	// Cache-Control and Expires are ignored; without one, Cache-Control and
	// Expires do as usual. Every field is passed on to the client, the
	// one used included, unless StripTargetedField is set. A field is valid when it
	// parses as a Structured Fields Dictionary (RFC 8941) whose max-age,
	// s-maxage, stale-while-revalidate and stale-if-error, where present,
	// are non-negative Integers: an invalid one is ignored as if absent.
	//
	// Default: CDN-Cache-Control, the field for CDNs, since a Cache in
	// front of an application acts as the application's gateway: the
	// origin's CDN-Cache-Control: max-age=600 with Cache-Control:
	// max-age=60 keeps the response here for ten minutes and lets browsers
	// keep it for one. The list may end with Cache-Control, which is
	// always last: Cache-Control alone turns targeted fields off, for a
	// cache that is not the origin's, such as a forward proxy's. Names are
	// field names, each at most once, Expires not among them; an empty
	// list is an error.
	TargetedFields []string
	// StripTargetedField removes the targeted field a response's policy
	// came from before the response reaches the client. By default it is
	// passed on, as RFC 9213 §3 expects of CDN caches: another cache that
	// reads it, such as a CDN in front of this one, may need it. Set it
	// when nothing downstream does (browsers ignore it) and its directives
	// are for this cache alone.
	StripTargetedField bool
	// Clock tells the time for ages and freshness. Default: the system
	// clock.
	Clock region.Clock
	// Logger receives the region errors that made a request bypass the
	// cache, at Warn level. Default: slog.Default().
	Logger *slog.Logger
}

// routeFunc is the cached function behind one route: its arguments are the
// canonical target ("GET /path?query") and a secondary key (see keys.go);
// its name in the key registry is "http:" and the route's name.
type routeFunc = region.Func2[string, string, *response]

// Cache is HTTP middleware that caches responses in a region. Create it with
// New; it is safe for concurrent use.
type Cache struct {
	r         *region.Region
	opts      Options
	keys      keyer
	statuses  statusSet
	header    string
	log       *slog.Logger
	clock     region.Clock
	heuristic time.Duration
	targets   []string // the target list, canonical, without Cache-Control

	// revalidating holds the keys of stale responses a request of this
	// process is revalidating, so that stale-while-revalidate serves the
	// others at once.
	revalidating sync.Map

	// Background revalidations: bgCtx is cancelled by Close, which then
	// waits for bgWG.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	bgMu     sync.Mutex // protects bgClosed, and orders bgWG.Add before Close's Wait
	bgClosed bool

	// known holds the index last read for each URL, to read a hit's index
	// and response in one round trip (see exchange.readBoth).
	known knownIndexes

	mu     sync.Mutex            // protects routes
	routes map[string]*routeFunc // cached functions by route name
}

// maxKnownIndexes bounds knownIndexes: past it, an arbitrary entry makes
// room. A URL without one costs one more round trip on its next hit.
const maxKnownIndexes = 10_000

// knownIndexes remembers the index this process last read for each URL of
// each route. It is only a hint of the variant key to read beside the
// index: what is served is always checked against the index read with it.
type knownIndexes struct {
	mu sync.Mutex           // protects m
	m  map[string]*response // by route, "\n" and target
}

func (k *knownIndexes) lookup(route, target string) *response {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[route+"\n"+target]
}

func (k *knownIndexes) remember(route, target string, idx *response) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[string]*response)
	}
	key := route + "\n" + target
	if _, ok := k.m[key]; !ok && len(k.m) >= maxKnownIndexes {
		for old := range k.m {
			delete(k.m, old)
			break
		}
	}
	k.m[key] = idx
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

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
	case o.Retention < 0:
		return invalid("Retention %v is negative", o.Retention)
	case o.MaxBodyBytes < 0:
		return invalid("MaxBodyBytes %d is negative", o.MaxBodyBytes)
	}
	for _, s := range o.Statuses {
		if s < 200 || s > 599 || s == http.StatusPartialContent || s == http.StatusNotModified {
			return invalid("status %d cannot be cached", s)
		}
	}
	for _, h := range o.Vary {
		if h == "" || strings.ContainsAny(h, " :\r\n") {
			return invalid("Vary header name %q", h)
		}
	}
	targets, err := targetList(o.TargetedFields)
	if err != nil {
		return invalid("%v", err)
	}
	c := &Cache{
		r:         r,
		opts:      o,
		keys:      newKeyer(o),
		statuses:  newStatusSet(o.Statuses),
		header:    o.StatusHeader,
		log:       o.Logger,
		clock:     o.Clock,
		heuristic: o.Expiration,
		targets:   targets,
		routes:    make(map[string]*routeFunc),
	}
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	if c.header == "" {
		c.header = DefaultStatusHeader
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	if c.heuristic == 0 {
		c.heuristic = DefaultExpiration
	}
	if c.opts.Retention == 0 {
		c.opts.Retention = DefaultRetention
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
	f, err := region.Cache2(c.r, c.create, region.Named(FuncName(name)), region.WithExpiration(c.opts.Retention))
	if err != nil {
		return nil, err
	}
	c.routes[name] = f
	return f, nil
}

func (c *Cache) now() int64 { return c.clock.Now().UnixNano() }

// Handler returns next wrapped so that its GET and HEAD responses are cached
// under route, a name that groups URLs for InvalidateRoute and must be the
// same in every process sharing the cache. Several handlers may share a
// route.
//
// A request with another method goes to next; when it is unsafe (not
// OPTIONS or TRACE) and next answers it with a 2xx or 3xx status, the
// responses stored for its URL, and for the URLs of its Location and
// Content-Location on the same host, are invalidated in every route of the
// Cache before the status is sent.
//
// On a miss next runs in a goroutine the region owns, with the request's
// context values but not its cancellation, so that a client that goes away
// does not cancel the work other requests wait for.
func (c *Cache) Handler(route string, next http.Handler) http.Handler {
	_, _ = c.route(route) // known to unsafe methods from now on; errors come back when serving
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodGet, http.MethodHead:
			c.serve(w, req, route, next)
		case http.MethodOptions, http.MethodTrace:
			next.ServeHTTP(w, req)
		default:
			c.unsafe(w, req, next)
		}
	})
}

// slot tells the creator which entry a call is for.
type slot int

const (
	slotIndex   slot = iota // the URL's index: create it, and store the response
	slotVariant             // a response under an index
	slotReval               // a revalidation flight: revalidate, share the result in-process
	slotRefresh             // the conditional request of a revalidation
)

// pending is the request a cached function call is made for. It travels to
// the creator in the context, since a cached function's arguments are its
// key.
type pending struct {
	x    *exchange
	slot slot
	idx  *response // the index, for slotVariant, slotReval and slotRefresh
	vk   string    // the variant's key, for slotReval
	old  *response // the stale response, for slotReval and slotRefresh
	// resp is the response the handler gave for this call when the region
	// returns something else: an index, or the stored copy of resp without
	// the fields that are for this request only.
	resp *response
	// notModified is set by slotRefresh when the handler answered 304.
	notModified bool
}

type pendingKey struct{}

// exchange is one GET or HEAD request through the cache.
type exchange struct {
	c          *Cache
	f          *routeFunc
	route      string
	req        *http.Request
	next       http.Handler
	rd         directives // the request's Cache-Control
	restricted bool       // Authorization, or Cookie: only shareable responses may be used
	target     string
	cl         *client
}

// notStored is the error a creator returns for a response that must not be
// stored: returning an error keeps the region from storing it, and carries
// the response to the request it was made for. Requests that waited for
// it run the handler themselves: only stored responses are shared.
type notStored struct {
	resp   *response
	origin *pending // the call the handler ran for
}

func (e *notStored) Error() string {
	return "httpcache: response with status " + strconv.Itoa(e.resp.Status) + " not stored"
}

// revalidated is the error a revalidation flight returns to share its
// outcome with the requests of this process that found the same stale
// response: the error keeps the region from storing anything under the
// flight's key.
type revalidated struct {
	resp   *response // the response to serve (stored when stored is set)
	stored bool
	origin *pending
	failed bool // the handler answered with an error status
	// notModified is set when the handler confirmed the stale response.
	notModified bool
}

func (e *revalidated) Error() string { return "httpcache: revalidated" }

// errNoRequest is returned by a route's cached function called without a
// request, which cannot happen through Handler.
var errNoRequest = errors.New("httpcache: cached function called outside a request")

// create runs the handler for the call in ctx (see slot).
func (c *Cache) create(ctx context.Context, target, _ string) (*response, error) {
	p, ok := ctx.Value(pendingKey{}).(*pending)
	if !ok {
		return nil, errNoRequest
	}
	x := p.x
	switch p.slot {
	case slotIndex:
		resp := x.fetch(ctx, nil)
		p.resp = resp
		names, star := c.keys.varyNames(resp.Header)
		idx := &response{Nonce: newNonce(), Vary: names, Received: resp.Received}
		if !star && c.storable(x, resp) {
			if err := x.f.Set(ctx, target, variant(idx, x.req.Host, x.req.Header), c.forStorage(resp)); err != nil {
				c.log.WarnContext(ctx, "httpcache: response not stored", "url", x.req.URL.String(), "err", err)
			}
		}
		return idx, nil
	case slotVariant:
		return x.place(ctx, p, x.fetch(ctx, nil))
	case slotRefresh:
		resp := x.fetch(ctx, p.old)
		if resp.Status == http.StatusNotModified && !p.old.selects(resp) {
			// The 304 names another response than the one asked about:
			// it updates nothing (RFC 9111 §4.3.4); ask for the
			// response itself.
			resp = x.fetch(ctx, nil)
		}
		if errorStatuses[resp.Status] && x.c.staleIfError(p.old, x.rd) {
			// The stale response will be served: keep it.
			return nil, &notStored{resp: resp, origin: p}
		}
		if resp.Status == http.StatusNotModified {
			p.notModified = true
			resp = p.old.merge(resp)
		}
		return x.place(ctx, p, resp)
	case slotReval:
		rp := &pending{x: x, slot: slotRefresh, idx: p.idx, old: p.old}
		resp, err := x.f.Refresh(context.WithValue(ctx, pendingKey{}, rp), target, p.vk)
		rv := &revalidated{resp: resp, stored: err == nil, origin: p, notModified: rp.notModified}
		var ns *notStored
		switch {
		case errors.As(err, &ns):
			rv.resp = ns.resp
		case err != nil:
			return nil, err
		}
		rv.failed = errorStatuses[rv.resp.Status]
		return nil, rv
	}
	return nil, errNoRequest
}

// place returns a response to be stored under the variant key of p, or a
// *notStored error. A response whose Vary differs from its index's makes
// the index obsolete: it is dropped, and the next request makes another.
func (x *exchange) place(ctx context.Context, p *pending, resp *response) (*response, error) {
	names, star := x.c.keys.varyNames(resp.Header)
	if !star && !slices.Equal(names, p.idx.Vary) {
		if err := x.f.Invalidate(ctx, x.target, ""); err != nil {
			x.c.log.WarnContext(ctx, "httpcache: obsolete index not dropped", "url", x.req.URL.String(), "err", err)
		}
		return nil, &notStored{resp: resp, origin: p}
	}
	if star || !x.c.storable(x, resp) {
		return nil, &notStored{resp: resp, origin: p}
	}
	p.resp = resp
	return x.c.forStorage(resp), nil
}

// fetch runs the handler for the exchange's request, without its
// conditional header fields; with old, as a conditional request for old's
// validators. The response comes back with its timing, and a Date.
func (x *exchange) fetch(ctx context.Context, old *response) *response {
	req := x.req.Clone(ctx)
	for _, name := range conditionalFields {
		req.Header.Del(name)
	}
	if old != nil {
		if etag := old.Header.Get("Etag"); etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if lm := old.Header.Get("Last-Modified"); lm != "" {
			req.Header.Set("If-Modified-Since", lm)
		}
	}
	rec := newRecorder(x.cl)
	requested := x.c.now()
	x.next.ServeHTTP(rec, req)
	resp := rec.result(x.req.Method == http.MethodHead)
	resp.Received = x.c.now()
	resp.InitialAge = int64(initialAge(resp.Header, requested, resp.Received))
	resp.Header.Del("Age")
	if _, ok := resp.Header["Date"]; !ok {
		resp.Header.Set("Date", time.Unix(0, resp.Received).UTC().Format(http.TimeFormat))
	}
	return resp
}

// storable tells whether a response to the exchange's request may be
// stored (RFC 9111 §3, §3.5).
func (c *Cache) storable(x *exchange, resp *response) bool {
	d, targeted := c.responseDirectives(resp.Header)
	switch {
	case resp.Status < 200 || resp.Status == http.StatusPartialContent || resp.Status == http.StatusNotModified:
		return false
	case c.statuses != nil && !c.statuses[resp.Status]:
		return false
	case d.has("must-understand") && http.StatusText(resp.Status) == "":
		// A status this cache does not know the caching rules of
		// (RFC 9111 §5.2.2.3).
		return false
	case x.rd.has("no-store"), d.has("private"):
		// A qualified private="…" too: RFC 9111 §5.2.2.7 lets a cache
		// treat it as unqualified, the safe reading for a shared cache.
		return false
	case d.has("no-store") && !d.has("must-understand"):
		// must-understand with a known status overrides no-store.
		return false
	case len(resp.Header.Values("Set-Cookie")) > 0:
		return false
	case x.restricted && !shareable(d):
		return false
	case c.opts.MaxBodyBytes > 0 && len(resp.Body) > c.opts.MaxBodyBytes:
		return false
	}
	return explicitFreshness(resp.Header, d, targeted != "") || d.has("public") || c.heuristicStatus(resp.Status)
}

// forStorage returns resp without the header fields a qualified
// no-cache="…" directive names (RFC 9111 §5.2.2.4): they go to the request
// the response was made for, and are not reused without revalidation (a
// 304 that carries them puts them back). It returns resp itself when there
// are none.
func (c *Cache) forStorage(resp *response) *response {
	d, _ := c.responseDirectives(resp.Header)
	if !d.has("no-cache") || d.unqualified("no-cache") {
		return resp
	}
	drop := d.fields("no-cache")
	out := resp.withHeader()
	for _, name := range drop {
		out.Header.Del(name)
	}
	return out
}

func (c *Cache) heuristicStatus(s int) bool {
	if c.statuses != nil {
		return c.statuses[s]
	}
	return heuristicStatuses[s]
}

// shareable tells whether a response may be used for requests with
// Authorization (RFC 9111 §3.5).
func shareable(d directives) bool {
	return d.has("public") || d.has("s-maxage") || d.has("must-revalidate")
}

// policy reads a stored response's freshness.
func (c *Cache) policy(resp *response) policy {
	d, targeted := c.responseDirectives(resp.Header)
	h := time.Duration(0)
	if c.heuristicStatus(resp.Status) || d.has("public") {
		h = c.heuristic
	}
	return policyOf(resp, d, targeted != "", h, c.opts.Retention)
}

func newNonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (c *Cache) serve(w http.ResponseWriter, req *http.Request, route string, next http.Handler) {
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
	_, auth := req.Header["Authorization"]
	_, cookie := req.Header["Cookie"]
	x := &exchange{
		c: c, f: f, route: route, req: req, next: next, target: target,
		rd:         requestDirectives(req.Header),
		restricted: auth || cookie && !c.opts.UnsafeShareResponsesToRequestsWithCookies,
		cl:         &client{w: w},
	}
	if x.fromStore(w) {
		return
	}
	switch {
	case x.rd.has("only-if-cached"):
		// Nothing stored may answer: 504 (RFC 9111 §5.2.1.7).
		w.Header().Set(c.header, Miss)
		http.Error(w, "httpcache: not cached (only-if-cached)", http.StatusGatewayTimeout)
	case req.Header.Get("Range") != "":
		// A range of nothing stored: the handler answers it, and nothing
		// is stored (ranges are not combined).
		x.pass(w)
	default:
		x.serve(w)
	}
}

// fromStore answers, without going to the handler, a request that a stored
// response can answer but that the regular path would not serve from the
// store: a HEAD request with a fresh stored GET response (RFC 9110 §9.3.2),
// a range of a fresh stored response, and a request with only-if-cached.
// It reports whether it answered. Lookups that fail are misses.
func (x *exchange) fromStore(w http.ResponseWriter) bool {
	ranged := x.req.Header.Get("Range") != ""
	if !ranged && !x.rd.has("only-if-cached") && x.req.Method != http.MethodHead {
		return false
	}
	if ranged && (x.req.Method != http.MethodGet || x.req.Header.Get("If-Range") != "") {
		return false
	}
	targets := []string{x.target}
	if x.req.Method == http.MethodHead {
		// The GET response first: it is the one a HEAD most often finds.
		get, err := x.c.keys.target(http.MethodGet, x.req.URL)
		if err != nil {
			return false
		}
		targets = []string{get, x.target}
	}
	for _, target := range targets {
		if resp, state := x.lookup(target); resp != nil {
			x.cl.finish()
			x.write(w, resp, state, true)
			return true
		}
	}
	return false
}

// lookup returns the response stored for target that the request may use
// as it is, with its cache state, or nil: it never runs the handler.
func (x *exchange) lookup(target string) (*response, string) {
	ctx := x.req.Context()
	idx, found, err := x.f.Get(ctx, target, "")
	if err != nil || !found || idx.Nonce == "" {
		return nil, ""
	}
	resp, found, err := x.f.Get(ctx, target, variant(idx, x.req.Host, x.req.Header))
	if err != nil || !found {
		return nil, ""
	}
	pol := x.c.policy(resp)
	if x.restricted && !shareable(pol.d) {
		return nil, ""
	}
	switch usage(pol, resp.age(x.now()), x.rd) {
	case useFresh:
		return resp, Hit
	case useStale:
		return resp, Stale
	}
	return nil, ""
}

// call makes a call of the route's function for p, reporting its outcome.
func (x *exchange) call(p *pending, second string) (*response, region.Outcome, error) {
	ctx := context.WithValue(x.req.Context(), pendingKey{}, p)
	var o region.Outcome
	resp, err := x.f.Call(ctx, x.target, second, region.ReportOutcome(&o))
	return resp, o, err
}

func (x *exchange) serve(w http.ResponseWriter) {
	if idx, vk, resp := x.readBoth(); resp != nil {
		x.use(w, idx, vk, resp, region.OutcomeHit)
		return
	}
	ip := &pending{x: x, slot: slotIndex}
	idx, _, err := x.call(ip, "")
	if err == nil && idx.Nonce != "" {
		x.c.known.remember(x.route, x.target, idx)
	}
	if err == nil && ip.resp != nil {
		// This request made the index, and so ran the handler.
		x.cl.finish()
		x.write(w, ip.resp, Miss, false)
		return
	}
	if err != nil {
		x.failed(w, ip, err)
		return
	}
	if idx.Nonce == "" {
		x.failed(w, ip, errors.New("httpcache: index without nonce"))
		return
	}
	vk := variant(idx, x.req.Host, x.req.Header)
	vp := &pending{x: x, slot: slotVariant, idx: idx}
	resp, outcome, err := x.call(vp, vk)
	if err != nil {
		x.failed(w, vp, err)
		return
	}
	if outcome == region.OutcomeCreated {
		if vp.resp != nil {
			resp = vp.resp
		}
		x.cl.finish()
		x.write(w, resp, Miss, false)
		return
	}
	x.use(w, idx, vk, resp, outcome)
}

// readBoth reads, in one round trip, the URL's index and the response
// stored under the variant key the index this process last read for the
// URL gives: a hit costs one backend read instead of two. It returns the
// response only when the index read is that same index (same nonce), so an
// invalidation that deleted or replaced it is seen as on the regular path;
// and only when both are fresh for the region. Otherwise the caller takes
// the regular path, which reads the index first.
func (x *exchange) readBoth() (idx *response, vk string, resp *response) {
	last := x.c.known.lookup(x.route, x.target)
	if last == nil {
		return nil, "", nil
	}
	vk = variant(last, x.req.Host, x.req.Header)
	got, found, err := x.f.GetMulti(x.req.Context(), x.target, "", vk)
	if err != nil || !found[0] || !found[1] || got[0].Nonce != last.Nonce {
		return nil, "", nil
	}
	return got[0], vk, got[1]
}

// use answers the request with resp, the response stored under the variant
// key vk of the index idx, as its freshness and the request allow:
// revalidating it first when it must be.
func (x *exchange) use(w http.ResponseWriter, idx *response, vk string, resp *response, outcome region.Outcome) {
	pol := x.c.policy(resp)
	if x.restricted && !shareable(pol.d) {
		x.pass(w)
		return
	}
	age := resp.age(x.c.now())
	state := Hit
	if outcome == region.OutcomeStale {
		state = Stale // the region's: Retention passed, or a soft invalidation
	}
	switch usage(pol, age, x.rd) {
	case useFresh:
		x.cl.finish()
		x.write(w, resp, state, true)
		return
	case useStale:
		x.cl.finish()
		x.write(w, resp, Stale, true)
		return
	case useSWR:
		key := x.target + "\x00" + vk
		if _, busy := x.c.revalidating.LoadOrStore(key, struct{}{}); busy {
			x.cl.finish()
			x.write(w, resp, Stale, true)
			return
		}
		if x.c.background(x, key, idx, vk, resp) {
			x.cl.finish()
			x.write(w, resp, Stale, true)
			return
		}
		// The Cache is closed: revalidate in the request.
		defer x.c.revalidating.Delete(key)
	}
	x.revalidate(w, idx, vk, resp, pol)
}

// background revalidates old, the stale response under the variant key vk
// of idx, in a goroutine of the Cache (which Close waits for), so that the
// request that found it stale within stale-while-revalidate is answered at
// once, as the others are (RFC 5861 §3). The revalidation is a call of the
// route's cached function like any other: under the region's lock, shared
// with every request of every process that revalidates the same response.
// It reports false, having started nothing, once the Cache is closed. key,
// already in c.revalidating, is dropped when the revalidation ends.
func (c *Cache) background(x *exchange, key string, idx *response, vk string, old *response) bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.bgClosed {
		return false
	}
	c.bgWG.Add(1)
	ctx, cancel := context.WithCancel(context.WithoutCancel(x.req.Context()))
	stop := context.AfterFunc(c.bgCtx, cancel)
	// The request is answered before the revalidation ends: it gets a
	// copy of its own, and its client no 1xx response.
	bx := *x
	bx.req = x.req.Clone(ctx)
	bx.cl = &client{done: true}
	go func() {
		defer c.bgWG.Done()
		defer c.revalidating.Delete(key)
		defer cancel()
		defer stop()
		rp := &pending{x: &bx, slot: slotReval, idx: idx, vk: vk, old: old}
		_, _, err := bx.call(rp, "r\n"+vk+"\n"+strconv.FormatInt(old.Received, 10))
		var rv *revalidated
		if !errors.As(err, &rv) && ctx.Err() == nil {
			c.log.WarnContext(ctx, "httpcache: background revalidation failed", "url", bx.req.URL.String(), "err", err)
		}
	}()
	return true
}

// Close stops the revalidations running in the background
// (stale-while-revalidate) and waits for their goroutines; a handler one of
// them started finishes in the region's goroutine, and its response is
// stored as the region allows. Requests served after Close revalidate
// stale responses themselves. Close does not close the region; it returns
// nil.
func (c *Cache) Close() error {
	c.bgMu.Lock()
	c.bgClosed = true
	c.bgMu.Unlock()
	c.bgCancel()
	c.bgWG.Wait()
	return nil
}

// revalidate validates a stored response with the handler, once for every
// request of this process that found it stale, and answers with what comes
// of it.
func (x *exchange) revalidate(w http.ResponseWriter, idx *response, vk string, old *response, pol policy) {
	rp := &pending{x: x, slot: slotReval, idx: idx, vk: vk, old: old}
	_, _, err := x.call(rp, "r\n"+vk+"\n"+strconv.FormatInt(old.Received, 10))
	var rv *revalidated
	if !errors.As(err, &rv) {
		x.failed(w, rp, err)
		return
	}
	mine := rv.origin == rp
	switch {
	case rv.failed && x.c.staleIfError(old, x.rd):
		// stale-if-error: the stale response is better than the error.
		x.cl.finish()
		x.write(w, old, Stale, true)
	case rv.stored:
		state := Hit
		if mine {
			state = Miss
			if rv.notModified {
				state = Revalidated
			}
		}
		x.cl.finish()
		x.write(w, rv.resp, state, true)
	case mine:
		x.cl.finish()
		x.write(w, rv.resp, Miss, false)
	default:
		// Another request's response, not stored: make our own.
		x.pass(w)
	}
}

func (x *exchange) now() int64 { return x.c.now() }

// staleIfError tells whether a stale response may stand in for an error
// (RFC 5861 §4).
// The request's own stale-if-error allows it too, unless the response
// forbids serving it stale.
func (c *Cache) staleIfError(old *response, rd directives) bool {
	pol := c.policy(old)
	staleness := old.age(c.now()) - pol.lifetime
	if pol.sie > 0 && staleness <= pol.sie {
		return true
	}
	n, ok := rd.seconds("stale-if-error")
	return ok && !pol.strict && staleness <= n
}

// write answers the request with resp: with 304 when the request is
// conditional and resp satisfies it, and with an Age when it comes from the
// cache.
func (x *exchange) write(w http.ResponseWriter, resp *response, state string, stored bool) {
	h := w.Header()
	h.Set(x.c.header, state)
	// A response from the store carries its age (RFC 9111 §5.1); so does
	// one passed on that was already a second old, as its Age said.
	if age := resp.age(x.now()); stored || age >= time.Second {
		h.Set("Age", strconv.FormatInt(int64(age/time.Second), 10))
	}
	if resp.Status == http.StatusOK && resp.matches(x.req.Header) {
		resp.writeNotModified(w)
		return
	}
	// The targeted field the cache used is for the cache (RFC 9213 §3).
	omit := ""
	if x.c.opts.StripTargetedField {
		_, omit = x.c.responseDirectives(resp.Header)
	}
	if stored && resp.Status == http.StatusOK && x.req.Header.Get("Range") != "" {
		resp.writeRange(w, x.req, omit)
		return
	}
	resp.writeTo(w, x.req.Method == http.MethodHead, omit)
}

// pass runs the handler for this request alone: nothing is stored.
func (x *exchange) pass(w http.ResponseWriter) {
	x.cl.finish()
	w.Header().Set(x.c.header, Miss)
	x.next.ServeHTTP(w, x.req)
}

// failed answers a request whose call returned err.
func (x *exchange) failed(w http.ResponseWriter, p *pending, err error) {
	x.cl.finish()
	var ns *notStored
	var pe *region.PanicError
	switch {
	case errors.As(err, &ns) && ns.origin == p:
		x.write(w, ns.resp, Miss, false)
	case errors.As(err, &ns):
		// Another request's response, not stored: make our own.
		x.pass(w)
	case errors.Is(err, http.ErrAbortHandler):
		// The handler aborted: abort this response too, quietly.
		panic(http.ErrAbortHandler)
	case errors.As(err, &pe):
		// The handler panicked: let net/http handle it as it would have.
		panic(pe)
	case x.req.Context().Err() != nil:
		// The client went away while waiting; nobody reads the response.
	default:
		x.c.bypass(w, x.req, x.next, err)
	}
}

// bypass serves req uncached after a failure of the cache.
func (c *Cache) bypass(w http.ResponseWriter, req *http.Request, next http.Handler, err error) {
	c.log.WarnContext(req.Context(), "httpcache: serving uncached", "method", req.Method, "url", req.URL.String(), "err", err)
	w.Header().Set(c.header, Miss)
	next.ServeHTTP(w, req)
}

// InvalidateURL removes the cached responses of route for rawURL (a path
// with an optional query, or an absolute URL whose host is ignored: every
// host's responses go), in every process that shares the region's backend
// and key registry. The URL is canonicalised as requests are, so parameter
// order and ignored parameters do not matter. An empty method removes both
// the GET and the HEAD responses. Every variant goes with the URL's index,
// without listing keys.
//
// Errors wrap ErrInvalidURL, or come from the region (region.ErrBackend,
// region.ErrClosed).
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

// invalidate removes every response stored for target, whatever its
// variant: deleting the URL's index leaves them unreachable (they are keyed
// under its nonce), which needs no listing of keys.
func (c *Cache) invalidate(ctx context.Context, f *routeFunc, target string) error {
	return f.Invalidate(ctx, target, "")
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
