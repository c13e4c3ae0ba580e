package devicecache

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// lru is the cache's storage: a least-recently-used set of entries held
// without pointers the garbage collector has to follow. Each entry is one
// record appended to a byte arena (its key, then the device's fields as
// length-prefixed bytes and varints); an index maps a 64-bit hash of the
// key to a slot, and the slots (offset and length into the arena, and the
// recency list as slot numbers) are plain integers. The arena, the slots
// and the index hold no pointers, so a GC cycle marks three objects instead
// of walking every cached string. Records dropped or replaced leave garbage
// in the arena, which is compacted once it is more than half of it.
//
// Two keys with the same hash cannot both be held: adding one drops the
// other (a look-up compares the stored key, so it never returns the wrong
// device; the dropped one is a miss). Not safe for concurrent use: Cache
// holds its mutex.
type lru struct {
	size  int
	seed  maphash.Seed
	index map[uint64]int32
	slots []slot
	free  []int32
	// head is the most recently used slot, tail the least; -1 when empty.
	head, tail int32
	arena      []byte
	garbage    int
	// locs are the time zones of the cached times, by the index a record
	// stores (at most 255; a device in yet another zone is not cached).
	locs []*time.Location
}

// slot is one held entry: its record at arena[off:off+n], and its
// neighbours in the recency list (-1: none).
type slot struct {
	hash       uint64
	off        int
	n          int32
	prev, next int32
}

// minCompact is the garbage below which the arena is never compacted.
const minCompact = 1 << 20

func newLRU(size int) *lru {
	return &lru{size: max(size, 1), seed: maphash.MakeSeed(), index: map[uint64]int32{}, head: -1, tail: -1}
}

// Len returns the entries held.
func (l *lru) Len() int { return len(l.index) }

// Resize bounds the entries held to size (at least 1), dropping the least
// recently used past it, and returns how many it dropped.
func (l *lru) Resize(size int) int {
	l.size = max(size, 1)
	n := 0
	for len(l.index) > l.size {
		l.drop(l.tail)
		n++
	}
	l.maybeCompact()
	return n
}

// Get returns the entry of k and marks it the most recently used.
func (l *lru) Get(k string) (entry, bool) {
	i, ok := l.find(k)
	if !ok {
		return entry{}, false
	}
	l.unlink(i)
	l.pushFront(i)
	return l.decode(l.record(i)), true
}

// Contains reports whether k is held, without changing its recency.
func (l *lru) Contains(k string) bool {
	_, ok := l.find(k)
	return ok
}

// Add holds e under k as the most recently used entry, replacing what k
// (or a key with the same hash) held, and drops the least recently used
// entry past the size. A device with times in more time zones than a
// record can name is not held (Add reports false).
func (l *lru) Add(k string, e entry) bool {
	h := l.hash(k)
	if i, ok := l.index[h]; ok {
		l.drop(i)
	}
	start := len(l.arena)
	var ok bool
	if l.arena, ok = l.encode(l.arena, k, e); !ok {
		l.arena = l.arena[:start]
		return false
	}
	var i int32
	if n := len(l.free); n > 0 {
		i, l.free = l.free[n-1], l.free[:n-1]
	} else {
		i = int32(len(l.slots))
		l.slots = append(l.slots, slot{})
	}
	l.slots[i] = slot{hash: h, off: start, n: int32(len(l.arena) - start)}
	l.index[h] = i
	l.pushFront(i)
	for len(l.index) > l.size {
		l.drop(l.tail)
	}
	l.maybeCompact()
	return true
}

// Remove drops k and reports whether it was held.
func (l *lru) Remove(k string) bool {
	i, ok := l.find(k)
	if ok {
		l.drop(i)
		l.maybeCompact()
	}
	return ok
}

func (l *lru) hash(k string) uint64 { return maphash.String(l.seed, k) }

// find returns the slot holding k.
func (l *lru) find(k string) (int32, bool) {
	i, ok := l.index[l.hash(k)]
	if !ok {
		return 0, false
	}
	rec := l.record(i)
	n, w := binary.Uvarint(rec)
	if w <= 0 || uint64(len(rec)-w) < n || string(rec[w:w+int(n)]) != k {
		return 0, false // another key with the same hash
	}
	return i, true
}

func (l *lru) record(i int32) []byte {
	s := &l.slots[i]
	return l.arena[s.off : s.off+int(s.n) : s.off+int(s.n)]
}

// drop forgets slot i.
func (l *lru) drop(i int32) {
	s := &l.slots[i]
	delete(l.index, s.hash)
	l.unlink(i)
	l.garbage += int(s.n)
	*s = slot{prev: -1, next: -1}
	l.free = append(l.free, i)
}

func (l *lru) unlink(i int32) {
	s := &l.slots[i]
	if s.prev >= 0 {
		l.slots[s.prev].next = s.next
	} else {
		l.head = s.next
	}
	if s.next >= 0 {
		l.slots[s.next].prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = -1, -1
}

func (l *lru) pushFront(i int32) {
	s := &l.slots[i]
	s.prev, s.next = -1, l.head
	if l.head >= 0 {
		l.slots[l.head].prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

// maybeCompact copies the live records into a new arena once the garbage
// is more than half of the arena (and at least minCompact), so the arena
// stays within about twice the live records.
func (l *lru) maybeCompact() {
	if len(l.index) == 0 {
		l.arena, l.garbage = nil, 0
		return
	}
	if l.garbage < minCompact || l.garbage*2 < len(l.arena) {
		return
	}
	live := len(l.arena) - l.garbage
	arena := make([]byte, 0, live+live/4)
	for i := l.head; i >= 0; i = l.slots[i].next {
		s := &l.slots[i]
		off := len(arena)
		arena = append(arena, l.arena[s.off:s.off+int(s.n)]...)
		s.off = off
	}
	l.arena, l.garbage = arena, 0
}

// Record layout: key, then the entry's flags, the device's strings in
// the order of deviceStrings, and its times in the order of deviceTimes.
// A string is a uvarint length and its bytes; a time is its Unix seconds
// (varint), nanoseconds (uvarint) and the index of its zone in locs (one
// byte).
const (
	flagFound = 1 << iota
	flagTokenValid
)

func deviceStrings(d *schema.Device) [12]*string {
	return [12]*string{&d.AppID, &d.DeviceID, &d.WorkspaceID, &d.Platform, &d.Vendor, &d.VendorToken,
		&d.SelfToken, &d.AppVersion, &d.Model, &d.UserID, &d.Alias, &d.UserAccount}
}

func deviceTimes(d *schema.Device) [5]*time.Time {
	return [5]*time.Time{&d.BoundAt, &d.UnboundAt, &d.UpdatedAt, &d.AliasAt, &d.AccountAt}
}

// encode appends the record of k and e to b; false when a time's zone
// cannot be named.
func (l *lru) encode(b []byte, k string, e entry) ([]byte, bool) {
	b = appendString(b, k)
	var flags byte
	if e.found {
		flags |= flagFound
	}
	if e.dev.TokenValid {
		flags |= flagTokenValid
	}
	b = append(b, flags)
	for _, s := range deviceStrings(&e.dev) {
		b = appendString(b, *s)
	}
	for _, t := range deviceTimes(&e.dev) {
		z, ok := l.zone(t.Location())
		if !ok {
			return b, false
		}
		b = binary.AppendVarint(b, t.Unix())
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
		b = append(b, z)
	}
	return b, true
}

// zone returns the index of loc in locs, adding it if there is room.
func (l *lru) zone(loc *time.Location) (byte, bool) {
	for i, z := range l.locs {
		if z == loc {
			return byte(i), true
		}
	}
	if len(l.locs) > 255 {
		return 0, false
	}
	l.locs = append(l.locs, loc)
	return byte(len(l.locs) - 1), true
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decode returns the entry of a record written by encode. The device's
// strings share one allocation: a copy of the record.
func (l *lru) decode(rec []byte) entry {
	all := string(rec)
	r := reader{s: all}
	r.str() // the key
	flags := r.byte()
	e := entry{found: flags&flagFound != 0}
	e.dev.TokenValid = flags&flagTokenValid != 0
	for _, s := range deviceStrings(&e.dev) {
		*s = r.str()
	}
	for _, t := range deviceTimes(&e.dev) {
		sec := r.varint()
		nsec := r.uvarint()
		*t = time.Unix(sec, int64(nsec)).In(l.locs[r.byte()])
	}
	return e
}

// reader reads a record written by encode (which the lru wrote itself, so
// it is well formed).
type reader struct {
	s string
	i int
}

func (r *reader) uvarint() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.s[r.i]
		r.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (r *reader) byte() byte {
	c := r.s[r.i]
	r.i++
	return c
}

func (r *reader) str() string {
	n := int(r.uvarint())
	s := r.s[r.i : r.i+n]
	r.i += n
	return s
}
