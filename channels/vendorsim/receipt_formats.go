package vendorsim

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// receiptBody encodes a batch in the format of its endpoint, with the
// receipts' timestamps no later than now.
func receiptBody(b *receiptBatch, now time.Time) ([]byte, string, error) {
	const jsonType = "application/json; charset=utf-8"
	ts := func(ev receiptEvent) int64 { return min(ev.due.UnixMilli(), now.UnixMilli()) }
	switch b.key.endpoint {
	case VendorHMS, VendorHonor:
		// {"statuses":[...]}, one status per token (§7.2.10 Huawei, Honor).
		statuses := make([]map[string]any, len(b.events))
		for i, ev := range b.events {
			st := map[string]any{"biTag": ev.sent.Correlation, "requestId": ev.sent.VendorMsgID,
				"status": 0, "timestamp": ts(ev), "token": ev.sent.Token}
			if b.key.endpoint == VendorHMS {
				st["clientId"], st["appid"] = ev.sent.VendorAppID, ev.sent.VendorAppID
			} else {
				st["appId"] = ev.sent.VendorAppID
			}
			statuses[i] = st
		}
		body, err := json.Marshal(map[string]any{"statuses": statuses})
		return body, jsonType, err
	case VendorHarmonyOS:
		// {"statuses":[...]}, one status per token, the V2 receipt of
		// scenario-based messages: the outcome in deliveryStatus (§7.2.10
		// HarmonyOS).
		statuses := make([]map[string]any, len(b.events))
		for i, ev := range b.events {
			statuses[i] = map[string]any{"biTag": ev.sent.Correlation, "requestId": ev.sent.VendorMsgID,
				"appPackageName": ev.sent.VendorAppID, "pushType": ev.sent.PushType, "token": ev.sent.Token,
				"deliveryStatus": map[string]any{"result": 0, "timestamp": ts(ev)}}
		}
		body, err := json.Marshal(map[string]any{"statuses": statuses})
		return body, jsonType, err
	case VendorMiPush:
		// Form field data = {"<msg id>": {"param","barStatus","type":1,
		// "targets","timestamp"}}, the regIds of one message joined.
		data := keyedByMessage(b.events, func(ev receiptEvent) map[string]any {
			return map[string]any{"param": ev.sent.Correlation, "barStatus": "Enable", "type": 1, "timestamp": ts(ev)}
		})
		raw, err := json.Marshal(data)
		return []byte(url.Values{"data": {string(raw)}}.Encode()), "application/x-www-form-urlencoded", err
	case VendorOPPO:
		// [{"appId","eventTime","eventType":"push_arrive","messageId",
		// "param","registrationIds"}], eventTime as a string like OPPO.
		items := make([]map[string]any, len(b.events))
		for i, ev := range b.events {
			items[i] = map[string]any{"appId": ev.sent.VendorAppID, "eventTime": strconv.FormatInt(ts(ev), 10),
				"eventType": "push_arrive", "messageId": ev.sent.VendorMsgID, "param": ev.sent.Correlation,
				"registrationIds": ev.sent.Token}
		}
		body, err := json.Marshal(items)
		return body, jsonType, err
	case VendorVivo:
		// {"<task id>": {"param","targets","ackTime","ackType":"0"}}, the
		// regIds of one task joined.
		data := keyedByMessage(b.events, func(ev receiptEvent) map[string]any {
			return map[string]any{"param": ev.sent.Correlation, "ackTime": ts(ev), "ackType": "0"}
		})
		body, err := json.Marshal(data)
		return body, jsonType, err
	}
	// The app SDK names the delivery by the deliveryId the push carried,
	// or by the msg id of a multi-token call and its own token: the
	// correlation value without the tag a MiPush, OPPO or vivo callback
	// parameter carries for the receipts worker (the app never sees it).
	events := make([]map[string]any, len(b.events))
	for i, ev := range b.events {
		e := map[string]any{"event": ev.kind.clientEventName(), "ts": ts(ev)}
		corr := ev.sent.Correlation
		if b.key.vendor == VendorMiPush || b.key.vendor == VendorOPPO || b.key.vendor == VendorVivo {
			corr = untagged(corr)
		}
		if schema.IsDeliveryID(corr) {
			e["deliveryId"] = corr
		} else {
			e["msgId"], e["token"] = corr, ev.sent.Token
		}
		events[i] = e
	}
	body, err := json.Marshal(map[string]any{"events": events})
	return body, jsonType, err
}

// keyedByMessage builds the {"<vendor message id>": {...}} object of the
// MiPush and vivo receipts: one item per message (made by item for its
// first receipt), naming the tokens of all its receipts, comma separated,
// in "targets".
func keyedByMessage(events []receiptEvent, item func(ev receiptEvent) map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	targets := map[string][]string{}
	for _, ev := range events {
		id := ev.sent.VendorMsgID
		if out[id] == nil {
			out[id] = item(ev)
		}
		targets[id] = append(targets[id], ev.sent.Token)
	}
	for id, toks := range targets {
		out[id]["targets"] = strings.Join(toks, ",")
	}
	return out
}

// untagged is a callback parameter without the tag pushpipe's channels
// append for the receipts worker ("<value>.<16 base64url characters>",
// schema.IDKey.ReceiptParam), or the parameter itself when it has none.
func untagged(param string) string {
	i := strings.LastIndexByte(param, '.')
	if i < 0 || len(param)-i-1 != schema.ReceiptTagLen {
		return param
	}
	for _, c := range param[i+1:] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return param
		}
	}
	return param[:i]
}
