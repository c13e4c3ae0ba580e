package vendorsim

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MiPushRevokePath is the path of MiPush's revoke-by-regId API below a
// region's base URL: POST {base}/v3/message/regid/revoke with the form
// fields registration_ids (regIds joined by commas), restricted_package_name
// and notify_id, authenticated like a push ("Authorization:
// key=<AppSecret>").
//
// The simulator confirms the revoke of the regIds it accepted a
// notification with that notify_id for (pass-through messages are never
// shown, so there is nothing to revoke) and counts them (Recalls); when
// none of the regIds had one, it answers 10017 with the reason "No message
// with notify_id N was sent to these regIds".
const MiPushRevokePath = "/v3/message/regid/revoke"

// miPushRecallable returns the regIds an accepted push-by-regId call
// delivered a notification to, under its notify_id.
func miPushRecallable(rec *Request, accepted []string) []recallable {
	id := rec.Form.Get("notify_id")
	if !strings.HasSuffix(rec.Path, "/v3/message/regid") || id == "" || rec.Form.Get("pass_through") == "1" {
		return nil
	}
	return sameID(id, accepted)
}

// handleMiPushRevoke serves POST /mipush/{region}/v3/message/regid/revoke.
func (s *Simulator) handleMiPushRevoke(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !s.servesMiPush(region) {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MiPush.MaxBodyBytes)
	parseErr := r.ParseForm()
	form := r.PostForm
	if form == nil {
		form = url.Values{}
	}
	regIDs := splitRegIDs(form.Get("registration_ids"))
	app, authOK := s.miPushApp(r.Header.Get("Authorization"))
	appID := UnknownApp
	if authOK {
		appID = app.AppID
	}
	rec, ok := s.beginRecall(w, r, VendorMiPush, region, appID, "", form, regIDs, func(w http.ResponseWriter, f Failure) string {
		return s.writeMiPush(w, f.Status, f.Code, "Injected failure", nil, "")
	})
	if !ok {
		return
	}
	refuse := func(code int, format string, args ...any) {
		body := s.writeMiPush(w, http.StatusOK, code, fmt.Sprintf(format, args...), nil, "")
		s.finish(rec, http.StatusOK, code, body, outRejected, nil, nil)
	}
	notifyID := form.Get("notify_id")
	switch {
	case !authOK:
		refuse(MiPushCodeAuthenticationFailed, "Invalid application secret.")
		return
	case parseErr != nil:
		refuse(MiPushCodeInvalidParameterValue, "Malformed request body")
		return
	case len(regIDs) == 0:
		refuse(MiPushCodeMissRequiredParameter, "registration_ids is required")
		return
	case len(regIDs) > MiPushMaxRegIDs:
		refuse(MiPushCodeInvalidParameterValue, "Too many registration_ids: %d, at most %d", len(regIDs), MiPushMaxRegIDs)
		return
	case notifyID == "":
		refuse(MiPushCodeMissRequiredParameter, "notify_id is required")
		return
	case form.Get("restricted_package_name") != "" && form.Get("restricted_package_name") != app.PackageName:
		refuse(MiPushCodeInvalidPackageName, "Invalid package name: %s", form.Get("restricted_package_name"))
		return
	}
	if _, err := strconv.Atoi(notifyID); err != nil {
		refuse(MiPushCodeInvalidParameterValue, "Invalid notify_id: %q", notifyID)
		return
	}
	recalled := s.recall(VendorMiPush, region, app.AppID, notifyID, regIDs)
	if len(recalled) == 0 {
		refuse(MiPushCodeInvalidParameterValue, "No message with notify_id %s was sent to these regIds", notifyID)
		return
	}
	body := s.writeMiPush(w, http.StatusOK, MiPushCodeSuccess, "", nil,
		fmt.Sprintf("Revoked the message for %d REGID", len(recalled)))
	s.finish(rec, http.StatusOK, MiPushCodeSuccess, body, outAccepted, nil, nil)
}
