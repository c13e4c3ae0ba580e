package gateway

import (
	"context"
	"net/http"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// userTagsBody is the body of /v1/tags/add, /v1/tags/remove and
// /v1/tags/list.
type userTagsBody struct {
	appRef
	// UserID is the user whose tags are changed or listed.
	UserID string `json:"userId"`
	// Tags are added or removed (1 to schema.MaxTags distinct tags of at
	// most schema.MaxTagChars characters); /v1/tags/list takes none.
	Tags []string `json:"tags"`
}

// UserTags is the answer of /v1/tags/list: the tags a user carries, in
// order.
type UserTags struct {
	UserID string   `json:"userId"`
	Tags   []string `json:"tags"`
}

// TagUsers is the answer of /v1/tags/users: one page of the users
// carrying a tag, in user id order, and how many carry it in all.
type TagUsers struct {
	Tag        string   `json:"tag"`
	TotalCount uint64   `json:"totalCount"`
	PageNumber int      `json:"pageNumber"`
	PageSize   int      `json:"pageSize"`
	List       []string `json:"list"`
}

// addTags serves /v1/tags/add: tags for a user, published as a tag_add
// record on push.bindings.<region> (keyed by the user id); Data is the
// user id. The registry stores it next: /v1/tags/list shows it then.
func (s *Server) addTags(ctx context.Context, c *call) reply {
	return s.tagRecord(ctx, c, schema.OpTagAdd)
}

// removeTags serves /v1/tags/remove: a tag_remove record, as addTags.
func (s *Server) removeTags(ctx context.Context, c *call) reply {
	return s.tagRecord(ctx, c, schema.OpTagRemove)
}

func (s *Server) tagRecord(ctx context.Context, c *call, op schema.BindingOp) reply {
	var b userTagsBody
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	if b.UserID == "" {
		return refuse(http.StatusBadRequest, schema.CodeNeedUserID, "userId is empty: tags belong to users; name the user")
	}
	return s.publishBinding(ctx, c, &schema.Binding{Op: op, Region: b.Region, AppID: b.AppID, WorkspaceID: b.WorkspaceID, UserID: b.UserID, Tags: b.Tags})
}

// listUserTags serves /v1/tags/list: the tags the registry has stored for
// a user.
func (s *Server) listUserTags(ctx context.Context, c *call) reply {
	var b userTagsBody
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	if b.UserID == "" {
		return refuse(http.StatusBadRequest, schema.CodeNeedUserID, "userId is empty: name the user whose tags to list")
	}
	if len(b.Tags) > 0 {
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "tags is not a filter of /v1/tags/list: it lists every tag of the user")
	}
	tags, err := store.NewDevices(s.cfg.ClickHouse, s.cfg.Database).UserTags(ctx, b.AppID, b.UserID)
	if err != nil {
		return failed("listing the tags of user "+b.UserID, err)
	}
	return ok(UserTags{UserID: b.UserID, Tags: tags})
}

// listTagUsers serves /v1/tags/users: page pageNumber (from 1) of
// pageSize (1 to MaxPageSize, default DefaultPageSize) users carrying a
// tag.
func (s *Server) listTagUsers(ctx context.Context, c *call) reply {
	var b struct {
		appRef
		Tag        string `json:"tag"`
		PageNumber int    `json:"pageNumber"`
		PageSize   int    `json:"pageSize"`
	}
	if rep := s.decode(c, &b); rep != nil {
		return *rep
	}
	if b.Tag == "" {
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "tag is empty: name the tag whose users to list")
	}
	pn, ps, rep := pageParams(b.PageNumber, b.PageSize)
	if rep != nil {
		return *rep
	}
	users, total, err := store.NewDevices(s.cfg.ClickHouse, s.cfg.Database).TagUsers(ctx, b.AppID, b.Tag, (pn-1)*ps, ps)
	if err != nil {
		return failed("listing the users of tag "+b.Tag, err)
	}
	return ok(TagUsers{Tag: b.Tag, TotalCount: total, PageNumber: pn, PageSize: ps, List: users})
}
