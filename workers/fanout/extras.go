package fanout

import (
	"strconv"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/channels/harmonyos"
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/honor"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/oppo"
	"github.com/pushpipe/pushpipe/channels/selfchannel"
	"github.com/pushpipe/pushpipe/channels/vivo"
	"github.com/pushpipe/pushpipe/schema"
)

// Push styles (pushStyle).
const (
	styleBigText = 1
	styleImage   = 2
)

// requestExtras returns the Message.Extras of one message on one channel:
// the app-defined extended parameters (channels.ExtraCustomPrefix), the
// click target, smooth push, and every request field the channel has a
// wire field for, under the key that channel's package reads. A field a
// channel has no wire field for is left out here and documented as such
// in docs/fields.md; validation (schema.Request.Validate) has already
// refused values no channel accepts. The result is shared by the
// deliveries of the message on the channel and never modified.
func requestExtras(req *schema.Request, msg message, channel string) map[string]string {
	x := map[string]string{}
	for k, v := range msg.ext {
		x[channels.ExtraCustomPrefix+k] = v
	}
	if msg.uri != "" {
		x[channels.ExtraURI] = msg.uri
	}
	if req.SmoothRate > 0 {
		x[channels.ExtraSmoothRate] = strconv.Itoa(req.SmoothRate)
	}
	set := func(key, v string) {
		if v != "" {
			x[key] = v
		}
	}
	bigText := req.PushStyle == styleBigText
	image := func(vendorKey string) string {
		if req.PushStyle != styleImage {
			return ""
		}
		return schema.PictureURL(req.ImageURLs, vendorKey)
	}
	icon := func(vendorKey string) string { return schema.PictureURL(req.IconURLs, vendorKey) }
	category := func(key string) string {
		c, _ := schema.Category(key, schema.VendorValue(req.ThirdChannelCategory, key))
		return c
	}
	level := func(key string) string {
		l, _ := schema.NotifyLevelOf(key, schema.VendorValue(req.NotifyLevel, key))
		return l
	}
	ext := msg.ext
	notifyID := notifyIDOf(req)
	remind := ""
	if req.RemindType != nil {
		remind = strconv.Itoa(*req.RemindType)
	}

	switch channel {
	case mipush.Name:
		set(channels.ExtraMiPushChannelID, req.MiChannelID)
		set(channels.ExtraMiPushNotifyID, notifyID)
		set(channels.ExtraNotifyType, remind)
		switch {
		case image(schema.URLKeyMIUI) != "":
			x[mipush.ExtraStyleType] = "2"
			x[mipush.ExtraBigPicURI] = image(schema.URLKeyMIUI)
		case bigText || ext[schema.ExtBigText] == "1":
			x[mipush.ExtraStyleType] = "1"
		}
		set(mipush.ExtraLargeIconURI, icon(schema.URLKeyMIUI))
		set(mipush.ExtraSoundURI, ext[schema.ExtSound])
	case apns.Name:
		if req.IsLiveActivity() {
			liveActivityExtras(req, x)
			break
		}
		// sound, badge and mutable-content are read from the extended
		// parameters by the APNs channel itself.
		set(apns.ExtraImageURL, image(schema.URLKeyIOS))
		set(apns.ExtraCollapseID, notifyID)
	case fcm.Name:
		set(fcm.ExtraImage, image(schema.URLKeyFCM))
		set(fcm.ExtraChannelID, req.ChannelID)
		set(fcm.ExtraTag, notifyID)
		set(channels.ExtraNotifyType, remind)
	case hms.Name:
		set(hms.ExtraCategory, category(schema.VendorKeyHMS))
		set(hms.ExtraNotifyLevel, level(schema.VendorKeyHMS))
		set(hms.ExtraImage, icon(schema.URLKeyHMS))
		set(hms.ExtraChannelID, req.ChannelID)
		set(hms.ExtraNotifyID, notifyID)
		set(channels.ExtraNotifyType, remind)
		if bigText || ext[schema.ExtBigText] == "1" {
			x[hms.ExtraBigText] = "1"
		}
		set(hms.ExtraBadgeAddNum, ext[schema.ExtBadgeAddNum])
		set(hms.ExtraBadgeClass, ext[schema.ExtBadgeClass])
	case honor.Name:
		set(honor.ExtraImportance, category(schema.VendorKeyHonor))
		set(honor.ExtraImage, icon(""))
		set(honor.ExtraNotifyID, notifyID)
		if bigText {
			x[honor.ExtraBigText] = "1"
		}
		set(honor.ExtraBadgeAddNum, ext[schema.ExtBadgeAddNum])
		set(honor.ExtraBadgeClass, ext[schema.ExtBadgeClass])
	case harmonyos.Name:
		// HarmonyOS reminds by category; it has no per-message reminder
		// switches and no notification channels.
		set(harmonyos.ExtraCategory, category(schema.VendorKeyHarmonyOS))
		set(harmonyos.ExtraImage, icon(""))
		set(harmonyos.ExtraNotifyID, notifyID)
		if bigText || ext[schema.ExtBigText] == "1" {
			x[harmonyos.ExtraBigText] = "1"
		}
		set(harmonyos.ExtraBadgeAddNum, ext[schema.ExtBadgeAddNum])
	case oppo.Name:
		set(oppo.ExtraCategory, category(schema.VendorKeyOPPO))
		set(oppo.ExtraNotifyLevel, level(schema.VendorKeyOPPO))
		set(oppo.ExtraChannelID, req.ChannelID)
		set(oppo.ExtraNotifyID, notifyID)
		if bigText {
			x[oppo.ExtraStyle] = "2"
		}
	case vivo.Name:
		set(vivo.ExtraClassification, req.Classification)
		set(vivo.ExtraCategory, category(schema.VendorKeyVivo))
		set(channels.ExtraNotifyType, remind)
	case selfchannel.Name:
		set(selfchannel.ExtraImageURL, image(""))
		set(selfchannel.ExtraIconURL, icon(""))
		set(selfchannel.ExtraChannelID, req.ChannelID)
		set(selfchannel.ExtraNotifyID, notifyID)
		set(channels.ExtraNotifyType, remind)
		if bigText {
			x[selfchannel.ExtraBigText] = "1"
		}
	}
	return x
}

// liveActivityExtras makes the APNs message of a Live Activity push an
// ActivityKit notification: its event, content state, dismissal date and
// timestamp, the time the request was accepted (Unix seconds), which
// orders the updates of an activity (iOS ignores one older than the last).
func liveActivityExtras(req *schema.Request, x map[string]string) {
	x[apns.ExtraPushType] = apns.PushTypeLiveActivity
	x[apns.ExtraActivityEvent] = req.ActivityEvent
	x[apns.ExtraContentState] = string(req.ActivityContentState)
	x[apns.ExtraActivityTimestamp] = strconv.FormatInt(req.AcceptedAt/1000, 10)
	if req.DismissalDate > 0 {
		x[apns.ExtraDismissalDate] = strconv.FormatInt(req.DismissalDate, 10)
	}
}

// channelRefusal says why a valid request cannot reach a device on this
// channel, with the result code of the filtered event, or returns 0: the
// channel lacks what the request needs (pass-through on OPPO and vivo,
// which deliver notifications only), so the delivery is filtered at fanout
// instead of failing at the vendor.
func channelRefusal(req *schema.Request, channel string, ext schema.StringMap, uri string) (schema.ResultCode, string) {
	switch {
	case req.IsLiveActivity() && channel != apns.Name:
		return schema.CodeInvalidParam, "filtered: only APNs shows an iOS Live Activity, and this device's channel is " + channel
	case req.Silent == 1 && (channel == oppo.Name || channel == vivo.Name):
		return schema.CodeInvalidParam, "filtered: " + channel + " delivers notification messages only; a silent (pass-through) push cannot reach this device"
	case req.Silent == 1 && channel == honor.Name && len(ext) == 0:
		return schema.CodeInvalidParam, "filtered: a silent (pass-through) push to honor carries its extendedParams as data, and this one has none"
	case channel == honor.Name && len(uri) > 7 && uri[:7] == "http://":
		return schema.CodeInvalidParam, "filtered: honor opens https addresses only, uri is " + uri
	}
	return 0, ""
}

// notifyIDOf returns the request's notifyId as the delivery carries it, or
// "" when the request set none.
func notifyIDOf(req *schema.Request) string {
	if req.NotifyID == nil {
		return ""
	}
	return strconv.Itoa(*req.NotifyID)
}
