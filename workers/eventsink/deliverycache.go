package eventsink

import (
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// DefaultDeliveryCache is how many deliveries ResolveConfig remembers by
// default: about 35 MB at most (half a million deliveries with 20-byte
// device ids: 34 MB measured, where Go maps took 68 MB), so that the receipts
// of recent pushes need no look-up while the sink stays small;
// the receipts of a larger broadcast's first deliveries, which fan-out
// wrote long before, are looked up.
const DefaultDeliveryCache = 1 << 19

// deliveryCache remembers the deliveries whose valid events the sink read,
// so that their receipts are resolved without a ClickHouse look-up. It
// holds what enrich and invalidation need, compactly: the parts a request
// shares among its deliveries (app, task, msg, push type, platform,
// channel, version, model, time) once per generation, the delivery id as
// its 96 bits, the device and target ids, and a hash of (app, msg id,
// vendor token).
//
// Like the outcome cache it keeps two generations of at most half the
// capacity each: when the newer fills up the older is dropped, so memory
// stays bounded (about 70 bytes a delivery with 20-byte ids) and recent
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

// cacheGeneration is one generation of the cache: its deliveries in the
// order they were put, found through two flat open-addressing tables of
// entry numbers (no Go map a delivery), sized once for half deliveries at
// a load of at most one half.
type cacheGeneration struct {
	// entries holds the deliveries in chunks of entryChunk, allocated as
	// they fill (a growing slice would copy them, and a whole
	// generation's worth allocated at once would count as heap the
	// garbage collector paces itself by).
	entries [][]cachedDelivery
	n       int // the number of entries
	// byID and byToken hold an index in entries plus one (0: an empty
	// slot), probed linearly from the slot of the delivery id's first 64
	// bits and of the (app, msg id, token) hash.
	byID, byToken []uint32
	// shared interns the parts of the deliveries of one request; parts
	// lists them by index.
	shared map[sharedParts]uint32
	parts  []sharedParts
	// last is the index in parts of the previous delivery's parts (the
	// deliveries of one request come side by side), checked before
	// shared; len(parts) when there is none.
	last uint32
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

// cachedDelivery is one delivery as the cache keeps it, in 32 bytes.
type cachedDelivery struct {
	head      uint64 // the first 64 bits of the delivery id
	tokenKey  uint64 // the (app, msg id, token) hash; 0 without a token
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
	return &deliveryCache{half: half, seed: maphash.MakeSeed(), cur: newGeneration(half), old: newGeneration(half)}
}

// entryChunk is how many entries one chunk of cacheGeneration.entries
// holds (160 KiB).
const entryChunk = 4096

// newGeneration returns an empty generation for half deliveries; its
// tables (8 bytes a delivery) are allocated at once.
func newGeneration(half int) *cacheGeneration {
	slots := 1 << bits.Len(uint(2*half-1))
	return &cacheGeneration{byID: make([]uint32, slots), byToken: make([]uint32, slots), shared: map[sharedParts]uint32{}}
}

// entry returns entry number e (an index plus one, as the tables hold).
func (g *cacheGeneration) entry(e uint32) *cachedDelivery {
	i := int(e - 1)
	return &g.entries[i/entryChunk][i%entryChunk]
}

// add appends d and returns its entry number.
func (g *cacheGeneration) add(d cachedDelivery) uint32 {
	if g.n%entryChunk == 0 {
		g.entries = append(g.entries, make([]cachedDelivery, 0, entryChunk))
	}
	last := &g.entries[len(g.entries)-1]
	*last = append(*last, d)
	g.n++
	return uint32(g.n)
}

// slot is where the probe for hash h starts in a table of n slots (a
// power of two); h is mixed first, as delivery ids need not be random.
func slot(h uint64, n int) int {
	return int((h * 0x9E3779B97F4A7C15) >> (64 - bits.Len(uint(n-1))))
}

// find returns the slot of table (byID, or byToken when token is true)
// holding the entry of key (a delivery id's head, or a token key), or the
// empty slot where it would go and false.
func (g *cacheGeneration) find(table []uint32, key uint64, token bool) (int, bool) {
	mask := len(table) - 1
	for i := slot(key, len(table)); ; i = (i + 1) & mask {
		e := table[i]
		if e == 0 {
			return i, false
		}
		d := g.entry(e)
		if token && d.tokenKey == key || !token && d.head == key {
			return i, true
		}
	}
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
	return h.Sum64() | 1
}

// idKey is the 64-bit hash of a delivery id of any form.
func (c *deliveryCache) idKey(id string) uint64 { return maphash.String(c.seed, id) }

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
	idx, ok := g.last, int(g.last) < len(g.parts) && g.parts[g.last] == p
	if !ok {
		idx, ok = g.shared[p]
	}
	if !ok {
		// Copied: the record's strings may share the memory of the
		// Kafka record they were decoded from (see decodeEvent).
		p = p.clone()
		idx = uint32(len(g.parts))
		g.parts = append(g.parts, p)
		g.shared[p] = idx
	}
	g.last = idx
	d := cachedDelivery{head: head, idTail: tail, parts: idx, textAt: uint32(len(g.text)),
		deviceLen: uint16(len(rec.DeviceID)), targetLen: uint16(targetLen)}
	g.text = append(g.text, rec.DeviceID...)
	if rec.Target == rec.DeviceID {
		d.targetLen = sameTarget
	} else {
		g.text = append(g.text, rec.Target...)
	}
	if rec.Token != "" {
		d.tokenKey = c.tokenKey(rec.AppID, rec.MsgID, rec.Token)
	}
	// A delivery put again gets a new entry; both tables then lead to it.
	e := g.add(d)
	i, _ := g.find(g.byID, head, false)
	g.byID[i] = e
	if d.tokenKey != 0 {
		i, _ := g.find(g.byToken, d.tokenKey, true)
		g.byToken[i] = e
	}
	if g.n >= c.half {
		c.old, c.cur = c.cur, newGeneration(c.half)
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
		i, ok := g.find(g.byToken, key, true)
		if !ok {
			continue
		}
		d := g.entry(g.byToken[i])
		// The token itself is known by the key's hash only.
		if g.parts[d.parts].app != k.AppID || g.parts[d.parts].msg != k.MsgID {
			continue
		}
		return idString(d.head, d.idTail), true
	}
	return "", false
}

func (c *deliveryCache) recordLocked(head uint64, tail uint32, token string) (store.DeliveryRecord, bool) {
	for _, g := range []*cacheGeneration{c.cur, c.old} {
		i, ok := g.find(g.byID, head, false)
		if !ok {
			continue
		}
		d := g.entry(g.byID[i])
		if d.idTail != tail {
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
		if d.tokenKey != 0 && token != "" && d.tokenKey == c.tokenKey(s.app, s.msg, token) {
			rec.Token = token
		}
		return rec, true
	}
	return store.DeliveryRecord{}, false
}
