package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

// A region's fields, as the file names them. A block's fields are named
// block.field ("near.max_entries"), which is also how environment
// variables name them (CORRAL_REGIONS_USERS_NEAR_MAX_ENTRIES).
//
// setters holds the fields that go straight into a region.Config; build
// reads the others itself: url, near.tracking_timeout (an option of the
// Redis store, shared by the regions on one URL) and the keyring.
var setters = map[string]func(c *region.Config, v string) error{
	"serializer": func(c *region.Config, v string) error {
		switch v {
		case "msgpack":
			c.Serializer = serializer.NewMsgPack()
		case "json":
			c.Serializer = serializer.JSON{}
		case "raw":
			c.Serializer = serializer.Raw{}
		default:
			return fmt.Errorf("unknown serializer %q: want msgpack, json or raw", v)
		}
		return nil
	},
	"compress_above":    intField(func(c *region.Config) *int { return &c.CompressAbove }, 0),
	"breaker_threshold": intField(func(c *region.Config) *int { return &c.BreakerThreshold }, -1<<31),
	"expiration": func(c *region.Config, v string) error {
		if v == "never" {
			c.Expiration = 0
			return nil
		}
		return durationField(func(c *region.Config) *time.Duration { return &c.Expiration })(c, v)
	},
	"negative_expiration":     durationField(func(c *region.Config) *time.Duration { return &c.NegativeExpiration }),
	"grace":                   durationField(func(c *region.Config) *time.Duration { return &c.Grace }),
	"lock_ttl":                durationField(func(c *region.Config) *time.Duration { return &c.LockTTL }),
	"lock_wait":               durationField(func(c *region.Config) *time.Duration { return &c.LockWait }),
	"invalidation_refresh":    durationField(func(c *region.Config) *time.Duration { return &c.InvalidationRefresh }),
	"breaker_cooldown":        durationField(func(c *region.Config) *time.Duration { return &c.BreakerCooldown }),
	"background_regeneration": boolField(func(c *region.Config) *bool { return &c.BackgroundRegeneration }),
	"fail_closed":             boolField(func(c *region.Config) *bool { return &c.FailClosed }),
	"namespace": func(c *region.Config, v string) error {
		c.Namespace = v
		return nil
	},
	"stale": func(c *region.Config, v string) error {
		switch v {
		case "serve":
			c.Stale = region.ServeStale
		case "block":
			c.Stale = region.BlockOnStale
		default:
			return fmt.Errorf("unknown stale policy %q: want serve or block", v)
		}
		return nil
	},
	"near.max_entries":      intField(func(c *region.Config) *int { return &c.Near.MaxEntries }, 0),
	"near.max_staleness":    durationField(func(c *region.Config) *time.Duration { return &c.Near.MaxStaleness }),
	"early_refresh.enabled": boolField(func(c *region.Config) *bool { return &c.EarlyRefresh.Enabled }),
	"early_refresh.beta": func(c *region.Config, v string) error {
		b, err := strconv.ParseFloat(v, 64)
		if err != nil || b < 0 || math.IsInf(b, 0) || math.IsNaN(b) {
			return fmt.Errorf("%q is not a number ≥ 0 such as 1 or 1.5", v)
		}
		// Beta only matters to an enabled early refresh; region.New
		// refuses it without, so it is set once Enabled is known.
		c.EarlyRefresh.Beta = b
		return nil
	},
}

// Fields build reads itself.
const (
	fieldURL             = "url"
	fieldTrackingTimeout = "near.tracking_timeout"
	fieldKeyringCurrent  = "keyring.current"
	keyringKeysPrefix    = "keyring.keys." // + a key ID
)

// blocks are the fields that hold a mapping of fields, with those fields.
// keyring.keys holds key IDs, each with its key.
var blocks = map[string][]string{
	"near":          {"max_entries", "max_staleness", "tracking_timeout"},
	"early_refresh": {"enabled", "beta"},
	"keyring":       {"current", "keys"},
}

// blockRequires is the field of each block that must be given when any of
// the block's fields is.
var blockRequires = map[string]string{
	"near":          "near.max_entries",
	"early_refresh": "early_refresh.enabled",
}

// topNames lists what a region's mapping may hold, url first.
func topNames() []string {
	var names []string
	for n := range setters {
		if !strings.Contains(n, ".") {
			names = append(names, n)
		}
	}
	for b := range blocks {
		names = append(names, b)
	}
	slices.Sort(names)
	return append([]string{fieldURL}, names...)
}

// flatNames lists every field by its flat name, keyring keys as
// keyring.keys.<id>: what environment variables name.
func flatNames() []string {
	names := []string{fieldURL, fieldTrackingTimeout, fieldKeyringCurrent}
	for n := range setters {
		names = append(names, n)
	}
	slices.Sort(names[1:])
	return append(names, keyringKeysPrefix+"<id>")
}

// envField returns the field that f, a field's name as environment
// variables spell it (NEAR_MAX_ENTRIES, KEYRING_KEYS_2), names.
func envField(f string) (string, bool) {
	for _, n := range flatNames() {
		if envName(n) == f {
			return n, true
		}
	}
	if id, ok := strings.CutPrefix(f, envName(keyringKeysPrefix)); ok {
		if n, err := strconv.ParseUint(id, 10, 32); err == nil {
			return keyringKeysPrefix + strconv.FormatUint(n, 10), true
		}
	}
	return "", false
}

func intField(ptr func(*region.Config) *int, min int) func(*region.Config, string) error {
	return func(c *region.Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			if min == 0 {
				return fmt.Errorf("%q is not a non-negative integer", v)
			}
			return fmt.Errorf("%q is not an integer", v)
		}
		*ptr(c) = n
		return nil
	}
}

func durationField(ptr func(*region.Config) *time.Duration) func(*region.Config, string) error {
	return func(c *region.Config, v string) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		*ptr(c) = d
		return nil
	}
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 250ms, 30s or 10m", v)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", v)
	}
	return d, nil
}

func boolField(ptr func(*region.Config) *bool) func(*region.Config, string) error {
	return func(c *region.Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*ptr(c) = b
		return nil
	}
}

// trackingTimeout reads near.tracking_timeout: longer than the heartbeat's
// ping interval, which it bounds the answer to.
func trackingTimeout(v string) (time.Duration, error) {
	d, err := parseDuration(v)
	if err != nil {
		return 0, err
	}
	if d <= redisstore.DefaultTrackingPing {
		return 0, fmt.Errorf("%q does not exceed the tracking ping interval (%v)", v, redisstore.DefaultTrackingPing)
	}
	return d, nil
}

// envRef matches a value that is exactly one ${NAME} reference.
var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// buildKeyring makes the keyring of a region's fields, or returns nil
// without keyring fields. A key written in the file must be a ${NAME}
// reference; one from an environment override is the key itself. No error
// holds a key.
func buildKeyring(s *regionSpec, vars map[string]string) (*serializer.Keyring, *Error) {
	keys := map[uint32][]byte{}
	defer func() {
		for _, k := range keys {
			clear(k)
		}
	}()
	field := func(f string) string { return "regions." + s.name + "." + f }
	var first *value
	for _, f := range slices.Sorted(maps.Keys(s.fields)) {
		idText, ok := strings.CutPrefix(f, keyringKeysPrefix)
		if !ok {
			continue
		}
		v := s.fields[f]
		if first == nil {
			first = &v
		}
		id, _ := strconv.ParseUint(idText, 10, 32) // checked when read
		secret, from := v.text, "environment variable "+v.at.env
		if v.at.env == "" {
			m := envRef.FindStringSubmatch(v.text)
			if m == nil {
				return nil, v.at.errorf(field(f), "a key written in the file: put it in the environment and write ${NAME} in its place")
			}
			var set bool
			if secret, set = vars[m[1]]; !set {
				return nil, v.at.errorf(field(f), "environment variable %q is not set", m[1])
			}
			from = "environment variable " + m[1]
		}
		key, err := decodeKey(secret)
		if err != nil {
			return nil, v.at.errorf(field(f), "%s does not hold a key: %v", from, err)
		}
		keys[uint32(id)] = key
	}
	cur, hasCur := s.fields[fieldKeyringCurrent]
	if len(keys) == 0 {
		if hasCur {
			return nil, cur.at.errorf(field(fieldKeyringCurrent), "no keyring.keys: list the keys by ID")
		}
		return nil, nil
	}
	var current uint32
	switch {
	case hasCur:
		n, err := strconv.ParseUint(cur.text, 10, 32)
		if err != nil {
			return nil, cur.at.errorf(field(fieldKeyringCurrent), "%q is not a key ID (0 to 4294967295)", cur.text)
		}
		current = uint32(n)
	case len(keys) == 1:
		for id := range keys {
			current = id
		}
	default:
		return nil, first.at.errorf(field("keyring"), "%d keys and no keyring.current: say which key encrypts new entries", len(keys))
	}
	k, err := serializer.NewKeyring(current, keys)
	if err != nil {
		at, f := first.at, field("keyring")
		if hasCur {
			at, f = cur.at, field(fieldKeyringCurrent)
		}
		return nil, at.errorf(f, "%v", err)
	}
	return k, nil
}

// decodeKey decodes a key of serializer.KeySize bytes, written in base64
// (standard or URL alphabet, padded or not) or in hex. Its errors never
// hold the text.
func decodeKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if len(text) == 2*serializer.KeySize {
		if b, err := hex.DecodeString(text); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil {
			if len(b) == serializer.KeySize {
				return b, nil
			}
			clear(b)
			return nil, fmt.Errorf("%d bytes of base64, want %d (make one with: openssl rand -base64 %d)", len(b), serializer.KeySize, serializer.KeySize)
		}
	}
	return nil, fmt.Errorf("neither base64 nor %d hex digits (make one with: openssl rand -base64 %d)", 2*serializer.KeySize, serializer.KeySize)
}
