package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/corralcache/corral/region"
)

// reply is one line of serve's output.
type reply struct {
	Cmd   string `json:"cmd"`
	Error string `json:"error,omitempty"`
	// Value is the result of call, peek and fresh.
	Value string `json:"value,omitempty"`
	// Found tells whether peek or fresh found a value.
	Found bool `json:"found"`
	// Computed tells whether call ran the function in this process.
	Computed bool          `json:"computed"`
	Stats    *region.Stats `json:"stats,omitempty"`
}

// serve runs the commands read from in, one per line:
//
//	call ID                 GetUser(ID), cached: value "user<ID>#<n>", where n
//	                        counts GetUser's runs in every process
//	fresh ID                GetUser's fresh cached value for ID, if any
//	peek ID                 its cached value even when stale (IgnoreExpiration)
//	invalidate ID           GetUser.Invalidate(ID)
//	invalidate-all          GetUser.InvalidateAll
//	region-invalidate hard|soft
//	set KEY VALUE [EXP]     Set(KEY, VALUE), with WithExpiration(EXP) if given
//	get KEY                 the fresh string value at KEY, if any
//	stats                   the region's Stats
//	quit
//
// Arguments are separated by spaces; one may be a Go double-quoted string,
// to hold spaces or be empty. It prints {"cmd":"ready"} first, and one reply
// per command.
func serve(ctx context.Context, r *region.Region, st *stack, o options, in io.Reader, enc *json.Encoder) error {
	var computed atomic.Bool
	getUser, err := region.Cache1(r, func(ctx context.Context, id int) (string, error) {
		n, err := st.incr(ctx, "GetUser:runs")
		if err != nil {
			return "", err
		}
		computed.Store(true)
		time.Sleep(o.sleep)
		return fmt.Sprintf("user%d#%d", id, n), nil
	}, region.Named("GetUser"))
	if err != nil {
		return err
	}
	if err := enc.Encode(reply{Cmd: "ready"}); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		rep := reply{Cmd: sc.Text()}
		f, err := splitArgs(sc.Text())
		if err != nil {
			rep.Error = err.Error()
			if err := enc.Encode(rep); err != nil {
				return err
			}
			continue
		}
		if len(f) == 0 {
			continue
		}
		arg := func() int {
			if len(f) < 2 {
				err = fmt.Errorf("%s needs an argument", f[0])
				return 0
			}
			var n int
			n, err = strconv.Atoi(f[1])
			return n
		}
		switch f[0] {
		case "quit":
			return nil
		case "call":
			if id := arg(); err == nil {
				computed.Store(false)
				rep.Value, err = getUser.Call(ctx, id)
				rep.Computed, rep.Found = computed.Load(), err == nil
			}
		case "fresh":
			if id := arg(); err == nil {
				rep.Value, rep.Found, err = getUser.Get(ctx, id)
			}
		case "peek":
			if id := arg(); err == nil {
				var key string
				if key, _, err = getUser.Key(ctx, id); err == nil {
					rep.Value, rep.Found, err = region.Get[string](ctx, r, key, region.IgnoreExpiration())
				}
			}
		case "invalidate":
			if id := arg(); err == nil {
				err = getUser.Invalidate(ctx, id)
			}
		case "invalidate-all":
			err = getUser.InvalidateAll(ctx)
		case "region-invalidate":
			how := region.Hard
			if len(f) > 1 && f[1] == "soft" {
				how = region.Soft
			}
			err = r.Invalidate(ctx, how)
		case "set":
			if len(f) < 3 {
				err = fmt.Errorf("set needs a key and a value")
				break
			}
			var opts []region.CallOption
			if len(f) > 3 {
				var exp time.Duration
				if exp, err = time.ParseDuration(f[3]); err != nil {
					break
				}
				opts = append(opts, region.WithExpiration(exp))
			}
			err = r.Set(ctx, f[1], f[2], opts...)
		case "get":
			if len(f) < 2 {
				err = fmt.Errorf("get needs a key")
				break
			}
			rep.Value, rep.Found, err = region.Get[string](ctx, r, f[1])
		case "stats":
			s := r.Stats()
			rep.Stats = &s
		default:
			err = fmt.Errorf("unknown command %q", f[0])
		}
		if err != nil {
			rep.Error = err.Error()
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	return sc.Err()
}

// splitArgs splits a command line at spaces and tabs; an argument that starts
// with a double quote is a Go quoted string.
func splitArgs(line string) ([]string, error) {
	var args []string
	for {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			return args, nil
		}
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return nil, fmt.Errorf("argument %s: %w", line, err)
			}
			arg, err := strconv.Unquote(q)
			if err != nil {
				return nil, err
			}
			args = append(args, arg)
			line = line[len(q):]
			continue
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		args = append(args, line[:end])
		line = line[end:]
	}
}
