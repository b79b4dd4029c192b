// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
)

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "show (get) or change (set -f net-conf.json) the network config; view weftctl's settings",
		Args:  noArgs,
		RunE:  showHelp,
	}
	var raw bool
	get := &cobra.Command{
		Use:   "get",
		Short: "show the network config as weftd uses it, defaults filled in",
		Long: `Show the network config as weftd uses it, every default filled in, and how many subnets
are leased. -o json prints a net-conf.json that round-trips through config set; --raw prints
the stored value exactly as written.`,
		Args: noArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error { return a.configGet(ctx, raw) }),
	}
	get.Flags().BoolVar(&raw, "raw", false, "print the stored value exactly as written")
	var so setOptions
	set := &cobra.Command{
		Use:   "set -f net-conf.json",
		Short: "validate, diff and store a new network config (compare-and-swap)",
		Long: `Validate a new network config with weftd's own rules, show the difference to the stored one
and store it with a compare-and-swap (a concurrent change makes it fail, not overwrite).

It refuses, unless --force:
  - a config that would orphan leases (Network, SubnetLen, SubnetMin/Max, IPv6): their nodes
    would take new subnets and their pods lose their addresses;
  - a change weftd applies only at start (Backend Type/VNI/Port/MTU/GBP/Learning/DirectRouting/
    TxChecksumOffload, EnableIPv4/6, the networks and subnet lengths) while nodes hold leases:
    every node listed must restart weftd, and until it does it keeps the old settings.`,
		Example: `  weftctl config set -f net-conf.json --dry-run
  weftctl config set -f net-conf.json --force   # then restart weftd on every node`,
		Args: noArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error { return a.configSet(ctx, so) }),
	}
	set.Flags().StringVarP(&so.file, "file", "f", "", "the new network config, a net-conf.json file (- for stdin)")
	set.Flags().BoolVar(&so.dryRun, "dry-run", false, "show the change and what it would orphan or restart; write nothing")
	set.Flags().BoolVar(&so.force, "force", false, "store the config even though leases would no longer fit it or every node must restart")
	_ = set.MarkFlagFilename("file", "json")
	view := &cobra.Command{
		Use:   "view",
		Short: "show weftctl's resolved settings and where each came from (secrets hidden)",
		Long: `Show every setting weftctl resolved and where it came from: a flag, WEFTCTL_*, ETCDCTL_*,
WEFTD_*, FLANNELD_*, weftd's env file or the default. Passwords are never printed. It also
says whether weftd's env file was read. It does not contact etcd.`,
		Args: noArgs,
		RunE: a.action(func(context.Context, *cobra.Command, []string) error { return a.configView() }),
	}
	addNodeFlags(view.Flags(), &nodeFlags{})
	cmd.AddCommand(get, set, view)
	return cmd
}

func (a *app) configGet(ctx context.Context, raw bool) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := a.etcdContext(ctx)
	defer cancel()
	val, _, err := c.reg.RawConfig(ctx)
	if errors.Is(err, subnet.ErrConfigNotFound) {
		return fmt.Errorf("%w; create it with `weftctl config set -f net-conf.json`", err)
	}
	if err != nil {
		return err
	}
	cfg, perr := subnet.ParseConfig(val)
	if raw || perr != nil {
		fmt.Fprintf(a.stdout, "%s\n", strings.TrimRight(string(val), "\n"))
		if perr != nil {
			return fmt.Errorf("the config stored at %s is invalid (weftd will not start with it):\n%w", c.reg.ConfigKey(), perr)
		}
		return nil
	}
	if unknown := subnet.UnknownKeys(val); len(unknown) > 0 {
		fmt.Fprintf(a.stderr, "note: keys weft does not know (ignored): %s\n", strings.Join(unknown, ", "))
	}
	leases, _, err := c.reg.ListLeases(ctx)
	if err != nil {
		return err
	}
	return emit(a.stdout, a.output, cfg, func(w io.Writer) error { return configTable(w, cfg, leases) })
}

// configView prints the resolved settings.
func (a *app) configView() error {
	r := a.settings
	return emit(a.stdout, a.output, r, func(w io.Writer) error {
		tw := newTable(w)
		row(tw, "SETTING", "VALUE", "SOURCE")
		for _, v := range r.Values {
			row(tw, v.Setting, orDash(v.Value), v.Source)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "\nweftd's env file %s: %s\n", r.NodeEnv.Path, r.NodeEnv.Status)
		return err
	})
}

// configTable prints every setting, defaults included, and the usage.
func configTable(w io.Writer, cfg *subnet.Config, leases []subnet.Lease) error {
	tw := newTable(w)
	row(tw, "KEY", "VALUE")
	row(tw, "EnableIPv4", fmt.Sprint(cfg.EnableIPv4))
	if cfg.EnableIPv4 {
		row(tw, "Network", cfg.Network.String())
		row(tw, "SubnetLen", fmt.Sprint(cfg.SubnetLen))
		row(tw, "SubnetMin", cfg.SubnetMin.String())
		row(tw, "SubnetMax", cfg.SubnetMax.String())
	}
	row(tw, "EnableIPv6", fmt.Sprint(cfg.EnableIPv6))
	if cfg.EnableIPv6 {
		row(tw, "IPv6Network", cfg.IPv6Network.String())
		row(tw, "IPv6SubnetLen", fmt.Sprint(cfg.IPv6SubnetLen))
		row(tw, "IPv6SubnetMin", cfg.IPv6SubnetMin.String())
		row(tw, "IPv6SubnetMax", cfg.IPv6SubnetMax.String())
	}
	row(tw, "EnableNFTables", fmt.Sprint(cfg.EnableNFTables))
	b := cfg.Backend
	row(tw, "Backend.Type", b.Type)
	row(tw, "Backend.VNI", fmt.Sprint(b.VNI))
	row(tw, "Backend.Port", fmt.Sprint(b.Port))
	mtu := fmt.Sprint(b.MTU)
	if b.MTU == 0 {
		mtu = "0 (the underlay interface's)"
	}
	row(tw, "Backend.MTU", mtu)
	row(tw, "Backend.DirectRouting", fmt.Sprint(b.DirectRouting))
	row(tw, "Backend.Learning", fmt.Sprint(b.Learning))
	row(tw, "Backend.GBP", fmt.Sprint(b.GBP))
	row(tw, "Backend.TxChecksumOffload", b.TxChecksumOffload)
	used, total := subnet.Usage(cfg, leases)
	row(tw, "(subnets leased)", fmt.Sprintf("%d of %d", used, total))
	return tw.Flush()
}

// setResult is what `config set` prints with -o json|yaml.
type setResult struct {
	Key     string        `json:"key"`
	Changed bool          `json:"changed"`
	Written bool          `json:"written"`
	DryRun  bool          `json:"dryRun"`
	Diff    string        `json:"diff"`
	Orphans []orphanLease `json:"orphans"`
	// Restart lists the changes weftd applies only at start, and Nodes
	// the nodes (from the leases) that must restart weftd for them.
	Restart []subnet.Change `json:"restart"`
	Nodes   []restartNode   `json:"nodes"`
	Config  *subnet.Config  `json:"config"`
}

// restartNode is a node that holds a lease, so runs weftd with the old config.
type restartNode struct {
	PublicIP string `json:"publicIP"`
	Subnet   string `json:"subnet"`
	Kind     string `json:"kind"` // lease or reservation
}

// testHookBeforeConfigPut runs between reading the stored config and the
// compare-and-swap that replaces it: tests change the key there, as a
// second operator would.
var testHookBeforeConfigPut func()

type setOptions struct {
	file          string
	dryRun, force bool
}

func (a *app) configSet(ctx context.Context, o setOptions) error {
	if o.file == "" {
		return usagef("-f FILE is required (the new net-conf.json, or - for stdin)")
	}
	in, cfg, err := readConfigFile(o.file, a.stderr)
	if err != nil {
		return err
	}
	out, err := canonicalConfig(cfg, in)
	if err != nil {
		return err
	}
	c, err := a.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := a.etcdContext(ctx)
	defer cancel()
	old, rev, err := c.reg.RawConfig(ctx)
	if err != nil && !errors.Is(err, subnet.ErrConfigNotFound) {
		return err
	}
	leases, _, err := c.reg.ListLeases(ctx)
	if err != nil {
		return err
	}
	res := compareConfig(c.reg.ConfigKey(), o, old, out, cfg, leases)
	orphans, restart := len(res.Orphans) > 0, len(res.Restart) > 0
	blocked := (orphans || restart) && !o.force
	if res.Changed && !o.dryRun && !blocked {
		if testHookBeforeConfigPut != nil {
			testHookBeforeConfigPut()
		}
		if err := c.reg.PutConfigAt(ctx, out, rev); err != nil {
			if errors.Is(err, etcd.ErrConfigChanged) {
				return fmt.Errorf("%w: the config in etcd changed while weftctl compared it; nothing written, run the command again to see the new difference", err)
			}
			return err
		}
		res.Written = true
	}
	if err := emit(a.stdout, a.output, res, func(w io.Writer) error { return setTable(w, res) }); err != nil {
		return err
	}
	var why []string
	if orphans {
		why = append(why, fmt.Sprintf("it would orphan %d lease(s) (listed above): their nodes would take new subnets and their pods lose their addresses", len(res.Orphans)))
	}
	if restart {
		why = append(why, fmt.Sprintf("weftd applies %s only at start: every one of the %d node(s) listed above must restart weftd, and keeps the old settings until it does", changeKeys(res.Restart), len(res.Nodes)))
	}
	switch {
	case blocked:
		return fmt.Errorf("refusing to store the config: %s; fix the config, or pass --force", strings.Join(why, "; and "))
	case res.Written && restart:
		fmt.Fprintf(a.stderr, "note: restart weftd on every node listed (%d) to apply %s\n", len(res.Nodes), changeKeys(res.Restart))
	}
	return nil
}

// compareConfig works out what storing cfg (canonical bytes out) over the
// stored bytes old would do: the difference, the leases it would orphan, and
// the changes that need the nodes holding leases to restart weftd.
func compareConfig(key string, o setOptions, old, out []byte, cfg *subnet.Config, leases []subnet.Lease) setResult {
	res := setResult{Key: key, DryRun: o.dryRun, Config: cfg, Nodes: []restartNode{}, Restart: []subnet.Change{}}
	res.Orphans = orphaned(old, cfg, leases)
	res.Diff = lineDiff(prettyJSON(old), prettyJSON(out), key+" (in etcd)", o.file+" (as it would be stored)")
	res.Changed = res.Diff != ""
	if oldCfg, perr := subnet.ParseConfig(old); len(old) > 0 && perr == nil {
		if changes := subnet.RestartChanges(oldCfg, cfg); len(changes) > 0 {
			if res.Nodes = nodesToRestart(leases); len(res.Nodes) > 0 {
				res.Restart = changes
			}
		}
	}
	return res
}

// nodesToRestart lists the nodes that hold a lease, or a reservation they
// use (a node wrote its VTEP into it): each runs weftd with the stored config.
func nodesToRestart(leases []subnet.Lease) []restartNode {
	out := []restartNode{}
	for _, l := range leases {
		if l.Reserved() && len(l.Attrs.BackendData) == 0 && len(l.Attrs.BackendV6Data) == 0 {
			continue
		}
		kind := "lease"
		if l.Reserved() {
			kind = "reservation"
		}
		out = append(out, restartNode{PublicIP: orDash(addrText(l.Attrs.PublicIP)), Subnet: l.Key(), Kind: kind})
	}
	slices.SortFunc(out, func(x, y restartNode) int { return strings.Compare(x.Subnet, y.Subnet) })
	return out
}

func changeKeys(cs []subnet.Change) string {
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.Key
	}
	return strings.Join(keys, ", ")
}

// readConfigFile reads and validates the new config with weftd's own
// validator; errors name the file and the JSON key.
func readConfigFile(name string, stderr io.Writer) ([]byte, *subnet.Config, error) {
	var in []byte
	var err error
	if name == "-" {
		in, err = io.ReadAll(stdin)
	} else {
		in, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := subnet.ParseConfig(in)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if unknown := subnet.UnknownKeys(in); len(unknown) > 0 {
		fmt.Fprintf(stderr, "note: %s has keys weft does not know; they are stored as written: %s\n", name, strings.Join(unknown, ", "))
	}
	return in, cfg, nil
}

func setTable(w io.Writer, res setResult) error {
	if res.Diff == "" {
		fmt.Fprintf(w, "%s is unchanged\n", res.Key)
	} else {
		fmt.Fprint(w, res.Diff)
	}
	if len(res.Restart) > 0 {
		fmt.Fprintf(w, "\nchanges weftd applies only at start (restart weftd on every node):\n")
		for _, c := range res.Restart {
			fmt.Fprintf(w, "  %s\n", c)
		}
		fmt.Fprintf(w, "\nnodes running weftd with the stored config:\n")
		tw := newTable(w)
		row(tw, "  PUBLIC IP", "SUBNET", "KIND")
		for _, n := range res.Nodes {
			row(tw, "  "+n.PublicIP, n.Subnet, n.Kind)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(res.Orphans) > 0 {
		fmt.Fprintf(w, "\nleases that would no longer fit the config (orphaned):\n")
		tw := newTable(w)
		row(tw, "  SUBNET", "PUBLIC IP", "KIND", "WHY")
		for _, o := range res.Orphans {
			row(tw, "  "+o.Key, orDash(o.PublicIP), o.Kind, o.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	switch {
	case res.Written:
		fmt.Fprintf(w, "\nstored %s\n", res.Key)
	case res.DryRun && res.Changed:
		fmt.Fprintln(w, "\ndry run: nothing written")
	}
	return nil
}

// canonicalConfig is what config set stores: the validated config in
// flannel's form with every default explicit (so Backend.Type is always
// "vxlan"), plus any keys weft does not know copied as written, indented.
func canonicalConfig(cfg *subnet.Config, in []byte) ([]byte, error) {
	norm, err := cfg.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	var out, user map[string]json.RawMessage
	if err := json.Unmarshal(norm, &out); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := json.Unmarshal(in, &user); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	var backend map[string]json.RawMessage
	if err := json.Unmarshal(out["Backend"], &backend); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	for _, k := range subnet.UnknownKeys(in) {
		if bk, ok := strings.CutPrefix(k, "Backend."); ok {
			backend[bk] = userBackend(user)[bk]
			continue
		}
		out[k] = user[k]
	}
	b, err := json.Marshal(backend)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	out["Backend"] = b
	res, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return append(res, '\n'), nil
}

// userBackend returns the user's Backend object, whatever the key's case.
func userBackend(user map[string]json.RawMessage) map[string]json.RawMessage {
	for k, v := range user {
		if strings.EqualFold(k, "Backend") {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(v, &m)
			return m
		}
	}
	return nil
}

// prettyJSON indents a JSON object with sorted keys for diffing; anything
// else (a broken stored value) is returned as is.
func prettyJSON(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return strings.TrimRight(string(b), "\n") + "\n"
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(b)
	}
	return string(out) + "\n"
}
