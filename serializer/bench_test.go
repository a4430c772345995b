package serializer_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/corralcache/corral/serializer"
)

// benchUser is a typical cached record; newBenchUser fills it to about 1 KiB
// of MessagePack.
type benchUser struct {
	ID        int64             `msgpack:"id" json:"id"`
	Name      string            `msgpack:"name" json:"name"`
	Email     string            `msgpack:"email" json:"email"`
	Active    bool              `msgpack:"active" json:"active"`
	Score     float64           `msgpack:"score" json:"score"`
	Tags      []string          `msgpack:"tags" json:"tags"`
	Attrs     map[string]string `msgpack:"attrs" json:"attrs"`
	Bio       string            `msgpack:"bio" json:"bio"`
	CreatedAt time.Time         `msgpack:"created_at" json:"created_at"`
}

func newBenchUser() benchUser {
	return benchUser{
		ID:     1234567,
		Name:   "Ada Lovelace",
		Email:  "ada@example.com",
		Active: true,
		Score:  98.6,
		Tags:   []string{"admin", "math", "engines", "poetry", "analytics"},
		Attrs: map[string]string{
			"country": "GB", "language": "en", "timezone": "Europe/London",
			"plan": "enterprise", "team": "difference-engine",
		},
		Bio:       strings.Repeat("Wrote the first published algorithm for a machine. ", 15),
		CreatedAt: time.Date(1843, 7, 10, 12, 0, 0, 0, time.UTC),
	}
}

var benchSink []byte

// BenchmarkCodecEncode encodes a ~1 KiB struct into an envelope, next to the
// bare serializers as baselines.
func BenchmarkCodecEncode(b *testing.B) {
	u := newBenchUser()
	m := serializer.Meta{Created: time.Now().UnixNano(), Expiration: time.Minute}
	if p, _ := msgpack.Marshal(&u); len(p) < 900 || len(p) > 1200 {
		b.Fatalf("benchmark value is %d bytes of msgpack, want about 1 KiB", len(p))
	}
	codecs := []struct {
		name string
		s    serializer.Serializer
		o    serializer.CodecOptions
	}{
		{"codec-msgpack", serializer.NewMsgPack(), serializer.CodecOptions{}},
		{"codec-msgpack-s2", serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 512}},
		{"codec-json", serializer.JSON{}, serializer.CodecOptions{}},
		{"codec-msgpack-sealed", serializer.NewMsgPack(), serializer.CodecOptions{Keyring: benchKeyring}},
		{"codec-msgpack-s2-sealed", serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 512, Keyring: benchKeyring}},
	}
	for _, tc := range codecs {
		c, err := serializer.NewCodec(tc.s, tc.o)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out, err := c.Encode(&u, m)
				if err != nil {
					b.Fatal(err)
				}
				benchSink = out
			}
			b.ReportMetric(float64(len(benchSink)), "bytes/entry")
		})
	}
	b.Run("baseline-msgpack.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := msgpack.Marshal(&u)
			if err != nil {
				b.Fatal(err)
			}
			benchSink = out
		}
	})
	b.Run("baseline-json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := json.Marshal(&u)
			if err != nil {
				b.Fatal(err)
			}
			benchSink = out
		}
	})
}

// BenchmarkCodecDecode decodes a ~1 KiB struct from an envelope, next to the
// bare serializers as baselines.
func BenchmarkCodecDecode(b *testing.B) {
	u := newBenchUser()
	m := serializer.Meta{Created: time.Now().UnixNano(), Expiration: time.Minute}
	codecs := []struct {
		name string
		s    serializer.Serializer
		o    serializer.CodecOptions
	}{
		{"codec-msgpack", serializer.NewMsgPack(), serializer.CodecOptions{}},
		{"codec-msgpack-s2", serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 512}},
		{"codec-json", serializer.JSON{}, serializer.CodecOptions{}},
		{"codec-msgpack-sealed", serializer.NewMsgPack(), serializer.CodecOptions{Keyring: benchKeyring}},
		{"codec-msgpack-s2-sealed", serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 512, Keyring: benchKeyring}},
	}
	for _, tc := range codecs {
		c, err := serializer.NewCodec(tc.s, tc.o)
		if err != nil {
			b.Fatal(err)
		}
		env, err := c.Encode(&u, m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(env)))
			for b.Loop() {
				var got benchUser
				if _, err := c.Decode(env, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	mp, _ := msgpack.Marshal(&u)
	b.Run("baseline-msgpack.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(mp)))
		for b.Loop() {
			var got benchUser
			if err := msgpack.Unmarshal(mp, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	js, _ := json.Marshal(&u)
	b.Run("baseline-json.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			var got benchUser
			if err := json.Unmarshal(js, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchKeyring seals the envelopes of the -sealed codecs.
var benchKeyring, _ = serializer.NewKeyring(1, map[uint32][]byte{1: make([]byte, serializer.KeySize)})
