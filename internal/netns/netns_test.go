// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netns_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/weft-net/weft/internal/netns"
	"github.com/weft-net/weft/internal/nstest"
)

func exists(name string) bool {
	_, err := os.Stat(netns.Path(name))
	return err == nil
}

// TestSweepOrphans: a namespace recorded with a dead owner is deleted;
// one of a live owner, and one Create did not make, are left alone.
func TestSweepOrphans(t *testing.T) {
	nstest.RequireRoot(t)
	netns.OwnerDir = t.TempDir()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	mine, orphan, foreign := "wt-sweep-mine-"+id, "wt-sweep-orphan-"+id, "wt-sweep-foreign-"+id
	t.Cleanup(func() {
		for _, n := range []string{mine, orphan, foreign} {
			_ = netns.Delete(n)
		}
	})
	if err := netns.Create(mine); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{orphan, foreign} {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", n, err, out)
		}
	}
	// A PID that was ours and is gone: a child that has exited and been
	// waited for.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(netns.OwnerDir, orphan), []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	gone, err := netns.SweepOrphans()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gone, []string{orphan}) {
		t.Errorf("swept %q, want [%s]", gone, orphan)
	}
	if exists(orphan) || !exists(mine) || !exists(foreign) {
		t.Errorf("after the sweep: orphan %v (want gone), mine %v, foreign %v (want both)", exists(orphan), exists(mine), exists(foreign))
	}
	if _, err := os.Stat(filepath.Join(netns.OwnerDir, orphan)); !os.IsNotExist(err) {
		t.Errorf("the orphan's owner record is left: %v", err)
	}
	if err := netns.Delete(mine); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(netns.OwnerDir, mine)); !os.IsNotExist(err) {
		t.Errorf("Delete left the owner record: %v", err)
	}
}
