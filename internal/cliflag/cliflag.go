// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package cliflag holds the command-line pieces weftd and weftctl share:
// the etcd connection flags (named as flanneld's, so unit files and scripts
// carry over), a repeatable comma-list flag, and filling flags from the
// environment (WEFTD_<FLAG>, FLANNELD_<FLAG>, WEFTCTL_<FLAG>).
package cliflag

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/weft-net/weft/subnet/etcd"
)

// List is a string-list flag: each use may hold a comma-separated list and
// the flag may repeat. The first use replaces the default; later ones append.
type List struct {
	v        *[]string
	explicit bool
}

// NewList binds a List to p; *p holds the default.
func NewList(p *[]string) *List { return &List{v: p} }

func (l *List) String() string {
	if l == nil || l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

// Set implements flag.Value.
func (l *List) Set(s string) error {
	if !l.explicit {
		*l.v, l.explicit = nil, true
	}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

// EnvName is the environment variable for a flag: prefix + upper case,
// dashes become underscores (etcd-endpoints → WEFTD_ETCD_ENDPOINTS).
func EnvName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// FillFromEnv sets every flag in names (every flag when names is nil) that
// the command line did not set, from the first of the prefixed environment
// variables that is non-empty. A bad value names the variable.
func FillFromEnv(fs *flag.FlagSet, getenv func(string) string, names []string, prefixes ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if names == nil {
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	}
	for _, name := range names {
		if set[name] || fs.Lookup(name) == nil {
			continue
		}
		for _, prefix := range prefixes {
			k := EnvName(prefix, name)
			if v := getenv(k); v != "" {
				if err := fs.Set(name, v); err != nil {
					return fmt.Errorf("%s=%q: %w", k, v, err)
				}
				break
			}
		}
	}
	return nil
}

// DefaultEndpoint is where etcd is looked for when no endpoint is given.
const DefaultEndpoint = "http://127.0.0.1:2379"

// Etcd are the etcd connection flags. Register them, parse, then call
// LoadPassword before ClientConfig.
type Etcd struct {
	Endpoints    []string
	Prefix       string
	CertFile     string
	KeyFile      string
	CAFile       string
	Username     string
	Password     string
	PasswordFile string
}

// EtcdNames are the flags Register adds.
var EtcdNames = []string{
	"etcd-endpoints", "etcd-prefix", "etcd-certfile", "etcd-keyfile", "etcd-cafile",
	"etcd-username", "etcd-password", "etcd-password-file",
}

// Register adds the etcd flags to fs; envHint names the variable operators
// should prefer for the password (e.g. WEFTD_ETCD_PASSWORD).
func (e *Etcd) Register(fs *flag.FlagSet, envHint string) {
	e.Endpoints = []string{DefaultEndpoint}
	fs.Var(NewList(&e.Endpoints), "etcd-endpoints", "comma-separated etcd endpoints")
	fs.StringVar(&e.Prefix, "etcd-prefix", etcd.DefaultPrefix, "etcd prefix of the network config and leases")
	fs.StringVar(&e.CertFile, "etcd-certfile", "", "client certificate for etcd TLS")
	fs.StringVar(&e.KeyFile, "etcd-keyfile", "", "client key for etcd TLS")
	fs.StringVar(&e.CAFile, "etcd-cafile", "", "CA bundle to verify etcd's server certificate (enough on its own for TLS)")
	fs.StringVar(&e.Username, "etcd-username", "", "etcd user name")
	fs.StringVar(&e.Password, "etcd-password", "", "etcd password (prefer --etcd-password-file or "+envHint+"; never logged)")
	fs.StringVar(&e.PasswordFile, "etcd-password-file", "", "file holding the etcd password")
}

// LoadPassword reads --etcd-password-file, if given, into Password.
func (e *Etcd) LoadPassword() error {
	if e.PasswordFile == "" {
		return nil
	}
	b, err := os.ReadFile(e.PasswordFile)
	if err != nil {
		return fmt.Errorf("--etcd-password-file: %w", err)
	}
	e.Password = strings.TrimRight(string(b), "\r\n")
	return nil
}

// ClientConfig is the etcd client configuration the flags describe.
func (e *Etcd) ClientConfig() etcd.ClientConfig {
	return etcd.ClientConfig{
		Endpoints: e.Endpoints, CertFile: e.CertFile, KeyFile: e.KeyFile, CAFile: e.CAFile,
		Username: e.Username, Password: e.Password,
	}
}
