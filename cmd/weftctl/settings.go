// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/weft-net/weft/internal/cliflag"
)

// defaultNodeEnv is where weftd's systemd unit reads its settings
// (dist/systemd/weftd.service: EnvironmentFile=-/etc/weft/weftd.env); a
// variable so tests can point it elsewhere.
var defaultNodeEnv = "/etc/weft/weftd.env"

// setting is one value weftctl resolves, and where it may come from.
type setting struct {
	name    string   // flag name
	etcdctl []string // ETCDCTL_* variables that give it, in order
	weftd   bool     // weftd has the same flag: WEFTD_*, FLANNELD_*, the env file
	secret  bool
}

// settingsTable lists every resolved setting in the order config view
// prints them. A setting applies to a command only if it has the flag.
var settingsTable = []setting{
	{name: "etcd-endpoints", etcdctl: []string{"ETCDCTL_ENDPOINTS"}, weftd: true},
	{name: "etcd-prefix", weftd: true},
	{name: "etcd-cafile", etcdctl: []string{"ETCDCTL_CACERT"}, weftd: true},
	{name: "etcd-certfile", etcdctl: []string{"ETCDCTL_CERT"}, weftd: true},
	{name: "etcd-keyfile", etcdctl: []string{"ETCDCTL_KEY"}, weftd: true},
	{name: "etcd-username", etcdctl: []string{"ETCDCTL_USER"}, weftd: true},
	{name: "etcd-password", etcdctl: []string{"ETCDCTL_PASSWORD", "ETCDCTL_USER"}, weftd: true, secret: true},
	{name: "etcd-password-file", weftd: true},
	{name: "output"},
	{name: "timeout"},
	{name: "node-env"},
	// doctor's view of the node, named as weftd's flags.
	{name: "subnet-file", weftd: true},
	{name: "public-ip", weftd: true},
	{name: "healthz-ip", weftd: true},
	{name: "healthz-port", weftd: true},
	{name: "subnet-lease-renew-margin", weftd: true},
}

// Source ranks, best first: the order in which places are searched.
const (
	rankFlag = iota
	rankWeftctl
	rankEtcdctl
	rankWeftd
	rankFlanneld
	rankEnvFile
	rankDefault
)

// resolvedValue is one setting's value and its origin.
type resolvedValue struct {
	Setting string `json:"setting"`
	Value   string `json:"value"`
	Source  string `json:"source"`
	rank    int
}

// resolved is the outcome of resolving every setting of a command.
type resolved struct {
	Values  []resolvedValue `json:"settings"`
	NodeEnv nodeEnvState    `json:"nodeEnv"`
}

// nodeEnvState says what became of weftd's env file.
type nodeEnvState struct {
	Path   string `json:"path"`
	Status string `json:"status"` // read, absent, unreadable: ..., not needed
}

func (r *resolved) lookup(name string) (resolvedValue, bool) {
	for _, v := range r.Values {
		if v.Setting == name {
			return v, true
		}
	}
	return resolvedValue{}, false
}

// describe is "VALUE (from SOURCE)" for messages; secrets never appear.
func (r *resolved) describe(name string) string {
	v, ok := r.lookup(name)
	if !ok {
		return "--" + name
	}
	return fmt.Sprintf("--%s %s (from %s)", name, v.Value, v.Source)
}

// envFile is weftd's env file, read on first use.
type envFile struct {
	path     string
	explicit bool
	loaded   bool
	vars     map[string]string
	state    string
	err      error
	warn     io.Writer
}

func (e *envFile) get(name string) (string, bool) {
	if !e.loaded {
		e.load()
	}
	v, ok := e.vars[name]
	return v, ok && v != ""
}

func (e *envFile) load() {
	e.loaded = true
	if e.path == "" {
		e.state = "none"
		return
	}
	f, err := os.Open(e.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !e.explicit:
		e.state = "absent"
		return
	case err != nil:
		e.state = "unreadable: " + err.Error()
		if e.explicit {
			e.err = fmt.Errorf("--node-env: %w", err)
			return
		}
		fmt.Fprintf(e.warn, "weftctl: note: weftd's env file is unreadable, its settings are not used: %v\n", err)
		return
	}
	defer f.Close()
	e.vars, err = parseEnvFile(f, e.path, e.warn)
	if err != nil {
		e.state, e.err = "unreadable: "+err.Error(), err
		return
	}
	e.state = "read"
}

// parseEnvFile reads a systemd EnvironmentFile: KEY=VALUE lines, comments
// (# or ;) and blank lines, optional "export ", values in single or double
// quotes. A line it cannot read is reported (file:line) and skipped, as
// systemd skips it.
func parseEnvFile(r io.Reader, name string, warn io.Writer) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			fmt.Fprintf(warn, "weftctl: note: %s:%d: not KEY=VALUE, ignored\n", name, n)
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vars[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return vars, nil
}

// resolve fills every setting the command has and the command line did
// not give, from the first place that has it, and records the origins.
func (a *app) resolve(flags *pflag.FlagSet) error {
	ef := &envFile{path: a.nodeEnv, warn: a.stderr}
	if f := flags.Lookup("node-env"); f != nil && f.Changed {
		ef.explicit = true
	} else if v := getenv(cliflag.EnvName("WEFTCTL_", "node-env")); v != "" {
		ef.path, ef.explicit = v, true
		a.nodeEnv = v
	}
	r := &resolved{}
	for _, s := range settingsTable {
		f := flags.Lookup(s.name)
		if f == nil {
			continue
		}
		v, err := resolveOne(flags, f, s, ef)
		if err != nil {
			return err
		}
		if s.secret && v.Value != "" {
			v.Value = "(hidden)"
		}
		r.Values = append(r.Values, v)
	}
	if ef.err != nil {
		return ef.err
	}
	r.NodeEnv = nodeEnvState{Path: ef.path, Status: ef.state}
	if !ef.loaded {
		r.NodeEnv.Status = "not needed: every setting was found before it"
	}
	a.settings = r
	return a.finishSettings()
}

// resolveOne finds one setting's value and sets the flag to it.
func resolveOne(flags *pflag.FlagSet, f *pflag.Flag, s setting, ef *envFile) (resolvedValue, error) {
	v := resolvedValue{Setting: s.name}
	if f.Changed {
		v.Value, v.Source, v.rank = f.Value.String(), "flag --"+s.name, rankFlag
		return v, nil
	}
	type place struct {
		key, source string
		rank        int
		get         func(string) (string, bool)
	}
	env := func(k string) (string, bool) { x := getenv(k); return x, x != "" }
	places := []place{{cliflag.EnvName("WEFTCTL_", s.name), "", rankWeftctl, env}}
	for _, k := range s.etcdctl {
		places = append(places, place{k, "", rankEtcdctl, etcdctlVar(s.name, env)})
	}
	if s.weftd {
		wk, fk := cliflag.EnvName("WEFTD_", s.name), cliflag.EnvName("FLANNELD_", s.name)
		places = append(places, place{wk, "", rankWeftd, env}, place{fk, "", rankFlanneld, env},
			place{wk, ef.path + ": " + wk, rankEnvFile, ef.get}, place{fk, ef.path + ": " + fk, rankEnvFile, ef.get})
	}
	for _, p := range places {
		val, ok := p.get(p.key)
		if !ok {
			continue
		}
		if err := flags.Set(s.name, val); err != nil {
			return v, fmt.Errorf("%s=%q: %w", p.key, val, err)
		}
		v.Value, v.Source, v.rank = f.Value.String(), p.key, p.rank
		if p.source != "" {
			v.Source = p.source
		}
		return v, nil
	}
	v.Value, v.Source, v.rank = f.Value.String(), "default", rankDefault
	return v, nil
}

// etcdctlVar reads an ETCDCTL_* variable for setting name. ETCDCTL_USER
// is user[:password], as etcdctl reads it: the user name gets the part
// before the colon, the password the part after (when there is one).
func etcdctlVar(name string, env func(string) (string, bool)) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env(k)
		if !ok || k != "ETCDCTL_USER" {
			return v, ok
		}
		user, pass, hasPass := strings.Cut(v, ":")
		if name == "etcd-password" {
			return pass, hasPass && pass != ""
		}
		return user, user != ""
	}
}

// finishSettings settles what depends on several settings: a password
// and a password file from different places (the better place wins, the
// file on a tie), the file's content, and the output format.
func (a *app) finishSettings() error {
	pw, okPw := a.settings.lookup("etcd-password")
	pf, okPf := a.settings.lookup("etcd-password-file")
	if okPw && okPf && a.etcd.Password != "" && a.etcd.PasswordFile != "" && pw.rank < pf.rank {
		a.etcd.PasswordFile = ""
	}
	if err := a.etcd.LoadPassword(); err != nil {
		return err
	}
	return checkFormat(a.output)
}
