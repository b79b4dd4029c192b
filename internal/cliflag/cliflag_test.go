// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cliflag

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestListReplacesDefaultThenAppends(t *testing.T) {
	v := []string{"default"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(NewList(&v), "l", "")
	if err := fs.Parse([]string{"-l", "a,b", "--l", " c ,,d"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(v, " "); got != "a b c d" {
		t.Errorf("list %q, want %q", got, "a b c d")
	}
}

func TestFillFromEnvPrecedence(t *testing.T) {
	var e Etcd
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.Register(fs, "X_ETCD_PASSWORD")
	var other string
	fs.StringVar(&other, "other", "", "")
	if err := fs.Parse([]string{"--etcd-prefix", "/cli"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"A_ETCD_PREFIX": "/env", "A_ETCD_ENDPOINTS": "http://a:1,http://b:2", "B_ETCD_ENDPOINTS": "http://ignored:3",
		"B_ETCD_USERNAME": "bob", "A_OTHER": "not in names",
	}
	if err := FillFromEnv(fs, func(k string) string { return env[k] }, EtcdNames, "A_", "B_"); err != nil {
		t.Fatal(err)
	}
	if e.Prefix != "/cli" || strings.Join(e.Endpoints, ",") != "http://a:1,http://b:2" || e.Username != "bob" || other != "" {
		t.Errorf("got prefix %s endpoints %v user %s other %q", e.Prefix, e.Endpoints, e.Username, other)
	}
	if e.ClientConfig().Username != "bob" {
		t.Error("ClientConfig lost the user name")
	}
}

func TestFillFromEnvBadValueNamesVariable(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("n", 0, "")
	err := FillFromEnv(fs, func(string) string { return "x" }, nil, "P_")
	if err == nil || !strings.Contains(err.Error(), `P_N="x"`) {
		t.Errorf("error %v should name P_N", err)
	}
}

func TestLoadPasswordMissingFile(t *testing.T) {
	e := Etcd{PasswordFile: "/nonexistent/pw"}
	if err := e.LoadPassword(); err == nil || !strings.Contains(err.Error(), "--etcd-password-file") {
		t.Errorf("error %v should name the flag", err)
	}
}
