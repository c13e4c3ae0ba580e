package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// chFlags are the flags of commands that read or write one region's
// ClickHouse database for one app.
type chFlags struct {
	region, appID string
	asJSON        bool
	ep            endpointFlags
}

func (f *chFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.region, "region", "sg", "region whose database to use")
	cmd.Flags().StringVar(&f.appID, "app", "", "app id (default: the first configured app)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print JSON instead of a table")
	f.ep.register(cmd)
}

// connect loads the configuration, connects to the region's ClickHouse
// and applies the migrations; done closes the connection.
func (f *chFlags) connect(cmd *cobra.Command) (conn driver.Conn, db string, done func(), err error) {
	cfg, _, err := loadConfig(cmd)
	if err != nil {
		return nil, "", nil, err
	}
	if !schema.ValidRegion(f.region) {
		return nil, "", nil, fail("--region %q: use one of %s", f.region, strings.Join(schema.Regions(), ", "))
	}
	if f.appID == "" {
		f.appID = cfg.Apps[0].AppID
	}
	_, chAddr := f.ep.resolve(cfg)
	conn, err = app.OpenClickHouse(cmd.Context(), cfg.ClickHouse, chAddr)
	if err != nil {
		return nil, "", nil, err
	}
	db = cfg.Database(f.region)
	if err := store.Migrate(cmd.Context(), conn, db, cfg.ClickHouse.EventTTLDays); err != nil {
		_ = conn.Close()
		return nil, "", nil, err
	}
	return conn, db, func() { _ = conn.Close() }, nil
}

// open is connect returning the template and device stores.
func (f *chFlags) open(cmd *cobra.Command) (*store.Templates, *store.Devices, func(), error) {
	conn, db, done, err := f.connect(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	return store.NewTemplates(conn, db), store.NewDevices(conn, db), done, nil
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTemplateCmd() *cobra.Command {
	var f chFlags
	cmd := &cobra.Command{
		Use:   "template",
		Short: "Create, list and delete message templates (#name# placeholders) of an app",
		Long: `Templates hold a title and content with #name# placeholders that TEMPLATE, MULTIPLE
and BROADCAST pushes fill from templateKeyValue. They are stored per app in the region's
ClickHouse database (table templates).`,
		Example: `  pushpipe template create --region sg --name promo --title 'Hi #name#' --content 'You won #amount# points'
  pushpipe template list --region sg
  pushpipe template delete --region sg --name promo`,
	}
	var name, title, content, uri, desc string
	var force bool
	create := &cobra.Command{
		Use: "create", Short: "Create a template (3036 if the name exists)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tpls, _, done, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			t := schema.Template{AppID: f.appID, Name: name, Title: title, Content: content, URI: uri, Description: desc}
			if err := tpls.Create(cmd.Context(), t); err != nil {
				return fail("%v", err)
			}
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "created template %q of app %s in %s (placeholders: %s)\n", name, f.appID, f.region, strings.Join(t.Placeholders(), ", "))
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "template name (no commas)")
	create.Flags().StringVar(&title, "title", "", "title, may hold #name# placeholders")
	create.Flags().StringVar(&content, "content", "", "content, may hold #name# placeholders")
	create.Flags().StringVar(&uri, "uri", "", "click action URI, may hold placeholders")
	create.Flags().StringVar(&desc, "description", "", "what the template is for")
	list := &cobra.Command{
		Use: "list", Short: "List the templates of an app", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tpls, _, done, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			ts, err := tpls.List(cmd.Context(), f.appID)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd, ts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			_, _ = fmt.Fprintln(tw, "NAME\tTITLE\tCONTENT\tPLACEHOLDERS")
			for _, t := range ts {
				_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, truncate(t.Title, 40), truncate(t.Content, 60), strings.Join(t.Placeholders(), ","))
			}
			return tw.Flush()
		},
	}
	del := &cobra.Command{
		Use: "delete", Short: "Delete a template (3022 if it does not exist; reports tasks still using it)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tpls, _, done, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			if err := tpls.Delete(cmd.Context(), f.appID, name, force); err != nil {
				return fail("%v", err)
			}
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "deleted template %q of app %s in %s\n", name, f.appID, f.region)
			return nil
		},
	}
	del.Flags().StringVar(&name, "name", "", "template name")
	del.Flags().BoolVar(&force, "force", false, "delete even if tasks used the template within the last 14 days")
	for _, c := range []*cobra.Command{create, del} {
		_ = c.MarkFlagRequired("name")
	}
	f.register(create)
	f.register(list)
	f.register(del)
	cmd.AddCommand(create, list, del)
	return cmd
}

func newDeviceCmd() *cobra.Command {
	var f chFlags
	var ids []string
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Show the registry status of devices (platform, channel, token validity, binding, alias, account)",
		Long: `Show what the registry knows of devices (the mPaaS device status query): platform,
vendor channel and whether its token is still valid, the self-built token, the bound
user, alias and user account, app version and model, and when each last changed.`,
		Example: "  pushpipe device --region sg --id demo-device-1 --id demo-device-2",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(ids) == 0 {
				return fail("give at least one --id")
			}
			_, devs, done, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			got, err := devs.Lookup(cmd.Context(), f.appID, ids)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd, got)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			_, _ = fmt.Fprintln(tw, "DEVICE\tSTATUS\tPLATFORM\tCHANNEL\tTOKEN\tUSER\tALIAS\tACCOUNT\tAPP VERSION\tMODEL\tUPDATED")
			for _, id := range ids {
				d, ok := got[id]
				if !ok {
					_, _ = fmt.Fprintf(tw, "%s\tunknown (NoBindInfo)\t\t\t\t\t\t\t\t\t\n", id)
					continue
				}
				status, token := "registered", "valid"
				if !d.TokenValid {
					token = "invalid"
				}
				if d.UserID != "" {
					status = "bound"
				}
				channel := d.Vendor
				if channel == "" {
					channel = "self"
				}
				_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, status, d.Platform, channel, token,
					d.UserID, d.Alias, d.UserAccount, d.AppVersion, d.Model, d.UpdatedAt.Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringArrayVar(&ids, "id", nil, "device id (repeatable)")
	f.register(cmd)
	return cmd
}
