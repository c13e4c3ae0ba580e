package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// ActivityToken is one row of the activity_tokens table: the push token
// of an iOS Live Activity on a device, bound to the app's activity id.
// The newest At of (app, activity, device) wins; Deleted marks the token
// removed (the activity ended, or APNs called the token dead).
type ActivityToken struct {
	AppID      string
	ActivityID string
	DeviceID   string
	Token      string
	Deleted    bool
	At         time.Time
}

// WriteActivityTokens stores Live Activity token rows in one batch and
// returns after ClickHouse acknowledged the insert.
func (s *Devices) WriteActivityTokens(ctx context.Context, rows []ActivityToken) error {
	if len(rows) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".activity_tokens (app_id, activity_id, device_id, token, deleted, version)")
	if err != nil {
		return fmt.Errorf("preparing activity token insert into %s: %w", s.db, err)
	}
	defer func() { _ = b.Abort() }()
	for _, r := range rows {
		del := uint8(0)
		if r.Deleted {
			del = 1
		}
		if err := b.Append(r.AppID, r.ActivityID, r.DeviceID, r.Token, del, r.At); err != nil {
			return fmt.Errorf("appending activity token %s/%s: %w", r.ActivityID, r.DeviceID, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %d activity token rows into %s: %w", len(rows), s.db, err)
	}
	return nil
}

// ActivityTokens returns the current tokens bound to any of the activity
// ids, by activity id, in device id order. Removed tokens are left out.
func (s *Devices) ActivityTokens(ctx context.Context, appID string, activityIDs []string) (map[string][]ActivityToken, error) {
	out := map[string][]ActivityToken{}
	cond := func(chunk []string) (string, []any) { return "activity_id IN (?)", []any{chunk} }
	err := s.queryActivityTokens(ctx, appID, activityIDs, cond, func(t ActivityToken) {
		out[t.ActivityID] = append(out[t.ActivityID], t)
	})
	for _, ts := range out {
		sort.Slice(ts, func(i, j int) bool { return ts[i].DeviceID < ts[j].DeviceID })
	}
	return out, err
}

// ActivityTokensByToken returns the current rows of the given tokens, by
// token. A token whose (activity, device) has a newer token, or that was
// removed, is absent.
func (s *Devices) ActivityTokensByToken(ctx context.Context, appID string, tokens []string) (map[string]ActivityToken, error) {
	want := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		want[t] = true
	}
	out := map[string]ActivityToken{}
	// The key lookup runs without FINAL; the rows of those keys are then
	// read merged, and only those still carrying the token count.
	cond := func(chunk []string) (string, []any) {
		return "(activity_id, device_id) IN (SELECT activity_id, device_id FROM " + s.db + ".activity_tokens WHERE app_id = ? AND token IN (?))",
			[]any{appID, chunk}
	}
	err := s.queryActivityTokens(ctx, appID, tokens, cond, func(t ActivityToken) {
		if want[t.Token] {
			out[t.Token] = t
		}
	})
	return out, err
}

// queryActivityTokens reads the merged rows of an app matching the
// condition cond gives for each chunk of keys, and calls fn for each row
// not deleted.
func (s *Devices) queryActivityTokens(ctx context.Context, appID string, keys []string, cond func(chunk []string) (string, []any), fn func(ActivityToken)) error {
	for _, chunk := range inListChunks(keys) {
		where, args := cond(chunk)
		rows, err := s.conn.Query(ctx, "SELECT activity_id, device_id, token, deleted, version FROM "+s.db+
			".activity_tokens FINAL WHERE app_id = ? AND "+where, append([]any{appID}, args...)...)
		if err != nil {
			return fmt.Errorf("looking up %d Live Activity keys of app %s in %s: %w", len(chunk), appID, s.db, err)
		}
		for rows.Next() {
			t := ActivityToken{AppID: appID}
			var del uint8
			if err := rows.Scan(&t.ActivityID, &t.DeviceID, &t.Token, &del, &t.At); err != nil {
				_ = rows.Close()
				return fmt.Errorf("reading activity token row: %w", err)
			}
			if del == 0 {
				fn(t)
			}
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return fmt.Errorf("reading Live Activity tokens of app %s: %w", appID, err)
		}
	}
	return nil
}

// ByActivity returns, per activity id, the devices holding a token of it
// (deliverType 6), in device id order: each is the device's registry row
// (an iOS device without one if it never reported) with the Live
// Activity token as its valid APNs token.
func (s *Devices) ByActivity(ctx context.Context, appID string, activityIDs []string) (map[string][]schema.Device, error) {
	byActivity, err := s.ActivityTokens(ctx, appID, activityIDs)
	if err != nil {
		return nil, err
	}
	var all []ActivityToken
	for _, ts := range byActivity {
		all = append(all, ts...)
	}
	devs, err := s.activityDevices(ctx, appID, all)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]schema.Device, len(byActivity))
	for id, ts := range byActivity {
		for _, t := range ts {
			out[id] = append(out[id], devs[t.Token])
		}
	}
	return out, nil
}

// ByActivityToken returns, per Live Activity token (deliverType 5), its
// device as ByActivity does; unknown or removed tokens are absent.
func (s *Devices) ByActivityToken(ctx context.Context, appID string, tokens []string) (map[string]schema.Device, error) {
	byToken, err := s.ActivityTokensByToken(ctx, appID, tokens)
	if err != nil {
		return nil, err
	}
	all := make([]ActivityToken, 0, len(byToken))
	for _, t := range byToken {
		all = append(all, t)
	}
	return s.activityDevices(ctx, appID, all)
}

// activityDevices returns, by token, the device of each token as a
// delivery target: its registry row with Vendor apns and the token.
func (s *Devices) activityDevices(ctx context.Context, appID string, tokens []ActivityToken) (map[string]schema.Device, error) {
	ids := make([]string, 0, len(tokens))
	for _, t := range tokens {
		ids = append(ids, t.DeviceID)
	}
	sort.Strings(ids)
	rows, err := s.Lookup(ctx, appID, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]schema.Device, len(tokens))
	for _, t := range tokens {
		out[t.Token] = ActivityDevice(rows[t.DeviceID], t)
	}
	return out, nil
}

// ActivityDevice is the delivery target of a Live Activity token: the
// device's registry row dev (zero when the device never reported: it is
// then an iOS device of the token's app) with the token as its valid
// APNs token and no self-built token, since only APNs shows a Live
// Activity.
func ActivityDevice(dev schema.Device, t ActivityToken) schema.Device {
	if dev.DeviceID == "" {
		dev = schema.Device{AppID: t.AppID, DeviceID: t.DeviceID, Platform: schema.PlatformIOS}
	}
	dev.Vendor, dev.VendorToken, dev.SelfToken, dev.TokenValid = "apns", t.Token, "", true
	return dev
}
