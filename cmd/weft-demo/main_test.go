// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"strings"
	"testing"
)

func TestUsageExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout+stderr
	}{
		{[]string{"--help"}, 0, "usage: weft-demo [flags]"},
		{[]string{"version"}, 0, "weft-demo "},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"stray"}, 2, `unexpected argument "stray"`},
		{[]string{"--runtime", "docker"}, 1, `--runtime "docker": want libcni or containerd`},
		{[]string{"etcd-server"}, 2, "--data-dir is required"},
		{[]string{"etcd-server", "--help"}, 0, "-listen-client-url"},
	} {
		var out, errb strings.Builder
		code := run(context.Background(), tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("weft-demo %v: exit %d, want %d and %q\nstdout %q\nstderr %q", tc.args, code, tc.code, tc.want, out.String(), errb.String())
		}
	}
}
