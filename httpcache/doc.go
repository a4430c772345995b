// Package httpcache is net/http middleware that caches whole GET and HEAD
// responses in a corral region and drops them when the data behind them
// changes.
//
// A [Cache] wraps handlers by route: [Cache.Handler] caches the responses of
// one route, keyed by method, path and canonical query (parameters sorted,
// cache busters such as "_dc" left out, chosen request headers folded in).
// The route name is the identity under which the region's key registry files
// every URL cached for the route, so a write handler can drop one URL with
// [Cache.InvalidateURL] or the whole route with [Cache.InvalidateRoute], in
// every process that shares the region's backend and registry.
//
// Cold URLs are protected from stampedes by the region's dogpile lock: many
// concurrent requests for a URL that is not cached run the handler once and
// share its response. Only responses with a cacheable status (200 by
// default) are stored, and never those marked Cache-Control no-store or
// private, or that set cookies: such responses go to the request that
// produced them, and concurrent requests that were waiting for them run the
// handler themselves.
//
// Each cached response carries an X-Cache header: MISS when this request ran
// the handler, HIT when it was served from the cache (or shared another
// request's run), STALE when the served response is older than
// [Options.Expiration] while another request regenerates it.
package httpcache
