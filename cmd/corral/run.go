package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/corralcache/corral/backend/redisstore"
	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/keyreg"
	"github.com/corralcache/corral/region"
)

// Exit statuses.
const (
	exitOK       = 0
	exitNotFound = 1 // also: the operation failed
	exitUsage    = 2
)

const usage = `usage:
  corral [flags] ping
  corral [flags] regions
  corral [flags] inspect <region> <key>
  corral [flags] inspect <region> <function> <arg ...>      (each arg one JSON value)
  corral [flags] keys <region> <function>
  corral [flags] invalidate <region> [--hard|--soft]
  corral [flags] invalidate --tag <tag> [--tag <tag> ...] [region ...]   (every region when none is named)
  corral [flags] invalidate <region> <function> [arg ...]   (each arg one JSON value)
  corral help
flags: --config file (default $CORRAL_CONFIG, else corral.yaml), --json, --timeout 10s, -h/--help
`

// options are the command line's flags.
type options struct {
	config  string
	json    bool
	timeout time.Duration
	hard    bool
	soft    bool
	tags    []string // --tag, repeatable
}

// errHelp is what the command line gives when it asks for the usage.
var errHelp = errors.New("help")

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// parseArgs separates the flags, wherever they are, from the positional
// arguments. "--" ends the flags; a negative number is an argument.
func parseArgs(args []string) (options, []string, error) {
	o := options{config: os.Getenv("CORRAL_CONFIG"), timeout: 10 * time.Second}
	if o.config == "" {
		o.config = "corral.yaml"
	}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" || json.Valid([]byte(a)) {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		needValue := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", usagef("flag --%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		switch name {
		case "json", "hard", "soft":
			if hasVal {
				return o, nil, usagef("flag --%s takes no value", name)
			}
			switch name {
			case "json":
				o.json = true
			case "hard":
				o.hard = true
			case "soft":
				o.soft = true
			}
		case "tag":
			v, err := needValue()
			if err != nil {
				return o, nil, err
			}
			o.tags = append(o.tags, v)
		case "config":
			v, err := needValue()
			if err != nil {
				return o, nil, err
			}
			o.config = v
		case "timeout":
			v, err := needValue()
			if err != nil {
				return o, nil, err
			}
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return o, nil, usagef("--timeout %q is not a positive duration", v)
			}
			o.timeout = d
		case "h", "help":
			return o, nil, errHelp
		default:
			return o, nil, usagef("unknown flag %s", a)
		}
	}
	return o, pos, nil
}

// wantsJSON reports whether args ask for JSON, before they are parsed: a
// mistake on the line is reported as JSON too when --json is anywhere on
// it before "--".
func wantsJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "-json" {
			return true
		}
	}
	return false
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	rep := reporter{json: wantsJSON(args), w: stderr}
	o, pos, err := parseArgs(args)
	if err == nil {
		err = checkUsage(o, pos)
	}
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		rep.usage(ue.msg)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var handler slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
	if o.json {
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
	}
	logger := slog.New(handler)
	// go-redis's own lines (a failed dial) go where the regions' do, in the
	// same format: this program is the one owner of the process's logger.
	redisstore.RouteClientLogs(logger)
	defer redisstore.RouteClientLogs(nil)
	regions, err := config.Load(o.config, config.Options{Configure: func(_ string, c *region.Config) error {
		c.Logger = logger
		return nil
	}})
	if err != nil {
		rep.fail(err)
		return exitNotFound
	}
	defer regions.Close()
	c := &cmd{o: o, regions: regions, stdout: stdout, rep: rep}
	code, err := c.dispatch(ctx, pos)
	if err != nil {
		if errors.As(err, &ue) {
			rep.usage(ue.msg)
			return exitUsage
		}
		rep.fail(err)
		return exitNotFound
	}
	return code
}

// reporter writes errors, warnings and notes to standard error: as text,
// or with --json as one JSON object a line.
type reporter struct {
	json bool
	w    io.Writer
}

// problem is an error, a warning or a note, as --json writes it.
type problem struct {
	Error   string `json:"error,omitempty"`
	Warning string `json:"warning,omitempty"`
	Note    string `json:"note,omitempty"`
	// File, Line, Env and Field locate a mistake in the configuration.
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
	Env   string `json:"env,omitempty"`
	Field string `json:"field,omitempty"`
	// Usage is the command's usage, after a mistake on the command line.
	Usage string `json:"usage,omitempty"`
}

func (r reporter) write(p problem, text string) {
	if r.json {
		b, _ := json.Marshal(p)
		fmt.Fprintf(r.w, "%s\n", b)
		return
	}
	fmt.Fprint(r.w, text)
}

// usage reports a mistake on the command line, with the usage.
func (r reporter) usage(msg string) {
	text := usage
	if msg != "" {
		text = "corral: " + msg + "\n" + usage
	}
	if msg == "" {
		msg = "no command"
	}
	r.write(problem{Error: msg, Usage: usage}, text)
}

// fail reports an error; one in the configuration names where it is.
func (r reporter) fail(err error) {
	p := problem{Error: err.Error()}
	var ce *config.Error
	if errors.As(err, &ce) {
		p.File, p.Line, p.Env, p.Field = ce.File, ce.Line, ce.Env, ce.Field
	}
	r.write(p, "corral: "+err.Error()+"\n")
}

// warn reports what makes the command exit 1 although it did its work.
func (r reporter) warn(msg string) {
	r.write(problem{Warning: msg}, "corral: warning: "+msg+"\n")
}

// note reports what the user should know and that changes nothing.
func (r reporter) note(msg string) {
	r.write(problem{Note: msg}, "corral: note: "+msg+"\n")
}

// checkUsage checks the command and its number of arguments before
// anything is loaded.
func checkUsage(o options, pos []string) error {
	if len(pos) == 0 {
		return usagef("no command")
	}
	n := len(pos) - 1
	switch pos[0] {
	case "help":
		return errHelp
	case "ping", "regions":
		if n != 0 {
			return usagef("%s takes no arguments", pos[0])
		}
	case "inspect":
		if n < 2 || n > 5 {
			return usagef("inspect takes <region> <key>, or <region> <function> <arg ...> (one to three JSON values)")
		}
	case "keys":
		if n != 2 {
			return usagef("keys takes <region> <function>")
		}
	case "invalidate":
		switch {
		case len(o.tags) > 0 && (o.hard || o.soft):
			return usagef("--tag retires tagged values, not a whole region: no --hard or --soft")
		case len(o.tags) > 0:
		case n < 1:
			return usagef("invalidate takes <region> [--hard|--soft], or <region> <function> [arg ...]")
		case n > 5:
			return usagef("a cached function takes at most 3 arguments")
		case o.hard && o.soft:
			return usagef("--hard or --soft, not both")
		case n > 1 && (o.hard || o.soft):
			return usagef("--hard and --soft invalidate a whole region, not a function")
		}
	default:
		return usagef("unknown command %q", pos[0])
	}
	if pos[0] != "invalidate" && (o.hard || o.soft) {
		return usagef("--hard and --soft go with invalidate")
	}
	if pos[0] != "invalidate" && len(o.tags) > 0 {
		return usagef("--tag goes with invalidate")
	}
	return nil
}

type cmd struct {
	o       options
	regions *config.Regions
	stdout  io.Writer
	rep     reporter
}

func (c *cmd) dispatch(ctx context.Context, pos []string) (int, error) {
	switch pos[0] {
	case "ping":
		return c.ping(ctx)
	case "regions":
		return c.listRegions()
	case "inspect":
		return c.inspect(ctx, pos[1], pos[2], pos[3:])
	case "keys":
		return c.keys(ctx, pos[1], pos[2])
	default: // invalidate
		if len(c.o.tags) > 0 {
			return c.invalidateTags(ctx, pos[1:])
		}
		if len(pos) == 2 {
			return c.invalidateRegion(ctx, pos[1])
		}
		return c.invalidateFunc(ctx, pos[1], pos[2], pos[3:])
	}
}

// output prints v as JSON, or text as it is.
func (c *cmd) output(v any, text string) error {
	if c.o.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := io.WriteString(c.stdout, text)
	return err
}

type pingResult struct {
	Region string `json:"region"`
	URL    string `json:"url"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

func (c *cmd) ping(ctx context.Context) (int, error) {
	var results []pingResult
	done := map[*config.Connection]error{}
	code := exitOK
	var text bytes.Buffer
	tw := tabwriter.NewWriter(&text, 0, 4, 2, ' ', 0)
	for _, name := range c.regions.Names() {
		conn, err := c.regions.Connection(name)
		if err != nil {
			return exitNotFound, err
		}
		perr, seen := done[conn]
		if !seen {
			perr = conn.Ping(ctx)
			done[conn] = perr
		}
		r := pingResult{Region: name, URL: conn.String(), OK: perr == nil}
		status := "ok"
		if perr != nil {
			r.Error, status, code = perr.Error(), "FAILED: "+perr.Error(), exitNotFound
		}
		results = append(results, r)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, conn, status)
	}
	_ = tw.Flush()
	return code, c.output(results, text.String())
}

// regionInfo is one line of the regions command: where a region lives and
// the settings an operator asks about in an incident. A null block is off.
type regionInfo struct {
	Region       string       `json:"region"`
	URL          string       `json:"url"`
	Expiration   string       `json:"expiration"` // a duration, or "never"
	Near         *nearInfo    `json:"near"`
	Encryption   *keyringInfo `json:"encryption"`
	EarlyRefresh *earlyInfo   `json:"early_refresh"`
}

type nearInfo struct {
	MaxEntries   int    `json:"max_entries"`
	MaxStaleness string `json:"max_staleness"` // a duration, or "default"
}

type keyringInfo struct {
	Current uint32   `json:"current"`
	IDs     []uint32 `json:"ids"`
}

type earlyInfo struct {
	Beta float64 `json:"beta"`
}

// listRegions prints the regions of the file, their URL without secrets
// and their settings, without touching a server.
func (c *cmd) listRegions() (int, error) {
	var infos []regionInfo
	var text bytes.Buffer
	tw := tabwriter.NewWriter(&text, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "REGION\tURL\tEXPIRATION\tNEAR CACHE\tENCRYPTION\tEARLY REFRESH\n")
	for _, name := range c.regions.Names() {
		conn, err := c.regions.Connection(name)
		if err != nil {
			return exitNotFound, err
		}
		cfg, err := c.regions.Config(name)
		if err != nil {
			return exitNotFound, err
		}
		info := regionInfo{Region: name, URL: conn.String(), Expiration: "never"}
		near, enc, early := "off", "off", "off"
		if cfg.Expiration > 0 {
			info.Expiration = cfg.Expiration.String()
		}
		if n := cfg.Near; n.MaxEntries > 0 {
			info.Near = &nearInfo{MaxEntries: n.MaxEntries, MaxStaleness: "default"}
			near = fmt.Sprintf("%d entries", n.MaxEntries)
			if n.MaxStaleness > 0 {
				info.Near.MaxStaleness = n.MaxStaleness.String()
				near += ", max staleness " + n.MaxStaleness.String()
			}
		}
		if k := cfg.Keyring; k != nil {
			info.Encryption = &keyringInfo{Current: k.Current(), IDs: k.IDs()}
			ids := make([]string, 0, len(info.Encryption.IDs))
			for _, id := range info.Encryption.IDs {
				ids = append(ids, strconv.FormatUint(uint64(id), 10))
			}
			enc = fmt.Sprintf("key %d current, keys %s", k.Current(), strings.Join(ids, ","))
		}
		if e := cfg.EarlyRefresh; e.Enabled {
			beta := e.Beta
			early = fmt.Sprintf("beta %g", beta)
			if beta == 0 {
				beta = region.DefaultEarlyRefreshBeta
				early = fmt.Sprintf("beta %g (default)", beta)
			}
			info.EarlyRefresh = &earlyInfo{Beta: beta}
		}
		infos = append(infos, info)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, info.URL, info.Expiration, near, enc, early)
	}
	_ = tw.Flush()
	return exitOK, c.output(infos, text.String())
}

type inspectResult struct {
	Region     string     `json:"region"`
	Key        string     `json:"key"`
	BackendKey string     `json:"backend_key"`
	Present    bool       `json:"present"`
	State      string     `json:"state,omitempty"`
	Created    *time.Time `json:"created,omitempty"`
	Expiration string     `json:"expiration,omitempty"`
	Expires    *time.Time `json:"expires,omitempty"`
	Size       int        `json:"size"`
	Serializer string     `json:"serializer"`
	Compressed bool       `json:"compressed"`
	Sealed     bool       `json:"sealed"`
	NotFound   bool       `json:"not_found"`
	Tags       []tagState `json:"tags,omitempty"`
}

type tagState struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
}

// inspect prints what the backend holds under key or, with raw arguments,
// under the key of the result of the cached function called key for them.
func (c *cmd) inspect(ctx context.Context, name, key string, raw []string) (int, error) {
	var args []any
	if len(raw) > 0 {
		var err error
		if args, err = parseJSONArgs(raw); err != nil {
			return exitUsage, err
		}
	}
	r, err := c.regions.Region(name)
	if err != nil {
		return exitNotFound, err
	}
	if len(args) > 0 {
		one, err := resultOf(r, key, args)
		if err != nil {
			return exitNotFound, err
		}
		if key, _, err = one.key(ctx); err != nil {
			return exitNotFound, err
		}
	}
	info, err := r.Inspect(ctx, key)
	if err != nil {
		return exitNotFound, err
	}
	res := inspectResult{Region: name, Key: key, BackendKey: info.BackendKey, Present: info.Present, State: info.State,
		Size: info.Size, Serializer: info.Serializer, Compressed: info.Compressed, Sealed: info.Sealed, NotFound: info.NotFound}
	var text bytes.Buffer
	tw := tabwriter.NewWriter(&text, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "region\t%s\nkey\t%s\nbackend key\t%s\npresent\t%v\n", name, key, info.BackendKey, info.Present)
	if info.Present {
		fmt.Fprintf(tw, "state\t%s\n", info.State)
		if !info.Created.IsZero() {
			created := info.Created.UTC()
			res.Created = &created
			fmt.Fprintf(tw, "created\t%s\n", created.Format(time.RFC3339Nano))
		}
		if info.Expiration > 0 {
			res.Expiration = info.Expiration.String()
			expires := info.Created.Add(info.Expiration).UTC()
			res.Expires = &expires
			fmt.Fprintf(tw, "expiration\t%s\nexpires\t%s\n", info.Expiration, expires.Format(time.RFC3339Nano))
		} else if info.State != "undecodable" {
			fmt.Fprintf(tw, "expiration\tnever\n")
		}
		fmt.Fprintf(tw, "size\t%d bytes\ncompressed\t%v\nsealed\t%v\n", info.Size, info.Compressed, info.Sealed)
		if info.NotFound {
			fmt.Fprintf(tw, "not found\ttrue (a cached \"not found\" answer)\n")
		}
		for _, t := range info.Tags {
			res.Tags = append(res.Tags, tagState{Name: t.Name, Current: t.Current})
			state := "current"
			if !t.Current {
				state = "invalidated since the value was created"
			}
			fmt.Fprintf(tw, "tag\t%s (%s)\n", t.Name, state)
		}
	}
	fmt.Fprintf(tw, "serializer\t%s\n", info.Serializer)
	_ = tw.Flush()
	if err := c.output(res, text.String()); err != nil {
		return exitNotFound, err
	}
	if !info.Present {
		return exitNotFound, nil
	}
	return exitOK, nil
}

func noCall(context.Context) (any, error) { return nil, errors.New("corral: not callable") }

func (c *cmd) keys(ctx context.Context, name, fn string) (int, error) {
	r, err := c.regions.Region(name)
	if err != nil {
		return exitNotFound, err
	}
	f, err := region.Cache1(r, func(ctx context.Context, _ any) (any, error) { return noCall(ctx) }, region.Named(fn))
	if err != nil {
		return exitNotFound, err
	}
	keys, err := f.Keys(ctx)
	if errors.Is(err, keyreg.ErrNotListable) {
		return exitNotFound, fmt.Errorf("region %q: its registry cannot list keys (memcached keeps generations, not lists); invalidate the function instead: %w", name, err)
	}
	if err != nil {
		return exitNotFound, err
	}
	if keys == nil {
		keys = []string{}
	}
	text := ""
	if len(keys) > 0 {
		text = strings.Join(keys, "\n") + "\n"
	}
	if err := c.output(keys, text); err != nil {
		return exitNotFound, err
	}
	if len(keys) == 0 {
		return exitNotFound, nil
	}
	return exitOK, nil
}

type invalidateResult struct {
	Region    string `json:"region"`
	Function  string `json:"function,omitempty"`
	Args      []any  `json:"args,omitempty"`
	Key       string `json:"key,omitempty"`
	Recorded  *bool  `json:"recorded,omitempty"`
	How       string `json:"how"`
	Completed bool   `json:"completed"`
	// Checked tells, for a cached function, whether the registry could
	// tell that it knows the function (and the arguments' result);
	// Warning, when set, says what it does not know: the exit status is 1.
	Checked *bool  `json:"checked,omitempty"`
	Warning string `json:"warning,omitempty"`
}

func (c *cmd) invalidateRegion(ctx context.Context, name string) (int, error) {
	r, err := c.regions.Region(name)
	if err != nil {
		return exitNotFound, err
	}
	how, word := region.Hard, "hard"
	if c.o.soft {
		how, word = region.Soft, "soft"
	}
	if err := r.Invalidate(ctx, how); err != nil {
		return exitNotFound, err
	}
	return exitOK, c.output(invalidateResult{Region: name, How: word, Completed: true},
		fmt.Sprintf("invalidated region %s (%s)\n", name, word))
}

type invalidateTagsResult struct {
	Tags      []string `json:"tags"`
	Regions   []string `json:"regions"`
	Completed bool     `json:"completed"`
}

// invalidateTags retires the values carrying any of the --tag tags in the
// named regions (every region of the file when none is named): each sees
// it when the command returns, every other process within its
// InvalidationRefresh.
func (c *cmd) invalidateTags(ctx context.Context, names []string) (int, error) {
	if len(names) == 0 {
		names = c.regions.Names()
	}
	rs := make([]*region.Region, len(names))
	for i, name := range names {
		r, err := c.regions.Region(name)
		if err != nil {
			return exitNotFound, err
		}
		rs[i] = r
	}
	if err := region.InvalidateTagsIn(ctx, rs, c.o.tags...); err != nil {
		return exitNotFound, err
	}
	return exitOK, c.output(invalidateTagsResult{Tags: c.o.tags, Regions: names, Completed: true},
		fmt.Sprintf("invalidated tags %s in %s\n", strings.Join(c.o.tags, ", "), strings.Join(names, ", ")))
}

// parseArgs decodes the JSON arguments of a cached function.
func parseJSONArgs(raw []string) ([]any, error) {
	args := make([]any, len(raw))
	for i, a := range raw {
		v, err := parseArg(a)
		if err != nil {
			return nil, usagef("argument %d (%s): %v", i+1, a, err)
		}
		args[i] = v
	}
	return args, nil
}

// result is one result of a cached function: its key, and how to
// invalidate it.
type result struct {
	key        func(context.Context) (string, bool, error)
	invalidate func(context.Context) error
	keys       func(context.Context) ([]string, error) // of every result
}

// resultOf returns the result of the cached function called fn in r for
// args (one to three); the handle derives keys as the program's Cache1,
// Cache2 or Cache3 did, and never calls anything.
func resultOf(r *region.Region, fn string, args []any) (result, error) {
	named := region.Named(fn)
	switch len(args) {
	case 1:
		f, err := region.Cache1(r, func(ctx context.Context, _ any) (any, error) { return noCall(ctx) }, named)
		if err != nil {
			return result{}, err
		}
		return result{
			key:        func(ctx context.Context) (string, bool, error) { return f.Key(ctx, args[0]) },
			invalidate: func(ctx context.Context) error { return f.Invalidate(ctx, args[0]) },
			keys:       f.Keys,
		}, nil
	case 2:
		f, err := region.Cache2(r, func(ctx context.Context, _, _ any) (any, error) { return noCall(ctx) }, named)
		if err != nil {
			return result{}, err
		}
		return result{
			key:        func(ctx context.Context) (string, bool, error) { return f.Key(ctx, args[0], args[1]) },
			invalidate: func(ctx context.Context) error { return f.Invalidate(ctx, args[0], args[1]) },
			keys:       f.Keys,
		}, nil
	case 3:
		f, err := region.Cache3(r, func(ctx context.Context, _, _, _ any) (any, error) { return noCall(ctx) }, named)
		if err != nil {
			return result{}, err
		}
		return result{
			key:        func(ctx context.Context) (string, bool, error) { return f.Key(ctx, args[0], args[1], args[2]) },
			invalidate: func(ctx context.Context) error { return f.Invalidate(ctx, args[0], args[1], args[2]) },
			keys:       f.Keys,
		}, nil
	}
	return result{}, usagef("a cached function takes one to three arguments, not %d", len(args))
}

// invalidateFunc invalidates every result of the cached function fn in
// region name or, with raw arguments, the result for them. Before it does,
// it asks the registry whether it knows them, so that a misspelt function,
// or arguments of the wrong type or count (which derive another key), do
// not pass for success: the invalidation is made all the same, and the
// command warns and exits 1. A registry that lists keys (Redis, disk,
// memory) knows the functions with results cached now; memcached's cannot
// list keys, so it knows one result's record but not a function's name.
func (c *cmd) invalidateFunc(ctx context.Context, name, fn string, raw []string) (int, error) {
	args, err := parseJSONArgs(raw)
	if err != nil {
		return exitUsage, err
	}
	r, err := c.regions.Region(name)
	if err != nil {
		return exitNotFound, err
	}
	// One handle per name and region: the one for these arguments' count
	// lists the keys too.
	var all *region.Func1[any, any]
	var one result
	if len(args) == 0 {
		all, err = region.Cache1(r, func(ctx context.Context, _ any) (any, error) { return noCall(ctx) }, region.Named(fn))
		if err == nil {
			one.keys = all.Keys
		}
	} else {
		one, err = resultOf(r, fn, args)
	}
	if err != nil {
		return exitNotFound, err
	}
	known, err := one.keys(ctx)
	listable := !errors.Is(err, keyreg.ErrNotListable)
	if err != nil && listable {
		return exitNotFound, err
	}
	res := invalidateResult{Region: name, Function: fn, Args: args}
	var warning, note, text string
	if len(args) == 0 {
		res.Checked = &listable
		switch {
		case !listable:
			note = fmt.Sprintf("region %s's registry cannot list keys (memcached keeps generations, not lists): whether function %s has cached results, or is misspelt, could not be checked", name, fn)
		case len(known) == 0:
			warning = fmt.Sprintf("the registry of region %s knows no cached result of function %s: a misspelt name, or none cached now (invalidated all the same)", name, fn)
		}
		if err := all.InvalidateAll(ctx); err != nil {
			return exitNotFound, err
		}
		res.How, res.Completed = "all", true
		text = fmt.Sprintf("invalidated every result of %s in region %s\n", fn, name)
	} else {
		key, recorded, err := one.key(ctx)
		if err != nil {
			return exitNotFound, err
		}
		checked := recorded || listable
		res.Checked = &checked
		if !recorded {
			switch {
			case !listable:
				warning = fmt.Sprintf("no result of %s(%s) is recorded in region %s: a misspelt function, arguments of another type or count (they derive another key), or a result not cached now — memcached's registry cannot tell which, as it cannot list keys (invalidated all the same)",
					fn, strings.Join(raw, ", "), name)
			case len(known) == 0:
				warning = fmt.Sprintf("the registry of region %s knows no cached result of function %s: a misspelt name, or none cached now (invalidated all the same)", name, fn)
			default:
				warning = fmt.Sprintf("no result of %s(%s) is recorded in region %s, though %d other results of %s are: arguments of another type or count derive another key (corral keys %s %s lists them; invalidated all the same)",
					fn, strings.Join(raw, ", "), name, len(known), fn, name, fn)
			}
		}
		if err := one.invalidate(ctx); err != nil {
			return exitNotFound, err
		}
		res.Key, res.Recorded, res.How, res.Completed = key, &recorded, "one", true
		text = fmt.Sprintf("invalidated %s(%s) in region %s: key %s (recorded: %v)\n", fn, strings.Join(raw, ", "), name, key, recorded)
	}
	res.Warning = warning
	if err := c.output(res, text); err != nil {
		return exitNotFound, err
	}
	if note != "" {
		c.rep.note(note)
	}
	if warning != "" {
		c.rep.warn(warning)
		return exitNotFound, nil
	}
	return exitOK, nil
}

// parseArg decodes one JSON argument into the Go value whose key encoding
// matches what a cached function records (see the command's documentation).
func parseArg(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not a JSON value (quote strings: '\"alice\"'): %v", err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return convert(v)
}

func convert(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("integer %s out of int64's range (write {\"$uint\": %s} for an unsigned one)", s, s)
			}
			return n, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("float %s: %v", s, err)
		}
		return f, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := convert(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			if t, ok := x["$time"]; ok {
				s, _ := t.(string)
				tm, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return nil, fmt.Errorf(`{"$time": …} wants an RFC 3339 string: %v`, err)
				}
				return tm, nil
			}
			if u, ok := x["$uint"]; ok {
				n, _ := u.(json.Number)
				v, err := strconv.ParseUint(n.String(), 10, 64)
				if err != nil {
					return nil, fmt.Errorf(`{"$uint": …} wants a non-negative integer`)
				}
				return v, nil
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := convert(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	}
	return v, nil // string, bool, nil
}
