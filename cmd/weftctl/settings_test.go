// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// viewSettings runs config view -o json and returns setting -> "value from source".
func viewSettings(t *testing.T, args ...string) (map[string]string, resolved) {
	t.Helper()
	r := runArgs(append([]string{"config", "view", "-o", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("config view: exit %d, stderr %q", r.code, r.stderr)
	}
	var res resolved
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("config view -o json: %v\n%s", err, r.stdout)
	}
	out := map[string]string{}
	for _, v := range res.Values {
		out[v.Setting] = v.Value + " from " + v.Source
	}
	return out, res
}

// TestEnvPrecedence peels the places a setting comes from off one at a
// time: flag, WEFTCTL_, ETCDCTL_, WEFTD_, FLANNELD_, weftd's env file
// (WEFTD_ before FLANNELD_ there too), default.
func TestEnvPrecedence(t *testing.T) {
	envFile := writeFile(t, "weftd.env", `# weftd's settings
WEFTD_ETCD_ENDPOINTS=http://file-weftd:2379
FLANNELD_ETCD_ENDPOINTS=http://file-flanneld:2379
export FLANNELD_ETCD_PREFIX="/file/flanneld"
WEFTD_HEALTHZ_PORT='9401'
WEFTD_SUBNET_FILE=/run/flannel/subnet.env
this line is no setting
`)
	env := map[string]string{
		"WEFTCTL_ETCD_ENDPOINTS":  "http://weftctl:2379",
		"ETCDCTL_ENDPOINTS":       "http://etcdctl:2379",
		"WEFTD_ETCD_ENDPOINTS":    "http://weftd:2379",
		"FLANNELD_ETCD_ENDPOINTS": "http://flanneld:2379",
		"WEFTCTL_NODE_ENV":        envFile,
	}
	withEnv(t, env)
	steps := []struct {
		drop string // variable removed before this step ("" none)
		args []string
		want string
	}{
		{"", []string{"--etcd-endpoints", "http://flag:2379"}, "http://flag:2379 from flag --etcd-endpoints"},
		{"", nil, "http://weftctl:2379 from WEFTCTL_ETCD_ENDPOINTS"},
		{"WEFTCTL_ETCD_ENDPOINTS", nil, "http://etcdctl:2379 from ETCDCTL_ENDPOINTS"},
		{"ETCDCTL_ENDPOINTS", nil, "http://weftd:2379 from WEFTD_ETCD_ENDPOINTS"},
		{"WEFTD_ETCD_ENDPOINTS", nil, "http://flanneld:2379 from FLANNELD_ETCD_ENDPOINTS"},
		{"FLANNELD_ETCD_ENDPOINTS", nil, "http://file-weftd:2379 from " + envFile + ": WEFTD_ETCD_ENDPOINTS"},
		{"WEFTCTL_NODE_ENV", nil, "http://127.0.0.1:2379 from default"},
	}
	for _, s := range steps {
		delete(env, s.drop)
		got, _ := viewSettings(t, s.args...)
		if got["etcd-endpoints"] != s.want {
			t.Errorf("without %s: etcd-endpoints = %q, want %q", s.drop, got["etcd-endpoints"], s.want)
		}
	}
	env["WEFTCTL_NODE_ENV"] = envFile
	got, res := viewSettings(t)
	for k, want := range map[string]string{
		"etcd-prefix":  "/file/flanneld from " + envFile + ": FLANNELD_ETCD_PREFIX",
		"healthz-port": "9401 from " + envFile + ": WEFTD_HEALTHZ_PORT",
		"subnet-file":  "/run/flannel/subnet.env from " + envFile + ": WEFTD_SUBNET_FILE",
		"node-env":     envFile + " from WEFTCTL_NODE_ENV",
		"output":       "json from flag --output",
		"timeout":      "10s from default",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if res.NodeEnv != (nodeEnvState{Path: envFile, Status: "read"}) {
		t.Errorf("node env %+v", res.NodeEnv)
	}
	r := runArgs("config", "view", "-o", "table")
	golden(t, "config-view.txt", realign(strings.ReplaceAll(r.stdout, envFile, "<env-file>")))
	r = runArgs("config", "view", "-o", "yaml")
	golden(t, "config-view.yaml", strings.ReplaceAll(r.stdout, envFile, "<env-file>"))
	if !strings.Contains(r.stderr, envFile+":7: not KEY=VALUE, ignored") {
		t.Errorf("the bad line is not reported: %q", r.stderr)
	}
	// An env file named explicitly must exist.
	r = runArgs("config", "view", "--node-env", filepath.Join(t.TempDir(), "missing.env"))
	if r.code != 1 || !strings.Contains(r.stderr, "--node-env: open ") {
		t.Errorf("missing --node-env: exit %d, %q", r.code, r.stderr)
	}
}

// TestEtcdctlUser: ETCDCTL_USER is user[:password]; ETCDCTL_PASSWORD wins
// over the part after the colon; a password from a better place wins over
// a password file from a worse one.
func TestEtcdctlUser(t *testing.T) {
	env := map[string]string{"ETCDCTL_USER": "alice:s3cret"}
	withEnv(t, env)
	got, _ := viewSettings(t)
	if got["etcd-username"] != "alice from ETCDCTL_USER" || got["etcd-password"] != "(hidden) from ETCDCTL_USER" {
		t.Errorf("user %q password %q", got["etcd-username"], got["etcd-password"])
	}
	env["ETCDCTL_PASSWORD"] = "other"
	if got, _ := viewSettings(t); got["etcd-password"] != "(hidden) from ETCDCTL_PASSWORD" {
		t.Errorf("password %q", got["etcd-password"])
	}
	env["ETCDCTL_USER"] = "bob"
	delete(env, "ETCDCTL_PASSWORD")
	if got, _ := viewSettings(t); got["etcd-username"] != "bob from ETCDCTL_USER" || got["etcd-password"] != " from default" {
		t.Errorf("user %q password %q", got["etcd-username"], got["etcd-password"])
	}
	// The file is never read: the flag's password is from a better place.
	env["WEFTD_ETCD_PASSWORD_FILE"] = filepath.Join(t.TempDir(), "missing")
	if r := runArgs("config", "view", "--etcd-password", "pw"); r.code != 0 {
		t.Errorf("password flag with a WEFTD_ password file: exit %d, %q", r.code, r.stderr)
	}
	if r := runArgs("config", "view"); r.code != 1 || !strings.Contains(r.stderr, "--etcd-password-file") {
		t.Errorf("missing password file alone: exit %d, %q", r.code, r.stderr)
	}
}

// TestSecretsNeverPrinted: wherever the password comes from, config view
// shows that there is one, never what it is.
func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "hunter2-Zq9"
	envFile := writeFile(t, "weftd.env", "WEFTD_ETCD_PASSWORD="+secret+"\n")
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"flag":         {nil, []string{"--etcd-password", secret}},
		"WEFTCTL":      {map[string]string{"WEFTCTL_ETCD_PASSWORD": secret}, nil},
		"ETCDCTL_USER": {map[string]string{"ETCDCTL_USER": "root:" + secret}, nil},
		"ETCDCTL":      {map[string]string{"ETCDCTL_PASSWORD": secret}, nil},
		"WEFTD":        {map[string]string{"WEFTD_ETCD_PASSWORD": secret}, nil},
		"FLANNELD":     {map[string]string{"FLANNELD_ETCD_PASSWORD": secret}, nil},
		"env file":     {nil, []string{"--node-env", envFile}},
	} {
		t.Run(name, func(t *testing.T) {
			withEnv(t, tc.env)
			for _, format := range []string{"table", "wide", "json", "yaml"} {
				r := runArgs(append([]string{"config", "view", "-o", format}, tc.args...)...)
				if r.code != 0 || strings.Contains(r.stdout+r.stderr, secret) || !strings.Contains(r.stdout, "(hidden)") {
					t.Errorf("-o %s: exit %d, output shows the secret or not that there is one:\n%s%s", format, r.code, r.stdout, r.stderr)
				}
			}
		})
	}
}

func TestParseEnvFile(t *testing.T) {
	var warn strings.Builder
	got, err := parseEnvFile(strings.NewReader(`
# comment
; also a comment
WEFTD_A=plain
  WEFTD_B = "double quoted"
export WEFTD_C='single'
WEFTD_D=
WEFTD_E=a=b
bad line
"WEFTD_F"=x
`), "f.env", &warn)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"WEFTD_A": "plain", "WEFTD_B": "double quoted", "WEFTD_C": "single", "WEFTD_D": "", "WEFTD_E": "a=b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if w := warn.String(); !strings.Contains(w, "f.env:9:") || !strings.Contains(w, "f.env:10:") {
		t.Errorf("warnings %q", w)
	}
}

// TestNodeSettingsReachEtcd: on a node, weftctl reaches etcd the way weftd
// does — from ETCDCTL_ENDPOINTS alone, or from weftd's env file alone.
func TestNodeSettingsReachEtcd(t *testing.T) {
	e := newEnv(t)
	e.knownState()
	want := e.scrubTable(e.mustRun("leases"))
	hostPorts := make([]string, 0)
	for _, ep := range e.srv.Endpoints() {
		hostPorts = append(hostPorts, strings.TrimPrefix(ep, "http://")) // etcdctl's form: no scheme
	}
	withEnv(t, map[string]string{"ETCDCTL_ENDPOINTS": strings.Join(hostPorts, ","), "WEFTD_ETCD_PREFIX": e.prefix})
	if r := runArgs("leases"); r.code != 0 || e.scrubTable(r.stdout) != want {
		t.Errorf("ETCDCTL_ENDPOINTS: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	envFile := writeFile(t, "weftd.env", "WEFTD_ETCD_ENDPOINTS="+strings.Join(e.srv.Endpoints(), ",")+"\nFLANNELD_ETCD_PREFIX="+e.prefix+"\n")
	withEnv(t, map[string]string{"WEFTCTL_NODE_ENV": envFile})
	if r := runArgs("leases"); r.code != 0 || e.scrubTable(r.stdout) != want {
		t.Errorf("weftd's env file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// realign re-aligns a table whose cells changed width.
func realign(s string) string {
	var b strings.Builder
	tw := newTable(&b)
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		row(tw, cellSep.Split(strings.TrimRight(line, " "), -1)...)
	}
	_ = tw.Flush()
	return b.String()
}
