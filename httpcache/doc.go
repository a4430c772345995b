// Package httpcache is net/http middleware that caches whole GET and HEAD
// responses in a corral region as an RFC 9111 shared cache, and drops them
// when the data behind them changes.
//
// A [Cache] wraps handlers by route: [Cache.Handler] caches the responses of
// one route. The route name is the identity under which the region's key
// registry files the route's entries, so a write handler can drop one URL
// with [Cache.InvalidateURL] or the whole route with [Cache.InvalidateRoute],
// in every process that shares the region's backend and registry.
//
// # What is stored, and for whom
//
// Secure by default:
//   - A request with Authorization is answered from the cache, and its
//     response stored, only when the response allows it (Cache-Control
//     public, s-maxage or must-revalidate; RFC 9111 §3.5). A request with a
//     Cookie is treated the same unless
//     Options.UnsafeShareResponsesToRequestsWithCookies is set.
//   - Responses with Cache-Control private (private="…" too, read as
//     unqualified) or no-store, that set cookies, with Vary: *, with status
//     206 or 304, with must-understand and a status this cache does not
//     know, or to a request with no-store, are never stored. A
//     no-cache="X-A" response is stored without X-A.
//   - A response is stored when it has explicit freshness (s-maxage,
//     max-age, Expires) or public, or a status cacheable by default (RFC
//     9110 §15.1), which then gets a heuristic lifetime: a tenth of the
//     time since its Last-Modified (at most Options.Retention), or else
//     Options.Expiration. Options.Statuses, when set, restricts this.
//   - The request's Host is always part of the key, with the values of the
//     request headers the response names in Vary and of Options.Vary.
//
// # Keys and invalidation
//
// Each URL (method, path and canonical query: parameters sorted, ignored
// ones such as "_dc" left out) has an index entry: a random nonce and the
// names of the headers its responses vary on. Responses are stored under
// the nonce, the host and those headers' values, so a request computes its
// variant's key from the index before reading it. Deleting the index makes
// every variant unreachable at once without listing keys, so InvalidateURL
// works on every registry, memcached's included; the orphans leave with
// their expiration. A hit costs one backend read: the Cache remembers the
// index it last read for each URL and reads the index and the response
// under that index's variant key together (one multi-get); the response is
// used only when the index read with it is the same (same nonce), so a
// deleted or replaced index is seen at once, and otherwise the index is
// read first, as on a miss. An unsafe request (POST, PUT, PATCH, DELETE, ...) that
// the handler answers with 2xx or 3xx deletes the indexes of its URL and of
// its Location and Content-Location on the same host, in every route of
// the Cache, before its status is sent (RFC 9111 §4.4).
//
// # Freshness
//
// A stored response keeps its own timing: when it was received and its
// corrected initial age (RFC 9111 §4.2.3, from Date and Age). Its freshness
// lifetime comes from s-maxage, else max-age, else Expires − Date, else the
// heuristic. A malformed max-age or s-maxage makes the response stale, as
// does an Expires that is not one HTTP-date in one of its three formats
// (RFC 9110 §5.6.7, names matched case-insensitively: RFC 9111 §4.2), two
// Expires lines included (§5.3). Of
// a list-valued Age, on one line or several, the first member counts; an
// Age that is then not a non-negative integer is ignored (RFC 9111 §5.1),
// and one of 2^31 seconds or more is older than any lifetime (§1.2.2).
// Every response served from storage carries an Age, as does one passed on
// that is a second old. The region's own expiration of the route's entries
// is Options.Retention, how long a response is kept to be revalidated or
// served stale: the region cannot be told the lifetime before the handler
// has run, and HTTP staleness calls for revalidation rather than the
// region's stale serving.
//
// A stale response, or one a request's no-cache, max-age or min-fresh
// refuses, is revalidated: the handler gets a conditional request with its
// ETag and Last-Modified; a 304 refreshes the stored header (not the fields
// that describe the body) and the stored response is served (REVALIDATED),
// but only when the 304's ETag, or else its Last-Modified, is the stored
// response's: one naming another response updates nothing, and the handler
// is asked again without a condition (RFC 9111 §4.3.4). Anything else
// replaces the stored response. Requests of this process that find the
// same stale response share one revalidation. A stale response is served
// (STALE) only as the response allows: within stale-while-revalidate, while
// a goroutine of the Cache revalidates it in the background (one per
// response and process, under the region's lock; [Cache.Close] stops them),
// within stale-if-error (the
// response's or the request's) when the handler answers 500, 502, 503 or
// 504, or within a request's max-stale; never under must-revalidate,
// proxy-revalidate, s-maxage or no-cache. Conditional requests
// (If-None-Match, If-Modified-Since) are answered with 304 from a usable
// stored 200; the handler never sees them on a miss.
//
// # Targeted fields
//
// As a gateway, the cache reads CDN-Cache-Control (RFC 9213): when a
// response carries it with a valid, non-empty value (a Structured Fields
// Dictionary, RFC 8941, whose max-age and other delta-seconds directives
// are non-negative Integers), its directives take the place of
// Cache-Control's in everything above, from storage to freshness and
// Authorization, and Expires is ignored; an invalid one is ignored and
// Cache-Control decides. The field used is passed on to the client, for a
// CDN in front of the cache, unless Options.StripTargetedField is set.
// Options.TargetedFields sets the target list (a field of the origin's own
// first, or Cache-Control alone to turn targeted fields off, as a forward
// proxy would).
//
// # Answered from storage alone
//
// A HEAD request is answered from a fresh stored GET response of its URL
// when there is one. A request for a single byte range of a fresh stored
// 200 gets 206 (or 416) from it; other ranges, ranges with If-Range, and
// ranges of nothing stored go to the handler, and are not stored. A request
// with only-if-cached that nothing stored may answer gets 504 Gateway
// Timeout without reaching the handler.
//
// # Stampedes
//
// Cold URLs are protected by the region's dogpile lock: concurrent requests
// for a URL that is not cached run the handler once. Only stored responses
// are shared with the requests that waited: a response that is not stored
// (an error, a private one, one to a request with Authorization) goes to its
// own request, and each waiter runs the handler itself.
//
// Informational (1xx) responses such as 103 Early Hints go to the client of
// the request the handler runs for.
//
// Each response carries an X-Cache header: MISS when this request ran the
// handler, HIT when it was served from storage (or shared another request's
// run), REVALIDATED when the handler confirmed the stored response with 304,
// STALE when a stale response was served.
package httpcache
