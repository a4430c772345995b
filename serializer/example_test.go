package serializer_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/corralcache/corral/serializer"
)

func ExampleCodec() {
	type User struct {
		ID   int
		Name string
	}
	codec, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 1024})
	if err != nil {
		panic(err)
	}
	created := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	entry, err := codec.Encode(User{ID: 42, Name: "Ada"}, serializer.Meta{
		Created:    created.UnixNano(),
		Expiration: 5 * time.Minute,
	})
	if err != nil {
		panic(err)
	}

	// A reader can look at the metadata alone, e.g. to decide staleness.
	meta, err := codec.DecodeMeta(entry)
	if err != nil {
		panic(err)
	}
	stale := time.Unix(0, meta.Created).Add(meta.Expiration)
	fmt.Println("stale after:", stale.UTC().Format(time.RFC3339))

	var u User
	if _, err := codec.Decode(entry, &u); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", u)
	// Output:
	// stale after: 2025-06-01T12:05:00Z
	// {ID:42 Name:Ada}
}

func ExampleCodec_compression() {
	codec, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{CompressAbove: 1024})
	if err != nil {
		panic(err)
	}
	page := strings.Repeat("<li>cached row</li>", 1000)
	entry, err := codec.Encode(page, serializer.Meta{})
	if err != nil {
		panic(err)
	}
	fmt.Println("value bytes:", len(page), "entry smaller than a tenth:", len(entry) < len(page)/10)

	var got string
	if _, err := codec.Decode(entry, &got); err != nil {
		panic(err)
	}
	fmt.Println("round trip:", got == page)
	// Output:
	// value bytes: 19000 entry smaller than a tenth: true
	// round trip: true
}

func ExampleCodec_Decode_foreignBytes() {
	codec, err := serializer.NewCodec(serializer.NewMsgPack(), serializer.CodecOptions{})
	if err != nil {
		panic(err)
	}
	// A value some other client wrote under the same key.
	var s string
	_, err = codec.Decode([]byte("written by redis-cli"), &s)
	fmt.Println(errors.Is(err, serializer.ErrDecode))
	fmt.Println(err)
	// Output:
	// true
	// serializer: cannot decode: not a corral envelope (first byte 0x77)
}

func ExampleRaw() {
	var raw serializer.Raw
	b, err := raw.Marshal("stored as-is")
	if err != nil {
		panic(err)
	}
	var s string
	if err := raw.Unmarshal(b, &s); err != nil {
		panic(err)
	}
	fmt.Printf("%q %q\n", b, s)

	_, err = raw.Marshal(42)
	fmt.Println(err)
	// Output:
	// "stored as-is" "stored as-is"
	// serializer: raw supports only []byte and string: got int
}

func ExampleMsgPack() {
	s := serializer.NewMsgPack()
	b, err := s.Marshal(map[string]int{"answer": 42})
	if err != nil {
		panic(err)
	}
	var m map[string]int
	if err := s.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes, %v\n", len(b), m)

	err = s.Unmarshal(append(b, 0x00), &m)
	fmt.Println(errors.Is(err, serializer.ErrDecode))
	// Output:
	// 9 bytes, map[answer:42]
	// true
}
