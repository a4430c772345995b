package region_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/corralcache/corral/backend"
	"github.com/corralcache/corral/region"
	"github.com/corralcache/corral/serializer"
)

type secretRecord struct {
	Name, Card string
}

var secretValue = secretRecord{Name: "Ada Lovelace", Card: "4111-1111-1111-1111"}

func keyring(t testing.TB, current uint32, ids ...uint32) *serializer.Keyring {
	t.Helper()
	keys := make(map[uint32][]byte, len(ids))
	for _, id := range ids {
		keys[id] = bytes.Repeat([]byte{byte(id)}, serializer.KeySize)
	}
	k, err := serializer.NewKeyring(current, keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cryptRegion is a region named "crypt" on b, closed at the end of the test
// (or earlier by the caller).
func cryptRegion(t *testing.T, b backend.Backend, cfg region.Config) *region.Region {
	t.Helper()
	cfg.Backend, cfg.Logger = b, quiet
	r, err := region.New("crypt", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestEncryptedRoundTrip stores values through a region with a Keyring on
// a memory backend that keeps bytes, and checks that the bytes hold no
// plaintext and come back as the values, with and without compression,
// through Set/Get, GetOrCreate and the multi calls.
func TestEncryptedRoundTrip(t *testing.T) {
	for _, compress := range []int{0, 8} {
		mem := newMemory(t, true)
		r := cryptRegion(t, mem, region.Config{Keyring: keyring(t, 1, 1), CompressAbove: compress, Expiration: time.Minute})
		ctx := context.Background()
		if err := r.Set(ctx, "set", secretValue); err != nil {
			t.Fatal(err)
		}
		if _, err := region.GetOrCreate(ctx, r, "created", func(context.Context) (secretRecord, error) { return secretValue, nil }); err != nil {
			t.Fatal(err)
		}
		if err := r.SetMulti(ctx, map[string]any{"m1": secretValue, "m2": secretValue}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"set", "created", "m1", "m2"} {
			raw, err := mem.Get(ctx, r.BackendKey(k))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte("4111")) || bytes.Contains(raw, []byte("Lovelace")) {
				t.Fatalf("compress %d: the stored bytes of %q hold plaintext", compress, k)
			}
			if v, ok, err := region.Get[secretRecord](ctx, r, k); err != nil || !ok || v != secretValue {
				t.Fatalf("compress %d: Get(%q) = %+v, %t, %v", compress, k, v, ok, err)
			}
		}
		got, err := region.GetMulti[secretRecord](ctx, r, []string{"m1", "m2", "set"})
		if err != nil || len(got) != 3 || got["m1"] != secretValue {
			t.Fatalf("GetMulti = %v, %v", got, err)
		}
		if s := r.Stats(); s.DecodeErrors != 0 || s.Hits != 7 {
			t.Fatalf("stats %+v", s)
		}
	}
}

// TestEncryptedRotation writes with key 1, rotates to key 2 (key 1 still
// in the keyring) and reads both, then retires key 1: its entries become
// misses, counted as decode errors, and are created anew.
func TestEncryptedRotation(t *testing.T) {
	mem := newMemory(t, true)
	ctx := context.Background()
	old := cryptRegion(t, mem, region.Config{Keyring: keyring(t, 1, 1)})
	if err := old.Set(ctx, "old", "written with key 1"); err != nil {
		t.Fatal(err)
	}
	_ = old.Close()

	rotated := cryptRegion(t, mem, region.Config{Keyring: keyring(t, 2, 1, 2)})
	if v, ok, _ := region.Get[string](ctx, rotated, "old"); !ok || v != "written with key 1" {
		t.Fatalf("after rotation, the key-1 entry = %q, %t", v, ok)
	}
	if err := rotated.Set(ctx, "new", "written with key 2"); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := region.Get[string](ctx, rotated, "new"); !ok || v != "written with key 2" {
		t.Fatalf("after rotation, the key-2 entry = %q, %t", v, ok)
	}
	_ = rotated.Close()

	retired := cryptRegion(t, mem, region.Config{Keyring: keyring(t, 2, 2)})
	if v, ok, _ := region.Get[string](ctx, retired, "new"); !ok || v != "written with key 2" {
		t.Fatalf("after retiring key 1, the key-2 entry = %q, %t", v, ok)
	}
	if v, ok, _ := region.Get[string](ctx, retired, "old"); ok {
		t.Fatalf("after retiring key 1, its entry decoded: %q", v)
	}
	if s := retired.Stats(); s.DecodeErrors != 1 {
		t.Fatalf("stats %+v, want 1 decode error", s)
	}
	v, err := region.GetOrCreate(ctx, retired, "old", func(context.Context) (string, error) { return "recreated", nil })
	if err != nil || v != "recreated" {
		t.Fatalf("GetOrCreate over the retired entry = %q, %v", v, err)
	}
}

// TestEncryptedTamperAndMoveAreMisses: bytes copied from one key to
// another, a flipped byte, an entry sealed under another key of the same
// ID, and a plaintext entry are all misses counted as decode errors; a
// plaintext region does not read sealed entries either.
func TestEncryptedTamperAndMoveAreMisses(t *testing.T) {
	mem := newMemory(t, true)
	ctx := context.Background()
	r := cryptRegion(t, mem, region.Config{Keyring: keyring(t, 1, 1)})
	if err := r.Set(ctx, "alice", secretValue); err != nil {
		t.Fatal(err)
	}
	sealed, err := mem.Get(ctx, r.BackendKey("alice"))
	if err != nil {
		t.Fatal(err)
	}
	// Moved to another key.
	if err := mem.Set(ctx, r.BackendKey("mallory"), sealed, 0); err != nil {
		t.Fatal(err)
	}
	// Tampered with: the last byte of the tag, then a byte of the payload.
	for i, at := range []int{len(sealed) - 1, len(sealed) - 20} {
		bad := bytes.Clone(sealed)
		bad[at] ^= 0x40
		if err := mem.Set(ctx, r.BackendKey("tampered"+strings.Repeat("!", i)), bad, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Sealed by another application with another key under the same ID.
	foreign, err := serializer.NewKeyring(1, map[uint32][]byte{1: bytes.Repeat([]byte{0xEE}, serializer.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	fc, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{Keyring: foreign})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := fc.EncodeFor(r.BackendKey("foreign"), secretValue, serializer.Meta{Created: time.Now().UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.Set(ctx, r.BackendKey("foreign"), fb, 0); err != nil {
		t.Fatal(err)
	}
	// Plaintext, as a region without a keyring writes it.
	_ = r.Close()
	plain := cryptRegion(t, mem, region.Config{})
	if err := plain.Set(ctx, "plain", secretValue); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := region.Get[secretRecord](ctx, plain, "alice"); ok {
		t.Fatalf("a region without a keyring decoded a sealed entry: %+v", v)
	}
	_ = plain.Close()

	r = cryptRegion(t, mem, region.Config{Keyring: keyring(t, 1, 1)})
	misses := []string{"mallory", "tampered", "tampered!", "foreign", "plain"}
	for _, k := range misses {
		if v, ok, err := region.Get[secretRecord](ctx, r, k); ok || err != nil {
			t.Errorf("Get(%q) = %+v, %t, %v; want a miss", k, v, ok, err)
		}
	}
	if s := r.Stats(); s.DecodeErrors != uint64(len(misses)) || s.Misses != uint64(len(misses)) {
		t.Errorf("stats %+v, want %d decode errors and misses", s, len(misses))
	}
	if v, ok, _ := region.Get[secretRecord](ctx, r, "alice"); !ok || v != secretValue {
		t.Errorf("the untouched entry = %+v, %t", v, ok)
	}
	// GetOrCreate replaces a tampered entry.
	v, err := region.GetOrCreate(ctx, r, "tampered", func(context.Context) (secretRecord, error) { return secretRecord{Name: "new"}, nil })
	if err != nil || v.Name != "new" {
		t.Errorf("GetOrCreate over a tampered entry = %+v, %v", v, err)
	}
}

// TestEncryptionOnValueStore: a backend that keeps decoded values stores
// no bytes, so a Keyring changes nothing there; values round-trip.
func TestEncryptionOnValueStore(t *testing.T) {
	r := cryptRegion(t, newMemory(t, false), region.Config{Keyring: keyring(t, 1, 1)})
	ctx := context.Background()
	if err := r.Set(ctx, "k", secretValue); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := region.Get[secretRecord](ctx, r, "k"); !ok || v != secretValue {
		t.Fatalf("Get = %+v, %t", v, ok)
	}
}

// TestHashKeys: the backend and the locker see no raw key or namespace; a
// value and its lock keep one hash tag; regions round-trip through it, and
// two secrets give two key spaces.
func TestHashKeys(t *testing.T) {
	if _, err := region.HashKeys(make([]byte, 31)); !errors.Is(err, region.ErrInvalidConfig) {
		t.Fatalf("HashKeys with a 31-byte secret: %v, want ErrInvalidConfig", err)
	}
	secret := bytes.Repeat([]byte{7}, 32)
	mangle, err := region.HashKeys(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := region.HashKeys(bytes.Repeat([]byte{8}, 32))
	mem := newMemory(t, true)
	r := cryptRegion(t, mem, region.Config{KeyMangler: mangle, Keyring: keyring(t, 1, 1)})
	ctx := context.Background()
	if err := r.Set(ctx, "user:42", secretValue); err != nil {
		t.Fatal(err)
	}
	vk, lk := r.BackendKey("user:42"), r.LockKey("user:42")
	for _, k := range []string{vk, lk} {
		if strings.Contains(k, "user") || strings.Contains(k, "42") || strings.Contains(k, "crypt") {
			t.Errorf("backend key %q shows the key or the namespace", k)
		}
	}
	tag := func(k string) string { return k[strings.IndexByte(k, '{'):strings.LastIndexByte(k, '}')] }
	if !strings.HasPrefix(vk, "c1:{h:") || !strings.HasSuffix(vk, "}:v") || !strings.HasSuffix(lk, "}:l") || tag(vk) != tag(lk) {
		t.Errorf("value key %q and lock key %q: want c1:{h:…}:v and :l with one hash tag", vk, lk)
	}
	if mangle("c1:{5:users:a}:v") == mangle("c1:{5:users:b}:v") || mangle("c1:{5:users:a}:v") == other("c1:{5:users:a}:v") ||
		mangle("anything") == mangle("anything else") || mangle("x") != mangle("x") {
		t.Error("HashKeys is not a deterministic, keyed, injective-looking mapping")
	}
	if raw, err := mem.Get(ctx, vk); err != nil || len(raw) == 0 {
		t.Fatalf("nothing stored under the hashed key: %v", err)
	}
	if v, ok, _ := region.Get[secretRecord](ctx, r, "user:42"); !ok || v != secretValue {
		t.Fatalf("Get through hashed keys = %+v, %t", v, ok)
	}
}
