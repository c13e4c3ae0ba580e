package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// tagFixture stores devices and tag memberships of app "app" (and one
// device of app "other") and returns the store:
//
//	d1 android u1 vip        bound 30 days ago, app 1.0
//	d2 android u2 gold       bound a day ago
//	d3 android u3 vip, gold  bound a day ago, app 2.0
//	d4 android u4 vip, removed again
//	d5 ios     u1 vip
//	d6 android unbound
//	d7 android u5 silver
//	d8 android u1 of app "other", where u1 carries no tag
//	u9 carries vip but has no device
func tagFixture(t *testing.T) *store.Devices {
	t.Helper()
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	devices := store.NewDevices(conn, db)
	now := time.Now().UTC().Truncate(time.Millisecond)
	dev := func(app, id, platform, user, version string, bound time.Time) schema.Device {
		return schema.Device{AppID: app, DeviceID: id, Platform: platform, Vendor: "mipush", VendorToken: "tok-" + id,
			TokenValid: true, UserID: user, BoundAt: bound, AppVersion: version, UpdatedAt: now}
	}
	if err := devices.Insert(ctx, []schema.Device{
		dev("app", "d1", schema.PlatformAndroid, "u1", "1.0", now.AddDate(0, 0, -30)),
		dev("app", "d2", schema.PlatformAndroid, "u2", "1.0", now.AddDate(0, 0, -1)),
		dev("app", "d3", schema.PlatformAndroid, "u3", "2.0", now.AddDate(0, 0, -1)),
		dev("app", "d4", schema.PlatformAndroid, "u4", "1.0", now.AddDate(0, 0, -1)),
		dev("app", "d5", schema.PlatformIOS, "u1", "1.0", now.AddDate(0, 0, -1)),
		dev("app", "d6", schema.PlatformAndroid, "", "1.0", time.Time{}),
		dev("app", "d7", schema.PlatformAndroid, "u5", "1.0", now.AddDate(0, 0, -1)),
		dev("other", "d8", schema.PlatformAndroid, "u1", "1.0", now.AddDate(0, 0, -1)),
	}); err != nil {
		t.Fatal(err)
	}
	tag := func(tag, user string, deleted bool, at time.Time) store.TagUser {
		return store.TagUser{AppID: "app", Tag: tag, UserID: user, Deleted: deleted, At: at}
	}
	t0 := now.Add(-time.Hour)
	if err := devices.WriteTags(ctx, []store.TagUser{
		tag("vip", "u1", false, t0), tag("gold", "u2", false, t0), tag("vip", "u3", false, t0), tag("gold", "u3", false, t0),
		tag("vip", "u4", false, t0), tag("silver", "u5", false, t0), tag("vip", "u9", false, t0),
	}); err != nil {
		t.Fatal(err)
	}
	// Removed again in a later insert, as the registry applies a
	// tag_remove published after the tag_add.
	if err := devices.WriteTags(ctx, []store.TagUser{tag("vip", "u4", true, t0.Add(time.Minute))}); err != nil {
		t.Fatal(err)
	}
	return devices
}

// TestStreamTags streams audiences filtered by tags (a broadcast's tags,
// a deliverType 12 tag, both) with the other filters, and checks the exact
// devices: any of the tags, each device once, removed memberships and
// unbound devices left out, other apps never reached.
func TestStreamTags(t *testing.T) {
	devices := tagFixture(t)
	android := []string{schema.PlatformAndroid}
	weekAgo := time.Now().UTC().AddDate(0, 0, -7)
	for _, tc := range []struct {
		scenario string
		a        store.Audience
		want     []string
	}{
		{"one tag", store.Audience{Platforms: android, Tags: []string{"vip"}}, []string{"d1", "d3"}},
		{"any of two tags, each device once", store.Audience{Platforms: android, Tags: []string{"vip", "gold"}}, []string{"d1", "d2", "d3"}},
		{"every platform", store.Audience{Tags: []string{"vip", "gold"}}, []string{"d1", "d2", "d3", "d5"}},
		{"bound users and all users alike", store.Audience{Platforms: android, Tags: []string{"vip", "gold"}, Bound: true, Unbound: true}, []string{"d1", "d2", "d3"}},
		{"bound within the week", store.Audience{Platforms: android, Tags: []string{"vip"}, Bound: true, BoundFrom: weekAgo}, []string{"d3"}},
		{"app version", store.Audience{Platforms: android, Tags: []string{"vip", "gold"}, AppVersions: []string{"2.0"}}, []string{"d3"}},
		{"a tag nobody carries", store.Audience{Tags: []string{"nobody"}}, nil},
		{"deliverType 12 tag", store.Audience{Tag: "gold"}, []string{"d2", "d3"}},
		{"tag and tags both", store.Audience{Tag: "vip", Tags: []string{"gold"}}, []string{"d3"}},
		{"no tag filter", store.Audience{Platforms: android}, []string{"d1", "d2", "d3", "d4", "d6", "d7"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			tc.a.AppID = "app"
			var got []string
			if err := devices.Stream(context.Background(), tc.a, func(d schema.Device) error {
				got = append(got, d.DeviceID)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("streamed %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTagListings reads the tags of a user and the users of a tag, paged.
func TestTagListings(t *testing.T) {
	devices := tagFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		user string
		want []string
	}{
		{"u3", []string{"gold", "vip"}},
		{"u4", []string{}},
		{"u9", []string{"vip"}},
		{"stranger", []string{}},
	} {
		got, err := devices.UserTags(ctx, "app", tc.user)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || !slices.Equal(got, tc.want) {
			t.Errorf("tags of %s = %#v, want %#v", tc.user, got, tc.want)
		}
	}
	if got, err := devices.UserTags(ctx, "other", "u1"); err != nil || len(got) != 0 {
		t.Errorf("tags of u1 in another app = %v, %v; want none", got, err)
	}
	for _, tc := range []struct {
		tag           string
		offset, limit int
		want          []string
		total         uint64
	}{
		{"vip", 0, 10, []string{"u1", "u3", "u9"}, 3},
		{"vip", 1, 1, []string{"u3"}, 3},
		{"vip", 2, 5, []string{"u9"}, 3},
		{"vip", 3, 5, []string{}, 3},
		{"gold", 0, 10, []string{"u2", "u3"}, 2},
		{"nobody", 0, 10, []string{}, 0},
	} {
		got, total, err := devices.TagUsers(ctx, "app", tc.tag, tc.offset, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) || total != tc.total {
			t.Errorf("users of %s from %d (%d) = %v of %d, want %v of %d", tc.tag, tc.offset, tc.limit, got, total, tc.want, tc.total)
		}
	}
}

// TestListTasksMarksEmptyAudience lists a broadcast whose accepted event
// says its audience was empty beside one that reached a device.
func TestListTasksMarksEmptyAudience(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	accepted := func(task, desc string) schema.Event {
		return schema.Event{EventID: schema.NewEventID(schema.EventAccepted, task), TS: now.UnixMilli(), Region: "sg", AppID: "app",
			TaskID: task, PushType: schema.PushBroadcast, Event: schema.EventAccepted, StatusCode: int64(schema.CodeSuccess), StatusDesc: desc}
	}
	planned := accepted("reached", "")
	planned.EventID, planned.Event, planned.DeviceID = schema.NewEventID(schema.EventPlanned, "reached", "m", "d1"), schema.EventPlanned, "d1"
	if err := store.InsertEvents(ctx, conn, db, []schema.Event{
		accepted("empty", schema.AudienceEmptyDesc+": no device matches tags nobody"), accepted("reached", "SUCCESS"), planned,
	}); err != nil {
		t.Fatal(err)
	}
	tasks, err := store.ListTasks(ctx, conn, db, schema.TaskQuery{AppID: "app", From: now.Add(-time.Hour), To: now.Add(time.Hour), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, tk := range tasks {
		got[tk.TaskID] = tk.AudienceEmpty
	}
	if len(got) != 2 || !got["empty"] || got["reached"] {
		t.Fatalf("audience empty per task = %v, want empty: true, reached: false", got)
	}
}
