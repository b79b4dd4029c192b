// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"

	"github.com/sirupsen/logrus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/internal/cliflag"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
)

// envPrefix is the environment prefix of the shared flags: WEFTCTL_ETCD_ENDPOINTS etc.
const envPrefix = "WEFTCTL_"

// getenv is os.Getenv; a variable so tests can inject an environment.
var getenv = os.Getenv

// stdin is where confirmation prompts read the answer; tests replace it.
var stdin io.Reader = os.Stdin

// shared holds the flags every etcd-using command takes: the connection
// flags, named as weftd's, and the output format.
type shared struct {
	etcd   cliflag.Etcd
	output string
}

// newFlagSet returns a flag set for one command with the shared flags
// registered; usage prints synopsis, then the flags.
func newFlagSet(name, synopsis string, stderr io.Writer, s *shared) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if s != nil {
		s.register(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: weftctl %s\n\nflags:\n", synopsis)
		printFlags(stderr, fs)
		if s != nil {
			fmt.Fprintf(stderr, "\nThe etcd flags and --output can also be set as %s<FLAG> (upper case, dashes become underscores).\n", envPrefix)
		}
	}
	return fs
}

func printFlags(w io.Writer, fs *flag.FlagSet) {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		dash := "--"
		if len(n) == 1 {
			dash = "-"
		}
		fmt.Fprintf(w, "  %s%-22s %s%s\n", dash, n, f.Usage, def)
	}
}

func (s *shared) register(fs *flag.FlagSet) {
	s.etcd.Register(fs, "WEFTCTL_ETCD_PASSWORD")
	fs.StringVar(&s.output, "output", "table", "output format: table, json or yaml")
	fs.StringVar(&s.output, "o", "table", "shorthand for --output")
}

// parseArgs parses flags anywhere among the arguments (weftctl lease show
// 10.244.3.0/24 -o json) and returns the positional ones. Parse errors are
// already printed by the flag set; they become exit status 2 (0 for --help).
func parseArgs(fs *flag.FlagSet, args []string, s *shared) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitError{0}
			}
			return nil, exitError{2}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if s == nil {
		return pos, nil
	}
	if err := s.fromEnv(fs); err != nil {
		return nil, err
	}
	return pos, checkFormat(s.output)
}

// fromEnv fills every shared flag not given on the command line from
// WEFTCTL_<FLAG>, then reads the password file.
func (s *shared) fromEnv(fs *flag.FlagSet) error {
	names := append([]string(nil), cliflag.EtcdNames...)
	oSet := false
	fs.Visit(func(f *flag.Flag) { oSet = oSet || f.Name == "o" })
	if !oSet { // -o is --output's shorthand: either given on the command line wins
		names = append(names, "output")
	}
	if err := cliflag.FillFromEnv(fs, getenv, names, envPrefix); err != nil {
		return err
	}
	return s.etcd.LoadPassword()
}

// conn is an open etcd connection and the Registry over it.
type conn struct {
	client *clientv3.Client
	reg    *etcd.Registry
}

func (c *conn) Close() { _ = c.client.Close() }

// connect opens the etcd client. Registry warnings (a malformed lease
// skipped) go to stderr.
func (s *shared) connect(stderr io.Writer) (*conn, error) {
	cl, err := etcd.NewClient(s.etcd.ClientConfig())
	if err != nil {
		return nil, err
	}
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetLevel(logrus.WarnLevel)
	log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	return &conn{client: cl, reg: etcd.New(cl, s.etcd.Prefix, log)}, nil
}

// open is how every etcd command starts: parse the flags, check that
// exactly nArgs positional arguments were given, connect.
func (s *shared) open(fs *flag.FlagSet, args []string, nArgs int, what string, stderr io.Writer) ([]string, *conn, error) {
	pos, err := parseArgs(fs, args, s)
	if err != nil {
		return nil, nil, err
	}
	if err := wantArgs(pos, nArgs, what); err != nil {
		return nil, nil, err
	}
	c, err := s.connect(stderr)
	if err != nil {
		return nil, nil, err
	}
	return pos, c, nil
}

// subnetLease resolves a SUBNET argument (CIDR or key form) to its lease.
func (c *conn) subnetLease(ctx context.Context, arg string) (netip.Prefix, subnet.Lease, error) {
	sn, err := parseSubnetArg(arg)
	if err != nil {
		return sn, subnet.Lease{}, err
	}
	l, err := c.reg.GetLease(ctx, sn)
	if err != nil {
		return sn, l, notFoundHint(err, sn)
	}
	return sn, l, nil
}

// wantArgs checks the number of positional arguments.
func wantArgs(pos []string, n int, what string) error {
	if len(pos) != n {
		if n == 0 {
			return fmt.Errorf("unexpected argument %q", pos[0])
		}
		return fmt.Errorf("want %s, got %d arguments (see --help)", what, len(pos))
	}
	return nil
}
