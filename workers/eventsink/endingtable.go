package eventsink

import "math/bits"

// endingTable maps 64-bit delivery keys to their remembered endings in
// two flat arrays with linear probing: 16 bytes a slot at a load of up to
// 7/8, where a Go map of the same keys and values takes about 37 bytes an
// entry. It grows by doubling up to maxSlots, which the outcome cache
// sizes so that a generation never needs more. Key 0 marks an empty slot,
// so keys are stored with their lowest bit set (a key and its neighbour
// differing only there are the same delivery to the table, as two
// delivery ids whose 64-bit hashes collide are to the cache). Not safe
// for concurrent use.
type endingTable struct {
	keys     []uint64
	vals     []remembered
	n        int
	maxSlots int
}

// minEndingSlots is the size of a new table.
const minEndingSlots = 1024

// newEndingTable returns an empty table for at most capacity keys.
func newEndingTable(capacity int) *endingTable {
	maxSlots := max(minEndingSlots, capacity+capacity/7+1)
	size := min(minEndingSlots, maxSlots)
	return &endingTable{keys: make([]uint64, size), vals: make([]remembered, size), maxSlots: maxSlots}
}

// len is the number of keys in the table.
func (t *endingTable) len() int { return t.n }

// home is the slot where key k's probe starts.
func (t *endingTable) home(k uint64) int {
	hi, _ := bits.Mul64(k, uint64(len(t.keys)))
	return int(hi)
}

// find returns the slot holding k (stored form), or the empty slot where
// it would go and false.
func (t *endingTable) find(k uint64) (int, bool) {
	i := t.home(k)
	for {
		switch t.keys[i] {
		case k:
			return i, true
		case 0:
			return i, false
		}
		if i++; i == len(t.keys) {
			i = 0
		}
	}
}

// get returns the value of key k.
func (t *endingTable) get(k uint64) (remembered, bool) {
	i, ok := t.find(k | 1)
	if !ok {
		return 0, false
	}
	return t.vals[i], true
}

// put sets the value of key k.
func (t *endingTable) put(k uint64, v remembered) {
	k |= 1
	i, ok := t.find(k)
	if ok {
		t.vals[i] = v
		return
	}
	if (t.n+1)*8 > len(t.keys)*7 && len(t.keys) < t.maxSlots {
		t.grow()
		i, _ = t.find(k)
	}
	t.keys[i], t.vals[i] = k, v
	t.n++
}

// grow doubles the table (at most to maxSlots) and reinserts its keys.
func (t *endingTable) grow() {
	keys, vals := t.keys, t.vals
	size := min(2*len(keys), t.maxSlots)
	t.keys, t.vals = make([]uint64, size), make([]remembered, size)
	for j, k := range keys {
		if k != 0 {
			i, _ := t.find(k)
			t.keys[i], t.vals[i] = k, vals[j]
		}
	}
}

// delete removes key k, shifting back the keys probed past its slot so
// that every key stays reachable from its home slot.
func (t *endingTable) delete(k uint64) {
	i, ok := t.find(k | 1)
	if !ok {
		return
	}
	t.n--
	for j := i; ; {
		t.keys[i], t.vals[i] = 0, 0
		for {
			if j++; j == len(t.keys) {
				j = 0
			}
			if t.keys[j] == 0 {
				return
			}
			// The key at j stays if its home lies cyclically in (i, j].
			h := t.home(t.keys[j])
			if (i <= j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
				break
			}
		}
		t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
		i = j
	}
}
