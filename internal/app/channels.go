package app

import (
	"fmt"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/internal/config"
)

// Channels builds the vendor channels of a region from the configuration:
// one channel per vendor of the registry that at least one app has
// credentials for, its endpoints those of the region (or the
// simulator's). A vendor whose configuration is incomplete is an error
// naming what to fix.
func Channels(cfg *config.Config, region string) (map[string]channels.Channel, error) {
	// MiPush, OPPO and vivo echo a tagged callback parameter in their
	// receipts, and are told where to send them (when the region has a
	// public receipts URL).
	signer, keyErr := cfg.IDKey()
	if keyErr != nil {
		return nil, fmt.Errorf("configuring the channels of region %s: %w", region, keyErr)
	}
	apps := map[string]map[string]any{}
	for i := range cfg.Apps {
		for vendor, app := range cfg.Apps[i].VendorApps() {
			if apps[vendor] == nil {
				apps[vendor] = map[string]any{}
			}
			apps[vendor][cfg.Apps[i].AppID] = app
		}
	}
	out := map[string]channels.Channel{}
	for _, v := range registry.Vendors() {
		if len(apps[v.Name]) == 0 {
			continue
		}
		ch, err := v.Build(channels.Setup{
			Region:          region,
			BaseURL:         cfg.VendorBaseURL(v.Name, region),
			AuthURL:         cfg.VendorAuthURL(v.Name, region),
			Timeout:         cfg.VendorTimeout(v.Name),
			Apps:            apps[v.Name],
			ReceiptSigner:   signer,
			CallbackURL:     cfg.ReceiptCallbackURL(v.Name, region),
			Simulator:       cfg.Vendors.Simulator,
			SimulatorCAFile: cfg.Vendors.SimulatorCAFile,
			RegionID:        cfg.Vendors.SMS.RegionIDs[region],
			NumbersPerCall:  cfg.Vendors.SMS.NumbersPerCall,
		})
		if err != nil {
			return nil, fmt.Errorf("configuring %s for region %s: %w", v.Name, region, err)
		}
		out[ch.Name()] = ch
	}
	return out, nil
}
