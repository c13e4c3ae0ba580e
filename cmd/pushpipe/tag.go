package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// MaxTagImport is the most user ids one tag import takes.
const MaxTagImport = 500_000

func newTagCmd() *cobra.Command {
	var region, appID, tag string
	var remove bool
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   "tag FILE",
		Short: "Add (or remove) a tag for the user ids listed in a file, one per line",
		Long: `Read up to 500,000 user ids from FILE (one per line, blank lines and duplicates
ignored) and publish tag_add (or, with --remove, tag_remove) records to
push.bindings.<region>; the registry applies them. A push with deliverType 12 and the tag
as target then reaches every device bound to those users.`,
		Example: "  pushpipe tag --region sg --tag gold users.txt",
		Args:    cobra.ExactArgs(1),
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
			if appID == "" {
				appID = cfg.Apps[0].AppID
			}
			users, err := readUserIDs(args[0])
			if err != nil {
				return fail("%v", err)
			}
			brokers, _ := ep.resolve(cfg)
			p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Logger: log})
			if err != nil {
				return err
			}
			defer p.Close()
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
					b, _ := json.Marshal(schema.Binding{Op: op, Region: region, AppID: appID, UserID: u, Tags: []string{tag}, TS: now})
					outs = append(outs, pipeline.Output{Topic: pipeline.BindingsTopic(region), Key: []byte(u), Value: b})
				}
				if err := p.Produce(cmd.Context(), outs); err != nil {
					return fmt.Errorf("publishing tag records: %w", err)
				}
				done := min(start+chunk, len(users))
				fmt.Fprintf(out, "\r%s %d/%d user ids (%d%%)", progressBar(done, len(users), 30), done, len(users), done*100/len(users))
			}
			fmt.Fprintln(out)
			fmt.Fprintf(cmd.OutOrStdout(), "published %s of tag %q for %d distinct user ids to %s\n", op, tag, len(users), pipeline.BindingsTopic(region))
			return nil
		},
	}
	cmd.Flags().StringVar(&region, "region", "sg", "region of the users")
	cmd.Flags().StringVar(&appID, "app", "", "app id (default: the first configured app)")
	cmd.Flags().StringVar(&tag, "tag", "", "the tag (required)")
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the tag from the users instead of adding it")
	ep.register(cmd)
	return cmd
}

// readUserIDs reads distinct, non-empty user ids, one per line, in file
// order; more than MaxTagImport is an error.
func readUserIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading user ids: %w", err)
	}
	defer f.Close()
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
