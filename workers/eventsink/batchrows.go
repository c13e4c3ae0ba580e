package eventsink

import "github.com/pushpipe/pushpipe/store"

// batchRows finds the index rows of one batch's valid events by delivery
// id and by (app, msg id, token), for the receipts of the same batch. Its
// maps are keyed by 64-bit hashes (the delivery cache's), not by strings,
// and every hit is checked against the row's own fields: two keys whose
// hashes collide leave one of them unfound here, and that one is then
// resolved through the delivery cache or the index, which hold every row
// of the batch by then. Built only for a batch with events to resolve.
// Not safe for concurrent use.
type batchRows struct {
	cache *deliveryCache
	rows  []store.DeliveryRecord
	// byID maps a delivery id's hash to its row (the last one of the id).
	byID map[uint64]int32
	// byToken maps the hash of (app, msg id, token), and of ("", msg id,
	// token), to the row of the smallest delivery id with them.
	byToken map[uint64]int32
}

// newBatchRows indexes rows, which must not change while the result is in
// use.
func (c *deliveryCache) newBatchRows(rows []store.DeliveryRecord) *batchRows {
	b := &batchRows{cache: c, rows: rows, byID: make(map[uint64]int32, len(rows)), byToken: map[uint64]int32{}}
	for i := range rows {
		rec := &rows[i]
		k := c.idKey(rec.DeliveryID)
		if prev, ok := b.byID[k]; !ok || rows[prev].DeliveryID == rec.DeliveryID {
			b.byID[k] = int32(i)
		}
		if rec.Token == "" {
			continue
		}
		// Keyed with the app, and without it for events published
		// before receipts named their app.
		for _, app := range []string{rec.AppID, ""} {
			k := c.tokenKey(app, rec.MsgID, rec.Token)
			prev, ok := b.byToken[k]
			switch {
			case !ok:
				b.byToken[k] = int32(i)
			case matchesToken(&rows[prev], store.MsgToken{AppID: app, MsgID: rec.MsgID, Token: rec.Token}) && rec.DeliveryID < rows[prev].DeliveryID:
				b.byToken[k] = int32(i)
			}
		}
	}
	return b
}

// matchesToken reports whether rec is a delivery of k's msg id and token,
// and of its app unless k's app is "".
func matchesToken(rec *store.DeliveryRecord, k store.MsgToken) bool {
	return rec.MsgID == k.MsgID && rec.Token == k.Token && (k.AppID == "" || rec.AppID == k.AppID)
}

// get returns the row of delivery id.
func (b *batchRows) get(id string) (*store.DeliveryRecord, bool) {
	i, ok := b.byID[b.cache.idKey(id)]
	if !ok || b.rows[i].DeliveryID != id {
		return nil, false
	}
	return &b.rows[i], true
}

// byTokenKey returns the delivery id of the batch's delivery named by k.
func (b *batchRows) byTokenKey(k store.MsgToken) (string, bool) {
	i, ok := b.byToken[b.cache.tokenKey(k.AppID, k.MsgID, k.Token)]
	if !ok || !matchesToken(&b.rows[i], k) {
		return "", false
	}
	return b.rows[i].DeliveryID, true
}
