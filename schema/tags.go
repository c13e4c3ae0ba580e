package schema

import "unicode/utf8"

// Limits of user tags. A tag names a group of users (mPaaS §6.5 User tag
// management: at most 30 characters); tags belong to users, and a device
// carries the tags of the user bound to it.
const (
	// MaxTagChars is the longest tag, in characters (mPaaS §6.5).
	MaxTagChars = 30
	// MaxTags is how many tags one broadcast filters on, and how many one
	// tag_add or tag_remove record (or gateway call) names.
	MaxTags = 100
)

// ValidateTags checks a list of tags named by field (e.g. "tags"): at
// least one and at most MaxTags, none empty, none longer than MaxTagChars
// characters, none repeated. A broken rule is a *ValidationError with
// 3028 INVALID_PARAM saying which tag and why.
func ValidateTags(field string, tags []string) error {
	if len(tags) == 0 {
		return invalid(CodeInvalidParam, "%s is empty: name at least one tag", field)
	}
	if len(tags) > MaxTags {
		return invalid(CodeInvalidParam, "%s names %d tags, at most %d are allowed", field, len(tags), MaxTags)
	}
	first := make(map[string]int, len(tags))
	for i, tag := range tags {
		if tag == "" {
			return invalid(CodeInvalidParam, "%s[%d] is an empty tag", field, i)
		}
		if n := utf8.RuneCountInString(tag); n > MaxTagChars {
			return invalid(CodeInvalidParam, "%s[%d] %q has %d characters, at most %d are allowed", field, i, tag, n, MaxTagChars)
		}
		if j, dup := first[tag]; dup {
			return invalid(CodeInvalidParam, "%s[%d] repeats tag %q of %s[%d]; name each tag once", field, i, tag, field, j)
		}
		first[tag] = i
	}
	return nil
}

// validateTags checks the tags filter of a request. Only a BROADCAST
// takes it (a targeted push names a tag as its target, deliverType 12); a
// present but empty list is refused rather than read as "no filter", so a
// tag list computed empty never reaches the whole audience; and tags
// belong to users, so a broadcast to unbound devices only (pushStatus 2)
// can never match a tag.
func (r *Request) validateTags() error {
	if r.Tags == nil {
		return nil
	}
	if r.Type != PushBroadcast {
		return invalid(CodeInvalidParam, "tags filters BROADCAST pushes only; a %s push reaches the devices of users carrying a tag with deliverType 12 and the tag as target", r.Type)
	}
	if len(r.Tags) == 0 {
		return invalid(CodeInvalidParam, "tags is an empty list: leave tags out to broadcast to every device, or name at least one tag")
	}
	if err := ValidateTags("tags", r.Tags); err != nil {
		return err
	}
	if r.PushStatus != nil && *r.PushStatus == PushStatusUnbound {
		return invalid(CodeInvalidParam, "tags with pushStatus 2 (unbound users) can never match: tags belong to users, and an unbound device has no user; use pushStatus 0 (bound users) or 1 (all)")
	}
	return nil
}
