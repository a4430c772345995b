package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"time"

	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/observe"
	"github.com/corralcache/corral/region"
)

// defaultConfig is corral.yaml, built into the binary so that the example
// runs from any directory; -config reads another file.
//
//go:embed corral.yaml
var defaultConfig []byte

// Settings is what openRegions needs from the program: which configuration
// to load and who observes the regions.
type Settings struct {
	// ConfigFile is the YAML file declaring the regions; empty: the
	// corral.yaml built into the example.
	ConfigFile string
	// RedisURL, when set, puts every region on that Redis server, as
	// CORRAL_REGIONS_<NAME>_URL would.
	RedisURL string
	// Observer receives every region's metrics (a corralprom.Collector).
	Observer observe.Observer
}

// openRegions loads the program's regions from the configuration, adds
// what a file cannot hold (the observer), and checks that their servers
// answer.
func openRegions(ctx context.Context, s Settings) (*config.Regions, error) {
	env := os.Environ()
	if s.RedisURL != "" {
		env = append(env, config.EnvPrefix+"USERS_URL="+s.RedisURL, config.EnvPrefix+"SESSIONS_URL="+s.RedisURL)
	}
	opts := config.Options{
		Environ: env,
		Configure: func(_ string, c *region.Config) error {
			c.Observer = s.Observer
			return nil
		},
	}
	var regions *config.Regions
	var err error
	if s.ConfigFile != "" {
		regions, err = config.Load(s.ConfigFile, opts)
	} else {
		regions, err = config.Parse("corral.yaml", defaultConfig, opts)
	}
	if err != nil {
		return nil, err // names the file, line and field; never a password
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := regions.Ping(pctx); err != nil {
		_ = regions.Close()
		return nil, fmt.Errorf("the regions' servers do not answer: %w", err)
	}
	return regions, nil
}

// describe tells where each region lives, with passwords hidden.
func describe(regions *config.Regions) string {
	var out string
	for i, name := range regions.Names() {
		conn, err := regions.Connection(name)
		if err != nil {
			continue
		}
		if i > 0 {
			out += ", "
		}
		out += name + " on " + conn.String()
	}
	return out
}
