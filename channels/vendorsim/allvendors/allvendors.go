// Package allvendors lists every simulated vendor, and starts the vendor
// simulator with all of them: the one place that names the vendor
// subpackages of channels/vendorsim (whose core does not import them).
package allvendors

import (
	"context"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/apns"
	"github.com/pushpipe/pushpipe/channels/vendorsim/fcm"
	"github.com/pushpipe/pushpipe/channels/vendorsim/harmonyos"
	"github.com/pushpipe/pushpipe/channels/vendorsim/hms"
	"github.com/pushpipe/pushpipe/channels/vendorsim/honor"
	"github.com/pushpipe/pushpipe/channels/vendorsim/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim/oppo"
	"github.com/pushpipe/pushpipe/channels/vendorsim/selfchannel"
	"github.com/pushpipe/pushpipe/channels/vendorsim/sms"
	"github.com/pushpipe/pushpipe/channels/vendorsim/vivo"
)

// Vendors returns the makers of every simulated vendor; a new vendor is
// one subpackage, its section of vendorsim.Config and one line here.
func Vendors() []vendorsim.NewVendor {
	return []vendorsim.NewVendor{mipush.New, apns.New, fcm.New, hms.New, honor.New, harmonyos.New,
		oppo.New, vivo.New, selfchannel.New, sms.New}
}

// New returns a simulator of every vendor for cfg (see vendorsim.New).
func New(cfg vendorsim.Config) (*vendorsim.Simulator, error) {
	return vendorsim.New(cfg, Vendors())
}

// Start starts a simulator of every vendor (see vendorsim.Start).
func Start(ctx context.Context, cfg vendorsim.Config) (*vendorsim.Server, error) {
	return vendorsim.Start(ctx, cfg, Vendors())
}
