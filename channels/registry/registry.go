// Package registry lists pushpipe's vendor channels: one line per channel
// package, each contributing its channels.Vendor descriptor. Configuration,
// app wiring, the sender's guards, fanout's content limits, the receipts
// worker and the gateway iterate this list instead of switching on vendor
// names, so a new vendor is its package plus one line here (and its
// simulator subpackage in channels/vendorsim/allvendors with its apps in
// internal/app/embedded.go). The configuration's vendor sections are keyed
// by the names listed here, so it needs no field per vendor. The package
// imports channel packages only, never workers.
package registry

import (
	"slices"
	"sync"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/channels/harmonyos"
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/honor"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/oppo"
	"github.com/pushpipe/pushpipe/channels/selfchannel"
	"github.com/pushpipe/pushpipe/channels/sms"
	"github.com/pushpipe/pushpipe/channels/vivo"
	"github.com/pushpipe/pushpipe/schema"
)

// Vendors returns every vendor channel, in a stable order (apns, fcm,
// hms, honor, harmonyos, mipush, oppo, vivo, self, sms: the columns of
// docs/fields.md). A new slice on every call; the descriptors in it are
// shared and must not be modified.
func Vendors() []channels.Vendor {
	return slices.Clone(described().list)
}

// descriptors are the vendors' descriptors, built once: Lookup and
// ContentLimit run for every delivery fanout plans, and building the
// descriptors allocates their functions anew.
type descriptors struct {
	list   []channels.Vendor
	byName map[string]int
}

// described builds the descriptors on first use; they are read-only after.
var described = sync.OnceValue(func() descriptors {
	list := []channels.Vendor{
		apns.Vendor(),
		fcm.Vendor(),
		hms.Vendor(),
		honor.Vendor(),
		harmonyos.Vendor(),
		mipush.Vendor(),
		oppo.Vendor(),
		vivo.Vendor(),
		selfchannel.Vendor(),
		sms.Vendor(),
	}
	byName := make(map[string]int, len(list))
	for i, v := range list {
		byName[v.Name] = i
	}
	return descriptors{list: list, byName: byName}
})

// Names returns the names of Vendors, in their order.
func Names() []string {
	vs := described().list
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}

// Lookup returns the vendor named name; ok is false for an unknown name.
// It does not allocate.
func Lookup(name string) (channels.Vendor, bool) {
	d := described()
	i, ok := d.byName[name]
	if !ok {
		return channels.Vendor{}, false
	}
	return d.list[i], true
}

// ContentLimit returns what channel accepts of a notification (mPaaS
// guide §8): its vendor's ContentLimit, or for a name no vendor has the
// self-built channel's (no length limits, 2 KB payloads).
func ContentLimit(channel string) schema.ContentLimit {
	if v, ok := Lookup(channel); ok {
		return v.ContentLimit
	}
	return schema.ContentLimit{AllowEmpty: true, MaxPayloadBytes: 2048}
}

// ThrottleCodes returns the throttling codes of vendor's whole-call errors
// (nil for an unknown vendor or one without); the form the breaker
// middleware takes.
func ThrottleCodes(vendor string) []int {
	v, _ := Lookup(vendor)
	return v.ThrottleCodes
}
