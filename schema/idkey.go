package schema

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// MinIDSecretBytes is the shortest server secret NewIDKey takes: 256 bits.
const MinIDSecretBytes = 32

// ReceiptTagLen is the length of the tag ReceiptParam appends to a receipt
// correlation value: 16 base64url characters, 96 bits of an HMAC-SHA256.
const ReceiptTagLen = 16

// ReceiptTagOverhead is how much longer ReceiptParam makes a correlation
// value: the separator and the tag.
const ReceiptTagOverhead = 1 + ReceiptTagLen

// IDKey is the server secret that delivery ids and receipt tags are
// derived under. Nobody without it can compute a delivery id from the
// public app, msg and device ids, nor the tag that makes a vendor's
// echoed callback parameter authentic. Every fanout replica and receipts
// worker of a deployment must hold the same secret (configuration
// security.idSecret or security.idSecretFile). The zero IDKey is not
// usable (Valid reports false, and deriving with it panics: workers check
// Valid when they are built). An IDKey is immutable and safe for
// concurrent use.
type IDKey struct {
	key []byte
	// macs holds HMAC states keyed with key, reused across derivations
	// (an id is derived per device of a broadcast).
	macs *sync.Pool
}

// ErrShortIDSecret is returned by NewIDKey for a secret shorter than
// MinIDSecretBytes.
var ErrShortIDSecret = errors.New("the id secret is shorter than 32 bytes")

// NewIDKey returns the key of secret, which must hold at least
// MinIDSecretBytes bytes (e.g. 32 random bytes, or their base64 text). The
// secret is copied. A shorter secret is an error matching
// ErrShortIDSecret.
func NewIDKey(secret []byte) (IDKey, error) {
	if len(secret) < MinIDSecretBytes {
		return IDKey{}, fmt.Errorf("%w: got %d bytes; generate one with `head -c 32 /dev/urandom | base64`", ErrShortIDSecret, len(secret))
	}
	key := append([]byte(nil), secret...)
	return IDKey{key: key, macs: &sync.Pool{New: func() any {
		return &macState{h: hmac.New(sha256.New, key), scratch: make([]byte, 0, 256)}
	}}}, nil
}

// Valid reports whether k was made by NewIDKey.
func (k IDKey) Valid() bool { return len(k.key) >= MinIDSecretBytes }

// String never shows the secret.
func (k IDKey) String() string {
	if !k.Valid() {
		return "IDKey(unset)"
	}
	return "IDKey(REDACTED)"
}

// GoString never shows the secret.
func (k IDKey) GoString() string { return k.String() }

// mac is HMAC-SHA256 under k of the domain and the length-prefixed parts,
// so ("ab","c") and ("a","bc") differ and no use of the key can stand in
// for another.
func (k IDKey) mac(domain string, parts ...string) [sha256.Size]byte {
	if !k.Valid() {
		panic("schema: IDKey used before NewIDKey: configure security.idSecret")
	}
	m := k.macs.Get().(*macState)
	b := append(m.scratch[:0], domain...)
	for _, p := range parts {
		b = append(b, 0)
		b = strconv.AppendInt(b, int64(len(p)), 10)
		b = append(b, ':')
		b = append(b, p...)
	}
	m.h.Reset()
	m.h.Write(b)
	sum := [sha256.Size]byte(m.h.Sum(m.sum[:0]))
	if cap(b) <= 4096 {
		m.scratch = b[:0] // keep a grown buffer, within bounds
	}
	k.macs.Put(m)
	return sum
}

// macState is one pooled HMAC state with its buffers: the input and the
// sum stay in it, so deriving an id allocates nothing but the id.
type macState struct {
	h       hash.Hash
	scratch []byte
	sum     [sha256.Size]byte
}

// DeliveryID derives the id of the delivery of msg msgID of app appID to
// device deviceID: "d" and 24 lowercase hex digits (IsDeliveryID), the
// first 96 bits of an HMAC-SHA256 under k. It is deterministic, so a
// replayed request gets the same delivery ids and dedupes; two apps with
// the same msg and device ids get different ones; and without k nobody
// can compute one.
func (k IDKey) DeliveryID(appID, msgID, deviceID string) string {
	sum := k.mac("pushpipe delivery id v1", appID, msgID, deviceID)
	var id [25]byte
	id[0] = 'd'
	hex.Encode(id[1:], sum[:12])
	return string(id[:])
}

// ReceiptTag is the tag that authenticates correlation value value of a
// call for app appID to vendor (mipush, oppo, vivo): ReceiptTagLen
// base64url characters of an HMAC-SHA256 under k. The vendor echoes the
// value with its tag in its receipts; only the holder of k can make one.
func (k IDKey) ReceiptTag(vendor, appID, value string) string {
	sum := k.mac("pushpipe receipt tag v1", vendor, appID, value)
	return base64.RawURLEncoding.EncodeToString(sum[:])[:ReceiptTagLen]
}

// ReceiptParam is the callback parameter a channel sends to vendor for a
// call of app appID whose receipts are correlated by value (a delivery
// id, or the msg id of a call for many tokens): value, ".", and its
// ReceiptTag. It is ReceiptTagOverhead bytes longer than value.
func (k IDKey) ReceiptParam(vendor, appID, value string) string {
	return value + "." + k.ReceiptTag(vendor, appID, value)
}

// VerifyReceiptParam checks a callback parameter echoed by vendor in a
// receipt of app appID and returns the correlation value it carries; ok
// is false when the parameter has no tag or its tag is not the one k
// gives (compared in constant time).
func (k IDKey) VerifyReceiptParam(vendor, appID, param string) (value string, ok bool) {
	i := strings.LastIndexByte(param, '.')
	if i < 0 || len(param)-i-1 != ReceiptTagLen {
		return "", false
	}
	value, tag := param[:i], param[i+1:]
	if !hmac.Equal([]byte(tag), []byte(k.ReceiptTag(vendor, appID, value))) {
		return "", false
	}
	return value, true
}

// AppKey is the Kafka key of a record that names something app appID
// owns (a task, message, delivery, device or user): "<appId>/<id>", so
// that the same id of two apps never shares a key. Every record of one
// key goes to one partition, so the order of one app's records about one
// id is kept. An empty appID gives id alone (records written before keys
// carried the app).
func AppKey(appID, id string) string {
	if appID == "" {
		return id
	}
	return appID + "/" + id
}

// AppendAppKey appends AppKey(appID, id) to b.
func AppendAppKey(b []byte, appID, id string) []byte {
	if b == nil {
		b = make([]byte, 0, len(appID)+1+len(id))
	}
	if appID != "" {
		b = append(append(b, appID...), '/')
	}
	return append(b, id...)
}
