package eventsink

import (
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"strings"
	"sync"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// DefaultDeliveryCache is how many deliveries ResolveConfig remembers by
// default: about 60 MB at most (half a million deliveries with 20-byte
// device ids; 54 MB measured with 430,000 of them), so that the receipts
// of recent pushes need no look-up while the sink stays small;
// the receipts of a larger broadcast's first deliveries, which fan-out
// wrote long before, are looked up.
const DefaultDeliveryCache = 1 << 19

// deliveryCache remembers the deliveries whose valid events the sink read,
// so that their receipts are resolved without a ClickHouse look-up. It
// holds what enrich and invalidation need, compactly: the parts a request
// shares among its deliveries (app, task, msg, push type, platform,
// channel, version, model, time) once per generation, the delivery id as
// its 96 bits, the device and target ids, and a hash of the vendor token.
//
// Like the outcome cache it keeps two generations of at most half the
// capacity each: when the newer fills up the older is dropped, so memory
// stays bounded (about 110 bytes a delivery with 20-byte ids) and recent
// deliveries stay known. A delivery it has forgotten, or never read (it was indexed by
// another replica or before a restart), is looked up in the index as
// before. Answers are exact: a hit is checked against the whole delivery
// id, and a (msg id, token) hit against the app, msg id and token hash.
// Safe for concurrent use.
type deliveryCache struct {
	half int
	seed maphash.Seed

	mu       sync.Mutex
	cur, old *cacheGeneration
}

// cacheGeneration is one generation of the cache.
type cacheGeneration struct {
	// byID maps the first 64 bits of a delivery id to the delivery.
	byID map[uint64]cachedDelivery
	// byToken maps a hash of (app, msg id, token) to the first 64 bits
	// of the delivery id.
	byToken map[uint64]uint64
	// shared interns the parts of the deliveries of one request; parts
	// lists them by index.
	shared map[sharedParts]uint32
	parts  []sharedParts
	// text holds the device and target ids, one after the other.
	text []byte
}

// sharedParts are the parts of a delivery record that its request's
// other deliveries to the same kind of device share.
type sharedParts struct {
	app, workspace, task, msg string
	pushType                  schema.PushType
	platform, channel         string
	appVersion, model         string
	ts                        int64
}

// clone returns p with its strings copied.
func (p sharedParts) clone() sharedParts {
	p.app, p.workspace, p.task, p.msg = strings.Clone(p.app), strings.Clone(p.workspace), strings.Clone(p.task), strings.Clone(p.msg)
	p.pushType = schema.PushType(strings.Clone(string(p.pushType)))
	p.platform, p.channel = strings.Clone(p.platform), strings.Clone(p.channel)
	p.appVersion, p.model = strings.Clone(p.appVersion), strings.Clone(p.model)
	return p
}

// cachedDelivery is one delivery as the cache keeps it, in 24 bytes.
type cachedDelivery struct {
	tokenHash uint64 // 0 when the delivery has no token
	idTail    uint32 // the last 32 bits of the delivery id
	parts     uint32 // index in cacheGeneration.parts
	textAt    uint32 // the device id's offset in cacheGeneration.text
	deviceLen uint16
	// targetLen is the length of the target id, which follows the
	// device id in text, or sameTarget when the target is the device.
	targetLen uint16
}

// sameTarget marks a delivery whose target is its device id.
const sameTarget = 0xFFFF

// maxCachedText bounds a generation's text; a delivery whose ids do not
// fit (or are longer than 64 KiB) is not cached.
const maxCachedText = 1<<32 - 1

func newDeliveryCache(capacity int) *deliveryCache {
	half := max(1, capacity/2)
	return &deliveryCache{half: half, seed: maphash.MakeSeed(), cur: newGeneration(), old: newGeneration()}
}

func newGeneration() *cacheGeneration {
	return &cacheGeneration{byID: map[uint64]cachedDelivery{}, byToken: map[uint64]uint64{},
		shared: map[sharedParts]uint32{}}
}

// idBits splits a delivery id ("d" and 24 hex digits) into its 96 bits;
// ok is false for any other string.
func idBits(id string) (head uint64, tail uint32, ok bool) {
	if !schema.IsDeliveryID(id) {
		return 0, 0, false
	}
	var b [12]byte
	if _, err := hex.Decode(b[:], []byte(id[1:])); err != nil {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint32(b[8:]), true
}

// idString is the delivery id of head and tail.
func idString(head uint64, tail uint32) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], head)
	binary.BigEndian.PutUint32(b[8:], tail)
	return "d" + hex.EncodeToString(b[:])
}

func (c *deliveryCache) tokenKey(app, msg, token string) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, s := range []string{app, msg, token} {
		_, _ = h.WriteString(s)
		_ = h.WriteByte(0)
	}
	return h.Sum64()
}

func (c *deliveryCache) tokenHash(token string) uint64 {
	if token == "" {
		return 0
	}
	return maphash.String(c.seed, token) | 1
}

// put remembers the delivery of a valid event's index row.
func (c *deliveryCache) put(rec store.DeliveryRecord) {
	head, tail, ok := idBits(rec.DeliveryID)
	if !ok {
		return
	}
	targetLen := len(rec.Target)
	if rec.Target == rec.DeviceID {
		targetLen = 0
	}
	if len(rec.DeviceID) >= sameTarget || targetLen >= sameTarget {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.cur
	if len(g.text)+len(rec.DeviceID)+targetLen > maxCachedText {
		return
	}
	p := sharedParts{app: rec.AppID, workspace: rec.WorkspaceID, task: rec.TaskID, msg: rec.MsgID, pushType: rec.PushType,
		platform: rec.Platform, channel: rec.Channel, appVersion: rec.AppVersion, model: rec.Model, ts: rec.TS}
	idx, ok := g.shared[p]
	if !ok {
		// Copied: the record's strings may share the memory of the
		// Kafka record they were decoded from (see decodeEvent).
		p = p.clone()
		idx = uint32(len(g.parts))
		g.parts = append(g.parts, p)
		g.shared[p] = idx
	}
	d := cachedDelivery{tokenHash: c.tokenHash(rec.Token), idTail: tail, parts: idx, textAt: uint32(len(g.text)),
		deviceLen: uint16(len(rec.DeviceID)), targetLen: uint16(targetLen)}
	g.text = append(g.text, rec.DeviceID...)
	if rec.Target == rec.DeviceID {
		d.targetLen = sameTarget
	} else {
		g.text = append(g.text, rec.Target...)
	}
	g.byID[head] = d
	if rec.Token != "" {
		g.byToken[c.tokenKey(rec.AppID, rec.MsgID, rec.Token)] = head
	}
	if len(g.byID) >= c.half {
		c.old, c.cur = c.cur, newGeneration()
	}
}

// get returns the index row of delivery id, its Token set to token when
// token is the delivery's vendor token and "" otherwise (the cache keeps
// only the token's hash); ok is false when the cache does not know it.
func (c *deliveryCache) get(id, token string) (store.DeliveryRecord, bool) {
	head, tail, ok := idBits(id)
	if !ok {
		return store.DeliveryRecord{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recordLocked(head, tail, token)
}

// byToken returns the delivery id of (app, msg id, token); ok is false
// when the cache does not know it. An empty app (an event published
// before receipts named their app) is never answered from the cache.
func (c *deliveryCache) byToken(k store.MsgToken) (string, bool) {
	if k.AppID == "" || k.Token == "" {
		return "", false
	}
	key := c.tokenKey(k.AppID, k.MsgID, k.Token)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range []*cacheGeneration{c.cur, c.old} {
		head, ok := g.byToken[key]
		if !ok {
			continue
		}
		d, ok := g.byID[head]
		if !ok || g.parts[d.parts].app != k.AppID || g.parts[d.parts].msg != k.MsgID || d.tokenHash != c.tokenHash(k.Token) {
			continue
		}
		return idString(head, d.idTail), true
	}
	return "", false
}

func (c *deliveryCache) recordLocked(head uint64, tail uint32, token string) (store.DeliveryRecord, bool) {
	for _, g := range []*cacheGeneration{c.cur, c.old} {
		d, ok := g.byID[head]
		if !ok || d.idTail != tail {
			continue
		}
		s := &g.parts[d.parts]
		end := d.textAt + uint32(d.deviceLen)
		device := string(g.text[d.textAt:end])
		target := device
		if d.targetLen != sameTarget {
			target = string(g.text[end : end+uint32(d.targetLen)])
		}
		rec := store.DeliveryRecord{DeliveryID: idString(head, tail), AppID: s.app, WorkspaceID: s.workspace, TaskID: s.task,
			MsgID: s.msg, PushType: s.pushType, Target: target, DeviceID: device, Platform: s.platform, Channel: s.channel,
			AppVersion: s.appVersion, Model: s.model, TS: s.ts}
		if d.tokenHash != 0 && d.tokenHash == c.tokenHash(token) {
			rec.Token = token
		}
		return rec, true
	}
	return store.DeliveryRecord{}, false
}
