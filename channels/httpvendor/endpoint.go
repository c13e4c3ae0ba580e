// Package httpvendor holds the configuration every HTTP vendor channel
// (Huawei Push Kit, Honor, HarmonyOS Push Kit, MiPush, OPPO, vivo) shares,
// written once: the region and the vendor's host in it, the apps'
// credentials, the timeout of a call and the batch size, with their
// defaults, their checks (the messages of channels.ConfigCheck) and their
// redacted printing. What only some vendors take (a token endpoint, a
// bound on concurrent calls) stays in their own Config.
package httpvendor

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Endpoint is the part of an HTTP vendor channel's Config that every such
// vendor shares, for apps whose credentials are an A. A vendor's Config
// embeds it without a JSON tag, so that its fields keep their keys at the
// top level of the Config's JSON, and with `yaml:",inline"` for the same
// in YAML. An Endpoint is a plain value; its Apps map is shared by copies.
// Printing it never shows what A's String hides (the vendors' secrets).
type Endpoint[A fmt.Stringer] struct {
	// Region is the pushpipe region (cn, ru, in, eu, sg); it selects the
	// default BaseURL.
	Region string `json:"region" yaml:"region"`
	// BaseURL overrides the vendor's host of the region, e.g. the
	// simulator's "http://127.0.0.1:PORT/<vendor>/<region>".
	BaseURL string `json:"baseUrl" yaml:"baseUrl"`
	// Apps maps pushpipe app ids to the vendor's credentials.
	Apps map[string]A `json:"apps" yaml:"apps"`
	// Timeout bounds one HTTP call (a send, a recall or a token request).
	Timeout time.Duration `json:"timeout" yaml:"timeout"`
	// MaxBatch is the number of messages one Send accepts;
	// 1..Defaults.MaxBatch.
	MaxBatch int `json:"maxBatch" yaml:"maxBatch"`
}

// Defaults are a vendor's facts about an Endpoint: what its zero fields
// become and what its fields may be.
type Defaults struct {
	// Vendor is the vendor's name in messages ("vivo").
	Vendor string
	// RegionBaseURL returns the vendor's published host of a pushpipe
	// region and whether it publishes one.
	RegionBaseURL func(region string) (string, bool)
	// Timeout is the default Timeout.
	Timeout time.Duration
	// MaxBatch is the default and the largest MaxBatch: the most messages
	// (tokens) of one vendor call.
	MaxBatch int
}

// WithDefaults returns a copy of e with its zero fields set from d: the
// BaseURL of its region (left empty where d publishes none), d.Timeout and
// d.MaxBatch. The Apps map is shared with e.
func (e Endpoint[A]) WithDefaults(d Defaults) Endpoint[A] {
	if e.BaseURL == "" {
		e.BaseURL, _ = d.RegionBaseURL(e.Region)
	}
	if e.Timeout == 0 {
		e.Timeout = d.Timeout
	}
	if e.MaxBatch == 0 {
		e.MaxBatch = d.MaxBatch
	}
	return e
}

// Check records in chk every problem of e (after defaults), in this order:
// an unknown region, or a known one where the vendor publishes no host
// and BaseURL is empty; a BaseURL that is not an absolute http(s) URL; no
// apps, or an app with an empty id; then it calls app for every app in id
// order, for the vendor's checks of the credentials; last a timeout that
// is not positive and a MaxBatch outside 1..d.MaxBatch.
func (e Endpoint[A]) Check(chk *channels.ConfigCheck, d Defaults, app func(id string, a A)) {
	switch {
	case !schema.ValidRegion(e.Region):
		chk.Region(e.Region, false)
	case e.BaseURL == "":
		chk.Bad("region %q has no published %s host: set baseUrl", e.Region, d.Vendor)
	}
	if e.BaseURL != "" {
		chk.URL("baseUrl", e.BaseURL)
	}
	for id, a := range channels.Apps(chk, e.Apps) {
		app(id, a)
	}
	chk.Timeout(e.Timeout)
	chk.MaxBatch(e.MaxBatch, d.MaxBatch)
}

// String prints the fields as a vendor Config's String begins:
// "Region:cn BaseURL:https://... Apps:[A={...} B={...}] Timeout:5s
// MaxBatch:1000", the apps in id order as their String prints them.
func (e Endpoint[A]) String() string {
	apps := make([]string, 0, len(e.Apps))
	for _, id := range slices.Sorted(maps.Keys(e.Apps)) {
		apps = append(apps, id+"="+e.Apps[id].String())
	}
	return fmt.Sprintf("Region:%s BaseURL:%s Apps:[%s] Timeout:%s MaxBatch:%d",
		e.Region, e.BaseURL, strings.Join(apps, " "), e.Timeout, e.MaxBatch)
}

// FromSetup returns the Endpoint a vendor's channels.Vendor Build makes of
// s and its apps: s's region, base URL and timeout (empty or zero: the
// vendor's defaults).
func FromSetup[A fmt.Stringer](s channels.Setup, apps map[string]A) Endpoint[A] {
	return Endpoint[A]{Region: s.Region, BaseURL: s.BaseURL, Apps: apps, Timeout: s.Timeout}
}
