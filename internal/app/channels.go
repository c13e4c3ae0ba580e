package app

import (
	"fmt"

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
	"github.com/pushpipe/pushpipe/internal/config"
)

// Channels builds the vendor channels of a region from the configuration:
// one channel per vendor that at least one app has credentials for, its
// endpoints those of the region (or the simulator's). A vendor whose
// configuration is incomplete is an error naming what to fix.
func Channels(cfg *config.Config, region string) (map[string]channels.Channel, error) {
	out := map[string]channels.Channel{}
	add := func(vendor string, ch channels.Channel, err error) error {
		if err != nil {
			return fmt.Errorf("configuring %s for region %s: %w", vendor, region, err)
		}
		out[ch.Name()] = ch
		return nil
	}
	url := func(vendor string) string { return cfg.VendorBaseURL(vendor, region) }
	// MiPush, OPPO and vivo echo a tagged callback parameter in their
	// receipts, and are told where to send them (when the region has a
	// public receipts URL).
	signer, keyErr := cfg.IDKey()
	if keyErr != nil {
		return nil, fmt.Errorf("configuring the channels of region %s: %w", region, keyErr)
	}
	callback := func(vendor string) string { return cfg.ReceiptCallbackURL(vendor, region) }
	auth := func(vendor string) string { return cfg.VendorAuthURL(vendor, region) }
	timeout := cfg.VendorTimeout

	mp, ap, fc, hm, ho, op, vi, se := map[string]mipush.App{}, map[string]apns.App{}, map[string]fcm.App{},
		map[string]hms.App{}, map[string]honor.App{}, map[string]oppo.App{}, map[string]vivo.App{}, map[string]selfchannel.App{}
	hos := map[string]harmonyos.App{}
	for _, a := range cfg.Apps {
		if a.MiPush != nil {
			mp[a.AppID] = *a.MiPush
		}
		if a.APNs != nil {
			ap[a.AppID] = *a.APNs
		}
		if a.FCM != nil {
			f := *a.FCM
			if u := auth(config.VendorFCM); u != "" {
				f.TokenURI = u
			}
			fc[a.AppID] = f
		}
		if a.HMS != nil {
			hm[a.AppID] = *a.HMS
		}
		if a.Honor != nil {
			ho[a.AppID] = *a.Honor
		}
		if a.HarmonyOS != nil {
			hos[a.AppID] = *a.HarmonyOS
		}
		if a.OPPO != nil {
			op[a.AppID] = *a.OPPO
		}
		if a.Vivo != nil {
			vi[a.AppID] = *a.Vivo
		}
		if a.Self != nil {
			se[a.AppID] = *a.Self
		}
	}
	sm := map[string]sms.App{}
	for _, a := range cfg.Apps {
		if a.SMS != nil {
			sm[a.AppID] = *a.SMS
		}
	}
	var err error
	if len(mp) > 0 && err == nil {
		ch, e := mipush.New(mipush.Config{Region: region, BaseURL: url(config.VendorMiPush), Apps: mp, Timeout: timeout(config.VendorMiPush),
			ReceiptSigner: signer, CallbackURL: callback(config.VendorMiPush)})
		err = add(config.VendorMiPush, ch, e)
	}
	if len(ap) > 0 && err == nil {
		c := apns.Config{Region: region, BaseURL: url(config.VendorAPNs), Apps: ap, Timeout: timeout(config.VendorAPNs)}
		if cfg.Vendors.Simulator {
			c.CAFile = cfg.Vendors.SimulatorCAFile
		}
		ch, e := apns.New(c)
		err = add(config.VendorAPNs, ch, e)
	}
	if len(fc) > 0 && err == nil {
		ch, e := fcm.New(fcm.Config{Region: region, BaseURL: url(config.VendorFCM), Apps: fc, Timeout: timeout(config.VendorFCM)})
		err = add(config.VendorFCM, ch, e)
	}
	if len(hm) > 0 && err == nil {
		ch, e := hms.New(hms.Config{Region: region, BaseURL: url(config.VendorHMS), AuthURL: auth(config.VendorHMS), Apps: hm, Timeout: timeout(config.VendorHMS)})
		err = add(config.VendorHMS, ch, e)
	}
	if len(ho) > 0 && err == nil {
		ch, e := honor.New(honor.Config{Region: region, BaseURL: url(config.VendorHonor), AuthURL: auth(config.VendorHonor), Apps: ho, Timeout: timeout(config.VendorHonor)})
		err = add(config.VendorHonor, ch, e)
	}
	if len(hos) > 0 && err == nil {
		ch, e := harmonyos.New(harmonyos.Config{Region: region, BaseURL: url(config.VendorHarmonyOS), Apps: hos, Timeout: timeout(config.VendorHarmonyOS)})
		err = add(config.VendorHarmonyOS, ch, e)
	}
	if len(op) > 0 && err == nil {
		ch, e := oppo.New(oppo.Config{Region: region, BaseURL: url(config.VendorOPPO), Apps: op, Timeout: timeout(config.VendorOPPO),
			ReceiptSigner: signer, CallbackURL: callback(config.VendorOPPO)})
		err = add(config.VendorOPPO, ch, e)
	}
	if len(vi) > 0 && err == nil {
		ch, e := vivo.New(vivo.Config{Region: region, BaseURL: url(config.VendorVivo), Apps: vi, Timeout: timeout(config.VendorVivo),
			ReceiptSigner: signer, CallbackURL: callback(config.VendorVivo)})
		err = add(config.VendorVivo, ch, e)
	}
	if len(se) > 0 && err == nil {
		ch, e := selfchannel.New(selfchannel.Config{Region: region, BaseURL: url(config.VendorSelf), Apps: se, Timeout: timeout(config.VendorSelf)})
		err = add(config.VendorSelf, ch, e)
	}
	if len(sm) > 0 && err == nil {
		c := sms.Config{Region: region, BaseURL: url(config.VendorSMS), RegionID: cfg.Vendors.SMS.RegionIDs[region], Apps: sm,
			Timeout: timeout(config.VendorSMS), NumbersPerCall: cfg.Vendors.SMS.NumbersPerCall}
		if _, _, known := sms.RegionEndpoint(region); cfg.Vendors.Simulator && c.RegionID == "" && !known {
			c.RegionID = "cn-hangzhou" // the simulator serves every region under any region id
		}
		ch, e := sms.New(c)
		err = add(config.VendorSMS, ch, e)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
