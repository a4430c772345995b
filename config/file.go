package config

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

// ErrUnknownRegion is wrapped by Regions.Region for a name the
// configuration does not declare.
var ErrUnknownRegion = errors.New("config: unknown region")

// EnvPrefix starts the names of the environment variables that override a
// region's fields: CORRAL_REGIONS_<NAME>_<FIELD>, where NAME is the
// region's name and FIELD the field's, upper-cased, with every byte other
// than a letter or digit replaced by '_' (CORRAL_REGIONS_USERS_LOCK_TTL).
const EnvPrefix = "CORRAL_REGIONS_"

// DefaultURL is the URL of a region that names none: an in-process memory
// backend.
const DefaultURL = "memory://"

// Error is an error in a configuration: it names where the value came from
// (the file and line, or the environment variable) and the field. It wraps
// region.ErrInvalidConfig and the cause.
type Error struct {
	// File and Line locate the value in the file; Line is zero for an
	// error about the file as a whole.
	File string
	Line int
	// Env names the environment variable the value came from, if it did.
	Env string
	// Field is the value's path, such as "regions.users.expiration".
	Field string
	// Err is the cause.
	Err error
}

// Error returns "file:line: field: cause", or "environment VAR: field:
// cause" for a value from the environment.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Env != "":
		fmt.Fprintf(&b, "environment %s", e.Env)
	case e.Line > 0:
		fmt.Fprintf(&b, "%s:%d", e.File, e.Line)
	default:
		b.WriteString(e.File)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns region.ErrInvalidConfig and the cause.
func (e *Error) Unwrap() []error { return []error{region.ErrInvalidConfig, e.Err} }

// Options adjust Load and Parse. The zero value is ready to use.
type Options struct {
	// Environ is the environment, as "NAME=value" strings, that ${NAME} in
	// URLs and the CORRAL_REGIONS_… overrides are read from. Default:
	// os.Environ().
	Environ []string
	// Configure, when set, is called for each region with the Config
	// built from the file and the environment, before the region is made:
	// it sets what a file cannot hold (Logger, ShouldCache, Clock,
	// KeyMangler). An error it returns fails the load.
	Configure func(name string, c *region.Config) error
}

// Load reads the YAML configuration file at path, applies the environment
// overrides, and makes every region it declares. The file looks like:
//
//	defaults:                      # optional: fields every region starts from
//	  url: redis://:${REDIS_PASSWORD}@cache.internal:6379/0
//	  lock_wait: 5s
//	regions:
//	  users:
//	    expiration: 10m
//	    grace: 5m
//	  sessions:
//	    url: memcached://10.0.0.1:11211,10.0.0.2:11211
//	    expiration: 30m
//	    serializer: json
//
// A region's fields, each mapped to region.Config: url (see Open; default
// DefaultURL), serializer (msgpack, json or raw), compress_above (bytes),
// expiration, grace, lock_ttl, lock_wait, invalidation_refresh,
// breaker_cooldown (durations such as 250ms or 10m), breaker_threshold,
// stale (serve or block), background_regeneration, fail_closed (true or
// false) and namespace.
//
// Secrets come from the environment only: a url writes ${NAME} where the
// value of the environment variable NAME goes (an undefined one is an
// error), and a password written literally in the file is refused. The
// environment variable CORRAL_REGIONS_<NAME>_<FIELD> (see EnvPrefix)
// replaces a field of a region, the url included (where it may hold a
// password); one that names no region or field is an error. No error or log
// line holds a password: URLs are shown redacted (redisstore.RedactURL).
//
// Unknown keys, malformed URLs, durations, numbers and serializers are
// errors (*Error) naming the file, the line and the field; every error wraps
// region.ErrInvalidConfig. Regions that name the same URL share one
// Connection. On error, whatever was made is closed.
func Load(path string, o Options) (*Regions, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", region.ErrInvalidConfig, err)
	}
	return Parse(path, data, o)
}

// Parse is Load for a file already read: filename names it in errors.
func Parse(filename string, data []byte, o Options) (*Regions, error) {
	specs, err := parse(filename, data)
	if err != nil {
		return nil, err
	}
	env := o.Environ
	if env == nil {
		env = os.Environ()
	}
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if err := applyEnv(specs, env); err != nil {
		return nil, err
	}
	return build(specs, vars, o.Configure)
}

// position is where a value came from.
type position struct {
	file string
	line int
	env  string
}

func (p position) errorf(field, format string, args ...any) *Error {
	return &Error{File: p.file, Line: p.line, Env: p.env, Field: field, Err: fmt.Errorf(format, args...)}
}

// value is one field's value and where it came from.
type value struct {
	text string
	at   position
}

// regionSpec is one region as the file and the environment declare it.
type regionSpec struct {
	name   string
	at     position // of its name
	fields map[string]value
}

// fields maps each field a region takes to how it goes into a
// region.Config. url is handled apart.
var fields = map[string]func(c *region.Config, v string) error{
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
	"compress_above":          intField(func(c *region.Config) *int { return &c.CompressAbove }, 0),
	"breaker_threshold":       intField(func(c *region.Config) *int { return &c.BreakerThreshold }, -1<<31),
	"expiration":              durationField(func(c *region.Config) *time.Duration { return &c.Expiration }),
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
}

// fieldNames lists the fields a region takes, url first.
func fieldNames() []string {
	names := []string{"url"}
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names[1:])
	return names
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
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 250ms, 30s or 10m", v)
		}
		if d < 0 {
			return fmt.Errorf("%q is negative", v)
		}
		*ptr(c) = d
		return nil
	}
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

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads the YAML file into region specs, defaults applied.
func parse(filename string, data []byte) ([]*regionSpec, error) {
	file := position{file: filename}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml's syntax errors name the line ("yaml: line 3: …").
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: filename, Line: line, Err: errors.New(m[2])}
		}
		return nil, &Error{File: filename, Err: err}
	}
	if len(doc.Content) == 0 {
		return nil, file.errorf("", "empty: want a regions: mapping")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, (position{filename, top.Line, ""}).errorf("", "want a mapping with regions:")
	}
	var defaults map[string]value
	var regionsNode *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		at := position{filename, k.Line, ""}
		if seen[k.Value] {
			return nil, at.errorf(k.Value, "given twice")
		}
		seen[k.Value] = true
		switch k.Value {
		case "defaults":
			var err error
			if defaults, err = parseFields(filename, "defaults", v); err != nil {
				return nil, err
			}
		case "regions":
			regionsNode = v
		default:
			return nil, at.errorf(k.Value, "unknown key: want defaults or regions")
		}
	}
	if regionsNode == nil {
		return nil, file.errorf("regions", "missing: declare at least one region")
	}
	if regionsNode.Kind != yaml.MappingNode || len(regionsNode.Content) == 0 {
		return nil, (position{filename, regionsNode.Line, ""}).errorf("regions", "want a mapping of region names to their fields")
	}
	var specs []*regionSpec
	for i := 0; i+1 < len(regionsNode.Content); i += 2 {
		k, v := regionsNode.Content[i], regionsNode.Content[i+1]
		at := position{filename, k.Line, ""}
		name := k.Value
		if k.Kind != yaml.ScalarNode || name == "" {
			return nil, at.errorf("regions", "a region name must be a non-empty string")
		}
		for _, s := range specs {
			if s.name == name {
				return nil, at.errorf("regions."+name, "declared twice (also on line %d)", s.at.line)
			}
			if envName(s.name) == envName(name) {
				return nil, at.errorf("regions."+name, "its environment name %s%s_… is also region %q's (line %d)", EnvPrefix, envName(name), s.name, s.at.line)
			}
		}
		own := map[string]value{}
		if v = resolve(v); !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			var err error
			if own, err = parseFields(filename, "regions."+name, v); err != nil {
				return nil, err
			}
		}
		spec := &regionSpec{name: name, at: at, fields: map[string]value{}}
		for f, val := range defaults {
			spec.fields[f] = val
		}
		for f, val := range own {
			spec.fields[f] = val
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// parseFields reads a mapping of region fields, at path.
func parseFields(filename, path string, n *yaml.Node) (map[string]value, error) {
	return parseFieldsDepth(filename, path, n, 0)
}

// parseFieldsDepth is parseFields within depth YAML merges ("<<: *anchor",
// whose fields the mapping's own replace).
func parseFieldsDepth(filename, path string, n *yaml.Node, depth int) (map[string]value, error) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return nil, (position{filename, n.Line, ""}).errorf(path, "want a mapping of fields (%s)", strings.Join(fieldNames(), ", "))
	}
	if depth > 8 {
		return nil, (position{filename, n.Line, ""}).errorf(path, "merges (<<) nested too deep")
	}
	out := map[string]value{}
	merged := map[string]value{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		at := position{filename, k.Line, ""}
		if k.Tag == "!!merge" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, src := range srcs {
				m, err := parseFieldsDepth(filename, path, src, depth+1)
				if err != nil {
					return nil, err
				}
				for f, val := range m {
					if _, set := merged[f]; !set {
						merged[f] = val
					}
				}
			}
			continue
		}
		field := path + "." + k.Value
		if _, known := fields[k.Value]; !known && k.Value != "url" {
			return nil, at.errorf(field, "unknown field (known: %s)", strings.Join(fieldNames(), ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, at.errorf(field, "given twice")
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return nil, (position{filename, v.Line, ""}).errorf(field, "want a value such as a string, number, duration or boolean")
		}
		out[k.Value] = value{text: v.Value, at: position{filename, v.Line, ""}}
	}
	for f, val := range merged {
		if _, own := out[f]; !own {
			out[f] = val
		}
	}
	return out, nil
}

// resolve follows YAML aliases (*anchor) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// envName is a region's (or field's) name as it appears in environment
// variable names.
func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// applyEnv applies the CORRAL_REGIONS_<NAME>_<FIELD> variables of env.
func applyEnv(specs []*regionSpec, env []string) error {
	names := fieldNames()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(k, EnvPrefix)
		if !ok {
			continue
		}
		at := position{env: k}
		var match *regionSpec
		var field string
		for _, s := range specs {
			prefix := envName(s.name) + "_"
			f, ok := strings.CutPrefix(rest, prefix)
			if !ok {
				continue
			}
			for _, n := range names {
				if envName(n) == f {
					if match != nil {
						return at.errorf("", "ambiguous: names a field of region %q and of region %q", match.name, s.name)
					}
					match, field = s, n
				}
			}
		}
		if match == nil {
			regions := make([]string, len(specs))
			for i, s := range specs {
				regions[i] = envName(s.name)
			}
			return at.errorf("", "names no region and field: want %s<REGION>_<FIELD>, REGION one of %s, FIELD one of %s",
				EnvPrefix, strings.Join(regions, ", "), strings.ToUpper(strings.Join(names, ", ")))
		}
		match.fields[field] = value{text: v, at: at}
	}
	return nil
}

// expand replaces ${NAME} in s with NAME's value in vars.
func expand(s string, vars map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${")
		}
		name := s[i+2 : i+end]
		v, ok := vars[name]
		if !ok || name == "" {
			return "", fmt.Errorf("environment variable %q is not set", name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

// literalPassword reports whether rawURL, as written in a file, holds a
// password that is not a ${NAME} reference.
func literalPassword(rawURL string) bool {
	_, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return false
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return false
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	if !ok || pw == "" {
		return false
	}
	return !(strings.HasPrefix(pw, "${") && strings.HasSuffix(pw, "}") && strings.Count(pw, "${") == 1)
}

// build makes the regions of specs, sharing one Connection per URL.
func build(specs []*regionSpec, vars map[string]string, configure func(string, *region.Config) error) (_ *Regions, err error) {
	rs := &Regions{regions: map[string]*region.Region{}, conns: map[string]*Connection{}}
	defer func() {
		if err != nil {
			_ = rs.Close()
		}
	}()
	byURL := map[string]*Connection{}
	for _, s := range specs {
		var cfg region.Config
		for _, f := range slices.Sorted(maps.Keys(s.fields)) {
			if f == "url" {
				continue
			}
			v := s.fields[f]
			if err := fields[f](&cfg, v.text); err != nil {
				return nil, &Error{File: v.at.file, Line: v.at.line, Env: v.at.env, Field: "regions." + s.name + "." + f, Err: err}
			}
		}
		rawURL := DefaultURL
		if v, ok := s.fields["url"]; ok {
			field := "regions." + s.name + ".url"
			rawURL = v.text
			if v.at.env == "" {
				if literalPassword(rawURL) {
					return nil, v.at.errorf(field, "%s holds a password: put it in the environment and write ${NAME} in its place", redisstore.RedactURL(rawURL))
				}
				if rawURL, err = expand(rawURL, vars); err != nil {
					return nil, v.at.errorf(field, "%v", err)
				}
			}
			if _, ok := byURL[rawURL]; !ok {
				conn, err := Open(rawURL)
				if err != nil {
					return nil, &Error{File: v.at.file, Line: v.at.line, Env: v.at.env, Field: field, Err: err}
				}
				byURL[rawURL] = conn
			}
		} else if _, ok := byURL[rawURL]; !ok {
			conn, err := Open(rawURL)
			if err != nil {
				return nil, s.at.errorf("regions."+s.name, "%v", err)
			}
			byURL[rawURL] = conn
		}
		conn := byURL[rawURL]
		if !slices.Contains(rs.owned, conn) {
			rs.owned = append(rs.owned, conn)
		}
		cfg = conn.Apply(cfg)
		if configure != nil {
			if err := configure(s.name, &cfg); err != nil {
				return nil, &Error{File: s.at.file, Line: s.at.line, Field: "regions." + s.name, Err: err}
			}
		}
		r, err := region.New(s.name, cfg)
		if err != nil {
			return nil, &Error{File: s.at.file, Line: s.at.line, Field: "regions." + s.name, Err: err}
		}
		rs.names = append(rs.names, s.name)
		rs.regions[s.name] = r
		rs.conns[s.name] = conn
	}
	return rs, nil
}

// Regions holds the regions a configuration declares, by name, and the
// connections they use. Make it once at application setup with Load and
// close it once at shutdown. It is safe for concurrent use.
type Regions struct {
	names   []string // in the file's order
	regions map[string]*region.Region
	conns   map[string]*Connection // by region name
	owned   []*Connection          // each once

	closeOnce sync.Once
	closeErr  error
}

// Region returns the region called name, or an error wrapping
// ErrUnknownRegion that lists the declared ones.
func (rs *Regions) Region(name string) (*region.Region, error) {
	r, ok := rs.regions[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (declared: %s)", ErrUnknownRegion, name, strings.Join(rs.names, ", "))
	}
	return r, nil
}

// Names returns the names of the regions, in the order the file declares
// them.
func (rs *Regions) Names() []string { return slices.Clone(rs.names) }

// Connection returns the connection the region called name uses (its
// String is the URL without secrets), or an error wrapping
// ErrUnknownRegion.
func (rs *Regions) Connection(name string) (*Connection, error) {
	c, ok := rs.conns[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (declared: %s)", ErrUnknownRegion, name, strings.Join(rs.names, ", "))
	}
	return c, nil
}

// Ping checks every connection once (see Connection.Ping), for a startup
// check. The errors, each naming its regions and their URL without
// secrets, are joined; a nil ctx gives region.ErrNilContext.
func (rs *Regions) Ping(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("config: ping: %w", region.ErrNilContext)
	}
	var errs []error
	for _, c := range rs.owned {
		if err := c.Ping(ctx); err != nil {
			var users []string
			for _, n := range rs.names {
				if rs.conns[n] == c {
					users = append(users, n)
				}
			}
			errs = append(errs, fmt.Errorf("regions %s: %w", strings.Join(users, ", "), err))
		}
	}
	return errors.Join(errs...)
}

// Close closes every region, then every connection; the errors are
// joined. Later calls return the first call's result.
func (rs *Regions) Close() error {
	rs.closeOnce.Do(func() {
		var errs []error
		for _, n := range rs.names {
			if err := rs.regions[n].Close(); err != nil {
				errs = append(errs, fmt.Errorf("region %q: %w", n, err))
			}
		}
		for _, c := range rs.owned {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c, err))
			}
		}
		rs.closeErr = errors.Join(errs...)
	})
	return rs.closeErr
}
