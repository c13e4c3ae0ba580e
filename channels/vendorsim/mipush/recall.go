package mipush

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

// RevokePath is the path of MiPush's revoke-by-regId API below a region's
// base URL: POST {base}/v3/message/regid/revoke with the form fields
// registration_ids (regIds joined by commas), restricted_package_name and
// notify_id, authenticated like a push ("Authorization: key=<AppSecret>").
//
// The simulator confirms the revoke of the regIds it accepted a
// notification with that notify_id for (pass-through messages are never
// shown, so there is nothing to revoke) and counts them
// (vendorsim.Simulator.Recalls); when none of the regIds had one, it
// answers 10017 with the reason "No message with notify_id N was sent to
// these regIds".
const RevokePath = "/v3/message/regid/revoke"

// answerRevoke answers POST /mipush/{region}/v3/message/regid/revoke.
func (m *sim) answerRevoke(_ *http.Request, c *call) vendorsim.Answer {
	refuse := func(code int, format string, args ...any) vendorsim.Answer {
		return *m.refuse(vendorsim.Rejected, refusal{code, fmt.Sprintf(format, args...)})
	}
	notifyID := c.form.Get("notify_id")
	switch {
	case c.parseErr != nil:
		return refuse(CodeInvalidParameterValue, "Malformed request body")
	case len(c.regIDs) == 0:
		return refuse(CodeMissRequiredParameter, "registration_ids is required")
	case len(c.regIDs) > MaxRegIDs:
		return refuse(CodeInvalidParameterValue, "Too many registration_ids: %d, at most %d", len(c.regIDs), MaxRegIDs)
	case notifyID == "":
		return refuse(CodeMissRequiredParameter, "notify_id is required")
	case c.form.Get("restricted_package_name") != "" && c.form.Get("restricted_package_name") != c.app.PackageName:
		return refuse(CodeInvalidPackageName, "Invalid package name: %s", c.form.Get("restricted_package_name"))
	}
	if _, err := strconv.Atoi(notifyID); err != nil {
		return refuse(CodeInvalidParameterValue, "Invalid notify_id: %q", notifyID)
	}
	recalled := m.s.Recall(vendorsim.VendorMiPush, c.region, c.app.AppID, notifyID, c.regIDs)
	if len(recalled) == 0 {
		return refuse(CodeInvalidParameterValue, "No message with notify_id %s was sent to these regIds", notifyID)
	}
	return m.answer(http.StatusOK, CodeSuccess, "", nil, fmt.Sprintf("Revoked the message for %d REGID", len(recalled)))
}
