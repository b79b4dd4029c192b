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
	"strings"

	"github.com/weft-net/weft/subnet"
)

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "get":
			return runConfigGet(ctx, args[1:], stdout, stderr)
		case "set":
			return runConfigSet(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "usage: weftctl config get [--raw] | weftctl config set -f net-conf.json [--dry-run] [--force]")
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return exitError{2}
	}
	return fmt.Errorf("unknown subcommand %q (want get or set)", args[0])
}

func runConfigGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s shared
	fs := newFlagSet("config get", "config get [--raw] [flags]", stderr, &s)
	raw := fs.Bool("raw", false, "print the stored value exactly as written")
	_, c, err := s.open(fs, args, 0, "", stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	val, _, err := c.reg.RawConfig(ctx)
	if errors.Is(err, subnet.ErrConfigNotFound) {
		return fmt.Errorf("%w; create it with `weftctl config set -f net-conf.json`", err)
	}
	if err != nil {
		return err
	}
	cfg, perr := subnet.ParseConfig(val)
	if *raw || perr != nil {
		fmt.Fprintf(stdout, "%s\n", strings.TrimRight(string(val), "\n"))
		if perr != nil {
			return fmt.Errorf("the config stored at %s is invalid (weftd will not start with it):\n%w", c.reg.ConfigKey(), perr)
		}
		return nil
	}
	if unknown := subnet.UnknownKeys(val); len(unknown) > 0 {
		fmt.Fprintf(stderr, "note: keys weft does not know (ignored): %s\n", strings.Join(unknown, ", "))
	}
	leases, _, err := c.reg.ListLeases(ctx)
	if err != nil {
		return err
	}
	return emit(stdout, s.output, cfg, func(w io.Writer) error { return configTable(w, cfg, leases) })
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
	Key     string         `json:"key"`
	Changed bool           `json:"changed"`
	Written bool           `json:"written"`
	DryRun  bool           `json:"dryRun"`
	Diff    string         `json:"diff"`
	Orphans []orphanLease  `json:"orphans"`
	Config  *subnet.Config `json:"config"`
}

func runConfigSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s shared
	fs := newFlagSet("config set", "config set -f net-conf.json [--dry-run] [--force] [flags]", stderr, &s)
	file := fs.String("f", "", "the new network config, a net-conf.json file (- for stdin)")
	dryRun := fs.Bool("dry-run", false, "show the change and what it would orphan; write nothing")
	force := fs.Bool("force", false, "store the config even though leases would no longer fit it")
	pos, err := parseArgs(fs, args, &s)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, ""); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("-f FILE is required (the new net-conf.json, or - for stdin)")
	}
	in, cfg, err := readConfigFile(*file, stderr)
	if err != nil {
		return err
	}
	out, err := canonicalConfig(cfg, in)
	if err != nil {
		return err
	}
	c, err := s.connect(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	old, rev, err := c.reg.RawConfig(ctx)
	if err != nil && !errors.Is(err, subnet.ErrConfigNotFound) {
		return err
	}
	leases, _, err := c.reg.ListLeases(ctx)
	if err != nil {
		return err
	}
	res := setResult{Key: c.reg.ConfigKey(), DryRun: *dryRun, Config: cfg}
	res.Orphans = orphaned(old, cfg, leases)
	res.Diff = lineDiff(prettyJSON(old), prettyJSON(out), c.reg.ConfigKey()+" (in etcd)", *file+" (as it would be stored)")
	res.Changed = res.Diff != ""
	blocked := len(res.Orphans) > 0 && !*force
	if res.Changed && !*dryRun && !blocked {
		if err := c.reg.PutConfigAt(ctx, out, rev); err != nil {
			return err
		}
		res.Written = true
	}
	if err := emit(stdout, s.output, res, func(w io.Writer) error { return setTable(w, res) }); err != nil {
		return err
	}
	if blocked {
		return fmt.Errorf("refusing to store the config: it would orphan %d lease(s) (listed above): their nodes would "+
			"take new subnets and their pods lose their addresses; fix the config, or pass --force", len(res.Orphans))
	}
	return nil
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
