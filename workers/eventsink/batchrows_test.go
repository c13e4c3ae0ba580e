package eventsink

import (
	"testing"

	"github.com/pushpipe/pushpipe/store"
)

// TestBatchRowsFindsTheBatchsDeliveries: a batch's own rows are found by
// delivery id and by (app, msg id, token), the smallest delivery id of a
// pair winning, and a pair without its app matching any app.
func TestBatchRowsFindsTheBatchsDeliveries(t *testing.T) {
	rows := []store.DeliveryRecord{
		{DeliveryID: "d-b", AppID: "app-1", MsgID: "msg-1", Token: "tok-1"},
		{DeliveryID: "d-a", AppID: "app-1", MsgID: "msg-1", Token: "tok-1"},
		{DeliveryID: "d-c", AppID: "app-2", MsgID: "msg-1", Token: "tok-2"},
		{DeliveryID: "d-d", AppID: "app-2", MsgID: "msg-2"},
	}
	b := newDeliveryCache(100).newBatchRows(rows)
	for _, tc := range []struct {
		id   string
		want bool
	}{{"d-a", true}, {"d-d", true}, {"d-e", false}, {"", false}} {
		rec, ok := b.get(tc.id)
		if ok != tc.want || ok && rec.DeliveryID != tc.id {
			t.Errorf("get(%q) = %+v, %t; want found %t", tc.id, rec, ok, tc.want)
		}
	}
	for _, tc := range []struct {
		k    store.MsgToken
		want string
	}{
		{store.MsgToken{AppID: "app-1", MsgID: "msg-1", Token: "tok-1"}, "d-a"},
		{store.MsgToken{MsgID: "msg-1", Token: "tok-1"}, "d-a"},
		{store.MsgToken{MsgID: "msg-1", Token: "tok-2"}, "d-c"},
		{store.MsgToken{AppID: "app-1", MsgID: "msg-1", Token: "tok-2"}, ""},
		{store.MsgToken{AppID: "app-2", MsgID: "msg-2", Token: ""}, ""},
	} {
		got, ok := b.byTokenKey(tc.k)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("byTokenKey(%+v) = %q, %t; want %q", tc.k, got, ok, tc.want)
		}
	}
}
