package h2

import (
	"bytes"
	"strconv"
	"testing"

	"golang.org/x/net/http2/hpack"
)

func TestContentLengthEncodesAsTheHPACKEncoderDoes(t *testing.T) {
	for _, n := range []int{1, 9, 10, 99, 100, 250, 4095, 4096, 65535, 1 << 20, 1<<31 - 1} {
		var want bytes.Buffer
		enc := hpack.NewEncoder(&want)
		if err := enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(n), Sensitive: true}); err != nil {
			t.Fatal(err)
		}
		if got := appendContentLength(nil, n); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("content-length %d: % x, the encoder writes % x", n, got, want.Bytes())
		}
	}
}

func TestContentLengthDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 64)
	if a := testing.AllocsPerRun(100, func() { buf = appendContentLength(buf[:0], 12345) }); a != 0 {
		t.Errorf("%v allocations per content-length, want 0", a)
	}
}
