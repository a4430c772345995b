package serializer

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrInvalidKeyring is wrapped by the errors of [NewKeyring].
var ErrInvalidKeyring = errors.New("serializer: invalid keyring")

// ErrUnknownKey is wrapped (beside [ErrDecode]) by the error of decoding an
// entry encrypted with a key ID the codec's [Keyring] does not hold: a key
// retired too early, or an entry written by another application.
var ErrUnknownKey = errors.New("serializer: unknown encryption key")

// KeySize is the size in bytes of every key of a [Keyring].
const KeySize = chacha20poly1305.KeySize

// Keyring holds the keys a [Codec] encrypts entries with: keys by ID, one
// of them current. The current key encrypts every new entry; every key
// decrypts the entries that name its ID, so keys rotate without a flush. A
// Keyring never changes once made, and is safe for concurrent use. Its
// String method names the key IDs, never the keys.
//
// Entries are sealed with XChaCha20-Poly1305 under a random 192-bit nonce:
// there is no limit worth counting on the number of entries one key may
// encrypt, which matters for a cache that many processes write at once with
// no shared counter.
type Keyring struct {
	current uint32
	aeads   map[uint32]cipher.AEAD
}

// NewKeyring returns a keyring of keys (ID → key), whose current key is
// keys[current]. Each key is [KeySize] random bytes chosen by the
// application (from a secret manager, say; never a password). NewKeyring
// copies what it needs: the caller may zero its slices afterwards. Errors
// wrap [ErrInvalidKeyring]: no keys, a current ID not among them, or a key
// of the wrong size (the error names its ID, never its bytes).
func NewKeyring(current uint32, keys map[uint32][]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrInvalidKeyring)
	}
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("%w: current key ID %d is not among the keys", ErrInvalidKeyring, current)
	}
	k := &Keyring{current: current, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for id, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("%w: key ID %d is %d bytes, want %d", ErrInvalidKeyring, id, len(key), KeySize)
		}
		a, err := chacha20poly1305.NewX(key) // copies key into its state
		if err != nil {
			return nil, fmt.Errorf("%w: key ID %d: %w", ErrInvalidKeyring, id, err)
		}
		k.aeads[id] = a
	}
	return k, nil
}

// Current returns the ID of the key that encrypts new entries.
func (k *Keyring) Current() uint32 { return k.current }

// IDs returns the IDs of the keys, in increasing order.
func (k *Keyring) IDs() []uint32 {
	ids := make([]uint32, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// String describes k by its key IDs; it never prints a key.
func (k *Keyring) String() string {
	var b strings.Builder
	b.WriteString("serializer.Keyring{current: ")
	b.WriteString(strconv.FormatUint(uint64(k.current), 10))
	b.WriteString(", ids: [")
	for i, id := range k.IDs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatUint(uint64(id), 10))
	}
	b.WriteString("]}")
	return b.String()
}

// GoString is String, so that %#v prints no key either.
func (k *Keyring) GoString() string { return k.String() }
