package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/lock"
	"github.com/corralcache/corral/region"
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
	// Schemes adds URL schemes that other modules provide, by scheme (what
	// comes before "://"), to the built-in ones: for a SQLite file,
	//
	//	config.Options{Schemes: map[string]config.Opener{"disk": diskstore.OpenURL}}
	//
	// There is no global list of schemes: a scheme exists for the Load,
	// Parse or OpenWith given it. A built-in scheme cannot be replaced.
	Schemes map[string]Opener
}

// EnvDefaultsPrefix starts the names of the environment variables that
// override a field of the defaults: block, CORRAL_DEFAULTS_<FIELD>
// (CORRAL_DEFAULTS_LOCK_WAIT=2s). Such a value takes the place of the
// block's: it applies to every region that does not set the field itself
// (a region's own field, and CORRAL_REGIONS_<NAME>_<FIELD>, beat it).
const EnvDefaultsPrefix = "CORRAL_DEFAULTS_"

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
//	    near:                      # a near cache in each process
//	      max_entries: 10000
//	    keyring:                   # encryption: keys by ID, from the environment
//	      current: 2
//	      keys:
//	        1: ${CORRAL_KEY_1}
//	        2: ${CORRAL_KEY_2}
//	  sessions:
//	    url: memcached://10.0.0.1:11211,10.0.0.2:11211
//	    expiration: 30m
//	    serializer: json
//	    early_refresh:
//	      enabled: true
//
// A region's fields, each mapped to region.Config: url (see Open; default
// DefaultURL), serializer (msgpack, json or raw), compress_above (bytes),
// expiration (a duration, or never), negative_expiration, grace, lock_ttl,
// lock_wait, invalidation_refresh, breaker_cooldown (durations such as
// 250ms or 10m), breaker_threshold, stale (serve or block),
// background_regeneration, fail_closed (true or false) and namespace; and
// the blocks near (max_entries, max_staleness, and tracking_timeout, the
// Redis store's redisstore.Options.TrackingTimeout), early_refresh
// (enabled, beta) and keyring (current, and keys: key IDs with their keys).
// docs/config.md lists them all with their defaults.
//
// NOTE: a region without expiration keeps its entries until they are
// evicted or invalidated: they never go stale. Load logs a warning for
// such a region (to its Config.Logger, or slog.Default()); write
// expiration: never to say that this is meant.
//
// Secrets come from the environment only: a url writes ${NAME} where the
// value of the environment variable NAME goes (an undefined one is an
// error), and a password written literally in the file is refused; so is a
// key of keyring.keys that is not exactly ${NAME}. The environment variable
// CORRAL_REGIONS_<NAME>_<FIELD> (see EnvPrefix) replaces a field of a
// region, the url and keys included (where it holds the secret itself);
// CORRAL_DEFAULTS_<FIELD> (see EnvDefaultsPrefix) one of the defaults. A
// block's fields are named BLOCK_FIELD there (NEAR_MAX_ENTRIES,
// KEYRING_KEYS_2). A variable that names no region or field is an error. No
// error or log line holds a password or a key: URLs are shown redacted
// (redisstore.RedactURL).
//
// A region's own block (near, early_refresh, keyring) replaces the
// defaults' block of that name as a whole; other fields replace the
// defaults' one by one.
//
// Unknown keys, malformed URLs, durations, numbers and serializers are
// errors (*Error) naming the file, the line and the field; every error wraps
// region.ErrInvalidConfig. Regions that name the same URL share one
// Connection (and must agree on near.tracking_timeout, an option of the
// Redis store they share). On error, whatever was made is closed.
func Load(path string, o Options) (*Regions, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", region.ErrInvalidConfig, err)
	}
	return Parse(path, data, o)
}

// Parse is Load for a file already read: filename names it in errors.
func Parse(filename string, data []byte, o Options) (*Regions, error) {
	if err := checkSchemes(o.Schemes); err != nil {
		return nil, err
	}
	defaults, specs, err := parse(filename, data)
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
	if err := applyDefaultsEnv(defaults, env); err != nil {
		return nil, err
	}
	for _, s := range specs {
		mergeDefaults(s, defaults)
	}
	if err := applyEnv(specs, env); err != nil {
		return nil, err
	}
	return build(specs, vars, o)
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

// where names p for a message: "file:line" or "environment VAR".
func (p position) where() string {
	if p.env != "" {
		return "environment " + p.env
	}
	return p.file + ":" + strconv.Itoa(p.line)
}

// value is one field's value and where it came from.
type value struct {
	text string
	at   position
}

// regionSpec is one region as the file and the environment declare it.
type regionSpec struct {
	name   string
	at     position         // of its name
	fields map[string]value // by flat name (near.max_entries)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads the YAML file into the defaults' fields and the region
// specs, each with its own fields only.
func parse(filename string, data []byte) (map[string]value, []*regionSpec, error) {
	file := position{file: filename}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml's syntax errors name the line ("yaml: line 3: …").
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, nil, &Error{File: filename, Line: line, Err: errors.New(m[2])}
		}
		return nil, nil, &Error{File: filename, Err: err}
	}
	if len(doc.Content) == 0 {
		return nil, nil, file.errorf("", "empty: want a regions: mapping")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, nil, (position{filename, top.Line, ""}).errorf("", "want a mapping with regions:")
	}
	defaults := map[string]value{}
	var regionsNode *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		at := position{filename, k.Line, ""}
		if seen[k.Value] {
			return nil, nil, at.errorf(k.Value, "given twice")
		}
		seen[k.Value] = true
		switch k.Value {
		case "defaults":
			var err error
			if defaults, err = parseFields(filename, "defaults", v); err != nil {
				return nil, nil, err
			}
		case "regions":
			regionsNode = v
		default:
			return nil, nil, at.errorf(k.Value, "unknown key: want defaults or regions")
		}
	}
	if regionsNode == nil {
		return nil, nil, file.errorf("regions", "missing: declare at least one region")
	}
	if regionsNode.Kind != yaml.MappingNode || len(regionsNode.Content) == 0 {
		return nil, nil, (position{filename, regionsNode.Line, ""}).errorf("regions", "want a mapping of region names to their fields")
	}
	var specs []*regionSpec
	for i := 0; i+1 < len(regionsNode.Content); i += 2 {
		k, v := regionsNode.Content[i], regionsNode.Content[i+1]
		at := position{filename, k.Line, ""}
		name := k.Value
		if k.Kind != yaml.ScalarNode || name == "" {
			return nil, nil, at.errorf("regions", "a region name must be a non-empty string")
		}
		for _, s := range specs {
			if s.name == name {
				return nil, nil, at.errorf("regions."+name, "declared twice (also on line %d)", s.at.line)
			}
			if envName(s.name) == envName(name) {
				return nil, nil, at.errorf("regions."+name, "its environment name %s%s_… is also region %q's (line %d)", EnvPrefix, envName(name), s.name, s.at.line)
			}
		}
		own := map[string]value{}
		if v = resolve(v); !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			var err error
			if own, err = parseFields(filename, "regions."+name, v); err != nil {
				return nil, nil, err
			}
		}
		specs = append(specs, &regionSpec{name: name, at: at, fields: own})
	}
	return defaults, specs, nil
}

// mergeDefaults adds to s the defaults' fields it does not set: a block
// s sets any field of (near.*) replaces the defaults' block as a whole.
func mergeDefaults(s *regionSpec, defaults map[string]value) {
	ownBlocks := map[string]bool{}
	for f := range s.fields {
		if b, _, ok := strings.Cut(f, "."); ok {
			ownBlocks[b] = true
		}
	}
	for f, v := range defaults {
		if b, _, ok := strings.Cut(f, "."); ok && ownBlocks[b] {
			continue
		}
		if _, own := s.fields[f]; !own {
			s.fields[f] = v
		}
	}
}

// parseFields reads a mapping of region fields, at path, into values by
// flat name.
func parseFields(filename, path string, n *yaml.Node) (map[string]value, error) {
	out := map[string]value{}
	if err := parseFieldsDepth(filename, path, "", n, out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// parseFieldsDepth reads the fields of mapping n, within block (a block's
// name and a dot, or "" for the region's own mapping), into out; depth
// counts YAML merges ("<<: *anchor", whose fields the mapping's own
// replace) and blocks.
func parseFieldsDepth(filename, path, block string, n *yaml.Node, out map[string]value, depth int) error {
	n = resolve(n)
	known := topNames()
	if block != "" {
		known = blocks[strings.TrimSuffix(block, ".")]
	}
	if n.Kind != yaml.MappingNode {
		return (position{filename, n.Line, ""}).errorf(path, "want a mapping of fields (%s)", strings.Join(known, ", "))
	}
	if depth > 8 {
		return (position{filename, n.Line, ""}).errorf(path, "merges (<<) nested too deep")
	}
	merged := map[string]value{}
	own := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		at := position{filename, k.Line, ""}
		if k.Tag == "!!merge" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, src := range srcs {
				m := map[string]value{}
				if err := parseFieldsDepth(filename, path, block, src, m, depth+1); err != nil {
					return err
				}
				for f, val := range m {
					if _, set := merged[f]; !set {
						merged[f] = val
					}
				}
			}
			continue
		}
		flat := block + k.Value
		field := path + "." + k.Value
		if !slices.Contains(known, k.Value) {
			return at.errorf(field, "unknown field (known: %s)", strings.Join(known, ", "))
		}
		if own[k.Value] {
			return at.errorf(field, "given twice")
		}
		own[k.Value] = true
		switch {
		case flat == "keyring.keys":
			if err := parseKeys(filename, field, v, out); err != nil {
				return err
			}
			continue
		case blocks[flat] != nil:
			if err := parseFieldsDepth(filename, field, flat+".", v, out, depth+1); err != nil {
				return err
			}
			continue
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return (position{filename, v.Line, ""}).errorf(field, "want a value such as a string, number, duration or boolean")
		}
		out[flat] = value{text: v.Value, at: position{filename, v.Line, ""}}
	}
	for f, val := range merged {
		name, _ := strings.CutPrefix(f, block)
		name, _, _ = strings.Cut(name, ".")
		if !own[name] {
			out[f] = val
		}
	}
	return nil
}

// parseKeys reads keyring.keys, a mapping of key IDs to keys, at path.
func parseKeys(filename, path string, n *yaml.Node, out map[string]value) error {
	n = resolve(n)
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return (position{filename, n.Line, ""}).errorf(path, "want a mapping of key IDs to keys (1: ${CORRAL_KEY_1})")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		at := position{filename, k.Line, ""}
		id, err := strconv.ParseUint(k.Value, 10, 32)
		if err != nil || k.Kind != yaml.ScalarNode {
			return at.errorf(path+"."+k.Value, "%q is not a key ID (0 to 4294967295)", k.Value)
		}
		flat := keyringKeysPrefix + strconv.FormatUint(id, 10)
		if _, dup := out[flat]; dup {
			return at.errorf(path+"."+k.Value, "key ID %d given twice", id)
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return (position{filename, v.Line, ""}).errorf(path+"."+k.Value, "want ${NAME}, the environment variable that holds the key")
		}
		out[flat] = value{text: v.Value, at: position{filename, v.Line, ""}}
	}
	return nil
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

// applyDefaultsEnv applies the CORRAL_DEFAULTS_<FIELD> variables of env to
// the defaults' fields.
func applyDefaultsEnv(defaults map[string]value, env []string) error {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		rest, ok := strings.CutPrefix(k, EnvDefaultsPrefix)
		if !ok {
			continue
		}
		field, ok := envField(rest)
		if !ok {
			return (position{env: k}).errorf("", "names no field: want %s<FIELD>, FIELD one of %s",
				EnvDefaultsPrefix, strings.ToUpper(strings.Join(envNames(), ", ")))
		}
		defaults[field] = value{text: v, at: position{env: k}}
	}
	return nil
}

// envNames lists the fields as environment variables spell them.
func envNames() []string {
	var out []string
	for _, n := range flatNames() {
		out = append(out, envName(strings.TrimSuffix(n, "<id>"))+strings.TrimPrefix(n, strings.TrimSuffix(n, "<id>")))
	}
	return out
}

// applyEnv applies the CORRAL_REGIONS_<NAME>_<FIELD> variables of env.
func applyEnv(specs []*regionSpec, env []string) error {
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
			f, ok := strings.CutPrefix(rest, envName(s.name)+"_")
			if !ok {
				continue
			}
			if n, ok := envField(f); ok {
				if match != nil {
					return at.errorf("", "ambiguous: names a field of region %q and of region %q", match.name, s.name)
				}
				match, field = s, n
			}
		}
		if match == nil {
			regions := make([]string, len(specs))
			for i, s := range specs {
				regions[i] = envName(s.name)
			}
			return at.errorf("", "names no region and field: want %s<REGION>_<FIELD>, REGION one of %s, FIELD one of %s",
				EnvPrefix, strings.Join(regions, ", "), strings.ToUpper(strings.Join(envNames(), ", ")))
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

// regionPlan is what build reads from one region's fields before any
// connection is opened.
type regionPlan struct {
	spec   *regionSpec
	cfg    region.Config
	url    string   // expanded
	urlAt  position // where the url came from; the region's name without one
	track  time.Duration
	trackV value // where near.tracking_timeout came from, if set
}

// plan reads the fields of s into a region.Config (without its backend),
// its URL and its store options.
func plan(s *regionSpec, vars map[string]string) (*regionPlan, error) {
	p := &regionPlan{spec: s, url: DefaultURL, urlAt: s.at}
	field := func(f string) string { return "regions." + s.name + "." + f }
	for b, req := range blockRequires {
		if _, ok := s.fields[req]; ok {
			continue
		}
		for _, f := range slices.Sorted(maps.Keys(s.fields)) {
			if strings.HasPrefix(f, b+".") {
				v := s.fields[f]
				return nil, v.at.errorf(field(req), "missing: %s needs %s too", f, req)
			}
		}
	}
	for _, f := range slices.Sorted(maps.Keys(s.fields)) {
		set, ok := setters[f]
		if !ok {
			continue
		}
		v := s.fields[f]
		if err := set(&p.cfg, v.text); err != nil {
			return nil, &Error{File: v.at.file, Line: v.at.line, Env: v.at.env, Field: field(f), Err: err}
		}
	}
	if !p.cfg.EarlyRefresh.Enabled {
		p.cfg.EarlyRefresh.Beta = 0 // read and checked, used only when enabled
	}
	keyring, kerr := buildKeyring(s, vars)
	if kerr != nil {
		return nil, kerr
	}
	p.cfg.Keyring = keyring
	if v, ok := s.fields[fieldTrackingTimeout]; ok {
		d, err := trackingTimeout(v.text)
		if err != nil {
			return nil, &Error{File: v.at.file, Line: v.at.line, Env: v.at.env, Field: field(fieldTrackingTimeout), Err: err}
		}
		p.track, p.trackV = d, v
	}
	if v, ok := s.fields[fieldURL]; ok {
		p.url, p.urlAt = v.text, v.at
		if v.at.env == "" {
			if literalPassword(p.url) {
				return nil, v.at.errorf(field(fieldURL), "%s holds a password: put it in the environment and write ${NAME} in its place", redisstore.RedactURL(p.url))
			}
			var err error
			if p.url, err = expand(p.url, vars); err != nil {
				return nil, v.at.errorf(field(fieldURL), "%v", err)
			}
		}
	}
	if p.track > 0 && !isRedisScheme(p.url) {
		return nil, p.trackV.at.errorf(field(fieldTrackingTimeout), "is an option of Redis's invalidation stream, and %s is not a Redis URL", redisstore.RedactURL(p.url))
	}
	return p, nil
}

// isRedisScheme reports whether rawURL is one of the Redis schemes, whose
// store takes near.tracking_timeout.
func isRedisScheme(rawURL string) bool {
	scheme, _, _ := strings.Cut(rawURL, "://")
	return strings.HasPrefix(scheme, "redis") && slices.Contains(builtinSchemes, scheme)
}

// urlField is the field an error about p's URL names: its url, or the
// region as a whole when the URL is the default.
func (p *regionPlan) urlError(err error) *Error {
	f := "regions." + p.spec.name
	if _, ok := p.spec.fields[fieldURL]; ok {
		f += "." + fieldURL
	}
	return &Error{File: p.urlAt.file, Line: p.urlAt.line, Env: p.urlAt.env, Field: f, Err: err}
}

// build makes the regions of specs, sharing one Connection per URL.
func build(specs []*regionSpec, vars map[string]string, o Options) (_ *Regions, err error) {
	var plans []*regionPlan
	tracking := map[string]*regionPlan{} // by URL: the first plan that sets near.tracking_timeout
	for _, s := range specs {
		p, err := plan(s, vars)
		if err != nil {
			return nil, err
		}
		if p.track > 0 {
			if q, ok := tracking[p.url]; ok && q.track != p.track {
				return nil, p.trackV.at.errorf("regions."+s.name+"."+fieldTrackingTimeout,
					"%v, but region %q on the same URL sets %v (%s): the regions on one URL share its store", p.track, q.spec.name, q.track, q.trackV.at.where())
			}
			tracking[p.url] = p
		}
		plans = append(plans, p)
	}
	rs := &Regions{regions: map[string]*region.Region{}, conns: map[string]*Connection{}, configs: map[string]region.Config{}}
	defer func() {
		if err != nil {
			_ = rs.Close()
		}
	}()
	byURL := map[string]*Connection{}
	breakers := breakerSet{}
	for _, p := range plans {
		name := p.spec.name
		conn, ok := byURL[p.url]
		if !ok {
			var so redisstore.Options
			if t, ok := tracking[p.url]; ok {
				so.TrackingTimeout = t.track
			}
			if conn, err = open(p.url, o.Schemes, so); err != nil {
				return nil, p.urlError(err)
			}
			byURL[p.url] = conn
			rs.owned = append(rs.owned, conn)
		}
		cfg := conn.Apply(p.cfg)
		if o.Configure != nil {
			if err := o.Configure(name, &cfg); err != nil {
				return nil, &Error{File: p.spec.at.file, Line: p.spec.at.line, Field: "regions." + name, Err: err}
			}
		}
		if err := breakers.share(conn, &cfg); err != nil {
			return nil, &Error{File: p.spec.at.file, Line: p.spec.at.line, Field: "regions." + name, Err: err}
		}
		r, err := region.New(name, cfg)
		if err != nil {
			return nil, &Error{File: p.spec.at.file, Line: p.spec.at.line, Field: "regions." + name, Err: err}
		}
		if _, set := p.spec.fields["expiration"]; !set {
			logger := cfg.Logger
			if logger == nil {
				logger = slog.Default()
			}
			logger.Warn("config: region has no expiration: its entries never go stale; write expiration: never if that is meant",
				"region", name, "file", p.spec.at.file)
		}
		rs.names = append(rs.names, name)
		rs.regions[name] = r
		rs.conns[name] = conn
		rs.configs[name] = cfg
	}
	return rs, nil
}

// breakerSet shares circuit breakers between the regions of one
// connection: they see the same servers, so one set of failures. Regions
// that set another threshold or cooldown get a breaker of their own.
type breakerSet map[breakerKey]*region.Breaker

type breakerKey struct {
	conn      *Connection
	locker    bool // the Locker's breaker, not the backend's
	threshold int
	cooldown  time.Duration
}

// share gives cfg the backend breaker of conn for its settings, and the
// locker breaker when it has a Locker of the connection's, unless cfg
// has breakers of its own (or none at all).
func (bs breakerSet) share(conn *Connection, cfg *region.Config) error {
	if cfg.BreakerThreshold < 0 {
		return nil
	}
	key := breakerKey{conn: conn, threshold: cfg.BreakerThreshold, cooldown: cfg.BreakerCooldown}
	if key.threshold == 0 {
		key.threshold = region.DefaultBreakerThreshold
	}
	if key.cooldown == 0 {
		key.cooldown = region.DefaultBreakerCooldown
	}
	get := func(key breakerKey) (*region.Breaker, error) {
		if b, ok := bs[key]; ok {
			return b, nil
		}
		b, err := region.NewBreaker(key.threshold, key.cooldown)
		if err != nil {
			return nil, err
		}
		bs[key] = b
		return b, nil
	}
	var err error
	if cfg.Breaker == nil {
		if cfg.Breaker, err = get(key); err != nil {
			return err
		}
	}
	if cfg.LockerBreaker == nil && cfg.Locker != nil && sameLocker(cfg.Locker, conn.Locker) {
		key.locker = true
		if cfg.LockerBreaker, err = get(key); err != nil {
			return err
		}
	}
	return nil
}

// sameLocker reports whether a and b are one Locker (false for lockers
// that cannot be compared).
func sameLocker(a, b lock.Locker) bool {
	if b == nil || !reflect.TypeOf(a).Comparable() || reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	return a == b
}

// Regions holds the regions a configuration declares, by name, and the
// connections they use. Make it once at application setup with Load and
// close it once at shutdown. It is safe for concurrent use.
type Regions struct {
	names   []string // in the file's order
	regions map[string]*region.Region
	conns   map[string]*Connection   // by region name
	configs map[string]region.Config // by region name, as given to region.New
	owned   []*Connection            // each once

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

// Config returns the region.Config the region called name was made with
// (after Options.Configure; defaults that region.New fills in are not
// shown), for a description of its settings, or an error wrapping
// ErrUnknownRegion. Its Keyring's String names key IDs, never keys.
func (rs *Regions) Config(name string) (region.Config, error) {
	c, ok := rs.configs[name]
	if !ok {
		return region.Config{}, fmt.Errorf("%w %q (declared: %s)", ErrUnknownRegion, name, strings.Join(rs.names, ", "))
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
