package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pushpipe/pushpipe/schema"
)

// ByAlias returns, per alias, the device that set it last.
func (s *Devices) ByAlias(ctx context.Context, appID string, aliases []string) (map[string]schema.Device, error) {
	rows, err := queryDevices(ctx, s.conn, s.db, "alias IN (?)", appID, aliases)
	if err != nil {
		return nil, err
	}
	out := map[string]schema.Device{}
	for _, d := range rows {
		if cur, ok := out[d.Alias]; !ok || d.AliasAt.After(cur.AliasAt) || (d.AliasAt.Equal(cur.AliasAt) && d.DeviceID < cur.DeviceID) {
			out[d.Alias] = d
		}
	}
	return out, nil
}

// ByAccount returns, per user account, its schema.MaxAccountDevices most recently
// associated devices, newest first.
func (s *Devices) ByAccount(ctx context.Context, appID string, accounts []string) (map[string][]schema.Device, error) {
	rows, err := queryDevices(ctx, s.conn, s.db, "user_account IN (?)", appID, accounts)
	if err != nil {
		return nil, err
	}
	out := map[string][]schema.Device{}
	for _, d := range rows {
		out[d.UserAccount] = append(out[d.UserAccount], d)
	}
	for k, ds := range out {
		sort.Slice(ds, func(i, j int) bool {
			if !ds[i].AccountAt.Equal(ds[j].AccountAt) {
				return ds[i].AccountAt.After(ds[j].AccountAt)
			}
			return ds[i].DeviceID < ds[j].DeviceID
		})
		out[k] = ds[:min(len(ds), schema.MaxAccountDevices)]
	}
	return out, nil
}

// Audience selects the devices of an app for a broadcast or a tag target.
// Zero fields do not filter.
type Audience struct {
	AppID     string
	Platforms []string
	// Tag keeps devices bound to a user carrying the tag (a deliverType 12
	// target).
	Tag string
	// Tags keeps devices bound to a user carrying any of the tags (a
	// broadcast's tags filter). Tag and Tags both set keep the devices
	// that pass both.
	Tags []string
	// Bound, Unbound select bound (user id set) and unbound devices; both
	// false means every device.
	Bound, Unbound bool
	// BoundFrom/BoundTo bound the bind time of bound devices; UnboundFrom/
	// UnboundTo the unbind time (or last report, if never bound) of unbound
	// devices.
	BoundFrom, BoundTo     time.Time
	UnboundFrom, UnboundTo time.Time
	AppVersions, Models    []string
}

// Stream calls fn for every device of the audience, reading rows as
// ClickHouse sends them so memory stays bounded whatever the audience
// size. An error from fn stops the stream and is returned.
func (s *Devices) Stream(ctx context.Context, a Audience, fn func(schema.Device) error) error {
	where := []string{"app_id = ?"}
	args := []any{a.AppID}
	if len(a.Platforms) > 0 {
		where, args = append(where, "platform IN (?)"), append(args, a.Platforms)
	}
	for _, tags := range [][]string{nonEmpty(a.Tag), a.Tags} {
		if len(tags) > 0 {
			where = append(where, "user_id != '' AND user_id IN (SELECT user_id FROM "+s.db+".tags FINAL WHERE app_id = ? AND tag IN (?) AND deleted = 0)")
			args = append(args, a.AppID, tags)
		}
	}
	bound, bargs := timeCond("user_id != ''", "bound_at", a.BoundFrom, a.BoundTo)
	unbound, uargs := timeCond("user_id = ''", "if(unbound_at > toDateTime64(0, 3), unbound_at, updated_at)", a.UnboundFrom, a.UnboundTo)
	switch {
	case a.Bound && !a.Unbound:
		where, args = append(where, bound), append(args, bargs...)
	case a.Unbound && !a.Bound:
		where, args = append(where, unbound), append(args, uargs...)
	case a.Bound && a.Unbound:
		where, args = append(where, "(("+bound+") OR ("+unbound+"))"), append(append(args, bargs...), uargs...)
	}
	if len(a.AppVersions) > 0 {
		where, args = append(where, "app_version IN (?)"), append(args, a.AppVersions)
	}
	if len(a.Models) > 0 {
		where, args = append(where, "model IN (?)"), append(args, a.Models)
	}
	rows, err := s.conn.Query(ctx, "SELECT "+deviceColumns+" FROM "+s.db+".devices FINAL WHERE "+strings.Join(where, " AND "), args...)
	if err != nil {
		return fmt.Errorf("streaming the audience of app %s: %w", a.AppID, err)
	}
	if err := scanDevices(rows, fn); err != nil {
		return fmt.Errorf("streaming the audience of app %s: %w", a.AppID, err)
	}
	return nil
}

// nonEmpty is the one-element list of s, or nil when s is empty.
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func timeCond(base, col string, from, to time.Time) (string, []any) {
	cond, args := base, []any{}
	// Millisecond parameters: a time.Time is sent as toDateTime('<unix
	// seconds>'), which drops the milliseconds and, compared with a
	// DateTime64 column, can miss rows of merged parts.
	if !from.IsZero() {
		cond, args = cond+" AND "+col+" >= fromUnixTimestamp64Milli(?)", append(args, from.UnixMilli())
	}
	if !to.IsZero() {
		cond, args = cond+" AND "+col+" <= fromUnixTimestamp64Milli(?)", append(args, to.UnixMilli())
	}
	return cond, args
}

// TagUser is one (tag, user) membership change.
type TagUser struct {
	AppID, Tag, UserID string
	Deleted            bool
	At                 time.Time
}

// WriteTags stores tag memberships in one batch.
func (s *Devices) WriteTags(ctx context.Context, rows []TagUser) error {
	if len(rows) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".tags (app_id, tag, user_id, deleted, version)")
	if err != nil {
		return fmt.Errorf("preparing tag insert into %s: %w", s.db, err)
	}
	defer func() { _ = b.Abort() }()
	for _, r := range rows {
		del := uint8(0)
		if r.Deleted {
			del = 1
		}
		if err := b.Append(r.AppID, r.Tag, r.UserID, del, r.At); err != nil {
			return fmt.Errorf("appending tag %s/%s: %w", r.Tag, r.UserID, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %d tag rows into %s: %w", len(rows), s.db, err)
	}
	return nil
}

// UserTags returns the tags a user of an app carries now (tags FINAL,
// deleted = 0), in order; none is an empty list. It reads what the
// registry has applied: a tag_add still on push.bindings.R is not there
// yet.
func (s *Devices) UserTags(ctx context.Context, appID, userID string) ([]string, error) {
	rows, err := s.conn.Query(ctx, "SELECT tag FROM "+s.db+".tags FINAL WHERE app_id = ? AND user_id = ? AND deleted = 0 ORDER BY tag", appID, userID)
	if err != nil {
		return nil, fmt.Errorf("listing the tags of user %s of app %s: %w", userID, appID, err)
	}
	return scanStrings(rows, "tag")
}

// TagUsers returns one page of the users of an app carrying a tag now, in
// user id order: at most limit of them after skipping offset, and how
// many carry it in all. The count and the page are two queries: a
// membership the registry applies between them may make them differ by
// that change.
func (s *Devices) TagUsers(ctx context.Context, appID, tag string, offset, limit int) (users []string, total uint64, err error) {
	const from = " FROM %s.tags FINAL WHERE app_id = ? AND tag = ? AND deleted = 0"
	q := fmt.Sprintf(from, s.db)
	if err := s.conn.QueryRow(ctx, "SELECT count()"+q, appID, tag).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting the users of tag %s of app %s: %w", tag, appID, err)
	}
	rows, err := s.conn.Query(ctx, "SELECT user_id"+q+" ORDER BY user_id LIMIT ? OFFSET ?", appID, tag, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("listing the users of tag %s of app %s: %w", tag, appID, err)
	}
	users, err = scanStrings(rows, "user id")
	return users, total, err
}

// scanStrings reads a one-column result of strings and closes rows.
func scanStrings(rows driver.Rows, what string) ([]string, error) {
	defer func() { _ = rows.Close() }()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("reading a %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %ss: %w", what, err)
	}
	return out, nil
}

// UserPhone is one change of a user's phone number: Phone (E.164) set, or
// removed when Deleted.
type UserPhone struct {
	AppID, UserID, Phone string
	Deleted              bool
	At                   time.Time
}

// WritePhones stores phone number changes in one batch; the newest At of
// a user wins when read. It returns after ClickHouse acknowledged them.
func (s *Devices) WritePhones(ctx context.Context, rows []UserPhone) error {
	if len(rows) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+".user_phones (app_id, user_id, phone, deleted, version)")
	if err != nil {
		return fmt.Errorf("preparing phone insert into %s: %w", s.db, err)
	}
	defer func() { _ = b.Abort() }()
	for _, r := range rows {
		del := uint8(0)
		if r.Deleted {
			del = 1
		}
		if err := b.Append(r.AppID, r.UserID, r.Phone, del, r.At); err != nil {
			return fmt.Errorf("appending the phone of user %s: %w", r.UserID, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %d phone numbers into %s: %w", len(rows), s.db, err)
	}
	return nil
}

// Phones returns the current phone number (E.164) of each of the users of
// an app that has one, keyed by user id.
func (s *Devices) Phones(ctx context.Context, appID string, userIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(userIDs))
	for _, chunk := range inListChunks(userIDs) {
		rows, err := s.conn.Query(ctx, "SELECT user_id, phone FROM "+s.db+".user_phones FINAL WHERE app_id = ? AND user_id IN (?) AND deleted = 0", appID, chunk)
		if err != nil {
			return nil, fmt.Errorf("looking up the phone numbers of %d users of app %s in %s: %w", len(chunk), appID, s.db, err)
		}
		for rows.Next() {
			var u, p string
			if err := rows.Scan(&u, &p); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("reading a phone number: %w", err)
			}
			out[u] = p
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the phone numbers of app %s: %w", appID, err)
		}
	}
	return out, nil
}
