package emailapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoUser is returned by a Store for a username it does not know.
var ErrNoUser = errors.New("emailapp: no such user")

// Store is the application's database of email addresses: the slow thing
// the cache is in front of.
type Store interface {
	// Email returns the address of username, or an error wrapping ErrNoUser.
	Email(ctx context.Context, username string) (string, error)
	// SetEmail sets the address of username.
	SetEmail(ctx context.Context, username, email string) error
}

// seed is what a new store holds.
var seed = map[string]string{
	"alice": "alice@example.com",
	"bob":   "bob@example.com",
}

// pause waits d, or returns ctx.Err() when ctx ends first.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// memoryStore is a Store in this process's memory.
type memoryStore struct {
	delay time.Duration
	logf  func(format string, args ...any)

	mu     sync.Mutex        // protects emails
	emails map[string]string // by username
}

func newMemoryStore(delay time.Duration, logf func(string, ...any)) *memoryStore {
	s := &memoryStore{delay: delay, logf: logf, emails: make(map[string]string)}
	for u, e := range seed {
		s.emails[u] = e
	}
	return s
}

func (s *memoryStore) Email(ctx context.Context, username string) (string, error) {
	s.logf("store: slow lookup for %s (%v)", username, s.delay)
	if err := pause(ctx, s.delay); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.emails[username]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrNoUser, username)
	}
	return e, nil
}

func (s *memoryStore) SetEmail(_ context.Context, username, email string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emails[username] = email
	s.logf("store: %s's email is now %s", username, email)
	return nil
}

// redisStore is a Store in a Redis hash, so that every instance of the
// service sees the same data.
type redisStore struct {
	client redis.UniversalClient
	key    string
	delay  time.Duration
	logf   func(format string, args ...any)
}

func newRedisStore(ctx context.Context, client redis.UniversalClient, key string, delay time.Duration, logf func(string, ...any)) (*redisStore, error) {
	s := &redisStore{client: client, key: key, delay: delay, logf: logf}
	for u, e := range seed {
		// Keep what an earlier run or another instance wrote.
		if err := client.HSetNX(ctx, key, u, e).Err(); err != nil {
			return nil, fmt.Errorf("emailapp: seeding the store: %w", err)
		}
	}
	return s, nil
}

func (s *redisStore) Email(ctx context.Context, username string) (string, error) {
	s.logf("store: slow lookup for %s (%v)", username, s.delay)
	if err := pause(ctx, s.delay); err != nil {
		return "", err
	}
	e, err := s.client.HGet(ctx, s.key, username).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("%w: %q", ErrNoUser, username)
	}
	return e, err
}

func (s *redisStore) SetEmail(ctx context.Context, username, email string) error {
	if err := s.client.HSet(ctx, s.key, username, email).Err(); err != nil {
		return err
	}
	s.logf("store: %s's email is now %s", username, email)
	return nil
}
