package vendorsim

import "net/http"

// simVendor is one simulated vendor API. Each vendor lives in its own file
// (mipush.go, apns.go, fcm.go, hms.go, honor.go, harmonyos.go, oppo.go,
// vivo.go, selfchannel.go, sms.go) with its configuration type, its handlers
// and its simVendor; this file only lists them.
type simVendor interface {
	// name is the vendor name used in records, stats, failure and latency
	// rules and quotas ("mipush", "apns", ...).
	name() string
	// appIDs lists the pushpipe app ids the vendor has credentials for.
	appIDs() []string
	// register adds the vendor's endpoints to mux, each under
	// /<vendor>/{region}/... so that one simulator serves every region.
	register(mux *http.ServeMux)
}

// configuredVendors returns the vendors that have at least one app.
func (s *Simulator) configuredVendors() []simVendor {
	var out []simVendor
	for _, v := range []simVendor{miPushSim{s}, newAPNsSim(s), newFCMSim(s), newHMSSim(s),
		newHonorSim(s), newHarmonyOSSim(s), newOPPOSim(s), newVivoSim(s), newSelfSim(s), newSMSSim(s)} {
		if v != nil && len(v.appIDs()) > 0 {
			out = append(out, v)
		}
	}
	return out
}

// hasApps reports whether any vendor has an app configured.
func (c Config) hasApps() bool {
	return len(c.MiPush.Apps)+c.APNs.appCount()+c.FCM.appCount()+c.HMS.appCount()+
		c.Honor.appCount()+c.HarmonyOS.appCount()+c.OPPO.appCount()+c.Vivo.appCount()+c.Self.appCount()+c.SMS.appCount() > 0
}

// withVendorDefaults applies each vendor's defaults and the receipt
// poster's.
func (c Config) withVendorDefaults() Config {
	c.APNs, c.FCM, c.HMS = c.APNs.withDefaults(), c.FCM.withDefaults(), c.HMS.withDefaults()
	c.Honor, c.OPPO, c.Vivo, c.Self = c.Honor.withDefaults(), c.OPPO.withDefaults(), c.Vivo.withDefaults(), c.Self.withDefaults()
	c.HarmonyOS = c.HarmonyOS.withDefaults()
	c.SMS = c.SMS.withDefaults()
	c.Receipts = c.Receipts.withDefaults()
	return c
}

// vendorErrors collects each vendor's configuration problems and the
// receipt poster's.
func (c Config) vendorErrors() []error {
	var errs []error
	for _, e := range [][]error{c.APNs.validate(), c.FCM.validate(), c.HMS.validate(), c.Honor.validate(),
		c.HarmonyOS.validate(), c.OPPO.validate(), c.Vivo.validate(), c.Self.validate(), c.SMS.validate(), c.Receipts.validate()} {
		errs = append(errs, e...)
	}
	return errs
}

// resetter is a simulated vendor with state of its own that Reset clears
// (flow-control windows).
type resetter interface{ reset() }
