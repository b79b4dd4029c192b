// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/weft-net/weft/subnet"
)

func TestLeases(t *testing.T) {
	e := newEnv(t)
	empty := e.mustRun("leases")
	golden(t, "leases-empty.txt", empty)
	if got := e.mustRun("leases", "-o", "json"); got != "[]\n" {
		t.Errorf("leases -o json with no lease = %q, want []", got)
	}
	e.knownState()
	golden(t, "leases.txt", e.scrubTable(e.mustRun("leases")))
	js := e.mustRun("leases", "-o", "json")
	golden(t, "leases.json", e.scrub(js))
	var rows []leaseRow
	if err := json.Unmarshal([]byte(js), &rows); err != nil {
		t.Fatal(err)
	}
	var fromYAML []leaseRow
	if err := yaml.Unmarshal([]byte(e.mustRun("leases", "--output", "yaml")), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rows, fromYAML, cmp.AllowUnexported(leaseRow{}), ignoreTTL()); diff != "" {
		t.Errorf("yaml and json differ (-json +yaml):\n%s", diff)
	}
	golden(t, "leases.yaml", e.scrub(e.mustRun("leases", "-o", "yaml")))
	golden(t, "leases-wide.txt", e.scrubTable(e.mustRun("leases", "-o", "wide")))
	for _, r := range rows {
		if !r.Reserved && (r.TTLSeconds <= 0 || r.TTLSeconds > 24*3600) {
			t.Errorf("lease %s: ttlSeconds %d, want the remaining TTL of a 24h lease", r.Subnet, r.TTLSeconds)
		}
	}
}

// ignoreTTL ignores the remaining TTL, which counts down between two calls.
func ignoreTTL() cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		s := p.String()
		return strings.HasSuffix(s, "ExpiresIn") || strings.HasSuffix(s, "TTLSeconds") || strings.HasSuffix(s, "ttl")
	}, cmp.Ignore())
}

func TestLeasesDualStack(t *testing.T) {
	e := newEnv(t)
	e.putConfig(`{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`)
	e.lease("10.244.1.0-24&fd00:10:244:1::-64", "198.18.0.1", "0a:00:00:00:00:01", time.Hour)
	e.lease("10.244.2.0-24", "198.18.0.2", "0a:00:00:00:00:02", 0)
	golden(t, "leases-dual-stack.txt", e.scrubTable(e.mustRun("leases")))
}

func TestLeasesExpiredBetweenListAndLookup(t *testing.T) {
	r := leaseRow{}
	if err := r.setTTL(0, subnet.ErrLeaseExpired); err != nil || r.ExpiresIn != expiresExpired || r.expiresCell() != "expired" {
		t.Errorf("setTTL(ErrLeaseExpired) = %v, row %+v", err, r)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) waitFor(t *testing.T, sub string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.String(), sub) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q; got:\n%s", sub, s.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLeasesWatch(t *testing.T) {
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t)
			e.putConfig(testConfig)
			e.lease("10.244.1.0-24", "198.18.0.1", "0a:00:00:00:00:01", time.Hour)
			ctx, cancel := context.WithCancel(context.Background())
			var out, errb syncBuffer
			done := make(chan int)
			go func() {
				args := []string{"leases", "--watch", "-o", format, "--etcd-endpoints", e.srv.Endpoints()[0], "--etcd-prefix", e.prefix}
				done <- run(ctx, args, &out, &errb)
			}()
			out.waitFor(t, "10.244.1.0/24")
			l := e.lease("10.244.2.0-24", "198.18.0.2", "0a:00:00:00:00:02", time.Hour)
			out.waitFor(t, "10.244.2.0/24")
			if err := e.reg.DeleteLease(context.Background(), l); err != nil {
				t.Fatal(err)
			}
			out.waitFor(t, eventRemoved)
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("leases --watch exit %d: %s", code, errb.String())
			}
			got := watchSummary(t, format, out.String())
			want := []string{"listed 10.244.1.0/24", "added 10.244.2.0/24", "removed 10.244.2.0/24"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("watch events (-want +got):\n%s\noutput:\n%s", diff, out.String())
			}
			// The removal names the node that left, not just its subnet.
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, "198.18.0.2") || !strings.Contains(last, "0a:00:00:00:00:02") {
				t.Errorf("removal line %q lacks the node's public IP and VTEP MAC", last)
			}
		})
	}
}

// watchSummary reduces watch output to "event subnet" lines.
func watchSummary(t *testing.T, format, s string) []string {
	var got []string
	for i, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if format == formatJSON {
			var ev watchEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			got = append(got, ev.Event+" "+ev.Lease.Subnet)
			continue
		}
		f := strings.Fields(line)
		if i == 0 {
			if f[0] != "EVENT" {
				t.Errorf("first line %q is not the header", line)
			}
			continue
		}
		got = append(got, f[0]+" "+f[1])
	}
	return got
}

// TestLeasesRejected: stray keys show why every weftd refuses to program
// them (the global stage of admission), in the table and in JSON.
func TestLeasesRejected(t *testing.T) {
	e := newEnv(t)
	e.putConfig(testConfig)
	e.lease("10.244.1.0-24", "198.18.0.1", "0a:00:00:00:00:01", time.Hour)
	e.lease("10.99.0.0-24", "198.19.0.11", "aa:bb:cc:dd:ee:11", time.Hour)
	e.lease("10.244.2.0-25", "198.19.0.12", "aa:bb:cc:dd:ee:12", time.Hour)
	var rows []leaseRow
	if err := json.Unmarshal([]byte(e.mustRun("leases", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"10.244.1.0/24": "", "10.99.0.0/24": "outside-network", "10.244.2.0/25": "subnet-length"}
	for _, r := range rows {
		got := ""
		if r.Rejected != nil {
			got = r.Rejected.Reason
		}
		if got != want[r.Subnet] {
			t.Errorf("lease %s: rejected %q, want %q", r.Subnet, got, want[r.Subnet])
		}
	}
	if table := e.mustRun("leases"); !strings.Contains(table, "no: outside-network") {
		t.Errorf("table does not show the rejection:\n%s", table)
	}
}
