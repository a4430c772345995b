package redislocker_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/corralcache/corral/lock/redislocker"
	"github.com/corralcache/corral/region"
)

// Example shows a region whose dogpile lock is shared by every process that
// uses the same Redis. (It needs a Redis server, so it is compiled, not run.)
func Example() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close()
	locker, err := redislocker.New(client, redislocker.Options{})
	if err != nil {
		panic(err)
	}
	r, err := region.New("users", region.Config{
		Locker:   locker,
		LockTTL:  5 * time.Second, // extended while the creator runs
		LockWait: 10 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	v, err := region.GetOrCreate(context.Background(), r, "user:42", func(context.Context) (string, error) {
		return "Ada", nil
	})
	fmt.Println(v, err)
}
