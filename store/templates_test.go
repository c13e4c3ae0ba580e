package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestTemplateLimitPerApp: an app holds at most schema.MaxTemplatesPerApp live
// templates; one more is refused with 3056 TEMPLATE_NUM_TOO MUCH until
// one is deleted, and other apps are not affected.
func TestTemplateLimitPerApp(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".templates (app_id, name, title, content, uri, description, deleted, version)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range schema.MaxTemplatesPerApp {
		if err := b.Append("full", fmt.Sprintf("t%04d", i), "T", "C", "", "", uint8(0), time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	templates := store.NewTemplates(conn, db)
	one := schema.Template{AppID: "full", Name: "one-more", Title: "T", Content: "C"}
	var ve *schema.ValidationError
	if err := templates.Create(ctx, one); !errors.As(err, &ve) || ve.Code != schema.CodeTemplateNumTooMuch {
		t.Fatalf("template %d: got %v, want 3056", schema.MaxTemplatesPerApp+1, err)
	}
	if err := templates.Create(ctx, schema.Template{AppID: "other", Name: "one-more", Title: "T", Content: "C"}); err != nil {
		t.Fatalf("another app's template: %v", err)
	}
	if err := templates.Delete(ctx, "full", "t0000", true); err != nil {
		t.Fatal(err)
	}
	if err := templates.Create(ctx, one); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}
