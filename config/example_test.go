package config_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/corralcache/corral/config"
	"github.com/corralcache/corral/region"
)

// Regions declared in a file, with an override from the environment, made
// once at setup and closed once at shutdown.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "corral-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "corral.yaml")
	_ = os.WriteFile(path, []byte(`
defaults:
  url: memory://?max_entries=10000   # redis://:${REDIS_PASSWORD}@cache:6379/0 in production
  lock_wait: 5s
regions:
  users:
    expiration: 10m
    grace: 5m
  sessions:
    expiration: 30m
    serializer: json
`), 0o600)

	regions, err := config.Load(path, config.Options{
		Environ: []string{"CORRAL_REGIONS_USERS_EXPIRATION=1m"}, // nil: the process's environment
	})
	if err != nil {
		fmt.Println(err) // names the file, line and field
		return
	}
	defer regions.Close()
	ctx := context.Background()
	if err := regions.Ping(ctx); err != nil {
		fmt.Println(err)
		return
	}
	users, _ := regions.Region("users")
	name, _ := region.GetOrCreate(ctx, users, "user:42", func(context.Context) (string, error) { return "Ada", nil })
	fmt.Println(regions.Names(), name)
	// Output: [users sessions] Ada
}

// A mistake in the file names where it is.
func ExampleParse_error() {
	_, err := config.Parse("corral.yaml", []byte("regions:\n  users:\n    expiration: ten minutes\n"), config.Options{})
	fmt.Println(err)
	// Output: corral.yaml:3: regions.users.expiration: "ten minutes" is not a duration such as 250ms, 30s or 10m
}

// One URL sets up a region's backend, locker and registry; Apply puts them
// into its Config. redis://, redis+cluster://, redis+sentinel:// and
// memcached:// URLs work the same way.
func ExampleOpen() {
	conn, err := config.Open("memory://?max_entries=1000")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	users, err := region.New("users", conn.Apply(region.Config{Expiration: 10 * time.Minute}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer users.Close()
	fmt.Println(conn)
	// Output: memory://?max_entries=1000
}
