// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/weft-net/weft/internal/cliflag"
	"github.com/weft-net/weft/internal/version"
)

// defaultTimeout bounds a command's etcd requests unless --timeout says otherwise.
const defaultTimeout = 10 * time.Second

// app is one weftctl invocation: its streams, the global flags and, once a
// command runs, the resolved settings.
type app struct {
	stdout, stderr io.Writer

	etcd    cliflag.Etcd
	output  string
	timeout time.Duration
	nodeEnv string

	settings *resolved
}

const rootLong = `weftctl sets up, inspects and repairs a weft network: the network config, the
leases and reservations in etcd, and (doctor) one node's kernel state.

Settings are taken from the first place that has them: the flags, WEFTCTL_<FLAG>,
ETCDCTL_ENDPOINTS/CACERT/CERT/KEY/USER/PASSWORD, WEFTD_<FLAG>, FLANNELD_<FLAG>, then
weftd's env file (--node-env). So on a node, weftctl reaches etcd the way weftd does.
` + "`weftctl config view`" + ` shows each value and where it came from.

Global flags may come before or after the command. Exit status: 0 ok, 1 failure or
problems found, 2 usage error.`

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "weftctl",
		Short:         "the weft operator's CLI",
		Long:          rootLong,
		Version:       version.Get().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE:          showHelp,
	}
	root.SetVersionTemplate(version.Line("weftctl") + "\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	a.addGlobalFlags(root.PersistentFlags())
	root.AddCommand(a.configCmd(), a.leasesCmd(), a.leaseCmd(), a.reserveCmd(), a.unreserveCmd(),
		a.doctorCmd(), a.installCNICmd(), versionCmd(), movedDemoCmd())
	// The completion scripts are written to the writer set at this point.
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Short = "write a shell completion script (bash, zsh, fish or powershell)"
			c.Args, c.RunE = noArgs, showHelp // an unknown shell is a usage error
		}
	}
	// -o is a global flag: its completion is registered where it is defined.
	_ = root.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{formatTable, formatWide, formatJSON, formatYAML}, cobra.ShellCompDirectiveNoFileComp
	})
	return root
}

func (a *app) addGlobalFlags(fs *pflag.FlagSet) {
	// The etcd flags are weftd's (std flag): the same names, defaults and help.
	gfs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	a.etcd.Register(gfs, "WEFTCTL_ETCD_PASSWORD")
	fs.AddGoFlagSet(gfs)
	if f := fs.Lookup("etcd-endpoints"); f != nil {
		f.Value = typedValue{f.Value, "urls"}
	}
	fs.StringVarP(&a.output, "output", "o", formatTable, "output format: table, wide, json or yaml")
	fs.DurationVar(&a.timeout, "timeout", defaultTimeout, "time limit of the command's etcd requests (not of a --watch stream)")
	fs.StringVar(&a.nodeEnv, "node-env", defaultNodeEnv, "weftd's env file, the last place settings are read from")
	_ = cobra.MarkFlagFilename(fs, "node-env")
	for _, n := range []string{"etcd-certfile", "etcd-keyfile", "etcd-cafile", "etcd-password-file"} {
		_ = cobra.MarkFlagFilename(fs, n)
	}
}

// action wraps a command's code: it resolves the settings first and marks
// what the code returns as a run-time failure (exit 1), not a usage error.
func (a *app) action(f func(ctx context.Context, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := a.resolve(cmd.Flags()); err != nil {
			return runError{err}
		}
		err := f(cmd.Context(), cmd, args)
		var ue usageError
		var ee exitError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ue), errors.As(err, &ee):
			return err
		}
		return runError{err}
	}
}

// noArgs refuses positional arguments as a usage error naming the first
// (an unknown sub-command of a command group).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usagef("%s", msg)
	}
	return usagef("unexpected argument %q", args[0])
}

// showHelp is the action of a command group called without a command.
func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// typedValue names a flag's value in --help ("--etcd-endpoints urls").
type typedValue struct {
	pflag.Value
	typ string
}

func (v typedValue) Type() string { return v.typ }

// textVar defines a flag parsed by the value's own UnmarshalText (netip's
// addresses and prefixes), named typ in the help: pflag's TextVar alone
// would show no type.
func textVar[T any, P interface {
	*T
	encoding.TextMarshaler
	encoding.TextUnmarshaler
}](fs *pflag.FlagSet, p P, name, typ, usage string) {
	var zero T
	fs.TextVar(p, name, P(&zero), usage)
	f := fs.Lookup(name)
	f.Value = typedValue{f.Value, typ}
}

// exactArgs wants n positional arguments, described by what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("want %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version (as --version does)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.Line("weftctl"))
			return err
		},
	}
}

// movedDemoCmd points a `weftctl demo` habit at its new home.
func movedDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "demo",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return usagef("the demo moved out of weftctl: run `make demo` or `bin/weft-demo`")
		},
	}
}

// commandName is the command path without the program name, for messages.
func commandName(cmd *cobra.Command) string {
	if cmd == nil {
		return ""
	}
	return strings.TrimPrefix(cmd.CommandPath(), "weftctl ")
}
