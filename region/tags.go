package region

import (
	"context"
	"errors"
	"fmt"

	"github.com/corralcache/corral/internal/engine"
)

// ErrInvalidTag is wrapped by the error of a call given an empty tag, one
// longer than serializer.MaxTagLen bytes, or more than serializer.MaxTags
// tags for one value.
var ErrInvalidTag = engine.ErrInvalidTag

// InvalidateTags retires every value carrying any of tags, in this region
// and in every region on the same backend, in any process: a value whose
// creation began before InvalidateTags returned is never served after it.
// This region sees it at once; other regions, here and in other processes,
// within their Config.InvalidationRefresh (InvalidateTagsIn reaches the
// regions of this process at once). It raises one counter per tag —
// whatever the number of values tagged, no key is enumerated — and a
// creation in flight stores a value every reader retires. Errors wrap
// ErrBackend (the invalidation then holds in this region only), ErrClosed,
// ErrNilContext or ErrInvalidTag.
func (r *Region) InvalidateTags(ctx context.Context, tags ...string) error {
	if err := r.usable(ctx); err != nil {
		return err
	}
	for _, t := range tags {
		if err := engine.CheckTags([]string{t}); err != nil {
			return err
		}
	}
	return r.e.InvalidateTags(ctx, tags)
}

// InvalidateTagsIn is InvalidateTags for several regions of this process
// at once — tags cross regions: "user:42" may tag the profile region's
// values and the feed region's. Each region sees the invalidation when it
// returns. The errors of the regions are joined.
func InvalidateTagsIn(ctx context.Context, regions []*Region, tags ...string) error {
	var errs []error
	for _, r := range regions {
		if r == nil {
			errs = append(errs, fmt.Errorf("%w: nil region", ErrInvalidConfig))
			continue
		}
		if err := r.InvalidateTags(ctx, tags...); err != nil {
			errs = append(errs, fmt.Errorf("region %q: %w", r.name, err))
		}
	}
	return errors.Join(errs...)
}

// TagsBy1 tags the results of a cached function of one argument (Cache1)
// by its argument: TagsBy1(func(id int) []string { return
// []string{"user:" + strconv.Itoa(id)} }). See WithTags.
func TagsBy1[A any](f func(A) []string) FuncOption {
	return tagsBy(1, func(args []any) []string { return f(args[0].(A)) })
}

// TagsBy2 is TagsBy1 for a function of two arguments (Cache2).
func TagsBy2[A, B any](f func(A, B) []string) FuncOption {
	return tagsBy(2, func(args []any) []string { return f(args[0].(A), args[1].(B)) })
}

// TagsBy3 is TagsBy1 for a function of three arguments (Cache3).
func TagsBy3[A, B, C any](f func(A, B, C) []string) FuncOption {
	return tagsBy(3, func(args []any) []string { return f(args[0].(A), args[1].(B), args[2].(C)) })
}

// TagsByKey tags each result of a batch function (CacheBatch) by its key:
// TagsByKey(func(id int) []string { return []string{"user:" +
// strconv.Itoa(id)} }). The tags of the keys one call creates are read in
// one round trip. See WithTags, which tags every key of a call alike.
func TagsByKey[K any](f func(K) []string) FuncOption {
	return funcOption(func(c *funcConfig) {
		c.keyTags = func(key any) (tags []string, err error) {
			defer tagFuncPanicked(&err)
			k, ok := key.(K)
			if !ok {
				return nil, fmt.Errorf("%w: TagsByKey of %T given a key of type %T", ErrInvalidTag, k, key)
			}
			return f(k), nil
		}
	})
}

// tagsBy is the FuncOption of a tag function of arity arguments. A tag
// function whose argument types are not the cached function's, or that
// panics, fails the call with an error.
func tagsBy(arity int, f func(args []any) []string) FuncOption {
	return funcOption(func(c *funcConfig) {
		c.tagsArity = arity
		c.tagsOf = func(args []any) (tags []string, err error) {
			defer tagFuncPanicked(&err)
			return f(args), nil
		}
	})
}

// tagFuncPanicked turns a panic of a tag function into *err, wrapping
// ErrInvalidTag. It must be deferred directly.
func tagFuncPanicked(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: the tag function panicked: %v", ErrInvalidTag, p)
	}
}
