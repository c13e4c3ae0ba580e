package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestTagWriteRoutes adds and removes tags through the gateway: each call
// is one tag record on push.bindings.sg, keyed by the user, as the
// registry reads it; a refused call writes nothing.
func TestTagWriteRoutes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		scenario string
		path     string
		body     map[string]any
		op       schema.BindingOp
		tags     []string
		status   int
		want     schema.ResultCode
		message  string
	}{
		{scenario: "add", path: "/v1/tags/add", body: app(map[string]any{"userId": "u1", "tags": []string{"vip", "gold"}}), op: schema.OpTagAdd, tags: []string{"vip", "gold"}},
		{scenario: "remove", path: "/v1/tags/remove", body: app(map[string]any{"userId": "u1", "tags": []string{"gold"}}), op: schema.OpTagRemove, tags: []string{"gold"}},
		{scenario: "3012 without userId", path: "/v1/tags/add", body: app(map[string]any{"tags": []string{"vip"}}), status: 400, want: schema.CodeNeedUserID, message: "userId is empty"},
		{scenario: "3028 without tags", path: "/v1/tags/add", body: app(map[string]any{"userId": "u1"}), status: 400, want: schema.CodeInvalidParam, message: "tags is empty"},
		{scenario: "3028 an empty tag", path: "/v1/tags/remove", body: app(map[string]any{"userId": "u1", "tags": []string{""}}), status: 400, want: schema.CodeInvalidParam, message: "tags[0] is an empty tag"},
		{scenario: "3028 a repeated tag", path: "/v1/tags/add", body: app(map[string]any{"userId": "u1", "tags": []string{"vip", "vip"}}), status: 400, want: schema.CodeInvalidParam, message: "repeats tag"},
		{scenario: "3028 a 31-character tag", path: "/v1/tags/add", body: app(map[string]any{"userId": "u1", "tags": []string{strings.Repeat("x", 31)}}), status: 400, want: schema.CodeInvalidParam, message: "at most 30"},
		{scenario: "3028 another region", path: "/v1/tags/add", body: app(map[string]any{"userId": "u1", "tags": []string{"vip"}, "region": "eu"}), status: 400, want: schema.CodeInvalidParam, message: "region"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			resp, err := e.call(tc.path, tc.body)
			if tc.want != 0 {
				refused(t, err, tc.status, tc.want)
				if !strings.Contains(resp.ResultMessage, tc.message) {
					t.Errorf("message %q lacks %q", resp.ResultMessage, tc.message)
				}
				if got := e.records(pipeline.BindingsTopic("sg")); len(got) != 0 {
					t.Fatalf("a refused call wrote %d record(s)", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.PushResult == nil || !resp.PushResult.Success || resp.PushResult.Data != "u1" {
				t.Fatalf("answer %+v, want Data u1", resp.PushResult)
			}
			m := e.only(pipeline.BindingsTopic("sg"))
			b, err := schema.DecodeBinding(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Key) != testApp+"/u1" || b.Op != tc.op || b.UserID != "u1" || !slices.Equal(b.Tags, tc.tags) || b.AppID != testApp || b.Region != "sg" || b.DeviceID != "" || b.TS == 0 {
				t.Fatalf("record %s = %s, want %s of %v for u1", m.Key, m.Value, tc.op, tc.tags)
			}
		})
	}
}

// TestTagQueryRoutes lists the tags of users and the users of tags, paged,
// from the tags the registry stored.
func TestTagQueryRoutes(t *testing.T) {
	e := newEnv(t)
	devices := store.NewDevices(e.conn, e.db)
	at := time.Now().UTC()
	var rows []store.TagUser
	for i := 1; i <= 7; i++ {
		rows = append(rows, store.TagUser{AppID: testApp, Tag: "gold", UserID: fmt.Sprintf("u%d", i), At: at})
	}
	rows = append(rows, store.TagUser{AppID: testApp, Tag: "vip", UserID: "u1", At: at},
		store.TagUser{AppID: otherApp, Tag: "gold", UserID: "u8", At: at})
	if err := devices.WriteTags(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	if err := devices.WriteTags(context.Background(), []store.TagUser{{AppID: testApp, Tag: "gold", UserID: "u7", Deleted: true, At: at.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		user string
		want []string
	}{{"u1", []string{"gold", "vip"}}, {"u7", []string{}}, {"nobody", []string{}}} {
		var got UserTags
		e.query(t, "/v1/tags/list", app(map[string]any{"userId": tc.user}), 0, &got)
		if got.UserID != tc.user || got.Tags == nil || !slices.Equal(got.Tags, tc.want) {
			t.Errorf("tags of %s = %+v, want %v", tc.user, got, tc.want)
		}
	}
	e.query(t, "/v1/tags/list", app(nil), schema.CodeNeedUserID, nil)
	e.query(t, "/v1/tags/list", app(map[string]any{"userId": "u1", "tags": []string{"vip"}}), schema.CodeInvalidParam, nil)

	for _, tc := range []struct {
		scenario string
		body     map[string]any
		want     TagUsers
		code     schema.ResultCode
	}{
		{"default page", app(map[string]any{"tag": "gold"}), TagUsers{Tag: "gold", TotalCount: 6, PageNumber: 1, PageSize: DefaultPageSize, List: []string{"u1", "u2", "u3", "u4", "u5", "u6"}}, 0},
		{"page 2 of 4", app(map[string]any{"tag": "gold", "pageNumber": 2, "pageSize": 4}), TagUsers{Tag: "gold", TotalCount: 6, PageNumber: 2, PageSize: 4, List: []string{"u5", "u6"}}, 0},
		{"past the last page", app(map[string]any{"tag": "gold", "pageNumber": 3, "pageSize": 4}), TagUsers{Tag: "gold", TotalCount: 6, PageNumber: 3, PageSize: 4, List: []string{}}, 0},
		{"a tag nobody carries", app(map[string]any{"tag": "silver"}), TagUsers{Tag: "silver", PageNumber: 1, PageSize: DefaultPageSize, List: []string{}}, 0},
		{"3028 without tag", app(nil), TagUsers{}, schema.CodeInvalidParam},
		{"3028 page size above the maximum", app(map[string]any{"tag": "gold", "pageSize": MaxPageSize + 1}), TagUsers{}, schema.CodeInvalidParam},
		{"3028 a negative page number", app(map[string]any{"tag": "gold", "pageNumber": -1}), TagUsers{}, schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var got TagUsers
			if !e.query(t, "/v1/tags/users", tc.body, tc.code, &got) {
				return
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) || got.List == nil {
				t.Fatalf("users %+v, want %+v", got, tc.want)
			}
		})
	}
}
