// Package vendortest starts the vendor simulator and a real channel
// pointed at it, for the tests of the packages that wrap or drive
// channels (channels/middleware, workers/sender).
package vendortest

import (
	"context"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
)

// StartMiPush starts a simulator whose MiPush quota does not matter (a
// million calls a second) with one app, and the real MiPush channel of
// region sg pointed at it; both end with the test.
func StartMiPush(t testing.TB, appID string, secret channels.Secret, pkg string) (*mipush.Channel, *vendorsim.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sim, err := allvendors.Start(ctx, vendorsim.Config{MiPush: vendorsim.MiPushConfig{
		Apps: []vendorsim.MiPushApp{{AppID: appID, Secret: secret, PackageName: pkg}}, QuotaPerSecond: 1e6}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	mp, err := mipush.New(mipush.Config{Endpoint: mipush.Endpoint{Region: "sg", BaseURL: sim.MiPushBaseURL("sg"),
		Apps: map[string]mipush.App{appID: {AppSecret: secret, PackageName: pkg}}, Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return mp, sim
}
