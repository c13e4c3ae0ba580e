package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// MaxTagImport is the most user ids one tag import takes.
const MaxTagImport = 500_000

func newTagCmd() *cobra.Command {
	var region, appID, tag string
	var remove bool
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   "tag FILE",
		Short: "Add (or remove) a tag for the user ids listed in a file; list the tags of a user or the users of a tag",
		Long: `Read up to 500,000 user ids from FILE (one per line, blank lines and duplicates
ignored) and publish tag_add (or, with --remove, tag_remove) records to
push.bindings.<region>; the registry applies them. A BROADCAST with "tags" naming the
tag, or a push with deliverType 12 and the tag as target, then reaches every device
bound to those users. A tag has 1 to 30 characters (mPaaS §6.5).

The subcommands read what the registry stored in the region's ClickHouse:
'pushpipe tag list --user U' the tags of a user, 'pushpipe tag users --tag T' the users
of a tag, a page at a time. (A FILE named list or users: write ./list or ./users.)
The gateway serves the same as /v1/tags/add, /v1/tags/remove, /v1/tags/list and
/v1/tags/users.`,
		Example: `  pushpipe tag --region sg --tag gold users.txt
  pushpipe tag --region sg --tag gold --remove lapsed.txt
  pushpipe tag list --region sg --user user-1024
  pushpipe tag users --region sg --tag gold --page 2 --page-size 100`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if !schema.ValidRegion(region) {
				return fail("--region %q: use one of %s", region, strings.Join(schema.Regions(), ", "))
			}
			if tag == "" {
				return fail("--tag is required")
			}
			if n := utf8.RuneCountInString(tag); n > schema.MaxTagChars {
				return fail("--tag %q has %d characters, at most %d are allowed", tag, n, schema.MaxTagChars)
			}
			if appID == "" {
				appID = cfg.Apps[0].AppID
			}
			users, err := readUserIDs(args[0])
			if err != nil {
				return fail("%v", err)
			}
			brokers, sec, err := ep.kafka(cfg)
			if err != nil {
				return err
			}
			p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: sec, Compression: cfg.Kafka.Compression, Logger: log})
			if err != nil {
				return err
			}
			defer func() { _ = p.Close() }()
			op := schema.OpTagAdd
			if remove {
				op = schema.OpTagRemove
			}
			now := time.Now().UnixMilli()
			out := cmd.ErrOrStderr()
			const chunk = 10_000
			for start := 0; start < len(users); start += chunk {
				var outs []pipeline.Output
				for _, u := range users[start:min(start+chunk, len(users))] {
					rec := schema.Binding{Op: op, Region: region, AppID: appID, UserID: u, Tags: []string{tag}, TS: now}
					b, _ := json.Marshal(rec)
					outs = append(outs, pipeline.Output{Topic: pipeline.BindingsTopic(region), Key: []byte(rec.KafkaKey()), Value: b})
				}
				if err := p.Produce(cmd.Context(), outs); err != nil {
					return fmt.Errorf("publishing tag records: %w", err)
				}
				done := min(start+chunk, len(users))
				_, _ = fmt.Fprintf(out, "\r%s %d/%d user ids (%d%%)", progressBar(done, len(users), 30), done, len(users), done*100/len(users))
			}
			_, _ = fmt.Fprintln(out)
			_, _ = fmt.Fprintf(cmd.OutOrStdout(), "published %s of tag %q for %d distinct user ids to %s\n", op, tag, len(users), pipeline.BindingsTopic(region))
			return nil
		},
	}
	cmd.Flags().StringVar(&region, "region", "sg", "region of the users")
	cmd.Flags().StringVar(&appID, "app", "", "app id (default: the first configured app)")
	cmd.Flags().StringVar(&tag, "tag", "", "the tag, 1 to 30 characters (required)")
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the tag from the users instead of adding it")
	ep.register(cmd)
	cmd.AddCommand(newTagListCmd(), newTagUsersCmd())
	return cmd
}

func newTagListCmd() *cobra.Command {
	var f chFlags
	var user string
	cmd := &cobra.Command{
		Use:   "list --user USER",
		Short: "List the tags a user carries, as the registry stored them",
		Long: `Print the tags the user carries now, one a line in order, from the region's ClickHouse
(push_<region>.tags, read FINAL without removed memberships). A tag record still on
push.bindings.<region> shows once the registry applied it.`,
		Example: `  pushpipe tag list --region sg --user user-1024
  pushpipe tag list --region sg --user user-1024 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return fail("--user is required")
			}
			conn, db, done, err := f.connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			tags, err := store.NewDevices(conn, db).UserTags(cmd.Context(), f.appID, user)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd, gateway.UserTags{UserID: user, Tags: tags})
			}
			if len(tags) == 0 {
				_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "user %s of app %s carries no tag in region %s\n", user, f.appID, f.region)
			}
			for _, t := range tags {
				_, _ = fmt.Fprintln(cmd.OutOrStdout(), t)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user id (required)")
	f.register(cmd)
	return cmd
}

func newTagUsersCmd() *cobra.Command {
	var f chFlags
	var tag string
	var pageNumber, pageSize int
	cmd := &cobra.Command{
		Use:   "users --tag TAG",
		Short: "List the users carrying a tag, a page at a time, with their total count",
		Long: fmt.Sprintf(`Print one page of the users carrying the tag now, one user id a line in order, from
the region's ClickHouse (push_<region>.tags, read FINAL without removed memberships),
and on stderr how many carry it in all. Pages count from 1 and hold 1 to %d users.`, gateway.MaxPageSize),
		Example: `  pushpipe tag users --region sg --tag gold
  pushpipe tag users --region sg --tag gold --page 3 --page-size 100 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tag == "" {
				return fail("--tag is required")
			}
			if pageNumber < 1 || pageSize < 1 || pageSize > gateway.MaxPageSize {
				return fail("--page %d --page-size %d: pages count from 1 and hold 1 to %d users", pageNumber, pageSize, gateway.MaxPageSize)
			}
			conn, db, done, err := f.connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			users, total, err := store.NewDevices(conn, db).TagUsers(cmd.Context(), f.appID, tag, (pageNumber-1)*pageSize, pageSize)
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd, gateway.TagUsers{Tag: tag, TotalCount: total, PageNumber: pageNumber, PageSize: pageSize, List: users})
			}
			for _, u := range users {
				_, _ = fmt.Fprintln(cmd.OutOrStdout(), u)
			}
			_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "%d user(s) carry tag %q in app %s, region %s; page %d shows %d\n", total, tag, f.appID, f.region, pageNumber, len(users))
			return nil
		},
	}
	cmd.Flags().StringVar(&tag, "tag", "", "the tag (required)")
	cmd.Flags().IntVar(&pageNumber, "page", 1, "page number, from 1")
	cmd.Flags().IntVar(&pageSize, "page-size", 100, fmt.Sprintf("users a page, 1 to %d", gateway.MaxPageSize))
	f.register(cmd)
	return cmd
}

// readUserIDs reads distinct, non-empty user ids, one per line, in file
// order; more than MaxTagImport is an error.
func readUserIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading user ids: %w", err)
	}
	defer func() { _ = f.Close() }()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		u := strings.TrimSpace(sc.Text())
		if u == "" || seen[u] {
			continue
		}
		seen[u] = true
		out = append(out, u)
		if len(out) > MaxTagImport {
			return nil, fmt.Errorf("%s lists more than %d distinct user ids; split it", path, MaxTagImport)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no user ids", path)
	}
	return out, nil
}

func progressBar(done, total, width int) string {
	n := done * width / total
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}
