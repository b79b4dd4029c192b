// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// tenv is one test's etcd key space and a way to run weftctl against it.
type tenv struct {
	t      *testing.T
	srv    *etcdtest.Server
	prefix string
	reg    *etcd.Registry
}

// newEnv gives t its own prefix on an etcd server started for the test.
func newEnv(t *testing.T) *tenv {
	t.Helper()
	srv := etcdtest.Start(t)
	log, _ := test.NewNullLogger()
	prefix := "/weftctl-test/" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return &tenv{t: t, srv: srv, prefix: prefix, reg: etcd.New(srv.Client(t), prefix, log)}
}

// result is the outcome of one weftctl invocation.
type result struct {
	code           int
	stdout, stderr string
}

// run calls weftctl's run() with the connection flags of e appended.
func (e *tenv) run(args ...string) result {
	e.t.Helper()
	return e.runCtx(context.Background(), args...)
}

func (e *tenv) runCtx(ctx context.Context, args ...string) result {
	var out, errb bytes.Buffer
	args = append(args, "--etcd-endpoints", strings.Join(e.srv.Endpoints(), ","), "--etcd-prefix", e.prefix)
	code := run(ctx, args, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustRun runs weftctl and fails the test unless it exits 0.
func (e *tenv) mustRun(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("weftctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// wantFail runs weftctl, wants exit 1 and stderr containing every part.
func (e *tenv) wantFail(parts []string, args ...string) result {
	e.t.Helper()
	return e.wantExit(exitFailure, parts, args...)
}

// wantUsage runs weftctl, wants exit 2 (usage) and stderr containing every part.
func (e *tenv) wantUsage(parts []string, args ...string) result {
	e.t.Helper()
	return e.wantExit(exitUsage, parts, args...)
}

func (e *tenv) wantExit(code int, parts []string, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	if r.code != code {
		e.t.Fatalf("weftctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	for _, p := range parts {
		if !strings.Contains(r.stderr, p) {
			e.t.Errorf("weftctl %s: stderr lacks %q:\n%s", strings.Join(args, " "), p, r.stderr)
		}
	}
	return r
}

func (e *tenv) putConfig(raw string) {
	e.t.Helper()
	if err := e.reg.PutConfig(context.Background(), []byte(raw)); err != nil {
		e.t.Fatal(err)
	}
}

// lease creates a lease (ttl 0: a reservation); mac "" means no BackendData.
func (e *tenv) lease(key, ip, mac string, ttl time.Duration) subnet.Lease {
	e.t.Helper()
	sn, sn6, err := subnet.ParseSubnetKey(key)
	if err != nil {
		e.t.Fatal(err)
	}
	l := subnet.Lease{Subnet: sn, IPv6Subnet: sn6, Attrs: subnet.LeaseAttrs{PublicIP: mustAddr(e.t, ip)}}
	if mac != "" {
		l.Attrs.BackendType = subnet.BackendVXLAN
		l.Attrs.BackendData = json.RawMessage(`{"VNI":1,"VtepMAC":"` + mac + `"}`)
	}
	l, err = e.reg.CreateLease(context.Background(), l, ttl)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

const testConfig = `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`

// knownState is the fixture most golden files show: two live leases, a
// reservation a node uses and one no node has taken yet.
func (e *tenv) knownState() {
	e.putConfig(testConfig)
	e.lease("10.244.1.0-24", "198.18.0.1", "0a:00:00:00:00:01", 24*time.Hour)
	e.lease("10.244.2.0-24", "198.18.0.2", "0a:00:00:00:00:02", 24*time.Hour)
	e.lease("10.244.3.0-24", "198.18.0.3", "0a:00:00:00:00:03", 0)
	e.lease("10.244.10.0-24", "198.18.0.10", "", 0)
}

var scrubbers = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\b[0-9a-f]{10,16}\b`), "<etcd-lease>"},
	{regexp.MustCompile(`"expiresIn": "[0-9hms.]+"`), `"expiresIn": "<ttl>"`},
	{regexp.MustCompile(`expiresIn: [0-9hms.]+`), `expiresIn: <ttl>`},
	{regexp.MustCompile(`"ttlSeconds": \d+`), `"ttlSeconds": <ttl>`},
	{regexp.MustCompile(`ttlSeconds: \d+`), `ttlSeconds: <ttl>`},
	{regexp.MustCompile(`\b\d+h\d\dm\b|\b\d+m\d\ds\b`), "<ttl>"},
	{regexp.MustCompile(`"modRevision": \d+`), `"modRevision": <rev>`},
}

// scrub replaces what differs between runs (etcd lease IDs, remaining
// TTLs, revisions, the test's prefix) with placeholders.
func (e *tenv) scrub(s string) string {
	s = strings.ReplaceAll(s, e.prefix, "<prefix>")
	for _, sc := range scrubbers {
		s = sc.re.ReplaceAllString(s, sc.repl)
	}
	return s
}

var cellSep = regexp.MustCompile(`\s{2,}`)

// scrubTable scrubs a table and re-aligns its columns, so placeholders of
// another width keep it aligned.
func (e *tenv) scrubTable(s string) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		cells := cellSep.Split(strings.TrimRight(line, " "), -1)
		for i := range cells {
			cells[i] = e.scrub(cells[i])
		}
		row(tw, cells...)
	}
	_ = tw.Flush()
	return b.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run `go test ./cmd/weftctl -update` to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; `go test ./cmd/weftctl -update` rewrites it):\n%s", path, diff)
	}
}

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
